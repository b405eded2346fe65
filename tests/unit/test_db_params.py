"""DbParams.from_connection: which extras an Airflow MySQL connection may carry, and how bad ones are refused."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ragsync.db import CONNECTION_EXTRAS, Database, DbParams, params_from_conn_id
from ragsync.errors import ConnectionNotConfiguredError

PASSWORD = "s3cr3t-Pa55word"


@dataclass
class FakeConnection:
    """The attributes of an Airflow Connection that DbParams.from_connection reads."""

    extra_dejson: dict[str, Any] = field(default_factory=dict)
    conn_id: str = "magento_db"
    host: str | None = "db.example.com"
    port: int | None = 3307
    login: str | None = "magento"
    password: str | None = PASSWORD
    schema: str | None = "shop"


def refusal(extra: dict[str, Any], **attrs: Any) -> str:
    """Return the message of the refusal of a connection with ``extra``; fail if it is accepted."""
    with pytest.raises(ConnectionNotConfiguredError) as info:
        DbParams.from_connection(FakeConnection(extra, **attrs))
    message = str(info.value)
    assert PASSWORD not in message
    return message


def test_no_extras_gives_the_defaults() -> None:
    params = DbParams.from_connection(FakeConnection())
    assert (params.host, params.port, params.user, params.password, params.database) == (
        "db.example.com", 3307, "magento", PASSWORD, "shop")
    assert (params.charset, params.connect_timeout, params.ssl_mode, params.ssl_options()) == ("utf8mb4", 10, None, {})
    assert params.table_prefix == "" and params.unix_socket is None
    assert params.source == "Airflow connection 'magento_db'"


def test_every_extra_is_accepted() -> None:
    ssl = {"ca": "/etc/ca.pem", "capath": "/etc/ssl/certs", "cert": "/c.pem", "key": "/c.key", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"}
    extra = {"ssl": ssl, "ssl_mode": "VERIFY_IDENTITY", "charset": "UTF8MB4", "connect_timeout": 2.5,
             "unix_socket": "/run/mysqld/mysqld.sock", "table_prefix": "m2_"}
    assert set(extra) == set(CONNECTION_EXTRAS)
    params = DbParams.from_connection(FakeConnection(extra))
    assert params.ssl_options() == ssl
    assert (params.ssl_mode, params.charset, params.connect_timeout) == ("VERIFY_IDENTITY", "utf8mb4", 3)
    assert (params.unix_socket, params.table_prefix) == ("/run/mysqld/mysqld.sock", "m2_")
    assert params.requires_tls


@pytest.mark.parametrize("mode", ["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"])
def test_every_ssl_mode_is_accepted(mode: str) -> None:
    ssl = {} if mode == "DISABLED" else {"ca": "/etc/ca.pem"}
    assert DbParams.from_connection(FakeConnection({"ssl_mode": mode, "ssl": ssl})).ssl_mode == mode


def test_ssl_as_a_json_string_and_timeout_as_a_string_are_accepted() -> None:
    """Extras given in a connection URI arrive as strings; MySqlHook parses ``ssl`` the same way."""
    params = DbParams.from_connection(FakeConnection({"ssl": '{"ca": "/etc/ca.pem"}', "connect_timeout": "7"}))
    assert (params.ssl_ca, params.connect_timeout) == ("/etc/ca.pem", 7)


def test_blank_extras_count_as_unset_like_mysqlhook() -> None:
    params = DbParams.from_connection(FakeConnection({"ssl": {}, "ssl_mode": "", "charset": "", "unix_socket": ""}))
    assert (params.ssl_options(), params.ssl_mode, params.charset, params.unix_socket) == ({}, None, "utf8mb4", None)


def test_a_real_airflow_connection_is_read() -> None:
    from airflow.models.connection import Connection

    conn = Connection(conn_id="ragsync_db", conn_type="mysql", host="127.0.0.1", port=3306, login="rs",
                      password=PASSWORD, schema="ragsync",
                      extra=json.dumps({"ssl_mode": "REQUIRED", "connect_timeout": 5}))
    params = DbParams.from_connection(conn)
    assert (params.user, params.database, params.ssl_mode, params.connect_timeout) == ("rs", "ragsync", "REQUIRED", 5)


def test_params_from_conn_id_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RS_UNIT_TLS", json.dumps({
        "conn_type": "mysql", "host": "db", "login": "u", "password": PASSWORD,
        "extra": {"ssl_mode": "REQUIRED", "table_prefix": "m2_"}}))
    params = params_from_conn_id("rs_unit_tls")
    assert (params.host, params.ssl_mode, params.table_prefix) == ("db", "REQUIRED", "m2_")


def test_unknown_extra_is_refused_with_the_allowed_list() -> None:
    message = refusal({"sslmode": "require", "table_prefix": "m2_"})
    assert "'magento_db'" in message and "sslmode" in message
    assert "Allowed extras: ssl, ssl_mode, charset, connect_timeout, unix_socket, table_prefix" in message


def test_extra_mysqlhook_knows_but_ragsync_cannot_honour_is_refused_with_the_reason() -> None:
    message = refusal({"iam": True, "cursor": "sscursor"})
    assert "cursor, iam" in message and "IAM" in message and "ragsync chooses its own cursors" in message


def test_value_of_an_unknown_extra_is_never_echoed() -> None:
    """Someone putting the password into the extras must not see it in the task log."""
    message = refusal({"password": PASSWORD, "passwd": PASSWORD})
    assert "passwd, password" in message


@pytest.mark.parametrize(("extra", "expected"), [
    ({"ssl_mode": "required"}, "(MySQLdb wants it in capitals: 'REQUIRED')"),
    ({"ssl_mode": "STRICT"}, "ssl_mode 'STRICT' is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"),
    ({"ssl_mode": 3}, "ssl_mode 3 is not one of"),
    ({"ssl": True}, 'ssl must be an object with any of ca, capath, cert, key, cipher, got bool (for "ssl": true use "ssl_mode": "REQUIRED")'),
    ({"ssl": ["/ca.pem"]}, "ssl must be an object"),
    ({"ssl": "/etc/ca.pem"}, "ssl must be a JSON object"),
    ({"ssl": {"ssl_ca": "/etc/ca.pem"}}, "ssl has unknown key(s) ssl_ca; MySQLdb reads only ca, capath, cert, key, cipher"),
    ({"ssl": {"ca": 5}}, "ssl.ca must be a string"),
    ({"ssl": {"cert": "/c.pem"}}, "ssl.cert and ssl.key must be given together"),
    ({"ssl_mode": "VERIFY_CA"}, "ssl_mode VERIFY_CA needs the CA that signed the server certificate"),
    ({"ssl_mode": "VERIFY_IDENTITY", "ssl": {"cipher": "AES256-SHA"}}, "needs the CA"),
    ({"ssl_mode": "DISABLED", "ssl": {"ca": "/etc/ca.pem"}}, "ssl_mode DISABLED contradicts the ssl options (ca)"),
    ({"connect_timeout": 0}, "connect_timeout must be a positive number of seconds, got 0"),
    ({"connect_timeout": -5}, "got -5"),
    ({"connect_timeout": "soon"}, "got 'soon'"),
    ({"connect_timeout": True}, "got True"),
    ({"connect_timeout": float("nan")}, "got nan"),
    ({"charset": "latin1"}, "charset 'latin1' is not supported. Magento stores its content as utf8mb4"),
    ({"table_prefix": 5}, "table_prefix must be a string"),
    ({"unix_socket": True}, "unix_socket must be a path string"),
])
def test_bad_values_are_refused_clearly(extra: dict[str, Any], expected: str) -> None:
    message = refusal(extra)
    assert expected in message
    assert message.startswith("Airflow connection 'magento_db'")


def test_password_echoed_in_a_bad_value_is_masked() -> None:
    message = refusal({"ssl_mode": PASSWORD})
    assert "***" in message


def test_connection_without_host_is_refused_unless_it_names_a_socket() -> None:
    assert "has no host" in refusal({}, host=None)
    assert DbParams.from_connection(FakeConnection({"unix_socket": "/s.sock"}, host=None)).host == "localhost"


def test_password_is_not_in_the_repr() -> None:
    params = DbParams.from_connection(FakeConnection())
    assert PASSWORD not in repr(params) and PASSWORD not in params.describe()


def test_url_round_trips_every_field() -> None:
    params = DbParams(host="db", port=3307, user="us@r", password="p:w/@?&", database="shop",
                      table_prefix="m2_", unix_socket="/run/my.sock", ssl_mode="VERIFY_CA", ssl_ca="/etc/ca dir/ca.pem",
                      ssl_capath="/etc/ssl/certs", ssl_cert="/c.pem", ssl_key="/c.key", ssl_cipher="AES256-SHA",
                      charset="utf8mb3", connect_timeout=3)
    assert DbParams.from_url(params.url()) == params
    assert DbParams.from_url("mysql://root@127.0.0.1:3306/").url() == "mysql://root@127.0.0.1:3306/"


def test_from_url_reads_the_tls_parameters_and_refuses_unknown_ones() -> None:
    params = DbParams.from_url("mysql://u@h/db?ssl_mode=VERIFY_IDENTITY&ssl_ca=/ca.pem&charset=utf8&connect_timeout=4")
    assert (params.ssl_mode, params.ssl_ca, params.charset, params.connect_timeout) == ("VERIFY_IDENTITY", "/ca.pem", "utf8", 4)
    with pytest.raises(ConnectionNotConfiguredError, match="unknown parameter.*sslmode.*Allowed: table_prefix"):
        DbParams.from_url("mysql://u@h/db?sslmode=require")
    with pytest.raises(ConnectionNotConfiguredError, match="needs the CA"):
        DbParams.from_url("mysql://u@h/db?ssl_mode=VERIFY_CA")


def test_connect_refuses_a_charset_set_directly() -> None:
    with pytest.raises(ConnectionNotConfiguredError, match="Magento stores its content as utf8mb4"):
        Database(DbParams(charset="latin1")).connect_kwargs()


def test_connect_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    params = DbParams(ssl_mode="VERIFY_CA", ssl_ca=str(tmp_path / "missing.pem"), source="Airflow connection 'x'")
    with pytest.raises(ConnectionNotConfiguredError, match=r"'x': ssl.ca file .*missing.pem' not found"):
        Database(params).connect_kwargs()


def test_connect_kwargs_match_what_mysqlhook_passes(tmp_path: Path) -> None:
    """The Test button (MySqlHook) and ragsync must negotiate TLS the same way for the same connection."""
    from airflow.models.connection import Connection
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    extra = {"ssl": {"ca": str(ca)}, "ssl_mode": "VERIFY_IDENTITY", "charset": "utf8mb4",
             "unix_socket": "/run/my.sock", "table_prefix": "m2_", "connect_timeout": 4}
    conn = Connection(conn_id="magento_db", conn_type="mysql", host="db", port=3307, login="u",
                      password=PASSWORD, schema="shop", extra=json.dumps(extra))
    hook_kwargs = MySqlHook()._get_conn_config_mysql_client(conn)
    ours = Database(DbParams.from_connection(conn)).connect_kwargs()
    for key in ("host", "port", "user", "passwd", "db", "ssl", "ssl_mode", "charset", "unix_socket"):
        assert ours[key] == hook_kwargs[key], key
    assert ours["connect_timeout"] == 4  # MySqlHook does not pass connect_timeout: the Test button uses the client default
