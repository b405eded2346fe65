"""A chunk of products costs a fixed number of statements, whatever its size (set-based extraction).

Statements are counted by the server itself (MariaDB's per-session ``Questions`` counter), so
nothing is mocked or wrapped: what is counted is what reached the database.
"""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.magento.base import CLOCK_QUERIES
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import QUERIES_PER_CHUNK, ProductReader
from ragsync.settings import Settings

from .statement_count import count_statements

PRODUCTS = 1200


@pytest.fixture(scope="module")
def big_shop(db_factory: Any) -> Database:
    """Return a 1,200-product shop (simple products and configurable families)."""
    from ragsync_dev.demo.shop import build_demo_database

    db = db_factory("shop1200")
    build_demo_database(db, products=PRODUCTS, seed=7, now=SHOP_NOW)
    return db


def prepared_reader(db: Database) -> ProductReader:
    """Return a reader whose once-per-reader reads (attributes, labels, categories, blocks) are done."""
    reader = ProductReader(MagentoContext(db), Settings(), now=SHOP_NOW)
    reader.prepare()
    return reader


def test_chunk_cost_does_not_depend_on_its_size(big_shop: Database) -> None:
    reader = prepared_reader(big_shop)
    small, small_batch = count_statements(big_shop, lambda: reader.read(list(range(1, 11))))
    large, large_batch = count_statements(big_shop, lambda: reader.read(list(range(1, 1001))))
    # both chunks hold configurable products with children, saves and deletes
    assert len(small_batch.documents) == 10 * 3 and len(large_batch.documents) == 1000 * 3
    assert any(d.data and d.data.get("variants") for d in small_batch.documents)
    assert sum(1 for d in large_batch.documents if d.data and d.data.get("variants")) > 100
    assert small == large == QUERIES_PER_CHUNK + CLOCK_QUERIES
    # scattered ids (an IN list instead of a range) cost the same
    scattered, _ = count_statements(big_shop, lambda: reader.read([2, 17, 350, 999, 1200]))
    assert scattered == QUERIES_PER_CHUNK + CLOCK_QUERIES


def test_read_all_costs_a_fixed_number_of_statements_per_chunk(big_shop: Database) -> None:
    reader = prepared_reader(big_shop)
    for chunk_size in (100, 400):
        statements, batches = count_statements(big_shop, lambda size=chunk_size: list(reader.read_all(size, workers=1)))
        chunks = -(-PRODUCTS // chunk_size)
        assert len(batches) == chunks
        assert sum(len(b.documents) for b in batches) == PRODUCTS * 3
        # per chunk: its keyset page, the clock and its fetch; plus the empty page that ends the pagination
        # when the last page is full
        expected = chunks * (QUERIES_PER_CHUNK + CLOCK_QUERIES + 1) + (1 if PRODUCTS % chunk_size == 0 else 0)
        assert statements == expected


def test_once_per_reader_reads_do_not_repeat(big_shop: Database) -> None:
    reader = ProductReader(MagentoContext(big_shop), Settings(), now=SHOP_NOW)
    setup, _ = count_statements(big_shop, reader.prepare)
    again, _ = count_statements(big_shop, reader.prepare)
    assert setup > 0 and again == 0
