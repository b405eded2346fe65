"""High-water marks of incremental change capture, one per entity type (``rag_sync_watermark``)."""

from __future__ import annotations

from datetime import UTC, datetime

from ragsync.db import Database
from ragsync.state.clock import Clock, SystemClock


class Watermarks:
    """Read and move the capture high-water mark of each entity type."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    def get(self, entity_type: str) -> datetime | None:
        """Return the high-water mark of ``entity_type``, or None before its first capture."""
        value = self.db.scalar("SELECT high_water FROM rag_sync_watermark WHERE entity_type = %s", (entity_type,))
        return value if isinstance(value, datetime) else None

    def set(self, entity_type: str, value: datetime | None) -> None:
        """Store the high-water mark of ``entity_type`` (naive UTC; None forgets it)."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        self.db.execute(
            "INSERT INTO rag_sync_watermark (entity_type, high_water, updated_at) VALUES (%s, %s, %s)"
            " ON DUPLICATE KEY UPDATE high_water = VALUES(high_water), updated_at = VALUES(updated_at)",
            (entity_type, value, self.clock.now()),
        )

    def all(self) -> dict[str, datetime | None]:
        """Return every stored mark by entity type."""
        return {r[0]: r[1] for r in self.db.query("SELECT entity_type, high_water FROM rag_sync_watermark")}
