"""ragsync.pipeline."""
