"""The document's hash and item JSON: one serialization, byte for byte the canonical forms."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from datetime import datetime
from typing import Any

from ragsync.documents.model import Document, canonical_json, iso_utc

KEYS = ["a", "updated_at", "url", "z", "updated", "updated_b", "Ü", "", "type", "variants", 'ä"q']
VALUES: list[Any] = [None, 1, 2.5, 'x"y\\ü\n\u2028', [1, "é"], {"b": 1, "a": None}, True, ""]


def _reference(doc: Document) -> tuple[str, str]:
    """The hash and item JSON as the seed defines them: canonical JSON of the whole payloads."""
    hashed = None if doc.data is None else {k: v for k, v in doc.data.items() if k != "updated_at"}
    payload = {"type": doc.type, "id": doc.id, "store_id": doc.store_id, "action": doc.action, "data": hashed}
    digest = hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
    item = {"type": doc.type, "id": doc.id, "action": doc.action, "store_id": doc.store_id,
            "timestamp": iso_utc(doc.timestamp), "hash": digest, "data": doc.data}
    return digest, canonical_json(item)


def test_hash_and_item_json_equal_the_canonical_forms_for_any_data() -> None:
    rnd = random.Random(7)
    for index in range(2000):
        data = None if index % 9 == 0 else {
            key: rnd.choice(VALUES) for key in rnd.sample(KEYS, rnd.randint(0, len(KEYS)))
        }
        doc = Document("product", rnd.choice(["1", 'é"x', "cart-3"]), rnd.choice([0, 1, 7]),
                       "delete" if data is None else "save", data,
                       datetime(2026, 1, 2, 3, 4, 5, rnd.choice([0, 7])))
        assert (doc.hash, doc.item_json()) == _reference(doc)
        assert json.loads(doc.item_json())["data"] == data


def test_the_capture_time_is_not_hashed_but_is_in_the_item() -> None:
    first = Document("product", "1", 1, "save", {"name": "Bag", "updated_at": "2026-01-01T00:00:00Z"})
    later = Document("product", "1", 1, "save", {"name": "Bag", "updated_at": "2026-02-01T00:00:00Z"})
    assert first.hash == later.hash
    assert first.item_json() != later.item_json()
    assert '"updated_at":"2026-02-01T00:00:00Z"' in later.item_json()


def test_the_texts_are_computed_once_and_travel_with_a_pickled_document() -> None:
    doc = Document("category", "5", 2, "save", {"name": "Gear", "updated_at": None})
    texts = (doc.hash, doc.item_json())
    doc.data["name"] = "changed after use"  # not allowed; shows the texts are kept, not recomputed
    assert (doc.hash, doc.item_json()) == texts
    copy = pickle.loads(pickle.dumps(doc))
    assert (copy.hash, copy.item_json()) == texts and copy.__dict__["_item_json"] == texts[1]
