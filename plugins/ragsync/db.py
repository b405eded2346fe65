"""MySQL/MariaDB access: one explicit connection per use, parameterized SQL, Magento's table prefix.

Both databases ragsync talks to go through :class:`Database`: Magento's (Airflow connection
``magento_db``, read only) and the pipeline's own (``ragsync_db``). It wraps a mysqlclient
connection with the session settings ragsync relies on (utf8mb4, UTC, autocommit for reads)
and an explicit :meth:`Database.transaction` for claim and settle.

A connection's extras are the ones Airflow's ``MySqlHook`` understands for mysqlclient that make
sense here (``ssl``, ``ssl_mode``, ``charset``, ``unix_socket``), plus ``connect_timeout`` and
ragsync's ``table_prefix``; any other key is refused, so nothing is dropped silently and the
connection's Test button (``MySqlHook.test_connection``) sees the same TLS settings as ragsync.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

from ragsync.errors import ConnectionNotConfiguredError, DatabaseError

if TYPE_CHECKING:
    import MySQLdb

log = logging.getLogger(__name__)

MAGENTO_CONN_ID = "magento_db"
RAGSYNC_CONN_ID = "ragsync_db"

SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
TLS_REQUIRED_MODES = ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
SSL_KEYS = ("ca", "capath", "cert", "key", "cipher")  # what MySQLdb reads from its ``ssl`` dict
CHARSETS = ("utf8mb4", "utf8mb3", "utf8")
DEFAULT_CHARSET = "utf8mb4"
DEFAULT_CONNECT_TIMEOUT = 10
CONNECTION_EXTRAS = ("ssl", "ssl_mode", "charset", "connect_timeout", "unix_socket", "table_prefix")
URL_PARAMETERS = ("table_prefix", "unix_socket", "ssl_mode", *(f"ssl_{key}" for key in SSL_KEYS),
                  "charset", "connect_timeout")
# Extras MySqlHook knows but ragsync cannot honour: named in the refusal so the reason is clear.
_HOOK_ONLY_EXTRAS = {
    "cursor": "ragsync chooses its own cursors",
    "client": "ragsync always uses mysqlclient",
    "iam": "AWS IAM authentication is not supported; use a password",
    "aws_conn_id": "AWS IAM authentication is not supported; use a password",
    "local_infile": "ragsync never loads local files",
    "init_command": "ragsync sets its own session (time_zone UTC)",
}
_CR_SSL_CONNECTION_ERROR = 2026
_ER_ACCESS_DENIED = 1045
_ER_SECURE_TRANSPORT_REQUIRED = (3159,)  # MySQL 8; MariaDB answers 1045 Access denied instead


class ConnectionLike(Protocol):
    """The attributes of an Airflow Connection that ragsync reads (read only, so any Connection fits)."""

    @property
    def conn_id(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def _blank(value: Any) -> bool:
    """Return whether MySqlHook would treat the extra as unset (it tests ``extra.get(key, False)``)."""
    return value is None or value == "" or value == {}


def _ssl_mode(value: Any, where: str) -> str | None:
    """Return a valid ``ssl_mode`` or None; refuse anything MySQLdb would not accept."""
    if _blank(value):
        return None
    if not isinstance(value, str) or value not in SSL_MODES:
        hint = ""
        if isinstance(value, str) and value.strip().upper().replace("-", "_") in SSL_MODES:
            hint = f" (MySQLdb wants it in capitals: {value.strip().upper().replace('-', '_')!r})"
        raise ConnectionNotConfiguredError(
            f"{where}: ssl_mode {value!r} is not one of {', '.join(SSL_MODES)}{hint}"
        )
    return value


def _charset(value: Any, where: str) -> str:
    """Return a supported connection charset; refuse the ones that cannot carry Magento's content."""
    if _blank(value):
        return DEFAULT_CHARSET
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in CHARSETS:
        raise ConnectionNotConfiguredError(
            f"{where}: charset {value!r} is not supported. Magento stores its content as utf8mb4 "
            "(emoji and other 4-byte characters appear in names, descriptions and CMS pages), so "
            f"the connection must use utf8mb4 (the default; utf8mb3/utf8 are tolerated): remove the "
            f"charset extra or set one of {', '.join(CHARSETS)}"
        )
    return str(name)


def _connect_timeout(value: Any, where: str) -> int:
    """Return the connect timeout in whole seconds (rounded up); refuse non-positive or non-numbers."""
    if value is None or value == "":
        return DEFAULT_CONNECT_TIMEOUT
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ConnectionNotConfiguredError(
            f"{where}: connect_timeout must be a positive number of seconds, got {value!r}"
        )
    return max(1, math.ceil(number))


