-- ragsync pipeline tables, version 5: one small flag for "the backend holds this document".
--
-- The dashboard and `ragsync queue status` count the live documents per type on every refresh.
-- Version 3 answered that from an index holding (type, tombstone, store, delivered hash): 100 MB
-- for 640,000 entries, two thirds of a second to count, and rewritten on every delivery because
-- the hash changes. `is_live` is stored and indexed instead: the index is less than half the size,
-- and a redelivery of a live document no longer touches it.
-- One ALTER, applied completely or not at all, and skipped when a crashed upgrade had already
-- applied it (the column exists) but had not yet recorded the version.
-- if: column rag_sync_ledger.is_live is missing
ALTER TABLE `rag_sync_ledger`
  ADD COLUMN `is_live` tinyint(1) GENERATED ALWAYS AS (IF(`is_tombstone` = 0 AND `delivered_hash` IS NOT NULL, 1, 0)) STORED
    COMMENT '1 when the backend holds the document (delivered, not deleted)',
  DROP INDEX `RAG_SYNC_LEDGER_LIVE`,
  ADD KEY `RAG_SYNC_LEDGER_LIVE` (`entity_type`, `is_live`, `store_id`);
