-- ragsync pipeline tables, version 2: less index churn on the delivery path.
--
-- Delivery moves every queue row through two status changes (claim: pending -> processing,
-- settle: processing -> sent), and each change rewrites every secondary-index entry that
-- contains `status`. Two such indexes served only housekeeping:
--
-- * RAG_SYNC_QUEUE_LEASE (status, lease_expires_at) was only for the stuck reset, which looks at
--   `processing` rows; there are few of those at any time (workers x claim size), and the claim
--   index's `status` prefix finds them just as well.
-- * RAG_SYNC_QUEUE_SENT_AT (status, sent_at) was only for the cleanup of old `sent` rows. Only
--   settled-as-sent rows have a sent_at, so a plain (sent_at) index finds the same rows, changes
--   once per row (NULL -> time) instead of on every status change, and also serves the
--   dashboard's sort by sent time.
--
-- And one index that costs nothing on that path: created_at is written once, at insert, and
-- never updated, so (created_at) serves the dashboard's sort by creation time on a queue of a
-- million rows without a filesort and without adding work to claims and settles.
--
-- One ALTER TABLE, so the change is applied completely or not at all.
ALTER TABLE `rag_sync_queue`
  DROP INDEX `RAG_SYNC_QUEUE_LEASE`,
  DROP INDEX `RAG_SYNC_QUEUE_SENT_AT`,
  ADD KEY `RAG_SYNC_QUEUE_SENT_AT` (`sent_at`),
  ADD KEY `RAG_SYNC_QUEUE_CREATED` (`created_at`);
