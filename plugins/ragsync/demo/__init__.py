"""ragsync.demo."""
