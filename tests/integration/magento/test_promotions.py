"""PromotionReader on the demo shop (real MariaDB): cart and catalog rules as per-store-view documents.

Expected documents are written out by hand from the shop's rules (``ragsync_dev.demo.shop._rules``)
and ``SHOP_NOW`` (2026-01-15 12:00 UTC: 13:00 in Paris for store views ``default`` and ``fr``,
12:00 in London for ``outlet``). Stores: 1 default (website base, EUR), 2 fr (base, EUR),
3 outlet (website outlet, GBP).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.magento.base import CLOCK_QUERIES
from ragsync.magento.context import MagentoContext
from ragsync.magento.promotions import PromotionReader, parse_promotion_id, promotion_id
from ragsync.settings import Settings, parse_settings
from ragsync_dev.demo.commerce import STAGED_ENTITIES, convert_to_commerce, schedule_update, staging_version
from ragsync_dev.demo.shop import ShopManifest

from .statement_count import count_statements

ALL_GROUPS = ["NOT LOGGED IN", "General", "Wholesale", "Retailer"]
CART_IDS = [f"cart-{i}" for i in range(1, 8)]
CATALOG_IDS = [f"catalog-{i}" for i in range(1, 4)]

CART_1_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": None,
    "rule_type": "cart",
    "name": "10% off orders over 100",
    "description": "Ten percent off every order of 100 or more, no code needed.",
    "label": "10% off orders over 100",
    "from_date": "2025-12-16",
    "to_date": None,
    "discount": {"simple_action": "by_percent", "amount": 10.0, "sentence": "10% off",
                 "discount_qty": None, "discount_step": 0},
    "currency": "EUR",
    "coupon_required": False,
    "coupon_code": None,
    "customer_groups": ALL_GROUPS,
    "websites": ["base", "outlet"],
    "sort_order": 1,
    "stop_rules_processing": False,
    "apply_to_shipping": False,
    "free_shipping": None,
    "conditions": "- Subtotal is at least €100.00",
    "actions": None,
    "content": "# 10% off orders over 100\n\n"
               "- Type: Cart price rule\n"
               "- Discount: 10% off\n"
               "- Valid from 2025-12-16\n"
               "- Coupon required: no\n"
               "- Customer groups: NOT LOGGED IN, General, Wholesale, Retailer\n"
               "- Websites: base, outlet\n\n"
               "Ten percent off every order of 100 or more, no code needed.\n\n"
               "## Conditions\n\n"
               "- Subtotal is at least €100.00",
}

CART_1_FR = {
    **CART_1_DEFAULT,
    "store_code": "fr",
    "locale": "fr_FR",
    "label": "10 % de remise dès 100 € d'achat",
    "discount": {**CART_1_DEFAULT["discount"], "sentence": "10 % de remise"},
    "conditions": "- Subtotal is at least 100,00 €",
    "content": "# 10% off orders over 100\n\n"
               "- Libellé: 10 % de remise dès 100 € d'achat\n"
               "- Type: Règle de prix panier\n"
               "- Remise: 10 % de remise\n"
               "- Valable à partir du 2025-12-16\n"
               "- Code promo requis: non\n"
               "- Groupes de clients: NOT LOGGED IN, General, Wholesale, Retailer\n"
               "- Sites web: base, outlet\n\n"
               "Ten percent off every order of 100 or more, no code needed.\n\n"
               "## Conditions\n\n"
               "- Subtotal is at least 100,00 €",
}

CART_2_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": None,
    "rule_type": "cart",
    "name": "Summer coupon",
    "description": "20 off the whole cart with the SUMMER20 code.",
    "label": "Summer coupon: 20 off",
    "from_date": "2026-01-05",
    "to_date": "2026-03-16",
    "discount": {"simple_action": "cart_fixed", "amount": 20.0, "sentence": "€20.00 off the cart",
                 "discount_qty": None, "discount_step": 0},
    "currency": "EUR",
    "coupon_required": True,
    "coupon_code": None,
    "customer_groups": ["NOT LOGGED IN", "General"],
    "websites": ["base"],
    "sort_order": 2,
    "stop_rules_processing": False,
    "apply_to_shipping": False,
    "free_shipping": None,
    "conditions": None,
    "actions": None,
    "content": "# Summer coupon\n\n"
               "- Label: Summer coupon: 20 off\n"
               "- Type: Cart price rule\n"
               "- Discount: €20.00 off the cart\n"
               "- Valid from 2026-01-05 to 2026-03-16\n"
               "- Coupon required: yes\n"
               "- Customer groups: NOT LOGGED IN, General\n"
               "- Websites: base\n\n"
               "20 off the whole cart with the SUMMER20 code.",
}

CART_2_DEFAULT_WITH_CODE = {
    **CART_2_DEFAULT,
    "coupon_code": "SUMMER20",
    "content": "# Summer coupon\n\n"
               "- Label: Summer coupon: 20 off\n"
               "- Type: Cart price rule\n"
               "- Discount: €20.00 off the cart\n"
               "- Valid from 2026-01-05 to 2026-03-16\n"
               "- Coupon required: yes\n"
               "- Coupon code: SUMMER20\n"
               "- Customer groups: NOT LOGGED IN, General\n"
               "- Websites: base\n\n"
               "20 off the whole cart with the SUMMER20 code.",
}

CART_3_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": None,
    "rule_type": "cart",
    "name": "Newsletter welcome codes",
    "description": "5 off each item for newsletter subscribers, one generated code each.",
    "label": "Welcome discount",
    "from_date": "2025-11-16",
    "to_date": None,
    "discount": {"simple_action": "by_fixed", "amount": 5.0, "sentence": "€5.00 off each item (up to 1 item)",
                 "discount_qty": 1.0, "discount_step": 0},
    "currency": "EUR",
    "coupon_required": True,
    "coupon_code": None,
    "customer_groups": ["General"],
    "websites": ["base", "outlet"],
    "sort_order": 3,
    "stop_rules_processing": False,
    "apply_to_shipping": False,
    "free_shipping": None,
    "conditions": None,
    "actions": None,
    "content": "# Newsletter welcome codes\n\n"
               "- Label: Welcome discount\n"
               "- Type: Cart price rule\n"
               "- Discount: €5.00 off each item (up to 1 item)\n"
               "- Valid from 2025-11-16\n"
               "- Coupon required: yes\n"
               "- Customer groups: General\n"
               "- Websites: base, outlet\n\n"
               "5 off each item for newsletter subscribers, one generated code each.",
}

CART_7_OUTLET = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": None,
    "rule_type": "cart",
    "name": "Outlet: 5 off",
    "description": "5 off every outlet order.",
    "label": "Outlet discount",
    "from_date": "2026-01-10",
    "to_date": "2026-02-09",
    "discount": {"simple_action": "by_fixed", "amount": 5.0, "sentence": "£5.00 off each item",
                 "discount_qty": None, "discount_step": 0},
    "currency": "GBP",
    "coupon_required": False,
    "coupon_code": None,
    "customer_groups": ALL_GROUPS,
    "websites": ["outlet"],
    "sort_order": 7,
    "stop_rules_processing": False,
    "apply_to_shipping": False,
    "free_shipping": None,
    "conditions": None,
    "actions": None,
    "content": "# Outlet: 5 off\n\n"
               "- Label: Outlet discount\n"
               "- Type: Cart price rule\n"
               "- Discount: £5.00 off each item\n"
               "- Valid from 2026-01-10 to 2026-02-09\n"
               "- Coupon required: no\n"
               "- Customer groups: NOT LOGGED IN, General, Wholesale, Retailer\n"
               "- Websites: outlet\n\n"
               "5 off every outlet order.",
}

CATALOG_1_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": None,
    "rule_type": "catalog",
    "name": "Watch week: 10% off",
    "description": "Ten percent off every watch.",
    "label": "Watch week: 10% off",
    "from_date": "2026-01-08",
    "to_date": "2026-02-14",
    "discount": {"simple_action": "by_percent", "amount": 10.0, "sentence": "10% off"},
    "currency": "EUR",
    "coupon_required": False,
    "coupon_code": None,
    "customer_groups": ALL_GROUPS,
    "websites": ["base", "outlet"],
    "sort_order": 1,
    "stop_rules_processing": False,
    "conditions": "- Category is Watches",
    "content": "# Watch week: 10% off\n\n"
               "- Type: Catalog price rule\n"
               "- Discount: 10% off\n"
               "- Valid from 2026-01-08 to 2026-02-14\n"
               "- Coupon required: no\n"
               "- Customer groups: NOT LOGGED IN, General, Wholesale, Retailer\n"
               "- Websites: base, outlet\n\n"
               "Ten percent off every watch.\n\n"
               "## Applies to products\n\n"
               "- Category is Watches",
}

CATALOG_1_OUTLET = {**CATALOG_1_DEFAULT, "store_code": "outlet", "locale": "en_GB", "currency": "GBP"}


def reader(db: Database, settings: Settings | None = None, now: datetime = SHOP_NOW,
           **raw: Any) -> PromotionReader:
    return PromotionReader(MagentoContext(db), settings or parse_settings(raw or None), None, now)


def by_key(documents: list[Document]) -> dict[tuple[str, int], Document]:
    return {(d.id, d.store_id): d for d in documents}


def saves(documents: list[Document]) -> dict[str, list[int]]:
    """Return promotion id -> the store ids it is saved in."""
    result: dict[str, list[int]] = {}
    for doc in documents:
        if doc.action == "save":
            result.setdefault(doc.id, []).append(doc.store_id)
    return {k: sorted(v) for k, v in result.items()}


def test_ids_parse_and_format() -> None:
    assert promotion_id("cart", 3) == "cart-3"
    assert parse_promotion_id("catalog-12") == ("catalog", 12)
    assert parse_promotion_id("cart-0") is None
    assert parse_promotion_id("order-3") is None
    assert parse_promotion_id("cart-x") is None


def test_rule_without_coupon_in_every_store_of_its_websites(demo_shop: Database,
                                                             shop_manifest: ShopManifest) -> None:
    rule = promotion_id("cart", shop_manifest.cart_no_coupon)
    batch = reader(demo_shop).read([rule])
    docs = by_key(batch.documents)
    assert batch.problems == []
    assert docs[(rule, 1)].data == CART_1_DEFAULT
    assert docs[(rule, 2)].data == CART_1_FR
    outlet = docs[(rule, 3)]
    assert outlet.data is not None
    assert outlet.data["currency"] == "GBP" and outlet.data["locale"] == "en_GB"
    assert outlet.data["label"] == "10% off orders over 100"  # no store-3 label: the default one


def test_specific_coupon_code_only_when_asked(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    rule = promotion_id("cart", shop_manifest.cart_specific_coupon)
    hidden = by_key(reader(demo_shop).read([rule]).documents)
    assert hidden[(rule, 1)].data == CART_2_DEFAULT
    assert hidden[(rule, 3)].action == "delete"  # base website only

    shown = by_key(reader(demo_shop, promotions={"include_coupon_codes": True}).read([rule]).documents)
    assert shown[(rule, 1)].data == CART_2_DEFAULT_WITH_CODE
    assert shown[(rule, 2)].data is not None
    assert shown[(rule, 2)].data["coupon_code"] == shop_manifest.specific_coupon_code
    assert shown[(rule, 2)].data["label"] == "Coupon d'été : 20 € de remise"


def test_auto_generated_coupons_are_never_sent(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    rule = promotion_id("cart", shop_manifest.cart_auto_coupons)
    docs = by_key(reader(demo_shop, promotions={"include_coupon_codes": True}).read([rule]).documents)
    assert docs[(rule, 1)].data == CART_3_DEFAULT
    for doc in docs.values():
        assert doc.data is not None
        assert not any(code in doc.data["content"] for code in shop_manifest.auto_coupon_codes)


def test_expired_future_and_inactive_rules_are_deletes(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    ids = [promotion_id("cart", shop_manifest.cart_expired), promotion_id("cart", shop_manifest.cart_future),
           promotion_id("cart", shop_manifest.cart_inactive), promotion_id("catalog", shop_manifest.catalog_expired),
           promotion_id("catalog", shop_manifest.catalog_inactive)]
    batch = reader(demo_shop).read(ids)
    assert batch.problems == []
    assert len(batch.documents) == len(ids) * 3
    assert all(doc.action == "delete" and doc.data is None for doc in batch.documents)


def test_website_assignment_decides_the_store_views(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    rule = promotion_id("cart", shop_manifest.cart_outlet_only)
    docs = by_key(reader(demo_shop).read([rule]).documents)
    assert docs[(rule, 3)].data == CART_7_OUTLET
    assert docs[(rule, 1)].action == docs[(rule, 2)].action == "delete"


def test_catalog_rules(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    active = promotion_id("catalog", shop_manifest.catalog_active)
    docs = by_key(reader(demo_shop).read([active, promotion_id("catalog", shop_manifest.catalog_inactive)]).documents)
    assert docs[(active, 1)].data == CATALOG_1_DEFAULT
    assert docs[(active, 3)].data == CATALOG_1_OUTLET
    assert docs[("catalog-3", 1)].action == "delete"


def test_everything_in_the_shop(demo_shop: Database) -> None:
    batches = list(reader(demo_shop).read_all(chunk_size=4))
    documents = [d for b in batches for d in b.documents]
    assert [p for b in batches for p in b.problems] == []
    assert saves(documents) == {
        "cart-1": [1, 2, 3], "cart-2": [1, 2], "cart-3": [1, 2, 3], "cart-7": [3], "catalog-1": [1, 2, 3],
    }
    assert len(documents) == 10 * 3


@pytest.mark.parametrize(("promotion_type", "expected"), [
    ("both", CART_IDS + CATALOG_IDS),
    ("cart", CART_IDS),
    ("catalog", CATALOG_IDS),
])
def test_promotion_type_selects_the_kinds(demo_shop: Database, promotion_type: str, expected: list[str]) -> None:
    chosen = reader(demo_shop, promotions={"type": promotion_type})
    assert [i for chunk in chosen.iter_id_chunks(3) for i in chunk] == expected
    produced = {d.id for b in chosen.read_all(chunk_size=3) for d in b.documents}
    assert produced == set(expected)
    # a rule of a kind that is not selected reads as a delete; it still exists in Magento
    other = [i for i in CART_IDS + CATALOG_IDS if i not in expected]
    assert all(d.action == "delete" for d in chosen.read(other).documents)
    assert chosen.existing_ids(other) == set(other)


def test_changed_and_existing_ids(demo_shop: Database) -> None:
    chosen = reader(demo_shop, promotions={"type": "cart"})
    # no timestamps on rules: every rule of both kinds, the hash decides what changed
    assert chosen.changed_ids(SHOP_NOW - timedelta(minutes=1), SHOP_NOW) == CART_IDS + CATALOG_IDS
    assert chosen.existing_ids(["cart-1", "cart-99", "catalog-3", "catalog-42", "nonsense"]) == {"cart-1", "catalog-3"}


def test_store_filter(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    outlet_only = reader(demo_shop, stores=["outlet"])
    assert [s.code for s in outlet_only.stores] == ["outlet"]
    documents = outlet_only.read(CART_IDS + CATALOG_IDS).documents
    assert {d.store_id for d in documents} == {shop_manifest.stores["outlet"]}
    assert by_key(documents)[("cart-7", 3)].data == CART_7_OUTLET


def test_today_is_the_store_views_local_date(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    # cart-5 starts on 2026-01-29. At 23:30 UTC on the 28th it is already the 29th in Paris
    # (default, fr) but still the 28th in London (outlet).
    rule = promotion_id("cart", shop_manifest.cart_future)
    late = datetime(2026, 1, 28, 23, 30)
    docs = by_key(reader(demo_shop, now=late).read([rule]).documents)
    assert (docs[(rule, 1)].action, docs[(rule, 2)].action, docs[(rule, 3)].action) == ("save", "save", "delete")
    assert docs[(rule, 1)].data is not None
    assert docs[(rule, 1)].data["free_shipping"] == "whole_shipment"
    assert "- Free shipping: for the whole shipment" in docs[(rule, 1)].data["content"]
    # both ends are inclusive: cart-2 ends on 2026-03-16 (Paris)
    summer = promotion_id("cart", shop_manifest.cart_specific_coupon)
    last_day = datetime(2026, 3, 16, 22, 59)
    after = datetime(2026, 3, 16, 23, 0)
    assert by_key(reader(demo_shop, now=last_day).read([summer]).documents)[(summer, 1)].action == "save"
    assert by_key(reader(demo_shop, now=after).read([summer]).documents)[(summer, 1)].action == "delete"


def test_hash_is_stable_and_ignores_the_capture_time(demo_shop: Database) -> None:
    first = {d.key: d.hash for d in reader(demo_shop).read(CART_IDS + CATALOG_IDS).documents}
    later = {d.key: d.hash for d in reader(demo_shop, now=SHOP_NOW + timedelta(hours=3)).read(
        CART_IDS + CATALOG_IDS).documents}
    assert first == later


def test_statements_per_chunk_do_not_depend_on_its_size(demo_shop: Database) -> None:
    chosen = reader(demo_shop)
    chosen.read(["cart-1", "catalog-1"])  # warm up what every chunk shares
    small, _ = count_statements(demo_shop, lambda: chosen.read(["cart-1", "catalog-1"]))
    large, batch = count_statements(demo_shop, lambda: chosen.read(CART_IDS + CATALOG_IDS))
    assert len(batch.documents) == 30
    # the clock; per kind: the rules, and one UNION of websites/groups/labels/coupons; and one UNION of
    # the names the conditions use (catalog-1 names a category)
    assert small == large == 5 + CLOCK_QUERIES
    with_codes = reader(demo_shop, promotions={"include_coupon_codes": True})
    with_codes.read(["cart-1"])
    one, _ = count_statements(demo_shop, lambda: with_codes.read(["cart-1"]))
    seven, _ = count_statements(demo_shop, lambda: with_codes.read(CART_IDS))
    assert one == seven == 2 + CLOCK_QUERIES


def test_bad_ids_and_bad_rows_are_problems_not_failures(make_shop: Any) -> None:
    db = make_shop(products=21)
    db.execute(f"ALTER TABLE {db.table('salesrule')} MODIFY description BLOB")
    db.execute(f"UPDATE {db.table('salesrule')} SET description = %s WHERE rule_id = 1", (b"Ten \xc3( percent",))
    batch = reader(db).read(["cart-1", "cart-2", "nonsense"])
    problems = sorted((p.entity_id, p.store_id, p.reason) for p in batch.problems)
    assert problems == [
        ("cart-1", 1, "description: invalid UTF-8 at byte 4"),
        ("cart-1", 2, "description: invalid UTF-8 at byte 4"),
        ("cart-1", 3, "description: invalid UTF-8 at byte 4"),
        ("nonsense", None, "not a promotion id: use cart-<rule_id> or catalog-<rule_id>"),
    ]
    assert by_key(batch.documents)[("cart-2", 1)].data == CART_2_DEFAULT


def test_prefixed_tables(make_shop: Any) -> None:
    db = make_shop(products=21, table_prefix="m2_")
    docs = by_key(reader(db).read(["cart-1", "cart-2", "catalog-1"]).documents)
    assert docs[("cart-1", 2)].data == CART_1_FR
    assert docs[("cart-2", 1)].data == CART_2_DEFAULT
    assert docs[("catalog-1", 3)].data == CATALOG_1_OUTLET


def test_adobe_commerce_layout(make_shop: Any, demo_shop: Database) -> None:
    db = make_shop(products=21)
    convert_to_commerce(db, now=SHOP_NOW, past_update=0, future_update=0)
    salesrule = next(e for e in STAGED_ENTITIES if e.table == "salesrule")
    # a scheduled update of cart-1 next week: its new row must not be read yet
    row = schedule_update(db, 1, staging_version(SHOP_NOW + timedelta(days=7)), {}, entity=salesrule)
    db.execute(f"UPDATE {db.table('salesrule')} SET name = 'Next week' WHERE row_id = %s", (row,))
    commerce = reader(db)
    assert commerce.ctx.is_commerce
    ids = [i for chunk in commerce.iter_id_chunks() for i in chunk]
    assert ids == CART_IDS + CATALOG_IDS
    docs = by_key([d for b in commerce.read_all() for d in b.documents])
    assert docs[("cart-1", 1)].data == CART_1_DEFAULT
    assert docs[("cart-2", 1)].data == CART_2_DEFAULT
    assert docs[("catalog-1", 1)].data == CATALOG_1_DEFAULT
    open_source = by_key(reader(demo_shop).read(CART_IDS + CATALOG_IDS).documents)
    assert {k: d.hash for k, d in docs.items()} == {k: d.hash for k, d in open_source.items()}
    # once the update is live, its row is read
    live = by_key(reader(db, now=SHOP_NOW + timedelta(days=8)).read(["cart-1"]).documents)
    assert live[("cart-1", 1)].data is not None
    assert live[("cart-1", 1)].data["name"] == "Next week"


# --- conditions and actions ---------------------------------------------------------------------
SALES = "Magento\\SalesRule\\Model\\Rule\\Condition\\"
CATALOG_CONDITION = "Magento\\CatalogRule\\Model\\Rule\\Condition\\"


def combine(kind: str, *children: dict[str, Any], aggregator: str = "all", value: str = "1") -> dict[str, Any]:
    tree: dict[str, Any] = {"type": kind, "attribute": None, "operator": None, "value": value,
                            "is_value_processed": None, "aggregator": aggregator}
    if children:
        tree["conditions"] = list(children)
    return tree


def leaf(kind: str, attribute: str, operator: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "attribute": attribute, "operator": operator, "value": value, "is_value_processed": False}


def php_serialize(value: Any) -> str:
    """Serialize like PHP's ``serialize()`` (lists become arrays with integer keys), for Magento 2.1 rows."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, float):
        return f"d:{value!r};"
    if isinstance(value, str):
        return f's:{len(value.encode())}:"{value}";'
    items = list(enumerate(value)) if isinstance(value, list) else list(value.items())
    return f"a:{len(items)}:{{" + "".join(php_serialize(k) + php_serialize(v) for k, v in items) + "}"


