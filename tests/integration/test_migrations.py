"""The pipeline's tables: migrations apply once, record their version, and enforce the queue rules."""

from __future__ import annotations

from datetime import datetime

import MySQLdb
import pytest

from ragsync.db import Database
from ragsync.state.migrations import (
    available_migrations,
    current_version,
    split_statements,
    uninstall,
    upgrade,
)


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
