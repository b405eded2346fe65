"""``make airflow``: Airflow standalone on the project's dags and plugins, with the demo shop and receiver.

Login is admin/admin (and viewer/viewer, a read-only user) through the simple auth manager's
passwords file in ``.airflow/``; connections and the ``ragsync_config`` Variable come from
environment variables pointing at the demo databases and a reference receiver on port 8765.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ragsync.db import Database, DbParams
from ragsync_dev.demo.airflow_env import (
    DEMO_SECRET,
    DEMO_TENANT,
    connection_environment,
    variable_environment,
)
from ragsync_dev.demo.mysql_server import DEFAULT_URL, ENV_URL
from ragsync_dev.demo.run import DEMO_CONFIG, MAGENTO_DB, ROOT, RUN_DIR, STATE_DB, airflow_environment

USERS = {"admin": "admin", "viewer": "viewer"}


def with_interpreter_on_path(env: dict[str, str]) -> dict[str, str]:
    """Return ``env`` with this interpreter's bin directory (the virtualenv's) first on PATH.

    ``airflow standalone`` starts its scheduler, API server, DAG processor and triggerer as
    ``airflow ...`` found on PATH, which on a fresh machine holds no ``airflow``.
    """
    bin_dir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    return {**env, "PATH": os.pathsep.join([bin_dir, *rest])}


def main() -> int:
    """Prepare the demo databases and receiver, then run ``airflow standalone`` until interrupted."""
    from ragsync.state.migrations import upgrade
    from ragsync_dev.demo.shop import build_demo_database
    from ragsync_dev.receiver.server import ReferenceReceiver

    server = DbParams.from_url(os.environ.get(ENV_URL) or DEFAULT_URL)
    admin = Database(server.with_database(""))
    existing = {r[0] for r in admin.query("SHOW DATABASES")}
    magento = Database(server.with_database(MAGENTO_DB))
    state = Database(server.with_database(STATE_DB))
    if MAGENTO_DB not in existing:
        admin.execute(f"CREATE DATABASE `{MAGENTO_DB}` CHARACTER SET utf8mb4")
        build_demo_database(magento)
    if STATE_DB not in existing:
        admin.execute(f"CREATE DATABASE `{STATE_DB}` CHARACTER SET utf8mb4")
    upgrade(state)
    home = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps(USERS))
    RUN_DIR.mkdir(exist_ok=True)
    with ReferenceReceiver(DEMO_SECRET, tenant_id=DEMO_TENANT, db_path=RUN_DIR / "receiver.sqlite",
                           port=8765).start() as receiver:
        env = with_interpreter_on_path(airflow_environment())
        env.update(connection_environment(magento.params, state.params, receiver.url))
        env.update(variable_environment(DEMO_CONFIG))
        env.update({
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        })
        print(f"ragsync: receiver on {receiver.url}; Airflow UI on http://localhost:8080 (admin/admin)", flush=True)
        try:
            return subprocess.call([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
