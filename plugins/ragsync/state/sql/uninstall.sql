-- Remove every table ragsync created (run by `ragsync db uninstall`, or by hand).
-- Magento's own tables are never touched.
DROP TABLE IF EXISTS `rag_sync_queue_document`;
DROP TABLE IF EXISTS `rag_sync_queue`;
DROP TABLE IF EXISTS `rag_sync_ledger`;
DROP TABLE IF EXISTS `rag_sync_circuit_breaker`;
DROP TABLE IF EXISTS `rag_sync_log`;
DROP TABLE IF EXISTS `rag_sync_watermark`;
DROP TABLE IF EXISTS `rag_sync_capture_position`;
DROP TABLE IF EXISTS `rag_sync_fingerprint`;
DROP TABLE IF EXISTS `rag_sync_run`;
DROP TABLE IF EXISTS `rag_sync_sequence`;
DROP TABLE IF EXISTS `rag_sync_schema_version`;
