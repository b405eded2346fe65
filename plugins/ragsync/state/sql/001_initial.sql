-- ragsync pipeline tables, version 1.
-- All times are UTC, DATETIME(6), written by ragsync (never by the server clock) so that
-- tests can move the clock. Every statement is idempotent.

-- The outbox: one row per document version to deliver.
-- A row is "open" while pending or failed; at most one open row per entity and store
-- (the generated column open_slot is 1 for open rows and NULL otherwise, and NULLs never
-- collide in a UNIQUE key). A newer change rewrites the open row in place; a row being
-- delivered (processing) is never rewritten, so a change that arrives meanwhile becomes a
-- new pending row.
CREATE TABLE IF NOT EXISTS `rag_sync_queue` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `entity_type` varchar(16) NOT NULL COMMENT 'product, category, cms_page, cms_block, promotion',
  `entity_id` varchar(64) NOT NULL COMMENT 'entity id as a string; promotions: cart-<id> / catalog-<id>',
  `store_id` smallint unsigned NOT NULL,
  `action` varchar(8) NOT NULL COMMENT 'save or delete',
  `status` varchar(16) NOT NULL DEFAULT 'pending' COMMENT 'pending, processing, sent, failed, dead',
  `document` longtext NULL COMMENT 'the item as canonical JSON, exactly as it will be sent',
  `content_hash` char(64) NOT NULL,
  `document_bytes` int unsigned NOT NULL DEFAULT 0,
  `attempts` int unsigned NOT NULL DEFAULT 0,
  `next_attempt_at` datetime(6) NOT NULL,
  `lease_token` char(32) NULL,
  `lease_expires_at` datetime(6) NULL,
  `last_http_status` smallint NULL,
  `last_error` text NULL,
  `batch_id` varchar(40) NULL,
  `source` varchar(16) NOT NULL DEFAULT 'incremental' COMMENT 'incremental, full, manual, reconcile',
  `created_at` datetime(6) NOT NULL,
  `updated_at` datetime(6) NOT NULL,
  `sent_at` datetime(6) NULL,
  `open_slot` tinyint GENERATED ALWAYS AS (IF(`status` IN ('pending', 'failed'), 1, NULL)) STORED,
  PRIMARY KEY (`id`),
  UNIQUE KEY `RAG_SYNC_QUEUE_ONE_OPEN_ROW` (`entity_type`, `entity_id`, `store_id`, `open_slot`),
  KEY `RAG_SYNC_QUEUE_CLAIM` (`status`, `next_attempt_at`, `id`),
  KEY `RAG_SYNC_QUEUE_ENTITY` (`entity_type`, `entity_id`, `store_id`),
  KEY `RAG_SYNC_QUEUE_LEASE` (`status`, `lease_expires_at`),
  KEY `RAG_SYNC_QUEUE_SENT_AT` (`status`, `sent_at`),
  KEY `RAG_SYNC_QUEUE_UPDATED` (`updated_at`),
  KEY `RAG_SYNC_QUEUE_TYPE_STATUS` (`entity_type`, `status`, `action`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync outbox';

-- What the backend has, per entity and store. Never truncated by normal operations.
-- The primary key is the clustered index, so (type, id, store) -> delivered_hash lookups
-- are covered.
CREATE TABLE IF NOT EXISTS `rag_sync_ledger` (
  `entity_type` varchar(16) NOT NULL,
  `entity_id` varchar(64) NOT NULL,
  `store_id` smallint unsigned NOT NULL,
  `delivered_hash` char(64) NULL,
  `delivered_at` datetime(6) NULL,
  `is_tombstone` tinyint(1) NOT NULL DEFAULT 0,
  `failed_hash` char(64) NULL COMMENT 'hash of the last failed or dead attempt',
  `failed_status` varchar(16) NULL COMMENT 'failed or dead',
  `failed_at` datetime(6) NULL,
  `failed_error` text NULL,
  PRIMARY KEY (`entity_type`, `entity_id`, `store_id`),
  KEY `RAG_SYNC_LEDGER_LIVE` (`entity_type`, `is_tombstone`, `store_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync delivery ledger';

-- One row per webhook endpoint.
CREATE TABLE IF NOT EXISTS `rag_sync_circuit_breaker` (
  `endpoint_key` char(64) NOT NULL COMMENT 'sha256 of the endpoint URL',
  `endpoint` varchar(2048) NOT NULL,
  `state` varchar(16) NOT NULL DEFAULT 'closed' COMMENT 'closed, open, half_open',
  `consecutive_failures` int unsigned NOT NULL DEFAULT 0,
  `opened_at` datetime(6) NULL,
  `open_until` datetime(6) NULL,
  `probe_token` char(32) NULL,
  `probe_expires_at` datetime(6) NULL,
  `last_error` text NULL,
  `last_success_at` datetime(6) NULL,
  `updated_at` datetime(6) NOT NULL,
  PRIMARY KEY (`endpoint_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync circuit breaker';

-- The audit trail.
CREATE TABLE IF NOT EXISTS `rag_sync_log` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `created_at` datetime(6) NOT NULL,
  `level` varchar(8) NOT NULL DEFAULT 'info',
  `event` varchar(48) NOT NULL,
  `entity_type` varchar(16) NULL,
  `batch_id` varchar(40) NULL,
  `username` varchar(255) NULL,
  `message` text NOT NULL,
  `details` longtext NULL COMMENT 'JSON',
  PRIMARY KEY (`id`),
  KEY `RAG_SYNC_LOG_EVENT` (`event`, `id`),
  KEY `RAG_SYNC_LOG_CREATED_AT` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci COMMENT='ragsync audit log';

-- High-water marks of incremental capture, per entity type.
CREATE TABLE IF NOT EXISTS `rag_sync_watermark` (
  `entity_type` varchar(16) NOT NULL,
  `high_water` datetime(6) NULL,
  `updated_at` datetime(6) NOT NULL,
  PRIMARY KEY (`entity_type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync change-capture watermarks';

-- One row per sync run (full, incremental, manual): what the dashboard shows per type.
CREATE TABLE IF NOT EXISTS `rag_sync_run` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `entity_type` varchar(16) NOT NULL,
  `kind` varchar(16) NOT NULL COMMENT 'full, incremental, manual',
  `status` varchar(16) NOT NULL COMMENT 'running, success, failed, aborted',
  `started_at` datetime(6) NOT NULL,
  `finished_at` datetime(6) NULL,
  `counts` longtext NULL COMMENT 'JSON',
  `message` text NULL,
  PRIMARY KEY (`id`),
  KEY `RAG_SYNC_RUN_TYPE_KIND` (`entity_type`, `kind`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync sync runs';
