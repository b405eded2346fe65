"""The ledger: delivered hashes, tombstones, failures, live counts and streamed keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ragsync.db import Database
from ragsync.state.clock import ManualClock
from ragsync.state.ledger import Ledger, group_keys


@dataclass(frozen=True)
class Row:
    entity_type: str
    entity_id: str
    store_id: int
    action: str
    content_hash: str


def row(i: int, store: int = 1, action: str = "save", h: str = "a", entity_type: str = "product") -> Row:
    return Row(entity_type, str(i), store, action, h * 64)


def test_record_sent_failed_and_lookup(ragsync_db: Database) -> None:
    ledger = Ledger(ragsync_db, ManualClock(datetime(2026, 1, 1)))
    assert ledger.delivered_hashes([("product", "1", 1)]) == {}
    ledger.record_failed([row(1, h="b")], "failed", "HTTP 503")
    assert ledger.delivered_hashes([("product", "1", 1)]) == {}  # never delivered
    entry = ledger.lookup([("product", "1", 1)])[("product", "1", 1)]
    assert (entry.delivered_hash, entry.failed_hash, entry.failed_status, entry.live) == (None, "b" * 64, "failed",
                                                                                          False)
    ledger.record_sent([row(1, h="c"), row(2), row(2, store=2)])
    assert ledger.delivered_hashes([("product", "1", 1), ("product", "2", 2), ("product", "9", 1)]) == {
        ("product", "1", 1): ("c" * 64, False), ("product", "2", 2): ("a" * 64, False)}
    entry = ledger.lookup([("product", "1", 1)])[("product", "1", 1)]
    assert entry.failed_hash is None and entry.live  # a success clears the failure
    ledger.record_failed([row(2)], "dead", "HTTP 422")
    assert ledger.delivered_hashes([("product", "2", 1)]) == {("product", "2", 1): ("a" * 64, False)}
    ledger.record_sent([row(2, action="delete", h="d")])
    assert ledger.delivered_hashes([("product", "2", 1)]) == {("product", "2", 1): ("d" * 64, True)}


def test_live_counts_and_keys(ragsync_db: Database) -> None:
    ledger = Ledger(ragsync_db)
    ledger.record_sent([row(i, store=s) for i in range(1, 8) for s in (1, 2)] + [row(1, entity_type="category")])
    ledger.record_sent([row(3, action="delete"), row(4, store=2, action="delete")])
    ledger.record_failed([row(99)], "dead")
    assert ledger.live_count() == 13
    assert ledger.live_count("product") == 12
    assert ledger.live_count("product", [2]) == 6
    assert ledger.live_count("product", []) == 0
    assert ledger.live_counts() == {"product": 12, "category": 1}
    keys = list(ledger.keys("product", page_size=4))
    assert len(keys) == 12 and keys == sorted(keys, key=lambda k: (k[1], k[2]))
    assert ("product", "3", 1) not in keys and ("product", "3", 2) in keys
    assert list(ledger.keys("product", [1], page_size=2)) == [("product", str(i), 1) for i in (1, 2, 4, 5, 6, 7)]
    assert len(list(ledger.keys("product", live_only=False))) == 15
    assert list(ledger.keys("product", [])) == []
    # a deleted document saved again is live again; a failed attempt leaves a live one live
    ledger.record_sent([row(3)])
    ledger.record_failed([row(5)], "failed")
    assert ledger.live_count("product", [1]) == 7
    assert ledger.live_counts() == {"product": 13, "category": 1}


def test_lookup_of_many_keys_in_mixed_groups(ragsync_db: Database) -> None:
    ledger = Ledger(ragsync_db)
    ledger.record_sent([row(i, store=1 + i % 3) for i in range(2500)])
    keys = [("product", str(i), 1 + i % 3) for i in range(3000)]
    assert len(group_keys(keys)) == 3
    assert len(ledger.lookup(keys)) == 2500
