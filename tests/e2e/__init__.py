"""Browser and HTTP tests of the RAG Sync dashboard against a real Airflow API server."""
