"""ragsync.documents."""
