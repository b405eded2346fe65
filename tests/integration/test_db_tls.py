"""TLS to MySQL for real: a private MariaDB with a test CA and require_secure_transport=ON.

Shows what ragsync and Airflow's own Test (``airflow connections test``, i.e. MySqlHook) do with the
TLS extras of a connection, against MariaDB Connector/C as linked into mysqlclient here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.mariadb_tls import TlsServer, admin_sql, tls_only_server
from ragsync.db import Database, DbParams
from ragsync.errors import ConnectionNotConfiguredError, DatabaseError

pytestmark = pytest.mark.mysql  # a private MariaDB server of its own, with TLS required

USER, PASSWORD, SCHEMA = "rs_tls", "tls-Secret-42", "rs_tls_shop"
AIRFLOW = Path(sys.executable).with_name("airflow")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """Start the TLS-only MariaDB once for the module, with a user and a schema; always stop it."""
    with tls_only_server(tmp_path_factory.mktemp("mariadb-tls")) as tls:
        admin_sql(tls, f"CREATE DATABASE `{SCHEMA}` CHARACTER SET utf8mb4",
                  f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
                  f"GRANT ALL ON `{SCHEMA}`.* TO '{USER}'@'%'")
        yield tls


def connection(server: TlsServer, extra: dict[str, Any], conn_id: str = "magento_db") -> dict[str, Any]:
    """Return the connection as Airflow's JSON form (what AIRFLOW_CONN_<ID> holds)."""
    return {"conn_type": "mysql", "host": server.host, "port": server.port, "login": USER,
            "password": PASSWORD, "schema": SCHEMA, "extra": extra}


def database(server: TlsServer, extra: dict[str, Any]) -> Database:
    """Return ragsync's Database for a real Airflow Connection with ``extra``."""
    from airflow.models.connection import Connection

    spec = connection(server, extra)
    conn = Connection(conn_id="magento_db", conn_type="mysql", host=spec["host"], port=spec["port"],
                      login=USER, password=PASSWORD, schema=SCHEMA, extra=json.dumps(extra))
    return Database(DbParams.from_connection(conn))


def cipher(db: Database) -> str:
    """Return the TLS cipher of ragsync's own connection ('' without TLS)."""
    rows = db.query("SHOW SESSION STATUS LIKE %s", ("Ssl_cipher",))
    return str(rows[0][1]) if rows else ""


def connect_error(db: Database) -> str:
    """Return the DatabaseError message of a refused connect; fail if it connects."""
    with pytest.raises(DatabaseError) as info, db:
        db.scalar("SELECT 1")
    message = str(info.value)
    assert PASSWORD not in message
    return message


@pytest.mark.parametrize("extra", [{}, {"ssl_mode": "PREFERRED"}])
def test_without_tls_the_server_refuses_and_ragsync_says_tls_is_likely_required(
    server: TlsServer, extra: dict[str, Any]
) -> None:
    message = connect_error(database(server, extra))
    assert f"cannot connect to MySQL at {USER}@127.0.0.1:{server.port}/{SCHEMA}" in message
    assert "This connection uses no TLS" in message
    assert "the server probably requires TLS (require_secure_transport=ON" in message
    assert '"ssl_mode": "VERIFY_IDENTITY"' in message


def test_ssl_mode_required_encrypts_without_a_ca(server: TlsServer) -> None:
    with database(server, {"ssl_mode": "REQUIRED"}) as db:
        assert cipher(db)
        assert db.scalar("SELECT DATABASE()") == SCHEMA


@pytest.mark.parametrize("mode", ["VERIFY_CA", "VERIFY_IDENTITY"])
def test_verify_modes_with_the_right_ca_connect_over_tls(server: TlsServer, mode: str) -> None:
    with database(server, {"ssl_mode": mode, "ssl": {"ca": str(server.ca)}, "charset": "utf8mb4",
                           "connect_timeout": 5, "table_prefix": "m2_"}) as db:
        assert cipher(db)
        assert db.scalar("SELECT @@session.character_set_client") == "utf8mb4"
        assert db.scalar("SELECT @@session.time_zone") == "+00:00"
        assert db.table("sales_order") == "`m2_sales_order`"


def test_ssl_given_as_a_json_string_works_too(server: TlsServer) -> None:
    with database(server, {"ssl_mode": "VERIFY_IDENTITY", "ssl": json.dumps({"ca": str(server.ca)})}) as db:
        assert cipher(db)


@pytest.mark.parametrize("mode", ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"])
def test_a_wrong_ca_fails_with_a_clear_error(server: TlsServer, mode: str) -> None:
    message = connect_error(database(server, {"ssl_mode": mode, "ssl": {"ca": str(server.wrong_ca)}}))
    assert "TLS/SSL error" in message
    assert f"The TLS handshake failed (ssl_mode {mode}, ssl ca={server.wrong_ca})" in message
    assert "check that ssl.ca is the CA that signed the server's certificate" in message


def test_a_missing_ca_file_is_named(server: TlsServer, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(ConnectionNotConfiguredError, match=f"'magento_db': ssl.ca file '{missing}' not found"):
        database(server, {"ssl_mode": "VERIFY_IDENTITY", "ssl": {"ca": str(missing)}}).scalar("SELECT 1")


def test_database_from_conn_id_reads_the_tls_extras(server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"ssl_mode": "VERIFY_IDENTITY", "ssl": {"ca": str(server.ca)}}
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_DB", json.dumps(connection(server, extra, "ragsync_db")))
    with Database.from_conn_id("ragsync_db") as db:
        assert cipher(db)


def test_airflow_connections_test_passes_with_the_tls_extras(server: TlsServer, tmp_path: Path) -> None:
    """The connection's Test button (MySqlHook.test_connection) accepts the same extras ragsync reads."""
    if not AIRFLOW.exists():
        pytest.skip(f"no airflow CLI at {AIRFLOW}")
    tls_extra = {"ssl_mode": "VERIFY_IDENTITY", "ssl": {"ca": str(server.ca)}, "charset": "utf8mb4",
                 "connect_timeout": 5, "table_prefix": "m2_"}
    cases = {  # conn id -> (extra, expected to pass); run side by side, each CLI start takes a few seconds
        "magento_db": (tls_extra, True),
        "ragsync_db": ({"ssl_mode": "REQUIRED"}, True),
        "rs_plain": ({}, False),
    }
    started = time.monotonic()
    runs = {
        conn_id: subprocess.Popen(
            [str(AIRFLOW), "connections", "test", conn_id], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=_airflow_env(tmp_path / conn_id, {conn_id: connection(server, extra, conn_id)}),
        )
        for conn_id, (extra, _) in cases.items()
    }
    outputs = {conn_id: proc.communicate(timeout=90)[0] for conn_id, proc in runs.items()}
    elapsed = time.monotonic() - started
    if any("invalid choice" in output for output in outputs.values()):
        pytest.skip("`airflow connections test` does not exist in this Airflow version")
    for conn_id, (_, passes) in cases.items():
        output = outputs[conn_id]
        assert (runs[conn_id].returncode == 0) is passes, output
        assert ("Connection success!" in output) is passes, output
        assert PASSWORD not in output
    assert "Access denied" in outputs["rs_plain"]
    print(f"three `airflow connections test` runs in parallel took {elapsed:.1f}s")


def _airflow_env(home: Path, conns: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Return an environment for the airflow CLI with its own AIRFLOW_HOME and the given connections."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    })
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(spec) for conn_id, spec in conns.items()})
    return env
