"""Apply the numbered SQL migrations of ``sql/`` in order, record each version, survive a crash at any point.

MySQL and MariaDB commit every DDL statement on its own, so a migration file is a sequence of
steps, each of which has or has not happened when a process dies (``kill -9``, a lost connection,
``KILL QUERY``, a server restart). The version row of a migration is written only after its last
step, so a half-applied migration never looks done; the next :func:`upgrade` runs the migration
again from its first step, and that has to be safe:

* A step that is idempotent by itself needs nothing: ``CREATE TABLE IF NOT EXISTS``, ``INSERT
  IGNORE``, and one ``ALTER TABLE`` (InnoDB applies a single ALTER completely or not at all, also
  when its connection is killed).
* Any other step is preceded by guard comments that say when it still has to run, checked
  against the live schema (``information_schema``) just before it runs; a step whose guards do
  not all hold is skipped, because it already happened::

      -- if: column rag_sync_queue.document exists
      ALTER TABLE `rag_sync_queue` DROP COLUMN `document`, ALGORITHM=INPLACE;

  The guards are ``-- if: table|column|index <name> exists|is missing`` with ``table``,
  ``table.column`` or ``table.index`` as the name; several lines before a statement must all
  hold. To a MySQL client they are plain comments, so every file still runs by hand.

A file without guards runs as it always did, once, statement by statement. It is crash-safe when
each of its statements is idempotent or it is one ALTER; a migration with several steps that are
not must guard them, else a crash between two of them stops the next upgrade with a message that
names the migration and the statement (nothing is repaired silently).

Two upgraders never run at once: :func:`upgrade` holds the named lock ``ragsync_schema_upgrade``
(``GET_LOCK``) and waits up to two minutes for it. The lock belongs to the server connection, so
after a client was killed mid-statement the next upgrader waits until the server has finished (or
rolled back) that statement, and then sees its result.

Before and after migrating, :func:`upgrade` checks that every table of the recorded version exists
(one ``information_schema`` query) and raises :class:`~ragsync.errors.ConfigError` naming the
missing ones, instead of failing later with ``Table ... doesn't exist``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from ragsync.db import Database
from ragsync.errors import TRANSIENT_MYSQL_ERRORS, ConfigError, DatabaseError, mysql_errno

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_NAME = "ragsync_schema_upgrade"
_LOCK_WAIT_SECONDS = 120
VERSION_TABLE = "rag_sync_schema_version"

_GUARD_PREFIX = "-- if:"
_GUARD = re.compile(r"^(table|column|index)\s+`?(\w+)`?(?:\.`?(\w+)`?)?\s+(exists|is missing)$")
_CREATES_TABLE = re.compile(r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?", re.IGNORECASE)
_DROPS_TABLES = re.compile(r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Guard:
    """One ``-- if:`` condition: ``kind`` table/column/index, ``table``, ``name`` (column or index), ``exists``."""

    kind: str
    table: str
    name: str | None
    exists: bool

    @classmethod
    def parse(cls, text: str) -> Guard:
        """Parse the text after ``-- if:``; refuse anything else, so a typo never skips a step."""
        match = _GUARD.match(" ".join(text.split()))
        if not match or (match.group(1) == "table") != (match.group(3) is None):
            raise ValueError(f"invalid migration guard {text!r}: write `-- if: table T exists`, "
                             "`-- if: column T.C is missing` or `-- if: index T.I exists`")
        kind, table, name, state = match.groups()
        return cls(kind, table, name, state == "exists")

    def holds(self, db: Database) -> bool:
        """Return whether the live schema satisfies the condition."""
        if self.kind == "table":
            sql = ("SELECT COUNT(*) FROM information_schema.tables"
                   " WHERE table_schema = DATABASE() AND table_name = %s")
            params: tuple[str, ...] = (self.table,)
        elif self.kind == "column":
            sql = ("SELECT COUNT(*) FROM information_schema.columns"
                   " WHERE table_schema = DATABASE() AND table_name = %s AND column_name = %s")
            params = (self.table, str(self.name))
        else:
            sql = ("SELECT COUNT(*) FROM information_schema.statistics"
                   " WHERE table_schema = DATABASE() AND table_name = %s AND index_name = %s")
            params = (self.table, str(self.name))
        return bool(db.scalar(sql, params)) == self.exists

    def __str__(self) -> str:
        name = self.table if self.name is None else f"{self.table}.{self.name}"
        return f"{self.kind} {name} {'exists' if self.exists else 'is missing'}"


@dataclass(frozen=True)
class Step:
    """One statement of a migration and the guards that must all hold for it to run."""

    statement: str
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def steps(self) -> list[Step]:
        """Return the file's statements with their guards."""
        return split_steps(self.sql)

    @property
    def label(self) -> str:
        """Return ``004_queue_documents``."""
        return f"{self.version:03d}_{self.name}"


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
    return [step.statement for step in _split(sql, guards=False)]


