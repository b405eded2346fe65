"""The RAG Sync pages inside the Airflow UI: a FastAPI app (``app``) with HTML pages, a JSON API and static files.

``ragsync.plugin`` (the ``airflow.plugins`` entry point) registers :func:`ragsync.dashboard.app.create_app`
with Airflow's API server at ``/ragsync``. ``access`` decides who may read and act, ``views`` reads
what the pages show, ``actions`` runs the buttons through ``ragsync.pipeline.maintenance`` and
Airflow's own DAG-run trigger, and ``database`` opens the pipeline's database per request.
"""
