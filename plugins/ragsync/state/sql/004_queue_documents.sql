-- ragsync pipeline tables, version 4: the documents leave the queue rows.
--
-- A queue row is about 200 bytes of state and, until now, the whole document (kilobytes) inline.
-- Every claim and settle rewrites the row, so InnoDB copied the document on each status change,
-- and the dashboard's sort by a column without an index (attempts, status, next attempt, ...)
-- had to scan the documents of a million rows to order them. The documents now live in their
-- own table, one row per queue row, written with it and read only when a batch is built or one
-- item is viewed; deleting a queue row deletes its document (ON DELETE CASCADE), so the two
-- cannot drift apart.
--
-- Three steps, each safe to run again after a crash at any point (see ragsync.state.migrations):
-- the table is created if missing; the copy runs while the queue still has its `document` column
-- and ignores documents already copied; the column is dropped only if it is still there, and a
-- single ALTER is applied completely or not at all. So after a crash `ragsync db upgrade` carries
-- on where it stopped and loses no document. The drop asks for ALGORITHM=INPLACE, which rebuilds
-- the table (online, reads and writes go on): an instant drop (MariaDB 10.4+, MySQL 8.0.29+) would
-- leave every old document in the rows on disk.
CREATE TABLE IF NOT EXISTS `rag_sync_queue_document` (
  `queue_id` bigint unsigned NOT NULL,
  `document` longtext NOT NULL COMMENT 'the item as canonical JSON, exactly as it will be sent',
  PRIMARY KEY (`queue_id`),
  CONSTRAINT `RAG_SYNC_QUEUE_DOCUMENT_QUEUE` FOREIGN KEY (`queue_id`) REFERENCES `rag_sync_queue` (`id`)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync outbox documents';

-- if: column rag_sync_queue.document exists
INSERT IGNORE INTO `rag_sync_queue_document` (`queue_id`, `document`)
  SELECT `id`, `document` FROM `rag_sync_queue` WHERE `document` IS NOT NULL;

-- if: column rag_sync_queue.document exists
ALTER TABLE `rag_sync_queue` DROP COLUMN `document`, ALGORITHM=INPLACE;
