"""Reading Magento's serialized rule conditions (PHP serialize() and JSON) and saying them in words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ragsync.documents.render import discount_sentence, promotion_content
from ragsync.documents.rule_conditions import (
    Condition,
    ConditionError,
    Names,
    describe,
    parse_conditions,
    php_unserialize,
    references,
)

SALES = "Magento\\SalesRule\\Model\\Rule\\Condition\\"
CATALOG = "Magento\\CatalogRule\\Model\\Rule\\Condition\\"
NAMES = Names(categories={12: "Watches", 13: "Bags"}, attributes={"color": "Color", "sku": "SKU"},
              options={("color", 5): "Blue", ("color", 6): "Black"}, currency="EUR")

# What Magento 2.1 stores for "Subtotal equals or greater than 50" (PHP serialize(), byte lengths)
PHP_SUBTOTAL = (
    'a:7:{s:4:"type";s:46:"Magento\\SalesRule\\Model\\Rule\\Condition\\Combine";s:9:"attribute";N;'
    's:8:"operator";N;s:5:"value";s:1:"1";s:18:"is_value_processed";N;s:10:"aggregator";s:3:"all";'
    's:10:"conditions";a:1:{i:0;a:5:{s:4:"type";s:46:"Magento\\SalesRule\\Model\\Rule\\Condition\\Address";'
    's:9:"attribute";s:13:"base_subtotal";s:8:"operator";s:2:">=";s:5:"value";s:2:"50";'
    's:18:"is_value_processed";b:0;}}}'
)
# ... and what 2.2+ stores for the same rule
JSON_SUBTOTAL = (
    '{"type":"Magento\\\\SalesRule\\\\Model\\\\Rule\\\\Condition\\\\Combine","attribute":null,"operator":null,'
    '"value":"1","is_value_processed":null,"aggregator":"all","conditions":[{"type":'
    '"Magento\\\\SalesRule\\\\Model\\\\Rule\\\\Condition\\\\Address","attribute":"base_subtotal","operator":">=",'
    '"value":"50","is_value_processed":false}]}'
)


def combine(kind: str, *children: Condition, aggregator: str = "all", value: Any = "1") -> Condition:
    return Condition(type=kind, value=value, aggregator=aggregator, conditions=children)


def address(attribute: str, operator: str, value: Any) -> Condition:
    return Condition(type=SALES + "Address", attribute=attribute, operator=operator, value=value)


def product(attribute: str, operator: str, value: Any, kind: str = SALES + "Product") -> Condition:
    return Condition(type=kind, attribute=attribute, operator=operator, value=value)


def root(*children: Condition, aggregator: str = "all", value: Any = "1") -> Condition:
    return combine(SALES + "Combine", *children, aggregator=aggregator, value=value)


# --- PHP unserialize --------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("N;", None),
    ("b:1;", True),
    ("b:0;", False),
    ("i:-42;", -42),
    ("d:0.5;", 0.5),
    ("d:12;", 12.0),
    ('s:0:"";', ""),
    ('s:4:"a";b";', 'a";b'),  # the length decides, not the quotes
    ('s:8:"Montrés";', "Montrés"),  # é is two bytes
    ('a:2:{i:0;s:1:"x";s:1:"k";a:1:{i:3;N;}}', {0: "x", "k": {3: None}}),
    ("a:0:{}", {}),
])
def test_php_unserialize_reads_the_subset_magento_writes(text: str, expected: Any) -> None:
    assert php_unserialize(text) == expected
    assert php_unserialize(text.encode()) == expected


@pytest.mark.parametrize(("text", "message"), [
    ('O:8:"stdClass":0:{}', "PHP objects and references are refused at byte 0"),
    ('a:1:{i:0;O:8:"stdClass":0:{}}', "PHP objects and references are refused at byte 9"),
    ('C:11:"ArrayObject":0:{}', "PHP objects and references are refused at byte 0"),
    ('a:2:{i:0;s:1:"x";i:1;r:2;}', "PHP objects and references are refused at byte 21"),
    ('a:1:{i:0;R:1;}', "PHP objects and references are refused at byte 9"),
    ('s:9:"short";', "string runs past the end at byte 5"),
    ('s:2:"abc";', "expected '\";' at byte 7"),
    ("a:2:{i:0;N;}", "unknown PHP value b'}' at byte 11"),
    ('a:1:{i:0;s:1:"x";', "expected '}' at byte 17"),
    ("i:12", "missing ';' at byte 2"),
    ("i:x;", "not an integer: b'x' at byte 4"),
    ("b:2;", "not a boolean at byte 4"),
    ("N;N;", "unexpected data after the value at byte 2"),
    ("a:1:{d:1.5;N;}", "array key is not an integer or a string at byte 11"),
    ("x:1;", "unknown PHP value b'x' at byte 0"),
    ("a:1:{i:0;" * 40 + "N;" + "}" * 40, "nested too deeply at byte 293"),
])
def test_php_unserialize_refuses_objects_and_malformed_input(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        php_unserialize(text)
    assert str(caught.value) == message


def test_php_unserialize_refuses_invalid_utf8_in_strings() -> None:
    with pytest.raises(ConditionError, match="invalid UTF-8 in a string at byte 5"):
        php_unserialize(b's:2:"\xc3(";')


# --- parsing ----------------------------------------------------------------------------------
def test_both_stored_forms_give_the_same_tree() -> None:
    expected = root(address("base_subtotal", ">=", "50"))
    assert parse_conditions(PHP_SUBTOTAL) == expected
    assert parse_conditions(JSON_SUBTOTAL) == expected
    assert parse_conditions(JSON_SUBTOTAL.encode()) == expected
    assert describe(parse_conditions(PHP_SUBTOTAL), NAMES) == "- Subtotal is at least 50.00 EUR"


@pytest.mark.parametrize("raw", [None, "", "  ", b"", "[]", "{}", "null", "a:0:{}", "N;"])
def test_nothing_stored_is_no_condition(raw: Any) -> None:
    assert parse_conditions(raw) is None


@pytest.mark.parametrize(("raw", "message"), [
    ('{"type": ', "not valid JSON"),
    ("hello", "neither JSON nor PHP serialize()"),
    ('["x"]', "a condition is a list, not an array"),
    ('{"attribute": "sku"}', "a condition has no type"),
    ('{"type": "X", "conditions": "nope"}', "the conditions of X are a str"),
    ('{"type": "X", "conditions": [5]}', "a condition is a int, not an array"),
    (b"\xff{", "invalid UTF-8 at byte 0"),
    ('a:1:{s:4:"type";O:8:"stdClass":0:{}}', "PHP objects and references are refused"),
    ('{"type": "X", "conditions": [' * 40 + "]}" * 40, "conditions nested too deeply"),
])
def test_malformed_conditions_raise_condition_error(raw: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_conditions(raw)


def test_php_arrays_of_conditions_keep_their_order() -> None:
    tree = {"type": SALES + "Combine", "aggregator": "any", "value": "1", "conditions": {
        1: {"type": SALES + "Address", "attribute": "weight", "operator": "<", "value": "5"},
        0: {"type": SALES + "Address", "attribute": "postcode", "operator": "{}", "value": "75"},
    }}
    parsed = parse_conditions(json.dumps(tree))
    assert parsed is not None
    assert [c.attribute for c in parsed.conditions] == ["weight", "postcode"]


# --- words ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("condition", "words"), [
    (address("base_subtotal", ">=", "50"), "Subtotal is at least 50.00 EUR"),
    (address("base_subtotal_with_discount", ">", "99.5"), "Subtotal after discount is more than 99.50 EUR"),
    (address("base_subtotal_total_incl_tax", "<", "20"), "Subtotal including tax is less than 20.00 EUR"),
    (address("total_qty", "<=", "3"), "Total quantity of items is at most 3"),
    (address("weight", "==", "2.50"), "Total weight is 2.5"),
    (address("country_id", "!=", "US"), "Shipping country is not US"),
    (address("country_id", "()", ["FR", "BE"]), "Shipping country is one of FR, BE"),
    (address("postcode", "{}", "75"), "Shipping postcode contains 75"),
    (address("region", "!{}", "Corse"), "Shipping region does not contain Corse"),
    (address("region_id", "==", "12"), "Shipping region id is 12"),
    (address("payment_method", "==", "checkmo"), "Payment method is checkmo"),
    (address("shipping_method", "!()", "flatrate_flatrate, tablerate_bestway"),
     "Shipping method is not one of flatrate_flatrate, tablerate_bestway"),
    (address("base_subtotal", ">=", "lots"), "Subtotal is at least lots"),
    (address("coupon_weirdness", "==", "x"), "coupon_weirdness is x"),
    (address("total_qty", "~", "3"), "Total quantity of items (~) 3"),
    (address("weight", "<=>", ""), "Total weight is undefined"),
    (product("sku", "==", "24-MB01"), "SKU is 24-MB01"),
    (product("sku", "()", "24-MB01, 24-MB04"), "SKU is one of 24-MB01, 24-MB04"),
    (product("category_ids", "==", "12"), "Category is Watches"),
    (product("category_ids", "==", "12, 13"), "Category is one of Watches, Bags"),
    (product("category_ids", "!()", "13,99"), "Category is not one of Bags, category id 99"),
    (product("color", "==", "5"), "Color is Blue"),
    (product("color", "()", ["5", "6", "7"]), "Color is one of Blue, Black, 7"),
    (product("material", "==", "Cotton"), "material is Cotton"),
    (product("attribute_set_id", "==", "4"), "Attribute set id is 4"),
    (product("quote_item_qty", ">=", "2"), "Quantity in cart is at least 2"),
    (product("quote_item_price", ">", "10"), "Price in cart is more than 10.00 EUR"),
    (product("quote_item_row_total", "<", "100"), "Row total in cart is less than 100.00 EUR"),
    (product("category_ids", "==", "12", CATALOG + "Product"), "Category is Watches"),
    (product("sku", "==", "", CATALOG + "Product"), "SKU is empty"),
    (Condition(type="Magento\\CustomerSegment\\Model\\Segment\\Condition\\Segment", attribute="segment",
               operator="==", value="3"),
     "a condition ragsync cannot show (Magento\\CustomerSegment\\Model\\Segment\\Condition\\Segment)"),
    (Condition(type=SALES + "Address"), f"a condition ragsync cannot show ({SALES}Address)"),
])
def test_each_condition_in_words(condition: Condition, words: str) -> None:
    assert describe(root(condition), NAMES) == f"- {words}"


def test_found_and_not_found_in_the_cart() -> None:
    sku = product("sku", "==", "MJ01")
    found = combine(SALES + "Product\\Found", sku, product("quote_item_qty", ">=", "2"))
    assert describe(root(found), NAMES) == (
        "- The cart has an item for which all of these are true:\n"
        "  - SKU is MJ01\n"
        "  - Quantity in cart is at least 2"
    )
    not_found = combine(SALES + "Product\\Found", sku, aggregator="any", value="0")
    assert describe(root(not_found), NAMES) == (
        "- The cart has no item for which at least one of these is true:\n  - SKU is MJ01")
    assert describe(root(combine(SALES + "Product\\Found")), NAMES) == "- The cart has at least one item"
    assert describe(root(combine(SALES + "Product\\Found", value="0")), NAMES) == "- The cart has no items"


def test_subselect_of_cart_items() -> None:
    quantity = Condition(type=SALES + "Product\\Subselect", attribute="qty", operator=">=", value="3",
                         aggregator="all", conditions=(product("category_ids", "==", "12"),))
    assert describe(root(quantity), NAMES) == (
        "- The total quantity of the cart items for which all of these are true is at least 3:\n"
        "  - Category is Watches"
    )
    amount = Condition(type=SALES + "Product\\Subselect", attribute="base_row_total", operator=">", value="100",
                       aggregator="all")
    assert describe(root(amount), NAMES) == "- The total amount of the cart items is more than 100.00 EUR"


def test_nested_all_and_any_true_and_false() -> None:
    tree = root(
        address("country_id", "==", "FR"),
        combine(SALES + "Combine", address("total_qty", ">", "2"), address("weight", "<", "5"), aggregator="any"),
        combine(SALES + "Combine", address("payment_method", "==", "free"), aggregator="all", value="0"),
        combine(SALES + "Combine", address("postcode", "{}", "75"),
                combine(SALES + "Combine", address("region", "==", "Corse"), aggregator="all"),
                aggregator="any", value="0"),
        combine(SALES + "Combine"),  # empty: no condition
    )
    assert describe(tree, NAMES) == (
        "- Shipping country is FR\n"
        "- At least one of these is true:\n"
        "  - Total quantity of items is more than 2\n"
        "  - Total weight is less than 5\n"
        "- None of these is true:\n"
        "  - Payment method is free\n"
        "- At least one of these is not true:\n"
        "  - Shipping postcode contains 75\n"
        "  - All of these are true:\n"
        "    - Shipping region is Corse"
    )


@pytest.mark.parametrize(("aggregator", "value", "intro"), [
    ("any", "1", "At least one of these is true:"),
    ("all", "0", "None of these is true:"),
    ("any", 0, "At least one of these is not true:"),
    ("all", False, "None of these is true:"),
    ("ANY", True, "At least one of these is true:"),
])
def test_the_root_says_how_its_conditions_combine(aggregator: str, value: Any, intro: str) -> None:
    tree = root(address("weight", ">", "1"), aggregator=aggregator, value=value)
    assert describe(tree, NAMES) == f"- {intro}\n  - Total weight is more than 1"


def test_no_condition_and_no_names() -> None:
    assert describe(None) is None
    assert describe(root()) is None
    assert describe(root(combine(SALES + "Combine"))) is None
    assert describe(combine("Magento\\CatalogRule\\Model\\Rule\\Action\\Collection")) is None
    # without names: ids, codes and amounts without a currency
    assert describe(root(product("category_ids", "==", "12"), product("color", "==", "5"),
                         address("base_subtotal", ">=", "50"))) == (
        "- Category is category id 12\n- color is 5\n- Subtotal is at least 50.00")
    # a tree that is not a combination is said alone
    assert describe(address("weight", ">", "1")) == "- Total weight is more than 1"


def test_references_collect_categories_attributes_and_their_values() -> None:
    tree = root(
        combine(SALES + "Product\\Found", product("category_ids", "()", "12, 13"), product("color", "==", "5")),
        product("color", "()", ["6", "x"]), product("sku", "==", "MJ01"), product("quote_item_qty", ">", "1"),
        product("category_ids", "==", 14, CATALOG + "Product"), address("region_id", "==", "12"),
    )
    found = references(tree)
    assert found.category_ids == {12, 13, 14}
    assert found.attribute_codes == {"color", "sku"}
    assert found.values == {"color": {5, 6}}
    references(None, found)
    assert found.category_ids == {12, 13, 14}


# --- discount sentence and content --------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (("by_percent", 0, "EUR", 0, None, "whole_shipment"), "Free shipping for the whole shipment"),
    (("by_fixed", 0.0, "EUR", 0, None, "matching_items"), "Free shipping for matching items"),
    (("cart_fixed", 0, "EUR"), "no discount"),
    (("buy_x_get_y", 0, "EUR", 2), "no discount"),
    (("to_percent", 0, "EUR"), "price set to 0% of the original"),
    (("by_percent", 15, "EUR", 0, None, "whole_shipment"), "15% off"),
])
def test_a_rule_that_takes_nothing_off_says_what_it_does(args: tuple[Any, ...], expected: str) -> None:
    assert discount_sentence(*args) == expected


PROMOTION: dict[str, Any] = {
    "rule_type": "cart", "name": "Spend 50, ship free", "label": "Spend 50, ship free", "currency": "EUR",
    "discount": {"simple_action": "by_percent", "amount": 0.0, "sentence": ""}, "free_shipping": "whole_shipment",
    "coupon_required": False, "customer_groups": ["General"], "websites": ["base"], "description": "Summer only.",
    "conditions": "- Subtotal is at least 50.00 EUR", "actions": "- SKU is MJ01",
}


def test_promotion_content_with_conditions_and_actions() -> None:
    assert promotion_content(PROMOTION) == (
        "# Spend 50, ship free\n\n"
        "- Type: Cart price rule\n"
        "- Discount: Free shipping for the whole shipment\n"
        "- Coupon required: no\n"
        "- Customer groups: General\n"
        "- Websites: base\n\n"
        "Summer only.\n\n"
        "## Conditions\n\n"
        "- Subtotal is at least 50.00 EUR\n\n"
        "## Applies to items\n\n"
        "- SKU is MJ01"
    )
    catalog = {**PROMOTION, "rule_type": "catalog", "free_shipping": None, "actions": None, "description": None,
               "discount": {"simple_action": "by_percent", "amount": 10.0, "sentence": "10% off"},
               "conditions": "- Category is Watches"}
    assert promotion_content(catalog) == (
        "# Spend 50, ship free\n\n"
        "- Type: Catalog price rule\n"
        "- Discount: 10% off\n"
        "- Coupon required: no\n"
        "- Customer groups: General\n"
        "- Websites: base\n\n"
        "## Applies to products\n\n"
        "- Category is Watches"
    )
    with_discount = {**PROMOTION, "discount": {"simple_action": "by_percent", "amount": 15.0, "sentence": ""},
                     "conditions": None, "actions": "", "description": None}
    assert promotion_content(with_discount) == (
        "# Spend 50, ship free\n\n"
        "- Type: Cart price rule\n"
        "- Discount: 15% off\n"
        "- Free shipping: for the whole shipment\n"
        "- Coupon required: no\n"
        "- Customer groups: General\n"
        "- Websites: base"
    )
