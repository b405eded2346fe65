"""Apply the numbered SQL migrations of ``sql/`` idempotently and record the version."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from ragsync.db import Database
from ragsync.errors import DatabaseError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_NAME = "ragsync_schema_upgrade"
VERSION_TABLE = "rag_sync_schema_version"


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def _sql_dir() -> resources.abc.Traversable:
    return resources.files("ragsync.state").joinpath("sql")


def available_migrations() -> list[Migration]:
    """Return the packaged migrations in version order."""
    found = []
    for entry in _sql_dir().iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def split_statements(sql: str) -> list[str]:
    """Split SQL text into statements on ``;`` outside quotes and comments; drop the comments."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    quote = ""
    while i < n:
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < n:
                current.append(sql[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in ("'", '"', "`"):
            quote = ch
            current.append(ch)
        elif ch == "-" and sql.startswith("-- ", i) or ch == "#":
            end = sql.find("\n", i)
            i = n if end == -1 else end
            continue
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        elif ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def current_version(db: Database) -> int:
    """Return the highest applied migration, 0 when none is."""
    exists = db.scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
        (VERSION_TABLE,),
    )
    if not exists:
        return 0
    return int(db.scalar(f"SELECT COALESCE(MAX(version), 0) FROM `{VERSION_TABLE}`") or 0)


def upgrade(db: Database) -> list[Migration]:
    """Apply every migration newer than the recorded version; return the ones applied."""
    got = db.scalar("SELECT GET_LOCK(%s, 120)", (_LOCK_NAME,))
    if got != 1:
        raise DatabaseError("another process is upgrading the ragsync tables; try again in a minute")
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS `{VERSION_TABLE}` ("
            " `version` int unsigned NOT NULL, `name` varchar(128) NOT NULL,"
            " `applied_at` datetime(6) NOT NULL, PRIMARY KEY (`version`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
        done = current_version(db)
        applied = []
        for migration in available_migrations():
            if migration.version <= done:
                continue
            log.info("applying ragsync migration %03d_%s", migration.version, migration.name)
            for statement in split_statements(migration.sql):
                db.execute(statement)
            db.execute(
                f"INSERT INTO `{VERSION_TABLE}` (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)),
            )
            applied.append(migration)
        return applied
    finally:
        db.scalar("SELECT RELEASE_LOCK(%s)", (_LOCK_NAME,))


def uninstall(db: Database) -> list[str]:
    """Drop every ragsync table (``sql/uninstall.sql``); return the statements run."""
    statements = split_statements(_sql_dir().joinpath("uninstall.sql").read_text("utf-8"))
    for statement in statements:
        db.execute(statement)
    return statements
