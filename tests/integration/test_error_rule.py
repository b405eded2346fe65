"""One rule for every task: permanent errors fail at once, transient ones are raised for Airflow to retry.

Each error class is produced for real against MariaDB (a refused port, a missing schema, a wrong
login, a missing table, a lock wait timeout, a deadlock, a killed connection), then classified
by :func:`ragsync.errors.is_transient` and run through :func:`ragsync.pipeline.tasks.task_runtime`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import MySQLdb
import pytest
from airflow.sdk.exceptions import AirflowFailException

from ragsync.airflow_secrets import SecretsUnavailableError
from ragsync.db import Database, DbParams
from ragsync.errors import ConfigError, DatabaseError, describe, is_transient, mysql_errno
from ragsync.pipeline.tasks import task_runtime

CONFIG = '{"enabled": true}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _error(action: Callable[[], Any]) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("the action did not fail")


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_RAGSYNC_CONFIG", CONFIG)


def _lock_wait_timeout(db_factory: Callable[..., Database]) -> BaseException:
    db = db_factory("locks")
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    db.execute("INSERT INTO t VALUES (1, 0)")
    holder, waiter = Database(db.params), Database(db.params)
    try:
        holder.conn.query("START TRANSACTION")
        holder.query("SELECT v FROM t WHERE id = 1 FOR UPDATE")
        waiter.execute("SET SESSION innodb_lock_wait_timeout = 1")
        return _error(lambda: waiter.execute("UPDATE t SET v = 1 WHERE id = 1"))
    finally:
        holder.close()
        waiter.close()


def _deadlock(db_factory: Callable[..., Database]) -> BaseException:
    db = db_factory("deadlock")
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    db.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    first, second = Database(db.params), Database(db.params)
    errors: list[BaseException] = []
    try:
        for conn in (first, second):
            conn.execute("SET SESSION innodb_lock_wait_timeout = 20")
            conn.conn.query("START TRANSACTION")
        first.execute("UPDATE t SET v = 1 WHERE id = 1")
        second.execute("UPDATE t SET v = 1 WHERE id = 2")

        def cross(conn: Database, row: int) -> None:
            try:
                conn.execute("UPDATE t SET v = 2 WHERE id = %s", (row,))
            except Exception as exc:
                errors.append(exc)
            finally:
                conn.conn.rollback()

        thread = threading.Thread(target=cross, args=(first, 2))
        thread.start()
        time.sleep(0.5)  # the first transaction now waits for row 2
        cross(second, 1)
        thread.join(timeout=30)
    finally:
        first.close()
        second.close()
    assert errors, "no deadlock happened"
    return errors[0]


def _killed_connection(db_factory: Callable[..., Database]) -> BaseException:
    db = db_factory("killed")
    victim = Database(db.params)
    try:
        connection_id = victim.scalar("SELECT CONNECTION_ID()")
        db.execute(f"KILL {int(connection_id)}")
        return _error(lambda: victim.scalar("SELECT 1"))
    finally:
        victim.close()


def test_each_error_class_is_classified(db_factory: Callable[..., Database], server_params: DbParams) -> None:
    refused = _error(lambda: Database(DbParams(host="127.0.0.1", port=_free_port())).scalar("SELECT 1"))
    assert isinstance(refused, DatabaseError) and refused.errno in (2002, 2003) and is_transient(refused) is True

    missing_schema = _error(lambda: Database(server_params.with_database("rs_no_such_schema")).scalar("SELECT 1"))
    assert isinstance(missing_schema, DatabaseError) and missing_schema.errno == 1049
    assert is_transient(missing_schema) is False

    login = DbParams(**{**server_params.__dict__, "user": "rs_no_such_user", "password": "x"})
    refused_login = _error(lambda: Database(login).scalar("SELECT 1"))
    assert mysql_errno(refused_login) in (1045, 1698) and is_transient(refused_login) is False

    empty = db_factory("empty_magento")
    missing_table = _error(lambda: empty.query("SELECT entity_id FROM catalog_product_entity"))
    assert isinstance(missing_table, MySQLdb.ProgrammingError) and is_transient(missing_table) is False
    assert "table_prefix" in describe(missing_table) and "catalog_product_entity" in describe(missing_table)

    for transient in (_lock_wait_timeout(db_factory), _deadlock(db_factory), _killed_connection(db_factory)):
        assert mysql_errno(transient) in (1205, 1213, 2006, 2013), transient
        assert is_transient(transient) is True, transient

    assert is_transient(ConfigError("bad setting")) is False
    assert is_transient(SecretsUnavailableError("metadata database down")) is True
    assert is_transient(KeyError("a bug")) is None  # not ours to judge: Airflow's retries apply as usual


def test_task_runtime_fails_permanent_errors_at_once_and_reraises_transient_ones(
    enabled: None, db_factory: Callable[..., Database], server_params: DbParams,
) -> None:
    empty = db_factory("empty_magento2")
    with pytest.raises(AirflowFailException, match="catalog_product_entity.*table_prefix"):
        with task_runtime():
            empty.query("SELECT entity_id FROM catalog_product_entity")
    with pytest.raises(AirflowFailException, match="Unknown database"):
        with task_runtime():
            Database(server_params.with_database("rs_no_such_schema")).scalar("SELECT 1")
    with pytest.raises(AirflowFailException, match="unknown key"):
        with task_runtime():
            raise ConfigError("ragsync_config: unknown key x")

    with pytest.raises(DatabaseError) as refused:
        with task_runtime():
            Database(DbParams(host="127.0.0.1", port=_free_port())).scalar("SELECT 1")
    assert refused.value.errno in (2002, 2003)
    with pytest.raises(MySQLdb.OperationalError):
        with task_runtime():
            raise _lock_wait_timeout(db_factory)
    with pytest.raises(SecretsUnavailableError):
        with task_runtime():
            raise SecretsUnavailableError("could not read Airflow connection 'ragsync_db'")


def test_invalid_settings_fail_the_task_without_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_RAGSYNC_CONFIG", '{"enabled": true, "queue": {"batch_size": 0}}')
    with pytest.raises(AirflowFailException, match="queue.batch_size must be at least 1"):
        with task_runtime():
            pass
    monkeypatch.setenv("AIRFLOW_VAR_RAGSYNC_CONFIG", '{"enabled": true, "log_file": "/nonexistent-dir/ragsync.log"}')
    with pytest.raises(AirflowFailException, match="log_file '/nonexistent-dir/ragsync.log' cannot be opened"):
        with task_runtime():
            pass


def test_a_malformed_connection_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ragsync.airflow_secrets import get_connection

    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_DB", '{"conn_type": "mysql", "host": ')
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_RAGSYNC_DB is not a valid Airflow connection"):
        get_connection("ragsync_db")
