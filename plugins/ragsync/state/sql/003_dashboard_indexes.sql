-- ragsync pipeline tables, version 3: indexes for the dashboard on large queues.
--
-- The Queue page sorts by any column and pages with a keyset cursor (column, id). These columns
-- are written when a row is inserted or rewritten by a newer change, never by claim or settle, so
-- indexing them adds no work to the delivery path. A secondary index also carries the primary
-- key, so each one serves ORDER BY <column>, id directly.
--
-- The ledger index replaces RAG_SYNC_LEDGER_LIVE with one that also holds delivered_hash, so the
-- dashboard's and reconciliation's live counts are answered from the index alone.
-- Each ALTER is applied whole or not at all; the guard lets an interrupted upgrade skip the one done.
-- if: index rag_sync_queue.RAG_SYNC_QUEUE_ENTITY_TYPE is missing
ALTER TABLE `rag_sync_queue`
  ADD KEY `RAG_SYNC_QUEUE_ENTITY_TYPE` (`entity_type`),
  ADD KEY `RAG_SYNC_QUEUE_ENTITY_ID` (`entity_id`),
  ADD KEY `RAG_SYNC_QUEUE_STORE_ID` (`store_id`),
  ADD KEY `RAG_SYNC_QUEUE_ACTION` (`action`),
  ADD KEY `RAG_SYNC_QUEUE_CONTENT_HASH` (`content_hash`),
  ADD KEY `RAG_SYNC_QUEUE_DOCUMENT_BYTES` (`document_bytes`),
  ADD KEY `RAG_SYNC_QUEUE_SOURCE` (`source`);

-- (re-running this one drops and adds the same index: harmless)
ALTER TABLE `rag_sync_ledger`
  DROP INDEX `RAG_SYNC_LEDGER_LIVE`,
  ADD KEY `RAG_SYNC_LEDGER_LIVE` (`entity_type`, `is_tombstone`, `store_id`, `delivered_hash`);
