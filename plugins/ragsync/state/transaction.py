"""One explicit transaction around a unit of work, run again when MySQL says it may succeed now.

Every claim, settle and breaker transition of the pipeline goes through :func:`in_transaction`:
a deadlock (1213) or a lock wait timeout (1205) rolls the work back, and it runs again after a
short random pause; any other error is raised as it came.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from ragsync.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_MYSQL_ERRORS = (1205, 1213)  # lock wait timeout, deadlock


def in_transaction(db: Database, work: Callable[[], T], attempts: int = 5,
                   isolation: str | None = None) -> T:
    """Run ``work`` in one explicit transaction, retrying it on deadlock or lock-wait timeout."""
    import MySQLdb

    for attempt in range(1, attempts + 1):
        try:
            if isolation is not None:
                # Applies to the next transaction only; READ COMMITTED avoids gap locks on claim.
                db.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
            with db.transaction():
                return work()
        except MySQLdb.OperationalError as exc:
            if exc.args and exc.args[0] in RETRYABLE_MYSQL_ERRORS and attempt < attempts:
                log.info("transaction hit MySQL error %s; retrying (%d/%d)", exc.args[0], attempt, attempts)
                time.sleep(random.uniform(0.005, 0.02) * attempt)
                continue
            raise
    raise AssertionError("unreachable")
