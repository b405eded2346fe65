"""The document: the state of one entity in one store view, in the seed's item form, and its hash.

Every reader yields :class:`Document` objects; the queue stores ``Document.item_json(sequence)``
(the item with the queue's per-entity ``sequence``); the delivery layer sends those bytes inside a
single or batch body. The hash is SHA-256 over canonical JSON (sorted keys, no insignificant
whitespace, UTF-8) of everything except ``timestamp``, ``sequence`` and ``data.updated_at``, so a
save without a real change hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from ragsync.vocabulary import ACTIONS, ENTITY_TYPES

__all__ = ["ACTIONS", "ENTITY_TYPES", "Document", "Problem", "ReadBatch", "canonical_json", "iso_utc"]
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


_UNHASHED_KEY = "updated_at"
assert UNHASHED_DATA_KEYS == {_UNHASHED_KEY}, "_data_pieces assumes one unhashed key"


def _data_pieces(data: dict[str, Any] | None) -> tuple[str, str, str]:
    """Return (before, member, after): the canonical JSON of ``data`` cut around its unhashed member.

    Canonical JSON sorts keys, so the unhashed key's member (``"updated_at":...``, "" when absent)
    sits between the members of the keys before it and those after it. The JSON of ``data`` is
    the three joined, the hashed JSON the two others: one serialization serves both. ``None``
    gives ("null", "", "") (the caller joins pieces with :func:`_join_object`).
    """
    if data is None:
        return "null", "", ""
    if _UNHASHED_KEY not in data:
        return canonical_json(data)[1:-1], "", ""
    # a key that is not a str raises TypeError here, as sorting it among str keys does in json
    before = canonical_json({k: v for k, v in data.items() if k < _UNHASHED_KEY})[1:-1]
    after = canonical_json({k: v for k, v in data.items() if k > _UNHASHED_KEY})[1:-1]
    return before, f'"{_UNHASHED_KEY}":{canonical_json(data[_UNHASHED_KEY])}', after


def _join_object(data: dict[str, Any] | None, *parts: str) -> str:
    """Return the JSON object made of the non-empty member lists ``parts`` ("null" when data is None)."""
    if data is None:
        return "null"
    return "{" + ",".join([part for part in parts if part]) + "}"


def _check_sequence(sequence: int) -> int:
    if type(sequence) is not int or sequence < 0:
        raise ValueError(f"a sequence is an integer >= 0, not {sequence!r}")
    return sequence


@dataclass(frozen=True)
class Document:
    """One entity in one store view: a save with data, or a delete with ``data=None``."""

    type: str
    id: str
    store_id: int
    action: str
    data: dict[str, Any] | None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    read_at: datetime | None = field(default=None, compare=False)
    """Magento's clock (naive UTC) when the statements that built this document began, set by the
    reader (:meth:`ReadBatch.stamp`); the queue never lets an older read follow a newer one. Not sent
    and not hashed; None means unknown (a document not built by a reader)."""

    def __post_init__(self) -> None:
        if self.type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {self.type!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        if (self.action == "delete") != (self.data is None):
            raise ValueError("a delete carries no data and a save carries data")

    @classmethod
    def delete(cls, entity_type: str, entity_id: str | int, store_id: int,
               timestamp: datetime | None = None, read_at: datetime | None = None) -> Document:
        """Return the delete document of an entity in a store view (``read_at``: when its absence was read)."""
        return cls(entity_type, str(entity_id), int(store_id), "delete", None,
                   timestamp or datetime.now(UTC), read_at)

    @property
    def key(self) -> tuple[str, str, int]:
        """Return (type, id, store_id), the identity of the document in queue and ledger."""
        return (self.type, self.id, self.store_id)

    @property
    def hash(self) -> str:
        """Return the content hash (SHA-256 of the canonical payload, see the module docstring), computed once."""
        digest = self.__dict__.get("_hash")
        if digest is None:
            before, member, after = self._pieces()
            payload = (f'{{"action":{_scalar_json(self.action)},"data":{_join_object(self.data, before, after)},'
                       f'"id":{_scalar_json(self.id)},"store_id":{_scalar_json(self.store_id)},'
                       f'"type":{_scalar_json(self.type)}}}')
            digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
            object.__setattr__(self, "_hash", digest)
        return digest

    def item(self, sequence: int | None = None) -> dict[str, Any]:
        """Return the seed's item form: type, id, action, store_id, timestamp, hash, data (and ``sequence``)."""
        item = {
            "type": self.type,
            "id": self.id,
            "action": self.action,
            "store_id": self.store_id,
            "timestamp": iso_utc(self.timestamp),
            "hash": self.hash,
            "data": self.data,
        }
        if sequence is not None:
            item["sequence"] = _check_sequence(sequence)
        return item

    def item_json(self, sequence: int | None = None) -> str:
        """Return the item form as canonical JSON (what the queue stores and the batch embeds), computed once.

        With ``sequence`` (the queue's per-entity version, see ``ragsync.state.queue``) the item
        carries ``"sequence": N`` in its canonical place, between ``id`` and ``store_id``; the
        hash does not cover it.
        """
        text = self.__dict__.get("_item_json")
        if text is None:
            digest = self.hash
            head = (f'{{"action":{_scalar_json(self.action)},"data":{_join_object(self.data, *self._pieces())},'
                    f'"hash":"{digest}","id":{_scalar_json(self.id)}')
            text = (f'{head},"store_id":{_scalar_json(self.store_id)},'
                    f'"timestamp":{_scalar_json(iso_utc(self.timestamp))},"type":{_scalar_json(self.type)}}}')
            object.__setattr__(self, "_item_json", text)
            object.__setattr__(self, "_item_json_cut", len(head))
        if sequence is None:
            return text
        cut = self.__dict__["_item_json_cut"]
        return f'{text[:cut]},"sequence":{_check_sequence(sequence)}{text[cut:]}'

    def _pieces(self) -> tuple[str, str, str]:
        """Return :func:`_data_pieces` of ``data``, serialized once for the hash and the item JSON.

        ``data`` must not change once the hash or the item JSON has been read (readers build it
        whole before the document, and nothing changes it after).
        """
        pieces = self.__dict__.get("_data_pieces")
        if pieces is None:
            pieces = _data_pieces(self.data)
            object.__setattr__(self, "_data_pieces", pieces)
        return pieces


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

    def stamp(self, read_at: datetime) -> ReadBatch:
        """Set the ``read_at`` of every document (naive UTC) and return self."""
        if read_at.tzinfo is not None:
            read_at = read_at.astimezone(UTC).replace(tzinfo=None)
        for document in self.documents:
            object.__setattr__(document, "read_at", read_at)
        return self
