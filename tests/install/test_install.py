"""The README's "Installing into your Airflow" steps, exactly as written, in a fresh virtualenv and AIRFLOW_HOME.

The module builds the wheel from this checkout, makes a new virtualenv that holds nothing of the
checkout, installs Airflow 3.3 in it (the "existing Airflow") and migrates a new SQLite metadata
database, then runs the README's marked bash block with the site-specific values in environment
variables. The connections and the Variable then live only in Airflow's metadata database, as in
a real deployment: no ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` variables are set for the checks after it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from fixtures.api_server import running_api_server
from fixtures.receiver import RECEIVER_SECRET, running_receiver
from ragsync.db import Database
from ragsync_dev.demo.shop import build_demo_database

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- install-steps: tests/install/test_install.py runs this block -->"
PIP_SECONDS = 900
SERVER_START_SECONDS = 120


def install_block() -> str:
    """Return the bash block the README marks as the install steps."""
    text = (ROOT / "README.md").read_text("utf-8")
    assert MARK in text, "the README lost its marked install block"
    match = re.search(re.escape(MARK) + r"\s*```bash\n(.*?)```", text, re.S)
    assert match, "the marked install block is not a ```bash block"
    return match.group(1)


@dataclass
class Installed:
    """A fresh virtualenv with ragsync installed from the wheel, and an AIRFLOW_HOME set up by the README."""

    work: Path
    venv: Path
    home: Path
    env: dict[str, str]
    magento: Database
    state: Database
    wheel: Path
    block_output: str
    receiver: Any

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a command of the virtualenv (``ragsync``, ``airflow``) in the install's environment."""
        command = [str(self.venv / "bin" / args[0]), *args[1:]]
        return subprocess.run(command, env=env or self.env, cwd=self.work, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _clean_env(work: Path, venv: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "RAGSYNC_", "_AIRFLOW"))}
    env.update({
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        "VIRTUAL_ENV": str(venv),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "HOME": str(work),
    })
    return env


def _check(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def install_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Yield a reference receiver for the README's tenant ``acme``, as long as the installed deployment lives."""
    yield from running_receiver(tmp_path_factory.mktemp("install_receiver"), tenant="acme")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, db_factory: Callable[..., Database],
              install_receiver: Any) -> Installed:
    work = tmp_path_factory.mktemp("install")
    venv, home = work / "venv", work / "airflow_home"
    # the wheel, built from this checkout as `make wheel` does
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
                           str(ROOT)], capture_output=True, text=True, timeout=300, check=False), "pip wheel")
    wheel = next((work / "dist").glob("ragsync-*.whl"))
    shutil.copyfile(ROOT / "constraints.txt", work / "constraints.txt")
    # an existing Airflow 3.3 in a fresh virtualenv, with a migrated metadata database
    _check(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True,
                          check=False), "python -m venv")
    _check(subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                           "pip", "apache-airflow==3.3.2", "-c", str(work / "constraints.txt")],
                          capture_output=True, text=True, timeout=PIP_SECONDS, check=False), "pip install apache-airflow")
    env = _clean_env(work, venv, home)
    _check(subprocess.run([str(venv / "bin" / "airflow"), "db", "migrate"], env=env, cwd=work, capture_output=True,
                          text=True, timeout=300, check=False), "airflow db migrate")

    magento, state = db_factory("install_shop"), db_factory("install_state")
    build_demo_database(magento, products=30, now=datetime.utcnow().replace(microsecond=0))
    site = {
        "MAGENTO_DB_URI": magento.params.url(),
        "RAGSYNC_DB_URI": state.params.url(),
        "RAG_WEBHOOK_URL": install_receiver.url,
        "RAG_API_SECRET": RECEIVER_SECRET,
    }
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", install_block()], env={**env, **site}, cwd=work,
                            capture_output=True, text=True, timeout=PIP_SECONDS, check=False)
    output = _check(result, "the README's install steps")
    return Installed(work, venv, home, env, magento, state, wheel, output, install_receiver)


def test_the_wheel_holds_the_runtime_package_only() -> None:
    # built on its own so that this check also runs with -k, without the install
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"ragsync-wheel-{os.getpid()}"
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300, check=False), "pip wheel")
    wheel = next(out.glob("ragsync-*.whl"))
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
            metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("__init__.py")}
    on_disk = {str(p.parent.relative_to(ROOT / "plugins")) for p in (ROOT / "plugins" / "ragsync").rglob("__init__.py")}
    assert packages == on_disk | {"ragsync/dags"}, "a subpackage is missing from pyproject's packages list"
    assert {f"ragsync/dags/{p.name}" for p in (ROOT / "dags").glob("ragsync_*.py")} <= set(names)
    assert "ragsync/state/sql/001_initial.sql" in names and "ragsync/dashboard/templates/base.html" in names
    assert not any(n.startswith(("ragsync/demo", "ragsync/receiver", "ragsync_dev")) for n in names)
    assert "[airflow.plugins]\nragsync = ragsync.plugin:RagSyncPlugin" in entry_points
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Framework :: Apache Airflow" in metadata


