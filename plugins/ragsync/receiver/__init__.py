"""ragsync.receiver."""
