"""The Markdown content of each document type, asserted as full strings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ragsync.documents.render import (
    category_content,
    cms_block_content,
    cms_page_content,
    discount_sentence,
    money,
    number,
    product_content,
    promotion_content,
)
from ragsync.documents.words import words_for

PRODUCT: dict[str, Any] = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-02T10:30:00Z",
    "sku": "MJ01",
    "name": "Beaumont  Summit Kit",
    "type_id": "configurable",
    "price": 42.0,
    "special_price": 35.5,
    "currency": "USD",
    "in_stock": True,
    "categories": ["Jackets", "Promotions"],
    "category_paths": ["Men > Tops > Jackets", "Promotions > Men Sale"],
    "attributes": {"material": ["Fleece", "Nylon"], "eco_collection": "No", "climate": ["Cool", "Windy"],
                   "pattern": "Solid | plain"},
    "variants": [
        {"sku": "MJ01-XS-Orange", "options": {"Size": "XS", "Color": "Orange"}, "in_stock": True,
         "price": 42.0, "special_price": None},
        {"sku": "MJ01-S-Red", "options": {"Size": "S", "Color": "Red"}, "in_stock": False,
         "price": 44.0, "special_price": 39.5},
    ],
    "short_description": "Light, warm and *windproof*.",
    "description": "## Details\n\n- Reflective piping\n- Two zip pockets",
    "images": ["https://shop.example.com/media/catalog/product/m/j/mj01.jpg"],
    "visibility": "Catalog, Search",
    "status": "Enabled",
    "url": "https://shop.example.com/beaumont-summit-kit.html",
}
LABELS = {"material": "Material", "climate": "Climate", "pattern": "Pattern"}

PRODUCT_MARKDOWN = """\
# Beaumont Summit Kit

- SKU: MJ01
- Price: $42.00
- Special price: $35.50
- Availability: In stock
- Categories: Men > Tops > Jackets; Promotions > Men Sale
- Climate: Cool, Windy
- Eco collection: No
- Material: Fleece, Nylon
- Pattern: Solid | plain

## Variants

| SKU | Options | Price | Availability |
| --- | --- | --- | --- |
| MJ01-XS-Orange | Size: XS, Color: Orange | $42.00 | In stock |
| MJ01-S-Red | Size: S, Color: Red | $44.00, special price $39.50 | Out of stock |

Light, warm and *windproof*.

## Details

- Reflective piping
- Two zip pockets

URL: https://shop.example.com/beaumont-summit-kit.html"""


def test_product_content() -> None:
    assert product_content(PRODUCT, LABELS) == PRODUCT_MARKDOWN


def test_product_content_shows_display_prices_in_the_locale_and_its_words() -> None:
    data = {**PRODUCT, "locale": "vi_VN", "display_currency": "VND", "display_price": 1050000.0,
            "display_special_price": 887500.0,
            "variants": [{"sku": "MJ01-S-Red", "options": {"Size": "S"}, "in_stock": False, "price": 44.0,
                          "special_price": 39.5, "display_price": 1100000.0, "display_special_price": 987500.0}]}
    shown = product_content(data, LABELS)
    assert shown.startswith(
        "# Beaumont Summit Kit\n\n- Mã sản phẩm: MJ01\n- Giá: 1.050.000 ₫\n- Giá khuyến mãi: 887.500 ₫\n"
        "- Tình trạng: Còn hàng\n- Danh mục: Men > Tops > Jackets; Promotions > Men Sale\n")
    assert ("## Biến thể\n\n| Mã sản phẩm | Tùy chọn | Giá | Tình trạng |\n| --- | --- | --- | --- |\n"
            "| MJ01-S-Red | Size: S | 1.100.000 ₫, giá khuyến mãi 987.500 ₫ | Hết hàng |") in shown
    assert shown.endswith("\n\nURL: https://shop.example.com/beaumont-summit-kit.html")


def test_product_content_words_can_come_from_the_reader() -> None:
    words = words_for("fr_FR", {"price": "Tarif"})
    shown = product_content({**PRODUCT, "locale": "fr_FR", "variants": []}, LABELS, words=words)
    assert "- Référence: MJ01\n- Tarif: 42,00 $US\n- Prix spécial: 35,50 $US\n- Disponibilité: En stock\n" in shown


def test_product_content_leaves_out_empty_fields() -> None:
    data = {"sku": "24-MB01", "name": "Joust Duffle Bag", "price": Decimal("34.000000"), "currency": "EUR",
            "special_price": 40.0, "in_stock": False, "categories": ["Bags"], "category_paths": [],
            "attributes": {}, "short_description": None, "description": "", "url": None}
    assert product_content(data) == (
        "# Joust Duffle Bag\n\n- SKU: 24-MB01\n- Price: 34.00 EUR\n- Availability: Out of stock\n- Categories: Bags")