def test_the_readme_steps_leave_a_working_deployment(installed: Installed) -> None:
    # the CLI read ragsync_db from the metadata database: it printed the queue
    assert "# queue" in installed.block_output and "pending" in installed.block_output
    assert "copied 9 DAG files" in installed.block_output
    # the Test button of each connection, as Airflow's UI runs it (the webhook's sends a signed ping)
    testing = {**installed.env, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    before = installed.receiver.request_count
    for conn_id in ("magento_db", "ragsync_db", "ragsync_webhook"):
        tested = installed.run("airflow", "connections", "test", conn_id, env=testing)
        assert tested.returncode == 0 and "Connection success!" in tested.stdout, (conn_id, tested.stdout[-2000:])
    assert installed.receiver.request_count == before + 1, "the webhook's Test button POSTs one signed ping"
    dags = _check(installed.run("airflow", "dags", "list", "-o", "json"), "airflow dags list")
    listed = {d["dag_id"] for d in json.loads(dags[dags.index("[{"):])}
    assert {"ragsync_full_product_sync", "ragsync_process_queue", "ragsync_resync"} <= listed
    # a DAG run in the installed Airflow queues the shop's products, with connections from the metadata DB
    _check(installed.run("airflow", "dags", "test", "ragsync_full_product_sync", timeout=600), "airflow dags test")
    queued = installed.state.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE entity_type = 'product'")
    assert queued and int(queued) > 0
    # the CLI sees the Variable set in the metadata database: ragsync is enabled, so a dry run works
    dry = installed.run("ragsync", "sync", "products", "--ids", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]


def test_a_metadata_database_outage_is_an_error_not_disabled(installed: Installed) -> None:
    broken = {**installed.env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-dir/airflow.db"}
    sync = installed.run("ragsync", "sync", "products", "--ids", "1", env=broken)
    assert sync.returncode == 3, sync.stderr
    assert "could not read Airflow variable 'ragsync_config': MetastoreBackend: OperationalError" in sync.stderr
    assert "disabled" not in sync.stderr
    # with the Variable from the environment, the connection's lookup meets the outage and says so
    status = installed.run("ragsync", "queue", "status", env={**broken, "AIRFLOW_VAR_RAGSYNC_CONFIG": "{}"})
    assert status.returncode == 3, status.stderr
    assert "could not read Airflow connection 'ragsync_db': MetastoreBackend" in status.stderr
    assert "not defined" not in status.stderr
    # a connection that is really missing says so, and how to create it
    missing = installed.run("airflow", "connections", "delete", "ragsync_webhook")
    _check(missing, "airflow connections delete")
    test = installed.run("ragsync", "test", "connection")
    assert test.returncode == 3 and "Airflow connection 'ragsync_webhook' is not defined" in test.stderr, test.stderr


@pytest.fixture(scope="module")
def api_server(installed: Installed) -> Iterator[str]:
    (installed.home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
    env = {**installed.env,
           "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(installed.home / "passwords.json"),
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32), "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32)}
    with running_api_server(installed.venv / "bin" / "airflow", env, installed.home / "api-server.log",
                            cwd=installed.work) as url:
        yield url


def test_the_plugin_pages_answer_in_the_installed_api_server(api_server: str) -> None:
    token = requests.post(f"{api_server}/auth/token", json={"username": "admin", "password": "admin"},
                          timeout=30).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    plugins = requests.get(f"{api_server}/api/v2/plugins", headers=headers, timeout=30).json()
    assert "ragsync" in {p["name"] for p in plugins["plugins"]}, plugins
    assert requests.get(f"{api_server}/ragsync/", timeout=30, allow_redirects=False).status_code in (302, 307, 401)
    for page in ("", "queue", "log"):
        response = requests.get(f"{api_server}/ragsync/{page}", headers=headers, timeout=30)
        assert response.status_code == 200, (page, response.text[:500])
        assert "RAG Sync" in response.text
    # the page's data comes from ragsync_db, read by the API server from the metadata database
    overview = requests.get(f"{api_server}/ragsync/api/overview", headers=headers, timeout=30)
    assert overview.status_code == 200, overview.text[:500]
    counts = overview.json()["counts"]
    assert counts.get("pending", 0) > 0, counts  # the products the DAG test queued
