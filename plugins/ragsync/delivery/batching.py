"""Webhook bodies: the single-item form, the batch form, batch ids, and splitting rows by count and bytes.

The queue stores each item as canonical JSON; a batch body is built by joining those stored
strings, so documents are never parsed and serialized again on the way out. The body bytes built
here are the exact bytes that are signed and sent.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from ragsync.documents.model import iso_utc

_ENVELOPE_BYTES = 128  # {"type":"batch","batch_id":"mag-...","timestamp":"...Z","items":[...]}


class SizedRow(Protocol):
    """A queue row that knows its document's size in bytes."""

    @property
    def document_bytes(self) -> int:
        """Return the UTF-8 size of the stored item JSON."""
        ...


R = TypeVar("R", bound=SizedRow)


def new_batch_id(now: datetime) -> str:
    """Return a batch id ``mag-<UTC yyyymmddHHMMSS>-<8 hex>``."""
    return f"mag-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def build_body(items_json: Sequence[str] | Sequence[bytes], batch_id: str, now: datetime) -> bytes:
    """Return the body to sign and send: the item itself for one item, else the batch form.

    Items are the stored item JSON, as text or as its UTF-8 bytes (what a claim reads).
    """
    if not items_json:
        raise ValueError("a webhook body needs at least one item")
    items = [item.encode("utf-8") if isinstance(item, str) else item for item in items_json]
    if len(items) == 1:
        return items[0]
    head = f'{{"type":"batch","batch_id":{json.dumps(batch_id)},"timestamp":{json.dumps(iso_utc(now))},"items":['
    return head.encode("ascii") + b",".join(items) + b"]}"


def split_by_limits(rows: Sequence[R], batch_size: int, max_batch_bytes: int) -> list[list[R]]:
    """Cut rows, in order, into batches of at most ``batch_size`` items and ``max_batch_bytes`` body bytes.

    A single item larger than the byte limit still gets a batch of its own (the backend decides:
    a 413 then isolates it as dead).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    batches: list[list[R]] = []
    current: list[R] = []
    size = _ENVELOPE_BYTES
    for row in rows:
        extra = row.document_bytes + 1
        if current and (len(current) >= batch_size or size + extra > max_batch_bytes):
            batches.append(current)
            current, size = [], _ENVELOPE_BYTES
        current.append(row)
        size += extra
    if current:
        batches.append(current)
    return batches
