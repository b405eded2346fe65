"""Create Magento 2.4's tables (the carried copy of its schema and fresh-install rows) in a database.

The DDL and rows are the project's own copies in ``sql/`` (taken from Magento's
``db_schema.xml`` files and data patches); an optional table prefix is applied the way
Magento's ``db/table_prefix`` does, to every table name and foreign-key target.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from ragsync.db import Database
from ragsync.state.migrations import split_statements

_CREATE = re.compile(r"CREATE TABLE `([a-z0-9_]+)`")


@cache
def _read(name: str) -> str:
    return resources.files("ragsync_dev.demo").joinpath("sql").joinpath(name).read_text("utf-8")


@cache
def magento_tables() -> tuple[str, ...]:
    """Return the names of the Magento tables the carried schema creates, in creation order."""
    return tuple(_CREATE.findall(_read("magento_schema.sql")))


def _prefixed(statement: str, prefix: str) -> str:
    if not prefix:
        return statement
    names = set(magento_tables())
    return re.sub(r"`([a-z0-9_]+)`", lambda m: f"`{prefix}{m.group(1)}`" if m.group(1) in names else m.group(0),
                  statement)


def magento_statements(prefix: str = "", with_base_data: bool = True) -> list[str]:
    """Return the DDL (and fresh-install rows) as statements, with ``prefix`` applied."""
    statements = split_statements(_read("magento_schema.sql"))
    if with_base_data:
        statements += split_statements(_read("magento_base_data.sql"))
    return [_prefixed(s, prefix) for s in statements]


def create_magento_schema(db: Database, with_base_data: bool = True) -> None:
    """Create Magento's tables (prefix from ``db.prefix``) and load the fresh-install rows."""
    db.execute("SET SESSION foreign_key_checks = 0")
    try:
        for statement in magento_statements(db.prefix, with_base_data):
            db.execute(statement)
    finally:
        db.execute("SET SESSION foreign_key_checks = 1")


def drop_magento_schema(db: Database) -> None:
    """Drop every Magento table the carried schema creates (prefix from ``db.prefix``)."""
    db.execute("SET SESSION foreign_key_checks = 0")
    try:
        for table in reversed(magento_tables()):
            db.execute(f"DROP TABLE IF EXISTS {db.table(table)}")
    finally:
        db.execute("SET SESSION foreign_key_checks = 1")
