"""A real ``airflow api-server`` with the RAG Sync plugin, once for the tests of this folder, and a headless Chromium.

The server runs in its own AIRFLOW_HOME (a copy of the project's migrated metadata database, or
a fresh ``airflow db migrate``), with the DAGs serialized, the simple auth manager's users
``admin:admin`` (role admin) and ``viewer:viewer`` (role viewer), and the connections
``ragsync_db`` (a test database seeded through the real repositories) and ``ragsync_webhook``
(a reference receiver on loopback) given as ``AIRFLOW_CONN_*`` environment variables.

Select these tests with ``pytest -m e2e`` (or leave them out with ``-m "not e2e"``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from fixtures.api_server import running_api_server
from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT, running_receiver
from ragsync.db import Database
from ragsync.state.migrations import upgrade
from ragsync_dev.demo.airflow_env import connection_environment
from ragsync_dev.receiver import ReferenceReceiver

from .seed import SeededQueue, seed_queue

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
USERS = {"admin": "admin", "viewer": "viewer"}
ROLES = "admin:admin,viewer:viewer"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``e2e`` marker."""
    config.addinivalue_line("markers", "e2e: end-to-end test against a real Airflow API server (and browser)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e with ``e2e``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@dataclass
class AirflowServer:
    """A running ``airflow api-server``: its base URL, its log file and the seeded queue behind it."""

    url: str
    log_path: Path
    db: Database
    seeded: SeededQueue
    receiver: ReferenceReceiver

    def token(self, username: str) -> str:
        """Return a JWT for a user from the simple auth manager's token endpoint."""
        response = requests.post(f"{self.url}/auth/token", json={"username": username, "password": USERS[username]},
                                 timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def session(self, username: str | None) -> requests.Session:
        """Return a requests session signed in as ``username`` (Bearer token), or anonymous for None."""
        session = requests.Session()
        if username is not None:
            session.headers["Authorization"] = f"Bearer {self.token(username)}"
        return session

    def log_tail(self, lines: int = 60) -> str:
        """Return the end of the server's log (for failure messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _airflow_env(home: Path) -> dict[str, str]:
    """Return the environment of the Airflow subprocesses: this home, the project's dags and plugins."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_", "AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ROLES,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    })
    return env


def _run_airflow(args: list[str], env: dict[str, str], log: Path, timeout: float) -> None:
    with log.open("ab") as out:
        result = subprocess.run([str(AIRFLOW_BIN), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"airflow {' '.join(args)} failed with exit code {result.returncode}:\n{tail}")


@pytest.fixture(scope="package")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return an AIRFLOW_HOME with a migrated metadata database and the project's DAGs serialized."""
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "passwords.json").write_text(json.dumps(USERS))
    env = _airflow_env(home)
    log = home / "setup.log"
    migrated = ROOT / ".airflow" / "airflow.db"
    if migrated.exists() and (ROOT / ".airflow" / ".migrated").exists():
        shutil.copyfile(migrated, home / "airflow.db")
    else:
        _run_airflow(["db", "migrate"], env, log, timeout=300)
    _run_airflow(["dags", "reserialize"], env, log, timeout=300)
    return home


@pytest.fixture(scope="package")
def dashboard_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceReceiver]:
    """Yield a reference receiver that lives as long as the API server (the webhook connection points at it)."""
    yield from running_receiver(tmp_path_factory.mktemp("receiver"))


@pytest.fixture(scope="package")
def airflow_server(airflow_home: Path, db_factory: Any, dashboard_receiver: ReferenceReceiver) -> Iterator[AirflowServer]:
    """Start ``airflow api-server`` on a free port with the RAG Sync plugin; stop it after the session."""
    db = db_factory("dashboard")
    upgrade(db)
    seeded = seed_queue(db, dashboard_receiver.url)
    env = _airflow_env(airflow_home)
    env.update(connection_environment(db.params, db.params, dashboard_receiver.url, secret=RECEIVER_SECRET,
                                      tenant=RECEIVER_TENANT, timeout=10))
    log_path = airflow_home / "api-server.log"
    with running_api_server(AIRFLOW_BIN, env, log_path) as url:
        yield AirflowServer(url, log_path, db, seeded, dashboard_receiver)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Yield a headless Chromium driven by Selenium (Debian's chromium and chromedriver, no downloads)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("chromium and chromium-driver are not installed (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1440,1100",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
