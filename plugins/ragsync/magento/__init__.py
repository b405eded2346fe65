"""ragsync.magento."""
