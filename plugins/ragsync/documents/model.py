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
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

ENTITY_TYPES = ("product", "category", "cms_page", "cms_block", "promotion")
ACTIONS = ("save", "delete")
UNHASHED_DATA_KEYS = frozenset({"updated_at"})


# json.dumps builds a new encoder on every call with these arguments; one is enough.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Serialize ``value`` as canonical JSON: sorted keys, compact separators, UTF-8 kept as is."""
    return _CANONICAL.encode(value)


def _scalar_json(value: Any) -> str:
    """Return canonical JSON of a str or an int quickly (anything else as :func:`canonical_json`)."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return str(value)
    return canonical_json(value)


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


_UNHASHED_KEY = "updated_at"
assert UNHASHED_DATA_KEYS == {_UNHASHED_KEY}, "_data_json assumes one unhashed key"


def _data_json(data: dict[str, Any] | None) -> tuple[str, str]:
    """Return the canonical JSON of ``data`` and of ``data`` without its unhashed key, with one serialization.

    Canonical JSON sorts keys, so the unhashed key's member sits between the members of the keys
    before it and those after it: both texts are made of the same two halves.
    """
    if data is None:
        return "null", "null"
    if _UNHASHED_KEY not in data:
        text = canonical_json(data)
        return text, text
    try:
        before = canonical_json({k: v for k, v in data.items() if k < _UNHASHED_KEY})[1:-1]
        after = canonical_json({k: v for k, v in data.items() if k > _UNHASHED_KEY})[1:-1]
    except TypeError:  # a key that is not a str (it cannot be compared with one)
        return canonical_json(data), canonical_json({k: v for k, v in data.items() if k != _UNHASHED_KEY})
    member = f'"{_UNHASHED_KEY}":{canonical_json(data[_UNHASHED_KEY])}'
    hashed = f"{before},{after}" if before and after else before or after
    full = ",".join(part for part in (before, member, after) if part)
    return f"{{{full}}}", f"{{{hashed}}}"


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
        """Return the content hash (see :func:`content_hash`), computed once with :meth:`seal`."""
        sealed = self.__dict__.get("_sealed")
        return (sealed or self.seal())[0]

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
        sealed = self.__dict__.get("_sealed")
        return (sealed or self.seal())[1]

    def seal(self) -> tuple[str, str]:
        """Compute the hash and the item JSON once, with one serialization of ``data``, and keep them.

        A document's ``data`` must not change once it is sealed (readers build it whole before the
        document, and nothing changes it after). Sealed documents carry both texts when pickled, so
        a reader's worker process can do this work for the process that queues them.
        """
        data_json, hashed_json = _data_json(self.data)
        head = f'{{"action":{_scalar_json(self.action)},"data":'
        tail_id = f'"id":{_scalar_json(self.id)},"store_id":{_scalar_json(self.store_id)}'
        kind = _scalar_json(self.type)
        payload = f'{head}{hashed_json},{tail_id},"type":{kind}}}'
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        item = (f'{head}{data_json},"hash":"{digest}",{tail_id},'
                f'"timestamp":{_scalar_json(iso_utc(self.timestamp))},"type":{kind}}}')
        sealed = (digest, item)
        object.__setattr__(self, "_sealed", sealed)
        return sealed


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
