"""Shared fixtures: a real MySQL/MariaDB server, fresh databases per test run, Airflow settings.

``make test`` runs pytest under ``ragsync_dev.demo.mysql_server`` which sets RAGSYNC_MYSQL_URL
(the machine's server, a given one, or a private MariaDB). Every database created here has a
name unique to this run and is dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from ragsync.db import Database, DbParams  # noqa: E402
from ragsync.state.migrations import upgrade  # noqa: E402

pytest_plugins = ["fixtures.shop", "fixtures.receiver"]

MYSQL_FIXTURE = "server_params"
"""Every fixture that talks to MySQL depends on this one: a test that uses none needs no server."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mysql: needs a MySQL/MariaDB server (set from the test's fixtures)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests whose fixtures reach a MySQL server, so ``make unit`` (``-m "not mysql"``) runs the rest."""
    for item in items:
        if MYSQL_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mysql)


DbFactory = Callable[..., Database]
_OPEN: list[Database] = []  # every Database the fixtures created in this session


@pytest.fixture(scope="session")
def server_params() -> DbParams:
    """Return the MySQL server the tests use (RAGSYNC_MYSQL_URL, else 127.0.0.1:3306)."""
    url = os.environ.get("RAGSYNC_MYSQL_URL", "")
    if not url or url == "private":
        url = "mysql://root@127.0.0.1:3306/"
    params = DbParams.from_url(url)
    probe = Database(params)
    try:
        probe.scalar("SELECT 1")
    except Exception as exc:
        pytest.exit(f"no MySQL server at {params.describe()} ({exc}); run the tests with `make test`", 2)
    finally:
        probe.close()
    return params


@pytest.fixture(scope="session")
def db_factory(server_params: DbParams) -> Iterator[DbFactory]:
    """Create empty databases unique to this run; drop them all at the end of the session."""
    run = uuid.uuid4().hex[:8]
    admin = Database(server_params.with_database(""))
    created: list[Database] = []

    def make(label: str = "db", table_prefix: str = "") -> Database:
        name = f"rs_test_{run}_{label}_{len(created)}"
        admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        params = server_params.with_database(name)
        db = Database(DbParams(**{**params.__dict__, "table_prefix": table_prefix}))
        created.append(db)
        _OPEN.append(db)
        return db

    yield make
    for db in created:
        db.close()
        admin.execute(f"DROP DATABASE IF EXISTS `{db.params.database}`")
    admin.close()


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    """Close the fixtures' connections after every test (a Database reconnects on its next use).

    Without this every database a test created would hold its connection until the end of the
    session, and a full run would exceed the server's max_connections.
    """
    yield
    for db in _OPEN:
        db.close()


@pytest.fixture
def ragsync_db(db_factory: DbFactory) -> Database:
    """Return a fresh database with the pipeline's tables migrated."""
    db = db_factory("rs")
    upgrade(db)
    return db
