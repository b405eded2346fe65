-- ragsync pipeline tables, version 7: the backend can pause delivery with Retry-After.
--
-- A 429 or 503 with Retry-After used to delay only the items of that batch: the same worker went
-- on sending, and so did the others. The breaker row now carries the pause: until `paused_until`
-- no worker claims or sends anything for that endpoint, whatever the breaker's state, and the
-- breaker's own probe waits for the pause too. `pause_reason` is what the dashboard shows.
-- ADD COLUMN IF NOT EXISTS (MariaDB) is not in MySQL 8: the two columns are added in one ALTER,
-- which MySQL applies atomically, so a crash leaves either both or neither.
-- if: column rag_sync_circuit_breaker.paused_until is missing
ALTER TABLE `rag_sync_circuit_breaker`
  ADD COLUMN `paused_until` datetime(6) NULL COMMENT 'Retry-After from the backend: nothing is sent before this',
  ADD COLUMN `pause_reason` varchar(500) NULL COMMENT 'the answer that asked for the pause';
