"""What the outbox hands to a worker and gets back: a claimed row, a claim, a delivered batch, a settle's counts.

The transitions that make and consume them are :class:`ragsync.state.queue.QueueRepository`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ragsync.state.ledger import Key


@dataclass(frozen=True)
class QueueRow:
    """A claimed queue row: what a worker needs to send and settle it."""

    id: int
    entity_type: str
    entity_id: str
    store_id: int
    action: str
    content_hash: str
    document: bytes
    """The stored item JSON as UTF-8 bytes, exactly as it goes into a body."""
    document_bytes: int
    attempts: int
    source: str
    lease_token: str
    sequence: int = 0
    """The document's per-entity version (the item's ``sequence``), larger for every newer version."""

    @property
    def key(self) -> Key:
        """Return (type, id, store_id)."""
        return (self.entity_type, self.entity_id, self.store_id)


@dataclass(frozen=True)
class Claim:
    """Rows a worker leased for delivery, all under one lease token."""

    rows: list[QueueRow]
    lease_token: str
    lease_expires_at: datetime
    claimed_at: datetime

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)


@dataclass
class SettleResult:
    """What a settle did: rows moved per status, rows superseded, rows no longer owned."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    superseded: int = 0
    stale: int = 0
    settled_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """Return the counts (without ids) as a dict."""
        return {k: v for k, v in asdict(self).items() if k != "settled_ids"}


@dataclass(frozen=True)
class SentBatch:
    """A delivered batch to settle: its rows, batch id, HTTP status and audit details."""

    rows: list[QueueRow]
    batch_id: str
    http_status: int | None
    details: dict[str, Any] | None = None


def one_type(rows: Sequence[QueueRow]) -> str | None:
    """Return the entity type the rows share (None: several), for an audit entry."""
    types = {r.entity_type for r in rows}
    return types.pop() if len(types) == 1 else None


def type_counts(rows: Sequence[QueueRow]) -> dict[str, Any]:
    """Return ``{"types": {entity_type: rows}}``, for an audit entry's details."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.entity_type] = counts.get(r.entity_type, 0) + 1
    return {"types": counts}


def status_text(http_status: int | None) -> str:
    """Return ``HTTP 503`` (or ``no HTTP response``), for an audit message."""
    return f"HTTP {http_status}" if http_status is not None else "no HTTP response"