def stored(tree: dict[str, Any], form: str) -> str:
    return json.dumps(tree, separators=(",", ":")) if form == "json" else php_serialize(tree)


def set_rule(db: Database, table: str, rule_id: int, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = %s" for name in columns)
    db.execute(f"UPDATE {db.table(table)} SET {assignments} WHERE rule_id = %s", (*columns.values(), rule_id))


FORMS = ["json", "php"]


@pytest.mark.parametrize("form", FORMS)
def test_free_shipping_over_50_says_the_subtotal(make_shop: Any, form: str) -> None:
    db = make_shop(products=21)
    conditions = combine(SALES + "Combine", leaf(SALES + "Address", "base_subtotal", ">=", "50"))
    set_rule(db, "salesrule", 1, name="Spend $50 or more - shipping is free!", description=None,
             discount_amount=0, simple_free_shipping=2, conditions_serialized=stored(conditions, form),
             actions_serialized=stored(combine(SALES + "Product\\Combine"), form))
    db.execute(f"DELETE FROM {db.table('salesrule_label')} WHERE rule_id = 1")
    batch = reader(db).read(["cart-1"])
    assert batch.problems == []
    docs = by_key(batch.documents)
    data = docs[("cart-1", 1)].data
    assert data is not None
    assert data["discount"]["sentence"] == "Free shipping for the whole shipment"
    assert data["conditions"] == "- Subtotal is at least €50.00"
    assert data["actions"] is None
    assert data["content"] == (
        "# Spend $50 or more - shipping is free!\n\n"
        "- Type: Cart price rule\n"
        "- Discount: Free shipping for the whole shipment\n"
        "- Valid from 2025-12-16\n"
        "- Coupon required: no\n"
        "- Customer groups: NOT LOGGED IN, General, Wholesale, Retailer\n"
        "- Websites: base, outlet\n\n"
        "## Conditions\n\n"
        "- Subtotal is at least €50.00"
    )
    outlet = docs[("cart-1", 3)].data
    assert outlet is not None
    assert outlet["conditions"] == "- Subtotal is at least £50.00"  # the store view's base currency


@pytest.mark.parametrize("form", FORMS)
def test_sku_coupon_rule_says_which_product(make_shop: Any, shop_manifest: ShopManifest, form: str) -> None:
    db = make_shop(products=21)
    sku = shop_manifest.skus["simple_with_overrides"]
    conditions = combine(SALES + "Combine", combine(SALES + "Product\\Found",
                                                    leaf(SALES + "Product", "sku", "==", sku)))
    actions = combine(SALES + "Product\\Combine", leaf(SALES + "Product", "sku", "==", sku))
    set_rule(db, "salesrule", 2, name="15% off one tee with a code", description=None, simple_action="by_percent",
             discount_amount=15, conditions_serialized=stored(conditions, form),
             actions_serialized=stored(actions, form))
    db.execute(f"DELETE FROM {db.table('salesrule_label')} WHERE rule_id = 2")
    batch = reader(db).read(["cart-2"])
    assert batch.problems == []
    # the fr store view has the French words; the conditions' own words stay English
    for store_id, words in ((1, ("Type: Cart price rule", "Discount: 15% off", "Valid from 2026-01-05 to 2026-03-16",
                                 "Coupon required: yes", "Customer groups", "Websites", "Conditions",
                                 "Applies to items")),
                            (2, ("Type: Règle de prix panier", "Remise: 15 % de remise",
                                 "Valable du 2026-01-05 au 2026-03-16", "Code promo requis: oui", "Groupes de clients",
                                 "Sites web", "Conditions", "S'applique aux articles"))):
        data = by_key(batch.documents)[("cart-2", store_id)].data
        assert data is not None
        rule_type, discount, valid, coupon, groups, websites, conditions_heading, items_heading = words
        assert data["content"] == (
            "# 15% off one tee with a code\n\n"
            f"- {rule_type}\n"
            f"- {discount}\n"
            f"- {valid}\n"
            f"- {coupon}\n"
            f"- {groups}: NOT LOGGED IN, General\n"
            f"- {websites}: base\n\n"
            f"## {conditions_heading}\n\n"
            "- The cart has an item for which all of these are true:\n"
            f"  - SKU is {sku}\n\n"
            f"## {items_heading}\n\n"
            f"- SKU is {sku}"
        )


@pytest.mark.parametrize("form", FORMS)
def test_names_of_categories_attributes_and_options_per_store_view(
        make_shop: Any, shop_manifest: ShopManifest, form: str) -> None:
    db = make_shop(products=21)
    watches, bags = shop_manifest.categories["gear_watches"], shop_manifest.categories["gear_bags"]
    blue, black = shop_manifest.options["color"]["Blue"], shop_manifest.options["color"]["Black"]
    conditions = combine(
        SALES + "Combine",
        leaf(SALES + "Address", "country_id", "()", "FR,BE"),
        combine(SALES + "Combine", leaf(SALES + "Address", "total_qty", ">", "2"),
                leaf(SALES + "Address", "payment_method", "==", "checkmo"), aggregator="any", value="0"),
        combine(SALES + "Product\\Found", leaf(SALES + "Product", "category_ids", "==", f"{watches}, {bags}"),
                value="0"),
    )
    actions = combine(SALES + "Product\\Combine", leaf(SALES + "Product", "color", "()", f"{blue},{black}"))
    set_rule(db, "salesrule", 1, conditions_serialized=stored(conditions, form),
             actions_serialized=stored(actions, form))
    catalog = combine(CATALOG_CONDITION + "Combine", leaf(CATALOG_CONDITION + "Product", "size", "==", "999999"),
                      leaf(CATALOG_CONDITION + "Product", "category_ids", "!()", str(bags)), aggregator="any")
    set_rule(db, "catalogrule", 1, conditions_serialized=stored(catalog, form))
    batch = reader(db).read(["cart-1", "catalog-1"])
    assert batch.problems == []
    docs = by_key(batch.documents)
    default, fr = docs[("cart-1", 1)].data, docs[("cart-1", 2)].data
    assert default is not None and fr is not None
    assert default["conditions"] == (
        "- Shipping country is one of FR, BE\n"
        "- At least one of these is not true:\n"
        "  - Total quantity of items is more than 2\n"
        "  - Payment method is checkmo\n"
        "- The cart has no item for which all of these are true:\n"
        "  - Category is one of Watches, Bags"
    )
    assert fr["conditions"] == default["conditions"].replace("Watches, Bags", "Montres, Sacs")
    assert default["actions"] == "- Color is one of Blue, Black"
    assert fr["actions"] == "- Couleur is one of Bleu, Noir"
    catalog_data = docs[("catalog-1", 3)].data
    assert catalog_data is not None
    # outlet has its own label for size; 999999 is no option of it: the value as stored
    assert catalog_data["conditions"] == ("- At least one of these is true:\n"
                                          "  - Size (UK) is 999999\n"
                                          "  - Category is not one of Bags")


def test_malformed_or_unknown_conditions_do_not_break_the_document(make_shop: Any) -> None:
    db = make_shop(products=21)
    set_rule(db, "salesrule", 1, conditions_serialized='a:2:{s:4:"type";O:8:"stdClass":0:{}}')
    unknown = combine(SALES + "Combine", leaf("Magento\\CustomerSegment\\Model\\Segment\\Condition\\Segment",
                                               "segment", "==", "3"))
    set_rule(db, "salesrule", 2, conditions_serialized=json.dumps(unknown), actions_serialized='{"type": ')
    batch = reader(db).read(["cart-1", "cart-2"])
    problems = sorted((p.entity_id, p.store_id, p.reason) for p in batch.problems)
    assert problems == [
        ("cart-1", store_id, "conditions_serialized: cannot be read (PHP objects and references are refused"
                             " at byte 16); the document says so") for store_id in (1, 2, 3)
    ] + [
        ("cart-2", store_id, "actions_serialized: cannot be read (not valid JSON (Expecting value: line 1 column 9"
                             " (char 8))); the document says so") for store_id in (1, 2)
    ]
    docs = by_key(batch.documents)
    first, second = docs[("cart-1", 1)].data, docs[("cart-2", 1)].data
    assert first is not None and second is not None
    assert first["content"].endswith(
        "## Conditions\n\n- conditions ragsync cannot show (the stored conditions could not be read)")
    assert second["conditions"] == (
        "- a condition ragsync cannot show (Magento\\CustomerSegment\\Model\\Segment\\Condition\\Segment)")
    assert second["actions"] == "- conditions ragsync cannot show (the stored conditions could not be read)"


def test_one_statement_for_the_names_whatever_the_number_of_rules(make_shop: Any,
                                                                  shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    blue = shop_manifest.options["color"]["Blue"]
    for rule_id in range(1, 8):
        conditions = combine(SALES + "Combine", combine(SALES + "Product\\Found", leaf(
            SALES + "Product", "category_ids", "==", str(shop_manifest.categories["gear_watches"]))))
        actions = combine(SALES + "Product\\Combine", leaf(SALES + "Product", "color", "==", str(blue)))
        set_rule(db, "salesrule", rule_id, conditions_serialized=stored(conditions, "json" if rule_id % 2 else "php"),
                 actions_serialized=stored(actions, "json"))
    chosen = reader(db, promotions={"type": "cart"})
    chosen.read(["cart-1"])
    one, _ = count_statements(db, lambda: chosen.read(["cart-1"]))
    seven, batch = count_statements(db, lambda: chosen.read(CART_IDS))
    assert one == seven == 3 + CLOCK_QUERIES  # the rules, their relations, the names
    assert batch.problems == []
    data = by_key(batch.documents)[("cart-7", 3)].data
    assert data is not None and data["actions"] == "- Color is Blue"
