"""ragsync.delivery."""
