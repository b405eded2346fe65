-- ragsync pipeline tables, version 6: a per-entity monotonic `sequence` in every item.
--
-- A worker that was frozen (SIGSTOP, a VM pause, a long GC) past its lease could still POST an
-- old version of an entity after a newer one had been delivered. Every queued document now
-- carries a `sequence`, sent in the item next to `hash`: it is larger for every newer document of
-- the same (type, id, store_id), so a receiver can drop a delivery older than what it holds, and
-- the ledger records a delivered hash only when its sequence is not older than the recorded one.
--
-- The values come from one counter row (`rag_sync_sequence`), reserved per enqueue chunk in the
-- enqueue transaction: UPDATE ... SET value = LAST_INSERT_ID(GREATEST(value, <server time in
-- microseconds since 1970>) + <chunk size>). The row lock orders the reservations like the
-- commits, so a newer version of an entity always gets a larger sequence, across processes. The
-- microsecond floor keeps sequences increasing even when the tables are dropped and created
-- again or restored from an older backup (receivers remember the highest sequence they saw):
-- about 1.8e15 today, below 2^53 (exact in JavaScript numbers) until the 2250s.
--
-- Rows queued before this version get their id as sequence (smaller than any new one; ids grow
-- with the insertion order of an entity's versions). Ledger entries delivered before it have a
-- NULL delivered_sequence, which any delivery may overwrite.
ALTER TABLE `rag_sync_queue`
  ADD COLUMN `sequence` bigint unsigned NOT NULL DEFAULT 0
    COMMENT 'per-entity monotonic version of the document, sent in the item as "sequence"';

UPDATE `rag_sync_queue` SET `sequence` = `id` WHERE `sequence` = 0;

ALTER TABLE `rag_sync_ledger`
  ADD COLUMN `delivered_sequence` bigint unsigned NULL
    COMMENT 'sequence of the delivered document (a late older delivery never overwrites a newer one)';

CREATE TABLE IF NOT EXISTS `rag_sync_sequence` (
  `name` varchar(32) NOT NULL,
  `value` bigint unsigned NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync document sequence counter';

INSERT IGNORE INTO `rag_sync_sequence` (`name`, `value`)
  SELECT 'document', COALESCE(MAX(`sequence`), 0) FROM `rag_sync_queue`;