def _ssl_options(value: Any, where: str) -> dict[str, str]:
    """Return the ``ssl`` extra as MySQLdb's dict (ca, capath, cert, key, cipher); refuse anything else."""
    if _blank(value):
        return {}
    if isinstance(value, str):  # an extra given in a URL arrives as a JSON string (MySqlHook parses it too)
        try:
            value = json.loads(value)
        except ValueError:
            raise ConnectionNotConfiguredError(
                f"{where}: ssl must be a JSON object such as {{\"ca\": \"/path/ca.pem\"}}; "
                "the string given is not valid JSON"
            ) from None
    if not isinstance(value, Mapping):
        hint = ' (for "ssl": true use "ssl_mode": "REQUIRED")' if isinstance(value, bool) else ""
        raise ConnectionNotConfiguredError(
            f"{where}: ssl must be an object with any of {', '.join(SSL_KEYS)}, "
            f"got {type(value).__name__}{hint}"
        )
    unknown = sorted(str(k) for k in value if k not in SSL_KEYS)
    if unknown:
        raise ConnectionNotConfiguredError(
            f"{where}: ssl has unknown key(s) {', '.join(unknown)}; MySQLdb reads only {', '.join(SSL_KEYS)} "
            "(it would ignore the others silently)"
        )
    options: dict[str, str] = {}
    for key, item in value.items():
        if _blank(item):
            continue
        if not isinstance(item, str):
            raise ConnectionNotConfiguredError(f"{where}: ssl.{key} must be a string, got {type(item).__name__}")
        options[key] = item
    return options


