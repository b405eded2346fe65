"""MySQL/MariaDB access: one explicit connection per use, parameterized SQL, Magento's table prefix.

Both databases ragsync talks to go through :class:`Database`: Magento's (Airflow connection
``magento_db``, read only) and the pipeline's own (``ragsync_db``). It wraps a mysqlclient
connection with the session settings ragsync relies on (utf8mb4, UTC, autocommit for reads)
and an explicit :meth:`Database.transaction` for claim and settle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from ragsync.errors import ConnectionNotConfiguredError, DatabaseError

if TYPE_CHECKING:
    import MySQLdb

log = logging.getLogger(__name__)

MAGENTO_CONN_ID = "magento_db"
RAGSYNC_CONN_ID = "ragsync_db"


@dataclass(frozen=True)
class DbParams:
    """Where a database is and how to log in; ``table_prefix`` is Magento's ``db/table_prefix``."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str = ""
    table_prefix: str = ""
    unix_socket: str | None = None

    @classmethod
    def from_url(cls, url: str) -> DbParams:
        """Parse ``mysql://user:pass@host:port/db?table_prefix=m2_&unix_socket=/path``."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb", "mysql+mysqldb"):
            raise ConnectionNotConfiguredError(
                f"database URL must start with mysql://, got scheme {parsed.scheme!r}"
            )
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 3306,
            user=unquote(parsed.username or "root"),
            password=unquote(parsed.password or ""),
            database=(parsed.path or "/").lstrip("/"),
            table_prefix=query.get("table_prefix", ""),
            unix_socket=query.get("unix_socket"),
        )

    def with_database(self, database: str) -> DbParams:
        """Return the same server with another schema."""
        return replace(self, database=database)

    def url(self) -> str:
        """Return the parameters as a URL (the password included: never log it)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        extra = []
        if self.table_prefix:
            extra.append(f"table_prefix={self.table_prefix}")
        if self.unix_socket:
            extra.append(f"unix_socket={self.unix_socket}")
        query = ("?" + "&".join(extra)) if extra else ""
        return f"mysql://{auth}@{self.host}:{self.port}/{self.database}{query}"

    def describe(self) -> str:
        """Return a loggable description without the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def params_from_conn_id(conn_id: str) -> DbParams:
    """Read an Airflow connection (environment ``AIRFLOW_CONN_*`` or the metadata DB)."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and friends
        raise ConnectionNotConfiguredError(
            f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}). Create it with "
            f"`airflow connections add {conn_id} --conn-uri mysql://user:password@host:3306/schema` "
            f"or set AIRFLOW_CONN_{conn_id.upper()}."
        ) from None
    if not conn.host:
        raise ConnectionNotConfiguredError(f"Airflow connection {conn_id!r} has no host")
    extra = conn.extra_dejson or {}
    return DbParams(
        host=conn.host,
        port=int(conn.port or 3306),
        user=conn.login or "root",
        password=conn.password or "",
        database=conn.schema or "",
        table_prefix=str(extra.get("table_prefix", "")),
        unix_socket=extra.get("unix_socket"),
    )


class Database:
    """A lazily opened MySQL connection with helpers for prefixed tables and explicit transactions."""

    def __init__(self, params: DbParams) -> None:
        self.params = params
        self.prefix = params.table_prefix
        self._conn: MySQLdb.Connection | None = None

    @classmethod
    def from_conn_id(cls, conn_id: str) -> Database:
        """Open the database behind an Airflow connection id."""
        return cls(params_from_conn_id(conn_id))

    @classmethod
    def from_url(cls, url: str) -> Database:
        """Open the database behind a ``mysql://`` URL."""
        return cls(DbParams.from_url(url))

    @property
    def conn(self) -> MySQLdb.Connection:
        """Return the open connection, connecting on first use."""
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> MySQLdb.Connection:
        import MySQLdb

        kwargs: dict[str, Any] = {
            "host": self.params.host,
            "port": self.params.port,
            "user": self.params.user,
            "passwd": self.params.password,
            "charset": "utf8mb4",
            "use_unicode": True,
            "autocommit": True,
            "connect_timeout": 10,
            "init_command": "SET time_zone = '+00:00'",
        }
        if self.params.database:
            kwargs["db"] = self.params.database
        if self.params.unix_socket:
            kwargs["unix_socket"] = self.params.unix_socket
        try:
            return MySQLdb.connect(**kwargs)
        except MySQLdb.OperationalError as exc:
            raise DatabaseError(
                f"cannot connect to MySQL at {self.params.describe()}: {exc.args[-1]}. "
                "Check the connection's host, port, login and schema."
            ) from None

    def table(self, name: str) -> str:
        """Return the quoted, prefixed name of a table."""
        return f"`{self.prefix}{name}`"

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT and return all rows as tuples."""
        with self.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def query_dicts(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a SELECT and return all rows as dicts keyed by column name."""
        with self.cursor() as cur:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """Return the first column of the first row, or None."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
        """Run one statement and return the affected row count."""
        with self.cursor() as cur:
            return int(cur.execute(sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one INSERT for many rows (mysqlclient folds them into multi-row statements)."""
        if not rows:
            return 0
        with self.cursor() as cur:
            return int(cur.executemany(sql, rows) or 0)

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """Yield a cursor and close it afterwards."""
        cur = self.conn.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def stream(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Iterator[Any]:
        """Yield an unbuffered (server-side) cursor for a large read; iterate it for rows."""
        import MySQLdb.cursors

        cur = self.conn.cursor(MySQLdb.cursors.SSCursor)
        try:
            cur.execute(sql, params)
            yield cur
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Run the block in one explicit transaction: commit on success, roll back on error."""
        self.conn.query("START TRANSACTION")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()

    def close(self) -> None:
        """Close the connection if it is open."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
