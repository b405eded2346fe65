"""Webhook bodies, batch ids and splitting by count and bytes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from ragsync.delivery.batching import build_body, new_batch_id, split_by_limits
from ragsync.documents.model import Document

NOW = datetime(2026, 1, 2, 10, 30, 0)


def _item(i: int) -> str:
    return Document("product", str(i), 1, "save", {"name": f"é {i}"}, NOW).item_json()


def test_one_item_is_sent_in_the_single_form_exactly_as_stored() -> None:
    item = _item(1)
    assert build_body([item], "mag-x", NOW) == item.encode("utf-8")


def test_batch_form_is_exactly_the_seed_envelope_around_the_stored_items() -> None:
    items = [_item(1), _item(2)]
    body = build_body(items, "mag-20260102103000-abcd1234", NOW)
    assert body == ('{"type":"batch","batch_id":"mag-20260102103000-abcd1234","timestamp":"2026-01-02T10:30:00Z",'
                    '"items":[' + items[0] + "," + items[1] + "]}").encode("utf-8")
    parsed = json.loads(body)
    assert list(parsed) == ["type", "batch_id", "timestamp", "items"]
    assert [i["id"] for i in parsed["items"]] == ["1", "2"]
    assert parsed["items"][0]["data"]["name"] == "é 1"


def test_new_batch_id_format() -> None:
    batch_id = new_batch_id(NOW)
    assert re.fullmatch(r"mag-20260102103000-[0-9a-f]{8}", batch_id)
    assert new_batch_id(NOW) != batch_id


@dataclass
class Row:
    document_bytes: int


def test_split_by_limits_respects_count_and_bytes() -> None:
    rows = [Row(100) for _ in range(7)]
    assert [len(b) for b in split_by_limits(rows, 3, 10_000)] == [3, 3, 1]
    assert [len(b) for b in split_by_limits(rows, 50, 128 + 2 * 101)] == [2, 2, 2, 1]


def test_an_oversized_item_gets_a_batch_of_its_own() -> None:
    rows = [Row(10), Row(5000), Row(10)]
    assert [[r.document_bytes for r in b] for b in split_by_limits(rows, 50, 1024)] == [[10], [5000], [10]]


def test_real_bodies_stay_under_the_byte_limit() -> None:
    items = [_item(i) for i in range(40)]

    @dataclass
    class Stored:
        document: str

        @property
        def document_bytes(self) -> int:
            return len(self.document.encode("utf-8"))

    limit = 1500
    for batch in split_by_limits([Stored(i) for i in items], 50, limit):
        if len(batch) > 1:
            assert len(build_body([r.document for r in batch], new_batch_id(NOW), NOW)) <= limit
