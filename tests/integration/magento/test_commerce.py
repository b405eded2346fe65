"""Adobe Commerce (content staging, ``row_id``): the product reader reads the version active now.

The demo shop is converted with :func:`ragsync_dev.demo.commerce.convert_to_commerce`: every staged
table keyed by ``row_id = id + 100000``, and two staged updates of ordinary simple products, one
that started yesterday (its new row is current) and one scheduled next week (must not be read).
"""

from __future__ import annotations

from typing import Any

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.magento.context import MagentoContext
from ragsync.magento.eav import load_values
from ragsync.magento.products import ProductReader
from ragsync.settings import Settings
from ragsync_dev.demo.commerce import ROW_ID_OFFSET, convert_to_commerce

from .statement_count import count_statements
from .test_products import AERO_DEFAULT, AERO_FR, HOODIE_DEFAULT, HOODIE_FR

PRODUCTS = 40


def documents(db: Database, ids: list[int] | None = None) -> dict[tuple[str, int], Document]:
    """Return every product document (or those of ``ids``) by (id, store)."""
    reader = ProductReader(MagentoContext(db), Settings(), now=SHOP_NOW)
    batches = [reader.read(ids)] if ids is not None else list(reader.read_all(chunk_size=16))
    assert all(b.problems == [] for b in batches)
    return {(d.id, d.store_id): d for b in batches for d in b.documents}


def test_commerce_layout_reads_the_current_version(make_shop: Any) -> None:
    open_source = make_shop(products=PRODUCTS)
    commerce = make_shop(products=PRODUCTS)
    layout = convert_to_commerce(commerce, now=SHOP_NOW)
    past, future = layout.past_update, layout.future_update
    assert past and future and past != future

    ctx = MagentoContext(commerce)
    assert ctx.is_commerce and ctx.link_field("catalog_product_entity") == "row_id"
    t = commerce.table
    # the layout is really keyed by row_id: no value row carries an entity id any more
    assert commerce.scalar(f"SELECT MIN(row_id) FROM {t('catalog_product_entity_varchar')}") > ROW_ID_OFFSET
    assert commerce.scalar(f"SELECT COUNT(*) FROM {t('catalog_product_entity')} WHERE entity_id IN (%s, %s)",
                           (past, future)) == 4

    expected = documents(open_source)
    actual = documents(commerce)
    assert set(actual) == set(expected)
    changed = {(str(past), s) for s in (1, 2, 3)}
    for key, doc in expected.items():
        if key not in changed:
            assert actual[key].data == doc.data, key
    # yesterday's update is the current version; next week's is not read yet
    for key in changed:
        old, new = expected[key].data, actual[key].data
        if old is None:
            assert new is None
            continue
        assert new is not None
        assert new["name"] == layout.updates[past]["name"]
        assert {k: v for k, v in new.items() if k not in ("name", "content")} == {
            k: v for k, v in old.items() if k not in ("name", "content")}
    future_doc = actual[(str(future), 1)].data
    assert future_doc is not None and "(next season)" not in future_doc["name"] and future_doc["price"] != 1.0
    # the well-known full documents, configurable variants through row_id-keyed links included
    assert actual[("1", 1)].data == AERO_DEFAULT and actual[("1", 2)].data == AERO_FR
    assert actual[("2", 1)].data == HOODIE_DEFAULT and actual[("2", 2)].data == HOODIE_FR


def test_commerce_ids_and_statements(make_shop: Any) -> None:
    db = make_shop(products=PRODUCTS)
    layout = convert_to_commerce(db, now=SHOP_NOW)
    reader = ProductReader(MagentoContext(db), Settings(), now=SHOP_NOW)
    # one id per entity, however many row versions it has
    assert [i for chunk in reader.iter_id_chunks(7) for i in chunk] == list(range(1, PRODUCTS + 1))
    assert reader.existing_ids([layout.past_update or 0, layout.future_update or 0, 999]) == {
        layout.past_update, layout.future_update}
    reader.prepare()
    statements, _ = count_statements(db, lambda: reader.read(list(range(1, PRODUCTS + 1))))
    open_source = ProductReader(MagentoContext(make_shop(products=PRODUCTS)), Settings(), now=SHOP_NOW)
    open_source.prepare()
    assert statements == count_statements(open_source.ctx.db, lambda: open_source.read([1, 2]))[0]


def test_eav_loader_on_commerce(make_shop: Any) -> None:
    db = make_shop(products=PRODUCTS)
    layout = convert_to_commerce(db, now=SHOP_NOW)
    ctx = MagentoContext(db)
    attributes = ctx.attributes("catalog_product")
    values = load_values(ctx, "catalog_product_entity", [attributes["name"], attributes["price"]],
                         [layout.past_update or 0, layout.future_update or 0, 1], [1, 2], SHOP_NOW)
    assert set(values.resolve_all([1, 2])[1]) == {layout.past_update, layout.future_update, 1}
    assert values.get(layout.past_update or 0, "name", 1) == layout.updates[layout.past_update or 0]["name"]
    assert "(next season)" not in values.get(layout.future_update or 0, "name", 1)
    assert values.get(1, "name", 2) == "T-shirt de fitness Aero Daily"
    # a week later the scheduled update is the current version
    later = load_values(ctx, "catalog_product_entity", [attributes["name"], attributes["price"]],
                        [layout.future_update or 0], [1], SHOP_NOW.replace(day=SHOP_NOW.day + 8))
    assert later.get(layout.future_update or 0, "name", 1) == layout.updates[layout.future_update or 0]["name"]
    assert float(later.get(layout.future_update or 0, "price", 1)) == 1.0
