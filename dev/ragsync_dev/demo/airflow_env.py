"""Airflow connections and Variable for the demo, `make airflow` and the tests, as environment variables.

Only test/demo values live here (a demo secret that protects nothing); production secrets belong
in the user's Airflow connections.
"""

from __future__ import annotations

import json
from typing import Any

from ragsync.db import MAGENTO_CONN_ID, RAGSYNC_CONN_ID, DbParams

WEBHOOK_CONN_ID = "ragsync_webhook"
DEMO_SECRET = "demo-secret-not-for-production"
DEMO_TENANT = "demo-tenant"


def _conn_env(conn_id: str, value: dict[str, Any]) -> tuple[str, str]:
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value)


def mysql_connection(params: DbParams) -> dict[str, Any]:
    """Return an Airflow connection (JSON form) for a MySQL database."""
    extra: dict[str, Any] = {}
    if params.table_prefix:
        extra["table_prefix"] = params.table_prefix
    if params.unix_socket:
        extra["unix_socket"] = params.unix_socket
    return {"conn_type": "mysql", "host": params.host, "port": params.port, "login": params.user,
            "password": params.password, "schema": params.database, "extra": extra}


def connection_environment(magento: DbParams, ragsync: DbParams, webhook_url: str, secret: str = DEMO_SECRET,
                           tenant: str = DEMO_TENANT, timeout: int = 10) -> dict[str, str]:
    """Return the ``AIRFLOW_CONN_*`` variables for Magento's DB, ragsync's DB and the webhook."""
    webhook = {"conn_type": "ragsync_webhook", "host": webhook_url, "password": secret,
               "extra": {"tenant_id": tenant, "timeout": timeout, "verify": True}}
    return dict([
        _conn_env(MAGENTO_CONN_ID, mysql_connection(magento)),
        _conn_env(RAGSYNC_CONN_ID, mysql_connection(ragsync)),
        _conn_env(WEBHOOK_CONN_ID, webhook),
    ])


def variable_environment(config: dict[str, Any]) -> dict[str, str]:
    """Return the ``AIRFLOW_VAR_RAGSYNC_CONFIG`` variable holding ``config`` as JSON."""
    return {"AIRFLOW_VAR_RAGSYNC_CONFIG": json.dumps(config)}
