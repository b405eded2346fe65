"""The pipeline's own tables: migrations, queue, ledger, breaker, audit log, watermarks."""
