"""ragsync_dev.demo."""
