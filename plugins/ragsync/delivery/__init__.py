"""Delivery to the RAG backend: the webhook hook (signing, HTTP), batch bodies, response classes and retry policy."""
