"""The RAG Sync Airflow plugin: the dashboard app at ``/ragsync`` and its pages under Plugins > RAG Sync.

Airflow's API server mounts :func:`ragsync.dashboard.app.create_app` at ``/ragsync``; the three
external views put Dashboard, Queue and Log in the Airflow UI's Plugins menu, in a "RAG Sync"
group, each shown inside the Airflow UI (``url_route``) and signed in with the user's Airflow
session. Airflow finds this class through the ``airflow.plugins`` entry point of the installed
``ragsync`` distribution (``pip install ragsync``), so nothing has to be copied into a plugins folder.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from ragsync.dashboard.app import URL_PREFIX, create_app

CATEGORY = "RAG Sync"


def _href(page: str) -> str:
    """Return the path of a dashboard page, behind Airflow's ``[api] base_url`` path if it has one."""
    root = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{root}{URL_PREFIX}/{page}"


class RagSyncPlugin(AirflowPlugin):
    """Register the RAG Sync dashboard with Airflow's API server and UI."""

    name = "ragsync"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "RAG Sync dashboard"}]
    external_views = [
        {"name": "Dashboard", "href": _href(""), "url_route": "ragsync-dashboard", "category": CATEGORY,
         "destination": "nav"},
        {"name": "Queue", "href": _href("queue"), "url_route": "ragsync-queue", "category": CATEGORY,
         "destination": "nav"},
        {"name": "Log", "href": _href("log"), "url_route": "ragsync-log", "category": CATEGORY,
         "destination": "nav"},
    ]
