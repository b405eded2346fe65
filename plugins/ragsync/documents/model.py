"""The document: the state of one entity in one store view, in the seed's item form, and its hash.

Every reader yields :class:`Document` objects; the queue stores ``Document.item_json()``; the
delivery layer sends those bytes inside a single or batch body. The hash is SHA-256 over
canonical JSON (sorted keys, no insignificant whitespace, UTF-8) of everything except
``timestamp`` and ``data.updated_at``, so a save without a real change hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ENTITY_TYPES = ("product", "category", "cms_page", "cms_block", "promotion")
ACTIONS = ("save", "delete")
UNHASHED_DATA_KEYS = frozenset({"updated_at"})


def canonical_json(value: Any) -> str:
    """Serialize ``value`` as canonical JSON: sorted keys, compact separators, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iso_utc(moment: datetime) -> str:
    """Format a datetime as ISO 8601 UTC with a ``Z`` and whole seconds (naive means UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def content_hash(entity_type: str, entity_id: str, store_id: int, action: str, data: dict[str, Any] | None) -> str:
    """Return the SHA-256 hex digest of the document's canonical content."""
    hashed_data = None if data is None else {k: v for k, v in data.items() if k not in UNHASHED_DATA_KEYS}
    payload = {"type": entity_type, "id": entity_id, "store_id": store_id, "action": action, "data": hashed_data}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    """One entity in one store view: a save with data, or a delete with ``data=None``."""

    type: str
    id: str
    store_id: int
    action: str
    data: dict[str, Any] | None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.type!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        if (self.action == "delete") != (self.data is None):
            raise ValueError("a delete carries no data and a save carries data")

    @classmethod
    def delete(cls, entity_type: str, entity_id: str | int, store_id: int,
               timestamp: datetime | None = None) -> Document:
        """Return the delete document of an entity in a store view."""
        return cls(entity_type, str(entity_id), int(store_id), "delete", None,
                   timestamp or datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str, int]:
        """Return (type, id, store_id), the identity of the document in queue and ledger."""
        return (self.type, self.id, self.store_id)

    @property
    def hash(self) -> str:
        """Return the content hash (see :func:`content_hash`)."""
        return content_hash(self.type, self.id, self.store_id, self.action, self.data)

    def item(self) -> dict[str, Any]:
        """Return the seed's item form: type, id, action, store_id, timestamp, hash, data."""
        return {
            "type": self.type,
            "id": self.id,
            "action": self.action,
            "store_id": self.store_id,
            "timestamp": iso_utc(self.timestamp),
            "hash": self.hash,
            "data": self.data,
        }

    def item_json(self) -> str:
        """Return the item form as canonical JSON (what the queue stores and the batch embeds)."""
        return canonical_json(self.item())


@dataclass(frozen=True)
class Problem:
    """An entity that could not be turned into a document; the run goes on without it."""

    entity_type: str
    entity_id: str
    store_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f" store {self.store_id}" if self.store_id is not None else ""
        return f"{self.entity_type} {self.entity_id}{where}: {self.reason}"


@dataclass
class ReadBatch:
    """What a reader yields per chunk of ids: documents (saves and deletes) and problems."""

    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