def split_steps(sql: str) -> list[Step]:
    """Split a migration into steps: each statement with the ``-- if:`` guards written just before it."""
    return _split(sql, guards=True)


def _split(sql: str, guards: bool) -> list[Step]:  # noqa: C901 - a small SQL tokenizer: quotes, comments, guards
    steps: list[Step] = []
    current: list[str] = []
    pending: list[Guard] = []
    i, n = 0, len(sql)
    quote = ""

    def finish() -> None:
        statement = "".join(current).strip()
        if statement:
            steps.append(Step(statement, tuple(pending)))
        elif pending:
            raise ValueError(f"migration guard `{pending[0]}` is not followed by a statement")
        current.clear()
        pending.clear()

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
        elif ch == "-" and sql.startswith("--", i) and (i + 2 == n or sql[i + 2].isspace()) or ch == "#":
            end = sql.find("\n", i)
            end = n if end == -1 else end
            if guards and sql.startswith(_GUARD_PREFIX, i):
                if "".join(current).strip():
                    raise ValueError(f"migration guard {sql[i:end]!r} inside a statement: put it before one")
                pending.append(Guard.parse(sql[i + len(_GUARD_PREFIX):end]))
            i = end
            continue
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        elif ch == ";":
            finish()
        else:
            current.append(ch)
        i += 1
    finish()
    return steps


def current_version(db: Database) -> int:
    """Return the highest applied migration, 0 when none is."""
    exists = db.scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
        (VERSION_TABLE,),
    )
    if not exists:
        return 0
    return int(db.scalar(f"SELECT COALESCE(MAX(version), 0) FROM `{VERSION_TABLE}`") or 0)


def expected_tables(version: int, migrations: list[Migration] | None = None) -> set[str]:
    """Return the tables ragsync has at ``version``: those its migrations create and do not drop."""
    tables = {VERSION_TABLE}
    for migration in migrations if migrations is not None else available_migrations():
        if migration.version > version:
            break
        for step in migration.steps:
            if created := _CREATES_TABLE.match(step.statement):
                tables.add(created.group(1))
            elif dropped := _DROPS_TABLES.match(step.statement):
                tables -= {name.strip().strip("`") for name in dropped.group(1).split(",")}
    return tables


def _present_tables(db: Database, names: set[str]) -> set[str]:
    """Return which of ``names`` exist in the database (one information_schema query)."""
    marks = ", ".join(["%s"] * len(names))
    found = {str(r[0]).lower() for r in db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        f" AND table_name IN ({marks})", sorted(names))}
    return {name for name in names if name.lower() in found}


def missing_tables(db: Database, version: int, migrations: list[Migration] | None = None) -> list[str]:
    """Return the tables of ``version`` that the database lacks, in name order."""
    wanted = expected_tables(version, migrations)
    return sorted(wanted - _present_tables(db, wanted))


def _start_over_hint(db: Database) -> str:
    return (f"`ragsync db uninstall --force` and then `ragsync db upgrade` start over in {db.params.database!r}: "
            "they drop every ragsync table and create them empty, so the queue (items not yet delivered) and "
            "the audit log are lost, and with an empty ledger ragsync no longer knows what the backend holds: "
            "the next full sync of each type sends every document again")