@dataclass(frozen=True)
class DbParams:
    """Where a database is and how to log in; ``table_prefix`` is Magento's ``db/table_prefix``.

    ``ssl_*`` are MySQLdb's ``ssl`` options, ``ssl_mode`` one of :data:`SSL_MODES` (None: the client's
    default, no TLS unless ``ssl_*`` are set); ``source`` names where the parameters came from.
    """

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str = ""
    table_prefix: str = ""
    unix_socket: str | None = None
    ssl_mode: str | None = None
    ssl_ca: str | None = None
    ssl_capath: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_cipher: str | None = None
    charset: str = DEFAULT_CHARSET
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    source: str = field(default="", compare=False)

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> DbParams:
        """Build the parameters from an Airflow Connection (or anything with its attributes)."""
        # This mirrors MySqlHook._get_conn_config_mysql_client instead of calling it: that method is
        # private, validates nothing and drops unknown keys silently (the bug this replaces), ignores
        # connect_timeout, would call AWS for ``iam``, and would pull the provider into code the CLI and
        # demo run without Airflow. The semantics are the hook's (blank values are unset, ``ssl`` may
        # be a JSON string, ``ssl``/``ssl_mode`` go to MySQLdb as they are), and
        # tests/unit/test_db_params.py compares the kwargs with the hook's so the two cannot drift.
        conn_id = getattr(conn, "conn_id", None) or "?"
        where = f"Airflow connection {conn_id!r}"
        password = conn.password or ""
        try:
            extra = conn.extra_dejson or {}
            if not isinstance(extra, Mapping):
                raise ConnectionNotConfiguredError(f"{where}: extra must be a JSON object")
            unknown = sorted(str(k) for k in extra if k not in CONNECTION_EXTRAS)
            if unknown:
                reasons = "".join(f"; {k}: {_HOOK_ONLY_EXTRAS[k]}" for k in unknown if k in _HOOK_ONLY_EXTRAS)
                raise ConnectionNotConfiguredError(
                    f"{where} has unknown extra key(s) {', '.join(unknown)}{reasons}. "
                    f"Allowed extras: {', '.join(CONNECTION_EXTRAS)}"
                )
            ssl = _ssl_options(extra.get("ssl"), where)
            unix_socket = extra.get("unix_socket")
            if not _blank(unix_socket) and not isinstance(unix_socket, str):
                raise ConnectionNotConfiguredError(f"{where}: unix_socket must be a path string")
            table_prefix = extra.get("table_prefix")
            if not _blank(table_prefix) and not isinstance(table_prefix, str):
                raise ConnectionNotConfiguredError(f"{where}: table_prefix must be a string")
            host = conn.host or ("localhost" if unix_socket else "")
            if not host:
                raise ConnectionNotConfiguredError(f"{where} has no host")
            try:
                port = int(conn.port or 3306)
            except (TypeError, ValueError):
                raise ConnectionNotConfiguredError(f"{where}: port must be a number") from None
            params = cls(
                host=host,
                port=port,
                user=conn.login or "root",
                password=password,
                database=conn.schema or "",
                table_prefix=table_prefix or "",
                unix_socket=unix_socket or None,
                ssl_mode=_ssl_mode(extra.get("ssl_mode"), where),
                **{f"ssl_{k}": v for k, v in ssl.items()},
                charset=_charset(extra.get("charset"), where),
                connect_timeout=_connect_timeout(extra.get("connect_timeout"), where),
                source=where,
            )
            params.check()
            return params
        except ConnectionNotConfiguredError as exc:
            if password and password in str(exc):  # a value echoed back happened to hold the password
                raise ConnectionNotConfiguredError(str(exc).replace(password, "***")) from None
            raise

    @classmethod
    def from_url(cls, url: str) -> DbParams:
        """Parse ``mysql://user:pass@host:port/db?table_prefix=m2_&ssl_mode=VERIFY_IDENTITY&ssl_ca=/ca.pem``."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb", "mysql+mysqldb"):
            raise ConnectionNotConfiguredError(
                f"database URL must start with mysql://, got scheme {parsed.scheme!r}"
            )
        where = "database URL"
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = sorted(k for k in query if k not in URL_PARAMETERS)
        if unknown:
            raise ConnectionNotConfiguredError(
                f"{where} has unknown parameter(s) {', '.join(unknown)}. Allowed: {', '.join(URL_PARAMETERS)}"
            )
        params = cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 3306,
            user=unquote(parsed.username or "root"),
            password=unquote(parsed.password or ""),
            database=unquote((parsed.path or "/").lstrip("/")),
            table_prefix=query.get("table_prefix", ""),
            unix_socket=query.get("unix_socket") or None,
            ssl_mode=_ssl_mode(query.get("ssl_mode"), where),
            **{f"ssl_{k}": query.get(f"ssl_{k}") or None for k in SSL_KEYS},
            charset=_charset(query.get("charset"), where),
            connect_timeout=_connect_timeout(query.get("connect_timeout"), where),
            source=where,
        )
        params.check()
        return params

    def with_database(self, database: str) -> DbParams:
        """Return the same server with another schema."""
        return replace(self, database=database)

    def ssl_options(self) -> dict[str, str]:
        """Return the ``ssl`` dict for MySQLdb.connect (only the options that are set)."""
        return {key: value for key in SSL_KEYS if (value := getattr(self, f"ssl_{key}"))}

    @property
    def requires_tls(self) -> bool:
        """Return whether a connection without TLS must be refused."""
        return self.ssl_mode in TLS_REQUIRED_MODES

    def check(self) -> None:
        """Refuse settings ragsync cannot honour (raises ConnectionNotConfiguredError)."""
        where = self.source or self.describe()
        _ssl_mode(self.ssl_mode, where)
        _charset(self.charset, where)
        _connect_timeout(self.connect_timeout, where)
        ssl = self.ssl_options()
        if self.ssl_mode == "DISABLED" and ssl:
            # libmariadb still negotiates TLS when ssl options are set, so DISABLED would be a lie.
            raise ConnectionNotConfiguredError(
                f"{where}: ssl_mode DISABLED contradicts the ssl options ({', '.join(ssl)}); remove one of them"
            )
        if self.ssl_mode in ("VERIFY_CA", "VERIFY_IDENTITY") and not (self.ssl_ca or self.ssl_capath):
            raise ConnectionNotConfiguredError(
                f"{where}: ssl_mode {self.ssl_mode} needs the CA that signed the server certificate: set "
                'the extra "ssl": {"ca": "/path/to/ca.pem"} (your provider\'s bundle, e.g. RDS global-bundle.pem) '
                'or {"capath": "/etc/ssl/certs"} for the system trust store'
            )
        if bool(self.ssl_cert) != bool(self.ssl_key):
            raise ConnectionNotConfiguredError(f"{where}: ssl.cert and ssl.key must be given together")

    def url(self) -> str:
        """Return the parameters as a URL (the password included: never log it)."""
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        extra: list[tuple[str, str]] = []
        if self.table_prefix:
            extra.append(("table_prefix", self.table_prefix))
        if self.unix_socket:
            extra.append(("unix_socket", self.unix_socket))
        if self.ssl_mode:
            extra.append(("ssl_mode", self.ssl_mode))
        extra.extend((f"ssl_{key}", value) for key, value in self.ssl_options().items())
        if self.charset != DEFAULT_CHARSET:
            extra.append(("charset", self.charset))
        if self.connect_timeout != DEFAULT_CONNECT_TIMEOUT:
            extra.append(("connect_timeout", str(self.connect_timeout)))
        query = ("?" + urlencode(extra, safe="/", quote_via=quote)) if extra else ""
        return f"mysql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}{query}"

    def describe(self) -> str:
        """Return a loggable description without the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    def describe_tls(self) -> str:
        """Return a loggable description of the TLS settings."""
        if not self.ssl_mode and not self.ssl_options():
            return "no TLS requested"
        if not self.requires_tls and not self.ssl_options():  # libmariadb tries no TLS at all then
            return f"no TLS (ssl_mode {self.ssl_mode} without ssl options)"
        files = ", ".join(f"{key}={value}" for key, value in self.ssl_options().items())
        return f"ssl_mode {self.ssl_mode or 'PREFERRED'}" + (f", ssl {files}" if files else "")


