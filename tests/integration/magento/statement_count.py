"""Count the statements a reader sends, from the server's own per-session counter (no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ragsync.db import Database

T = TypeVar("T")


def statements_sent(db: Database) -> int:
    """Return MariaDB's ``Questions`` counter of this connection's session."""
    return int(db.query("SHOW SESSION STATUS LIKE 'Questions'")[0][1])


def count_statements(db: Database, action: Callable[[], T]) -> tuple[int, T]:
    """Run ``action`` and return how many statements it sent on ``db``'s connection, and its result."""
    before = statements_sent(db)
    result = action()
    return statements_sent(db) - before - 1, result  # minus the SHOW that read ``before``
