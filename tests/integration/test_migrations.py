"""The pipeline's tables: migrations apply once, record their version, survive crashes, and enforce the queue rules."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import MySQLdb
import pytest

from fixtures.crashed_upgrade import (
    UpgradeProcess,
    build_version3,
    describe_rows,
    metadata_lock,
    queue_documents,
    schema,
    wait_until_idle,
)
from ragsync.db import Database
from ragsync.errors import ConfigError
from ragsync.state.migrations import (
    available_migrations,
    current_version,
    split_statements,
    split_steps,
    uninstall,
    upgrade,
)
from ragsync_dev.demo.airflow_env import mysql_connection

RAGSYNC = str(Path(sys.executable).parent / "ragsync")


def _queue_row(db: Database, status: str, entity_id: str = "1") -> None:
    now = datetime(2026, 1, 1)
    db.execute(
        "INSERT INTO rag_sync_queue (entity_type, entity_id, store_id, action, status, content_hash,"
        " next_attempt_at, created_at, updated_at) VALUES ('product', %s, 1, 'save', %s, %s, %s, %s, %s)",
        (entity_id, status, "0" * 64, now, now, now),
    )


def test_upgrade_is_idempotent_and_records_the_version(db_factory) -> None:
    db = db_factory("mig")
    applied = upgrade(db)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert current_version(db) == available_migrations()[-1].version
    assert upgrade(db) == []
    tables = {r[0] for r in db.query("SHOW TABLES")}
    assert {"rag_sync_queue", "rag_sync_ledger", "rag_sync_circuit_breaker", "rag_sync_log",
            "rag_sync_watermark", "rag_sync_schema_version"} <= tables


def test_schema_allows_one_open_row_per_entity_and_store(ragsync_db: Database) -> None:
    _queue_row(ragsync_db, "pending")
    with pytest.raises(MySQLdb.IntegrityError):
        _queue_row(ragsync_db, "failed")
    # rows being delivered, delivered or dead do not count as open
    _queue_row(ragsync_db, "processing")
    _queue_row(ragsync_db, "sent")
    _queue_row(ragsync_db, "sent")
    _queue_row(ragsync_db, "dead")
    _queue_row(ragsync_db, "pending", entity_id="2")
    assert ragsync_db.scalar("SELECT COUNT(*) FROM rag_sync_queue") == 6


def test_claim_index_matches_the_claim_query(ragsync_db: Database) -> None:
    rows = ragsync_db.query_dicts("SHOW INDEX FROM rag_sync_queue WHERE Key_name = 'RAG_SYNC_QUEUE_CLAIM'")
    assert [r["Column_name"] for r in sorted(rows, key=lambda r: r["Seq_in_index"])] == [
        "status", "next_attempt_at", "id"]


def test_uninstall_drops_every_ragsync_table(ragsync_db: Database) -> None:
    uninstall(ragsync_db)
    assert not [r for r in ragsync_db.query("SHOW TABLES") if r[0].startswith("rag_sync_")]
    assert current_version(ragsync_db) == 0


def test_documents_move_out_of_the_queue_rows_with_their_rows(db_factory) -> None:
    """Migrations 004 and 005 on tables written by version 3: documents follow their rows, deletes cascade,
    and the ledger's live flag matches what was delivered."""
    db = db_factory("mig4")
    db.execute("CREATE TABLE rag_sync_schema_version (version int unsigned NOT NULL, name varchar(128) NOT NULL,"
               " applied_at datetime(6) NOT NULL, PRIMARY KEY (version))")
    for migration in available_migrations():
        if migration.version <= 3:
            for statement in split_statements(migration.sql):
                db.execute(statement)
            db.execute("INSERT INTO rag_sync_schema_version VALUES (%s, %s, NOW())", (migration.version, migration.name))
    now = datetime(2026, 1, 1)
    for entity_id, document in (("1", '{"id":"1"}'), ("2", '{"id":"2","data":{"name":"Ä"}}'), ("3", None)):
        db.execute(
            "INSERT INTO rag_sync_queue (entity_type, entity_id, store_id, action, status, document, content_hash,"
            " next_attempt_at, created_at, updated_at) VALUES ('product', %s, 1, 'save', 'pending', %s, %s, %s, %s, %s)",
            (entity_id, document, "0" * 64, now, now, now))
    ids = {r[1]: int(r[0]) for r in db.query("SELECT id, entity_id FROM rag_sync_queue")}
    # a ledger as version 3 left it: live, deleted (tombstone) and never delivered (failed only)
    db.execute(
        "INSERT INTO rag_sync_ledger (entity_type, entity_id, store_id, delivered_hash, delivered_at, is_tombstone,"
        " failed_hash, failed_status) VALUES ('product', '1', 1, %s, %s, 0, NULL, NULL),"
        " ('product', '2', 1, %s, %s, 1, NULL, NULL), ('product', '3', 1, NULL, NULL, 0, %s, 'dead'),"
        " ('category', '4', 1, %s, %s, 0, %s, 'failed')",
        ("a" * 64, now, "b" * 64, now, "c" * 64, "d" * 64, now, "e" * 64))

    assert [m.version for m in upgrade(db)][:2] == [4, 5]
    assert dict(db.query("SELECT entity_id, is_live FROM rag_sync_ledger")) == {"1": 1, "2": 0, "3": 0, "4": 1}
    columns = {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_queue")}
    assert "document" not in columns
    moved = dict(db.query("SELECT queue_id, document FROM rag_sync_queue_document"))
    assert moved == {ids["1"]: '{"id":"1"}', ids["2"]: '{"id":"2","data":{"name":"Ä"}}'}

    db.execute("DELETE FROM rag_sync_queue WHERE entity_id = '1'")
    assert dict(db.query("SELECT queue_id, document FROM rag_sync_queue_document")) == {
        ids["2"]: '{"id":"2","data":{"name":"Ä"}}'}
    with pytest.raises(MySQLdb.IntegrityError):  # a document needs its queue row
        db.execute("INSERT INTO rag_sync_queue_document (queue_id, document) VALUES (999999, '{}')")


# --- crashes and damaged installs ---------------------------------------------------------------

QUEUE_ROWS = 80_000  # about 120 MB of documents; see test_upgrade_resumes_after_a_crash_at_any_point
DOCUMENT_BYTES = 1_500
COPY = "INSERT IGNORE INTO `rag_sync_queue_document`"
DROP_DOCUMENT = "ALTER TABLE `rag_sync_queue` DROP COLUMN"
LIVE_FLAG = "ALTER TABLE `rag_sync_ledger`"


def _clean_schema(db_factory) -> dict[str, str]:
    clean = db_factory("migclean")
    upgrade(clean)
    return schema(clean)


def test_upgrade_resumes_after_a_crash_at_any_point(db_factory) -> None:
    """``kill -9`` of the upgrader and KILL QUERY/CONNECTION on the server, during the copy and the ALTER of
    004 and the ALTER of 005, one after the other on a queue of 80,000 rows: after each crash every row still
    has its document, every next upgrade carries on, and the last one ends with the schema of a clean
    install."""
    started = time.monotonic()
    db = db_factory("migcrash")
    watcher = Database(db.params)
    build_version3(db, QUEUE_ROWS, DOCUMENT_BYTES)
    before = queue_documents(db)
    ledger_before = db.query("SELECT entity_id, delivered_hash, is_tombstone FROM rag_sync_ledger ORDER BY entity_id")
    assert len(before) == QUEUE_ROWS and sum(1 for h in before.values() if h is None) == QUEUE_ROWS // 1000
    db.close()  # the child processes do the upgrading
    timings = [f"build {time.monotonic() - started:.1f} s"]

    def crash(statement: str, how: str, delay: float = 0.0, blocked_on: str = "") -> None:
        """Start an upgrade, kill it ``how`` while ``statement`` runs, check that no document is lost.

        ``blocked_on``: a table whose metadata lock is held until after the kill, so that the statement
        (an instant ALTER) is still running when it is killed.
        """
        step = time.monotonic()
        with contextlib.ExitStack() as blocked:
            if blocked_on:
                blocked.enter_context(metadata_lock(db, blocked_on))
            child = UpgradeProcess(db, watcher)
            connection = child.wait_for_statement(statement, state="metadata lock" if blocked_on else "")
            time.sleep(delay)
            if how == "SIGKILL":
                assert child.kill_process() == -signal.SIGKILL
            else:
                rc, err = child.kill_server_side(connection, how)
                assert rc != 0 and ("1317" in err or "2013" in err or "1927" in err), err
        wait_until_idle(watcher, db.params.database)  # a killed client's statement runs on to its end
        assert queue_documents(db) == before, f"after {how} during {statement}"
        db.close()
        timings.append(f"{how} during {statement.split('`')[1]} {time.monotonic() - step:.1f} s")

    crash(COPY, "QUERY", delay=0.2)  # the copy is rolled back
    assert current_version(db) == 3 and "document" in {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_queue")}
    assert db.scalar("SELECT COUNT(*) FROM rag_sync_queue_document") == 0
    crash(COPY, "SIGKILL", delay=0.2)  # the server finishes the copy
    assert current_version(db) == 3
    timings.append(f"(documents copied by the orphan: {db.scalar('SELECT COUNT(*) FROM rag_sync_queue_document')})")
    # MariaDB drops the column instantly (ALGORITHM=INPLACE allows INSTANT there): a reader's metadata lock
    # keeps the ALTER waiting so that it is killed inside
    crash(DROP_DOCUMENT, "CONNECTION", blocked_on="rag_sync_queue")  # rolled back
    assert current_version(db) == 3 and "document" in {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_queue")}
    crash(DROP_DOCUMENT, "SIGKILL", blocked_on="rag_sync_queue")  # the server drops the column once unblocked
    assert current_version(db) == 3 and "document" not in {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_queue")}
    crash(LIVE_FLAG, "QUERY", delay=0.1)  # rolled back
    assert current_version(db) == 4 and "is_live" not in {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_ledger")}
    crash(LIVE_FLAG, "SIGKILL", delay=0.1)  # the server finishes the ALTER, no version row: the case
    assert current_version(db) == 4 and "is_live" in {r[0] for r in db.query("SHOW COLUMNS FROM rag_sync_ledger")}

    step = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env["AIRFLOW_CONN_RAGSYNC_DB"] = json.dumps(mysql_connection(db.params))
    resumed = subprocess.run([RAGSYNC, "db", "upgrade"], capture_output=True, text=True, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "applied: 005_ledger_live_flag" in resumed.stdout
    assert current_version(db) == available_migrations()[-1].version
    timings.append(f"resumed `ragsync db upgrade` {time.monotonic() - step:.1f} s")

    assert schema(db) == _clean_schema(db_factory)
    after = queue_documents(db)
    assert after == before, describe_rows(sorted(set(before.items()) ^ set(after.items())))
    assert db.query("SELECT entity_id, delivered_hash, is_tombstone FROM rag_sync_ledger ORDER BY entity_id"
                    ) == ledger_before
    assert not db.query("SELECT entity_id FROM rag_sync_ledger"
                        " WHERE is_live <> (is_tombstone = 0 AND delivered_hash IS NOT NULL)")
    watcher.close()
    print("; ".join(timings), f"; total {time.monotonic() - started:.1f} s")


def test_upgrade_completes_migrations_whose_version_rows_were_not_written(db_factory) -> None:
    """The state a crash leaves right after the last step of 004 and of 005: their schema, version 3 recorded."""
    db = db_factory("mignorow")
    build_version3(db, 50, 200)
    before = queue_documents(db)
    for migration in available_migrations():
        if migration.version in (4, 5):
            for statement in split_statements(migration.sql):
                db.execute(statement)
    assert current_version(db) == 3
    applied = [m.version for m in upgrade(db)]
    assert applied[:2] == [4, 5] and current_version(db) == available_migrations()[-1].version
    assert queue_documents(db) == before
    assert schema(db) == _clean_schema(db_factory)


def test_guards_are_checked_against_the_live_schema(db_factory) -> None:
    db = db_factory("migguard")
    upgrade(db)
    steps = split_steps("-- if: column rag_sync_queue.document exists\n-- if: table rag_sync_ledger exists\n"
                        "SELECT 1;\n-- if: index rag_sync_ledger.RAG_SYNC_LEDGER_LIVE exists\nSELECT 2; SELECT 3")
    assert [len(s.guards) for s in steps] == [2, 1, 0]
    assert [all(g.holds(db) for g in s.guards) for s in steps] == [False, True, True]
    assert split_statements("-- if: table t exists\nSELECT 1") == ["SELECT 1"]
    for bad in ("-- if: column rag_sync_queue exists\nSELECT 1", "-- if: table t is gone\nSELECT 1",
                "SELECT\n-- if: table t exists\n1", "-- if: table t exists\n"):
        with pytest.raises(ValueError):
            split_steps(bad)


@pytest.mark.parametrize("dropped", ["rag_sync_ledger", "rag_sync_queue_document"])
def test_a_dropped_table_is_a_configuration_error_naming_it(db_factory, dropped: str) -> None:
    db = db_factory("migdrop")
    upgrade(db)
    db.execute(f"DROP TABLE {dropped}")
    with pytest.raises(ConfigError, match=rf"ragsync table {dropped} missing .*restore it.*"
                                          r"`ragsync db uninstall --force` and then `ragsync db upgrade`"):
        upgrade(db)


def test_a_table_missing_before_a_migration_is_reported_not_a_traceback(db_factory) -> None:
    db = db_factory("migdrop3")
    upgrade(db)
    db.execute("DELETE FROM rag_sync_schema_version WHERE version >= 4")
    db.execute("DROP TABLE rag_sync_queue_document")
    db.execute("DROP TABLE rag_sync_queue")
    with pytest.raises(ConfigError, match="ragsync table rag_sync_queue missing"):
        upgrade(db)


def test_a_dropped_version_table_is_not_taken_for_a_new_install(db_factory) -> None:
    db = db_factory("migdropv")
    upgrade(db)
    db.execute("DROP TABLE rag_sync_schema_version")
    with pytest.raises(ConfigError, match="rag_sync_schema_version is missing .* ragsync tables exist"):
        upgrade(db)
    uninstall(db)
    assert upgrade(db)


def test_queue_status_exits_3_naming_the_missing_table(db_factory) -> None:
    db = db_factory("migcli")
    upgrade(db)
    db.execute("DROP TABLE rag_sync_circuit_breaker")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env["AIRFLOW_CONN_RAGSYNC_DB"] = json.dumps(mysql_connection(db.params))
    status = subprocess.run([RAGSYNC, "queue", "status"], capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode == 3
    assert "ragsync table rag_sync_circuit_breaker missing" in status.stderr
    assert "ragsync db uninstall --force" in status.stderr and "Traceback" not in status.stderr