def params_from_conn_id(conn_id: str) -> DbParams:
    """Read an Airflow connection through Airflow's secrets chain (see :mod:`ragsync.airflow_secrets`)."""
    from ragsync.airflow_secrets import get_connection

    return DbParams.from_connection(get_connection(conn_id))


def _connect_hint(exc: Exception, params: DbParams) -> str:
    """Return what to check for a failed connect, naming TLS when TLS is the likely cause."""
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    tls = params.describe_tls()
    if errno == _CR_SSL_CONNECTION_ERROR:
        return (f"The TLS handshake failed ({tls}): check that ssl.ca is the CA that signed the server's "
                "certificate (your provider's CA bundle) and, for ssl_mode REQUIRED/VERIFY_CA/VERIFY_IDENTITY, "
                "that the connection's host matches a name in the certificate.")
    if errno in _ER_SECURE_TRANSPORT_REQUIRED or (
        errno == _ER_ACCESS_DENIED and not params.requires_tls and not params.ssl_options()
    ):
        return (f"This connection uses {tls}. If the login and password are right, the server probably requires "
                "TLS (require_secure_transport=ON, the default on managed MySQL such as Azure and Cloud SQL) "
                'and refuses unencrypted connections: set the extras "ssl_mode": "VERIFY_IDENTITY" and '
                '"ssl": {"ca": "/path/to/ca.pem"} (or "ssl_mode": "REQUIRED").')
    return "Check the connection's host, port, login and schema."


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

    def connect_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments for MySQLdb.connect (after refusing settings ragsync cannot honour).

        The TLS extras are passed the way MySqlHook passes them (``ssl`` dict, ``ssl_mode`` string), so
        the connection's Test button and ragsync negotiate the same way. mysqlclient built against
        MariaDB Connector/C emulates ``ssl_mode``: REQUIRED enforces TLS (verifying the chain when a CA is
        given), VERIFY_CA and VERIFY_IDENTITY both verify the chain *and* the host name.
        """
        p = self.params
        p.check()
        for key, value in p.ssl_options().items():
            if key in ("ca", "cert", "key") and not os.path.isfile(value):
                raise ConnectionNotConfiguredError(f"{p.source or p.describe()}: ssl.{key} file {value!r} not found")
            if key == "capath" and not os.path.isdir(value):
                raise ConnectionNotConfiguredError(f"{p.source or p.describe()}: ssl.capath {value!r} is not a directory")
        kwargs: dict[str, Any] = {
            "host": p.host,
            "port": p.port,
            "user": p.user,
            "passwd": p.password,
            "charset": p.charset,
            "use_unicode": True,
            "autocommit": True,
            "connect_timeout": p.connect_timeout,
            "init_command": "SET time_zone = '+00:00'",
        }
        if p.database:
            kwargs["db"] = p.database
        if p.unix_socket:
            kwargs["unix_socket"] = p.unix_socket
        if ssl := p.ssl_options():
            kwargs["ssl"] = ssl
        if p.ssl_mode:
            kwargs["ssl_mode"] = p.ssl_mode
        return kwargs

    def _connect(self) -> MySQLdb.Connection:
        import MySQLdb

        kwargs = self.connect_kwargs()
        if self.params.charset != DEFAULT_CHARSET:
            log.warning("%s uses charset %s: 4-byte characters (emoji) in Magento content will not survive; "
                        "use utf8mb4", self.params.source or self.params.describe(), self.params.charset)
        try:
            conn = MySQLdb.connect(**kwargs)
        except MySQLdb.OperationalError as exc:
            raise DatabaseError(
                f"cannot connect to MySQL at {self.params.describe()}: {exc.args[-1]}. {_connect_hint(exc, self.params)}",
                errno=exc.args[0] if exc.args and isinstance(exc.args[0], int) else None,
            ) from None
        if self.params.requires_tls:
            self._check_tls(conn)
        return conn

    def _check_tls(self, conn: MySQLdb.Connection) -> None:
        """Refuse a connection without TLS when ssl_mode requires it (whatever the client library did)."""
        cur = conn.cursor()
        try:
            cur.execute("SHOW SESSION STATUS LIKE %s", ("Ssl_cipher",))
            row = cur.fetchone()
        finally:
            cur.close()
        if not row or not row[1]:
            conn.close()
            raise DatabaseError(
                f"connected to MySQL at {self.params.describe()} without TLS although ssl_mode is "
                f"{self.params.ssl_mode}: this mysqlclient/client library ignored the TLS settings; "
                "ragsync closed the connection"
            )

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
