"""What Airflow's providers manager learns about ragsync: the ``ragsync_webhook`` connection type.

Registered through the ``apache_airflow_provider`` entry point of the installed distribution. With
it, Airflow's connection form offers the type "RAG Sync Webhook" (the URL and API secret fields
relabelled) and its **Test** button calls :meth:`RagWebhookHook.test_connection`, which POSTs a
signed ping; a connection of type ``http`` keeps working for delivery, but its Test button is
HttpHook's unsigned request.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Return ragsync's provider description in the form of Airflow's ``provider_info.schema.json``."""
    try:
        installed = version("ragsync")
    except PackageNotFoundError:  # pragma: no cover - only a checkout on sys.path without an install
        installed = "0"
    return {
        "package-name": "ragsync",
        "name": "RAG Sync",
        "description": "Keep a RAG backend in step with a Magento 2 store: signed webhook delivery.",
        "versions": [installed],
        "connection-types": [
            {"connection-type": "ragsync_webhook", "hook-class-name": "ragsync.delivery.hook.RagWebhookHook"},
        ],
    }
