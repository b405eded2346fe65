"""The dashboard's database access: one short-lived ``ragsync_db`` connection per request, bounded in time.

The web server must never hang on the pipeline's database: connecting gives up after
``connect_timeout`` (set by :class:`ragsync.db.Database`), and every statement of a request runs
under a server-side time limit (MariaDB ``max_statement_time``, MySQL ``max_execution_time``),
short for the pages, longer for the actions that delete or reopen many rows in chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import MySQLdb

from ragsync.db import RAGSYNC_CONN_ID, Database
from ragsync.errors import ConnectionNotConfiguredError, DatabaseError, TransientError

log = logging.getLogger(__name__)

READ_STATEMENT_SECONDS = 10
WRITE_STATEMENT_SECONDS = 120
_UNKNOWN_SYSTEM_VARIABLE = 1193
TIMEOUT_ERRORS = (1969, 3024, 1317)  # max_statement_time (MariaDB), max_execution_time (MySQL), interrupted


class DashboardUnavailableError(Exception):
    """The pipeline's database cannot serve this request; the message says why and what to do."""

    def __init__(self, message: str, status_code: int = 503) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def limit_statement_time(db: Database, seconds: int) -> None:
    """Abort any statement of this session that runs longer than ``seconds`` (MariaDB or MySQL)."""
    try:
        db.execute("SET SESSION max_statement_time = %s", (float(seconds),))
    except MySQLdb.OperationalError as exc:
        if not exc.args or exc.args[0] != _UNKNOWN_SYSTEM_VARIABLE:
            raise
        db.execute("SET SESSION max_execution_time = %s", (int(seconds * 1000),))  # MySQL: SELECTs only


def prefer_plain_plans(db: Database) -> None:
    """Keep this session's optimizer from intersecting single-column indexes for the grid's filters.

    With a status, a type and an action filter, MariaDB likes to intersect three low-cardinality
    indexes (hundreds of thousands of ids each) and sort the result: seconds on a million rows,
    where walking one index in the page's order takes milliseconds.
    """
    db.execute("SET SESSION optimizer_switch = 'index_merge_intersection=off'")


def open_database(seconds: int, conn_id: str = RAGSYNC_CONN_ID) -> Database:
    """Connect to the pipeline's database with a per-statement time limit, or raise DashboardUnavailableError."""
    try:
        db = Database.from_conn_id(conn_id)
    except (ConnectionNotConfiguredError, TransientError) as exc:
        raise DashboardUnavailableError(str(exc)) from None
    try:
        limit_statement_time(db, seconds)
        prefer_plain_plans(db)
    except DatabaseError as exc:
        db.close()
        raise DashboardUnavailableError(str(exc)) from None
    except MySQLdb.Error as exc:
        db.close()
        raise DashboardUnavailableError(describe_mysql_error(exc)) from None
    return db


def describe_mysql_error(exc: MySQLdb.Error) -> str:
    """Return a message for a MySQL error met while serving a page, with a hint where one helps."""
    code = exc.args[0] if exc.args else None
    text = exc.args[-1] if exc.args else str(exc)
    if code in TIMEOUT_ERRORS:
        return ("the database did not answer in time; narrow the filters or sort by id, and check the "
                f"server's load (MySQL error {code}: {text})")
    if code == 1146:  # no such table
        return (f"the pipeline's tables are missing ({text}); run `ragsync db upgrade` or any ragsync DAG "
                "once to create them")
    if code in (2002, 2003, 2006, 2013):
        return f"lost the connection to the pipeline's database (MySQL error {code}: {text})"
    return f"the pipeline's database refused the request (MySQL error {code}: {text})"


def _request_database(seconds: int) -> Iterator[Database]:
    db = open_database(seconds)
    try:
        yield db
    finally:
        db.close()


def read_database() -> Iterator[Database]:
    """Yield the pipeline's database for a page or a read API call, closed afterwards."""
    yield from _request_database(READ_STATEMENT_SECONDS)


def write_database() -> Iterator[Database]:
    """Yield the pipeline's database for an action, with a longer statement time limit, closed afterwards."""
    yield from _request_database(WRITE_STATEMENT_SECONDS)
