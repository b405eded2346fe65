"""Where change capture stands: changelog versions, window times, sweep positions and fingerprints.

``rag_sync_capture_position`` keeps one row per position (``changelog:<view>``,
``window:<type>``, ``sweep:<target>``); ``rag_sync_fingerprint`` keeps the checksums of the
Magento rows of each fingerprint group, per bucket (level 0) and per key (level 1). Capture
writes them only after what they led to is queued, so a crash re-reads instead of missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ragsync.db import Database
from ragsync.state.clock import Clock, SystemClock
from ragsync.state.transaction import in_transaction

BUCKET_LEVEL = 0
KEY_LEVEL = 1
_INSERT_ROWS = 1000


class CapturePositions:
    """Read and move the named positions of change capture."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def all(self) -> dict[str, tuple[int | None, datetime | None]]:
        """Return every position: ``name -> (version, moment)``."""
        rows = self.db.query("SELECT name, version, moment FROM rag_sync_capture_position")
        return {str(n): (int(v) if v is not None else None, m) for n, v, m in rows}

    def save(self, versions: Mapping[str, int | None] | None = None,
             moments: Mapping[str, datetime | None] | None = None) -> None:
        """Store positions (one statement); a name given in both gets both."""
        rows: dict[str, list[object]] = {}
        for name, version in (versions or {}).items():
            rows.setdefault(name, [None, None])[0] = version
        for name, moment in (moments or {}).items():
            rows.setdefault(name, [None, None])[1] = moment
        if not rows:
            return
        now = self.clock.now()
        self.db.executemany(
            "INSERT INTO rag_sync_capture_position (name, version, moment, updated_at) VALUES (%s, %s, %s, %s)"
            " ON DUPLICATE KEY UPDATE version = COALESCE(VALUES(version), version),"
            " moment = COALESCE(VALUES(moment), moment), updated_at = VALUES(updated_at)",
            [(name, version, moment, now) for name, (version, moment) in rows.items()],
        )

    def forget(self, names: Sequence[str]) -> None:
        """Remove positions (a changelog that no longer exists, a sweep that restarts)."""
        if names:
            self.db.execute(f"DELETE FROM rag_sync_capture_position WHERE name IN ({', '.join(['%s'] * len(names))})",
                            list(names))


class Fingerprints:
    """Stored checksums of fingerprint groups, per bucket and per key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, group: str, level: int, first: int | None = None, last: int | None = None) -> dict[int, int]:
        """Return ``id -> checksum`` of a group's level, for ids in [first, last] (None: all)."""
        sql = "SELECT id, checksum FROM rag_sync_fingerprint WHERE grp = %s AND level = %s"
        params: list[object] = [group, level]
        if first is not None and last is not None:
            sql += " AND id BETWEEN %s AND %s"
            params += [first, last]
        return {int(i): int(c) for i, c in self.db.query(sql, params)}

    def load_keys(self, group: str, buckets: Sequence[int], bucket_size: int) -> dict[int, int]:
        """Return ``key -> checksum`` of the keys inside the given buckets."""
        if not buckets:
            return {}
        ranges = " OR ".join(["id BETWEEN %s AND %s"] * len(buckets))
        params: list[object] = [group, KEY_LEVEL]
        for bucket in buckets:
            params += [bucket * bucket_size, bucket * bucket_size + bucket_size - 1]
        rows = self.db.query(f"SELECT id, checksum FROM rag_sync_fingerprint WHERE grp = %s AND level = %s"
                             f" AND ({ranges})", params)
        return {int(i): int(c) for i, c in rows}

    def replace(self, group: str, level: int, spans: Sequence[tuple[int, int]], values: Mapping[int, int]) -> None:
        """Replace the stored checksums of a level inside the id spans by ``values`` (one transaction)."""
        if not spans and not values:
            return
        items = sorted(values.items())

        def work() -> None:
            for first, last in spans:
                self.db.execute("DELETE FROM rag_sync_fingerprint WHERE grp = %s AND level = %s"
                                " AND id BETWEEN %s AND %s", (group, level, first, last))
            for start in range(0, len(items), _INSERT_ROWS):
                part = items[start:start + _INSERT_ROWS]
                self.db.execute(
                    "INSERT INTO rag_sync_fingerprint (grp, level, id, checksum) VALUES "
                    + ", ".join(["(%s, %s, %s, %s)"] * len(part))
                    + " ON DUPLICATE KEY UPDATE checksum = VALUES(checksum)",
                    [v for key, checksum in part for v in (group, level, key, checksum)],
                )

        in_transaction(self.db, work)

    def groups(self) -> set[str]:
        """Return the stored group names."""
        return {str(r[0]) for r in self.db.query("SELECT DISTINCT grp FROM rag_sync_fingerprint")}

    def drop_groups(self, groups: Sequence[str]) -> None:
        """Remove whole groups (their source tables changed: a changelog now covers one, or a table appeared)."""
        for group in groups:
            self.db.execute("DELETE FROM rag_sync_fingerprint WHERE grp = %s", (group,))

    def drop_prefix(self, prefix: str) -> None:
        """Remove every group whose name starts with ``prefix``."""
        self.db.execute("DELETE FROM rag_sync_fingerprint WHERE grp LIKE %s", (prefix.replace("%", r"\%") + "%",))
