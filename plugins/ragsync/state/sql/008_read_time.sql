-- ragsync pipeline tables, version 8: the time each document was read from Magento.
--
-- The sequence orders documents by when they were queued, not by when they were read: a full sync
-- that read an entity, then queued it after a capture had read, queued and delivered a newer
-- version, sent the older read with the larger sequence (healed only by the next change). Every
-- queued document now carries `read_at`, Magento's database clock (UTC) when the statements that
-- built it began, and the ledger keeps the `delivered_read_at` of what the backend holds. A
-- document read before the open, in-flight or delivered version of its entity was read is not
-- queued (counted as `skipped_older_read`).
--
-- Rows and entries from before this version have NULL: unknown, older than any read.
-- if: column rag_sync_queue.read_at is missing
ALTER TABLE `rag_sync_queue`
  ADD COLUMN `read_at` datetime(6) NULL
    COMMENT 'Magento''s clock (UTC) when the document was read: an older read never follows a newer one';

-- if: column rag_sync_ledger.delivered_read_at is missing
ALTER TABLE `rag_sync_ledger`
  ADD COLUMN `delivered_read_at` datetime(6) NULL
    COMMENT 'read_at of the delivered document';