def check_tables(db: Database, version: int, migrations: list[Migration] | None = None) -> None:
    """Raise ConfigError naming the tables of ``version`` that are missing (dropped by hand or by a broken restore)."""
    missing = missing_tables(db, version, migrations)
    if not missing:
        return
    raise ConfigError(
        f"ragsync table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing in database "
        f"{db.params.database!r}, although schema version {version} is recorded in {VERSION_TABLE}. "
        f"A dropped ragsync table is not recreated empty behind your back: restore {'them' if len(missing) > 1 else 'it'}"
        " from a backup "
        f"(then run `ragsync db upgrade`), or {_start_over_hint(db)}"
    )


def _refuse_tables_without_version(db: Database, migrations: list[Migration]) -> None:
    """Refuse to migrate from scratch over ragsync tables whose version table was dropped."""
    ours: set[str] = set()
    for migration in migrations:
        ours |= expected_tables(migration.version, migrations)
    found = sorted(_present_tables(db, ours - {VERSION_TABLE})) if len(ours) > 1 else []
    if found:
        raise ConfigError(
            f"the ragsync version table {VERSION_TABLE} is missing in database {db.params.database!r} but "
            f"ragsync tables exist ({', '.join(found)}), so which migrations they have is unknown. Restore "
            f"{VERSION_TABLE} from a backup (then run `ragsync db upgrade`), or {_start_over_hint(db)}"
        )


def _run_step(db: Database, migration: Migration, number: int, count: int, step: Step) -> None:
    """Run one step unless its guards say it already happened."""
    unmet = [guard for guard in step.guards if not guard.holds(db)]
    if unmet:
        log.info("migration %s step %d of %d already applied (not: %s), skipped", migration.label, number, count,
                 unmet[0])
        return
    try:
        db.execute(step.statement)
    except Exception as exc:
        errno = mysql_errno(exc)
        if errno is None or errno in TRANSIENT_MYSQL_ERRORS:
            raise  # a lost connection or a killed query: the next upgrade resumes here
        hint = ""
        if number > 1 and not step.guards:
            hint = (f". If an earlier upgrade was interrupted inside {migration.label}, its first statements may "
                    f"already be applied: complete the migration by hand and insert its row into {VERSION_TABLE}")
        summary = " ".join(step.statement.split())[:80]
        raise DatabaseError(f"migration {migration.label} failed at statement {number} of {count} ({summary}...): "
                            f"{exc.args[-1] if exc.args else exc}{hint}", errno=errno) from exc


def upgrade(db: Database) -> list[Migration]:
    """Apply every migration newer than the recorded version, resuming a half-applied one; return the ones applied.

    Raises ConfigError when a table the recorded version should have is missing.
    """
    got = db.scalar("SELECT GET_LOCK(%s, %s)", (_LOCK_NAME, _LOCK_WAIT_SECONDS))
    if got != 1:
        raise DatabaseError("another process is upgrading the ragsync tables; try again in a minute")
    try:
        migrations = available_migrations()
        if not db.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                         " AND table_name = %s", (VERSION_TABLE,)):
            _refuse_tables_without_version(db, migrations)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS `{VERSION_TABLE}` ("
            " `version` int unsigned NOT NULL, `name` varchar(128) NOT NULL,"
            " `applied_at` datetime(6) NOT NULL, PRIMARY KEY (`version`)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
        done = current_version(db)
        check_tables(db, done, migrations)
        applied = []
        for migration in migrations:
            if migration.version <= done:
                continue
            log.info("applying ragsync migration %s", migration.label)
            steps = migration.steps
            for number, step in enumerate(steps, start=1):
                _run_step(db, migration, number, len(steps), step)
            db.execute(  # only now: a migration that stopped half-way is run again from its first step
                f"INSERT INTO `{VERSION_TABLE}` (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)),
            )
            applied.append(migration)
        if applied:
            check_tables(db, applied[-1].version, migrations)
        return applied
    finally:
        try:
            db.scalar("SELECT RELEASE_LOCK(%s)", (_LOCK_NAME,))
        except Exception as exc:
            if mysql_errno(exc) is None:
                raise
            # the connection is gone, and the server released the lock with it; keep the original error
            log.debug("could not release %s: %s", _LOCK_NAME, exc)


def uninstall(db: Database) -> list[str]:
    """Drop every ragsync table (``sql/uninstall.sql``); return the statements run."""
    statements = split_statements(_sql_dir().joinpath("uninstall.sql").read_text("utf-8"))
    for statement in statements:
        db.execute(statement)
    return statements
