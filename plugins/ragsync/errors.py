"""The exceptions ragsync raises on purpose, and the one rule that says which failures are worth a retry.

Each message says what is wrong and what to do. :func:`is_transient` is the rule every DAG task
applies (``ragsync.pipeline.tasks.task_runtime``): a permanent error fails the task at once with its
message; a transient one is raised again so that Airflow retries the task.
"""

from __future__ import annotations

# MySQL/MariaDB error numbers that say "try again later", not "fix something": the server is down,
# restarting, overloaded or dropped the connection, or a lock could not be had in time.
TRANSIENT_MYSQL_ERRORS = frozenset({
    1040,  # too many connections
    1053,  # server shutdown in progress
    1158, 1159, 1160, 1161,  # network read/write errors and timeouts
    1205,  # lock wait timeout exceeded
    1213,  # deadlock found when trying to get lock
    1317,  # query execution was interrupted
    1927,  # connection was killed (MariaDB)
    2002,  # can't connect through the socket
    2003,  # can't connect to the server (connection refused, timeout)
    2005,  # unknown server host (DNS)
    2006,  # server has gone away
    2013,  # lost connection during query
    2055,  # lost connection (system error)
    4031,  # disconnected by the server because of inactivity
})
MISSING_TABLE = 1146


class RagSyncError(Exception):
    """Base class of every error ragsync raises deliberately."""


class ConfigError(RagSyncError):
    """A setting, param or connection is invalid; the message names the key and the allowed values."""


class ConnectionNotConfiguredError(ConfigError):
    """An Airflow connection ragsync needs does not exist or lacks a required field."""


class UnknownStoreError(ConfigError):
    """A store code or id does not name an active store view."""


class TransientError(RagSyncError):
    """Something ragsync depends on is briefly unavailable; the same call may succeed later."""


class DatabaseError(RagSyncError):
    """The database could not be reached or refused a statement; ``errno`` is MySQL's error number."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    @property
    def transient(self) -> bool:
        """Return True when MySQL's error number says the same statement may succeed later."""
        return self.errno in TRANSIENT_MYSQL_ERRORS


def mysql_errno(exc: BaseException) -> int | None:
    """Return MySQL's error number of a mysqlclient exception (or a DatabaseError), else None."""
    if isinstance(exc, DatabaseError):
        return exc.errno
    try:
        import MySQLdb
    except ImportError:  # pragma: no cover - mysqlclient is a dependency
        return None
    if isinstance(exc, MySQLdb.Error) and exc.args and isinstance(exc.args[0], int):
        return int(exc.args[0])
    return None


def is_transient(exc: BaseException) -> bool | None:
    """Classify a failure: True = transient (retry), False = permanent (fail now), None = not ours to judge."""
    if isinstance(exc, TransientError):
        return True
    errno = mysql_errno(exc)
    if errno is not None:
        return errno in TRANSIENT_MYSQL_ERRORS
    if isinstance(exc, RagSyncError):
        return False
    try:
        import MySQLdb
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, MySQLdb.Error):
        return isinstance(exc, MySQLdb.OperationalError | MySQLdb.InterfaceError)
    return None


def describe(exc: BaseException) -> str:
    """Return the message a user reads for ``exc``, with a hint for a missing Magento table."""
    errno = mysql_errno(exc)
    if isinstance(exc, RagSyncError):
        text = str(exc)
    elif errno is not None and len(exc.args) > 1:
        text = f"MySQL error {errno}: {exc.args[1]}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if errno == MISSING_TABLE:
        text += (". A table ragsync reads is missing: check that the magento_db connection points at "
                 "Magento's schema and that its table_prefix extra matches db/table_prefix in app/etc/env.php "
                 "(ragsync's own tables: run `ragsync db upgrade`)")
    return text