def test_product_content_is_deterministic_whatever_the_key_order() -> None:
    shuffled = dict(reversed(list(PRODUCT.items())))
    shuffled["attributes"] = dict(reversed(list(PRODUCT["attributes"].items())))
    assert product_content(shuffled, LABELS) == PRODUCT_MARKDOWN


PROMOTION: dict[str, Any] = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": None,
    "rule_type": "cart",
    "name": "Summer Sale",
    "description": "Applies to **all** jackets.",
    "label": "20% off all jackets",
    "from_date": "2026-06-01",
    "to_date": "2026-06-30",
    "discount": {"simple_action": "by_percent", "amount": 20.0, "sentence": "20% off",
                 "discount_qty": None, "discount_step": 0},
    "coupon_required": True,
    "coupon_code": "SUMMER20",
    "customer_groups": ["General", "Wholesale"],
    "websites": ["base"],
    "sort_order": 0,
    "stop_rules_processing": False,
    "apply_to_shipping": False,
    "free_shipping": "matching_items",
}

PROMOTION_MARKDOWN = """\
# Summer Sale

- Label: 20% off all jackets
- Type: Cart price rule
- Discount: 20% off
- Free shipping: for matching items
- Valid from 2026-06-01 to 2026-06-30
- Coupon required: yes
- Coupon code: SUMMER20
- Customer groups: General, Wholesale
- Websites: base

Applies to **all** jackets."""


def test_promotion_content() -> None:
    assert promotion_content(PROMOTION) == PROMOTION_MARKDOWN


def test_catalog_promotion_without_sentence_dates_or_coupon_code() -> None:
    data = {"rule_type": "catalog", "name": "Bags 9.99", "label": "Bags 9.99", "from_date": None,
            "to_date": date(2026, 12, 31), "discount": {"simple_action": "to_fixed", "amount": 9.99},
            "currency": "EUR", "coupon_required": False, "coupon_code": None, "customer_groups": ["NOT LOGGED IN"],
            "websites": [], "description": None}
    assert promotion_content(data) == (
        "# Bags 9.99\n\n- Type: Catalog price rule\n- Discount: price set to 9.99 EUR\n"
        "- Valid until 2026-12-31\n- Coupon required: no\n- Customer groups: NOT LOGGED IN")


def test_category_content() -> None:
    data = {"name": "Bags", "path": "Gear > Bags", "level": 3, "parent_id": 3, "is_active": True,
            "include_in_menu": True, "description": "Carry **everything**.",
            "url": "https://shop.example.com/gear/bags.html"}
    assert category_content(data) == (
        "# Bags\n\n- Path: Gear > Bags\n\nCarry **everything**.\n\nURL: https://shop.example.com/gear/bags.html")
    assert category_content({"name": "Bags", "path": "1/2/4", "description": None}) == "# Bags"


def test_cms_page_content() -> None:
    data = {"identifier": "about-us", "title": "About us", "content_heading": "Our story",
            "document_type": "about", "url": "https://shop.example.com/about-us"}
    body = "# About us\n\nWe make bags since 1999.\n\n## Team\n\nTen people."
    assert cms_page_content(data, body) == (
        "# About us\n\n## Our story\n\nWe make bags since 1999.\n\n## Team\n\nTen people.\n\n"
        "URL: https://shop.example.com/about-us")


def test_cms_page_body_can_come_from_data() -> None:
    data = {"identifier": "faq", "title": "FAQ", "content_heading": "FAQ", "content": "Ask us anything."}
    assert cms_page_content(data) == "# FAQ\n\nAsk us anything."
    assert cms_page_content({"identifier": "empty", "title": "", "content_heading": None}) == "# empty"


def test_cms_block_content() -> None:
    assert cms_block_content({"identifier": "footer-links", "title": "Footer links"}, "- [About](https://e.com/a)\n") == (
        "# Footer links\n\n- [About](https://e.com/a)")
    assert cms_block_content({"identifier": "promo", "title": None, "content": "Free shipping"}) == (
        "# promo\n\nFree shipping")


