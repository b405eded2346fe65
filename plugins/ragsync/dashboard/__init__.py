"""ragsync.dashboard."""