@pytest.mark.parametrize(("args", "expected"), [
    (("by_percent", 20.0), "20% off"),
    (("by_percent", 12.5), "12.5% off"),
    (("by_percent", Decimal("15.000000")), "15% off"),
    (("by_percent", 33.333), "33.33% off"),
    (("by_percent", 10, None, None, 3.0), "10% off (up to 3 items)"),
    (("by_percent", 10, None, None, 1), "10% off (up to 1 item)"),
    (("by_fixed", 5, "USD"), "5.00 USD off each item"),
    (("by_fixed", 5), "5.00 off each item"),
    (("cart_fixed", 10, "USD"), "10.00 USD off the cart"),
    (("cart_fixed", 10, "USD", None, 2), "10.00 USD off the cart"),
    (("buy_x_get_y", 1, None, 2), "Buy 2, get 1 free"),
    (("buy_x_get_y", 1.0, "USD", 3, 6), "Buy 3, get 1 free (up to 6 items)"),
    (("buy_x_get_y", 1), "Get 1 free"),
    (("to_percent", 80), "price set to 80% of the original"),
    (("to_fixed", 9.99, "USD"), "price set to 9.99 USD"),
    (("to_fixed", Decimal("9.990000"), "EUR"), "price set to 9.99 EUR"),
    (("mystery", 3), "discount of 3 (mystery)"),
])
def test_discount_sentence(args: tuple[Any, ...], expected: str) -> None:
    assert discount_sentence(*args) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (19.9, "19.90"), (20, "20.00"), (Decimal("0.125"), "0.125"), (Decimal("1234.500000"), "1234.50"),
    (0.1234567, "0.123457"), (None, "0.00"),
])
def test_money(value: Any, expected: str) -> None:
    assert money(value) == expected


def test_number() -> None:
    assert [number(v) for v in (20.0, 12.5, 12.555, 0, Decimal("-0.001"))] == ["20", "12.5", "12.56", "0", "0"]


def test_promotion_content_in_the_store_views_language() -> None:
    data = {**PROMOTION, "locale": "fr_CA", "currency": "EUR",
            "discount": {"simple_action": "cart_fixed", "amount": 1234.5, "discount_qty": None, "discount_step": 0},
            "free_shipping": "whole_shipment", "coupon_required": False, "coupon_code": None}
    assert promotion_content(data) == (
        "# Summer Sale\n\n- Libellé: 20% off all jackets\n- Type: Règle de prix panier\n"
        "- Remise: 1 234,50 € de remise sur le panier\n- Livraison gratuite: pour toute la commande\n"
        "- Valable du 2026-06-01 au 2026-06-30\n- Code promo requis: non\n"
        "- Groupes de clients: General, Wholesale\n- Sites web: base\n\nApplies to **all** jackets.")


def test_free_shipping_is_said_once_in_any_language() -> None:
    data = {**PROMOTION, "locale": "vi_VN", "discount": {"simple_action": "by_percent", "amount": 0},
            "free_shipping": "matching_items", "label": "Summer Sale", "coupon_required": None,
            "from_date": None, "to_date": None, "customer_groups": [], "websites": [], "description": None}
    assert promotion_content(data) == (
        "# Summer Sale\n\n- Loại: Quy tắc giá giỏ hàng\n- Giảm giá: Miễn phí vận chuyển cho các sản phẩm phù hợp\n"
        "- Mã giảm giá: SUMMER20")


@pytest.mark.parametrize(("args", "locale", "expected"), [
    (("by_fixed", 5, "EUR", None, 1), "en_US", "€5.00 off each item (up to 1 item)"),
    (("by_percent", 12.5, None, None, 3), "fr_FR", "12,5 % de remise (3 articles maximum)"),
    (("cart_fixed", 200000, "VND"), "vi_VN", "giảm 200.000 ₫ cho giỏ hàng"),
    (("buy_x_get_y", 1, None, 2), "de_DE", "Kaufe 2, erhalte 1 gratis"),
    (("to_fixed", 9.99, "GBP"), "en_GB", "price set to £9.99"),
    (("by_percent", 0, None, None, None, "whole_shipment"), "ar_SA", "شحن مجاني للشحنة بالكامل"),
    (("by_percent", 10), "pl_PL", "10% off"),
])
def test_discount_sentence_in_a_locale(args: tuple[Any, ...], locale: str, expected: str) -> None:
    assert discount_sentence(*args, locale=locale) == expected


def test_category_content_in_the_store_views_language() -> None:
    data = {"locale": "vi_VN", "name": "Túi", "path": "Phụ kiện > Túi", "description": None,
            "url": "https://shop.example.com/vi/tui.html"}
    assert category_content(data) == "# Túi\n\n- Đường dẫn: Phụ kiện > Túi\n\nURL: https://shop.example.com/vi/tui.html"
    assert category_content({**data, "locale": "ar_AE"}) == (
        "# Túi\n\n- المسار: Phụ kiện > Túi\n\nالرابط: https://shop.example.com/vi/tui.html")
