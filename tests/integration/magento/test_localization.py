"""Prices in the display currency and ragsync's own words in the store view's language (MariaDB, no mocks).

The demo shop's ``fr`` store view (2) is turned into a Vietnamese one with SQL: ``general/locale/code``
``vi_VN``, display currency VND (allowed, with a EUR -> VND rate in ``directory_currency_rate``). Its
names stay those of the fr store view (they are Magento's data); the words ragsync adds are
Vietnamese and prices are converted and written as vi_VN writes VND.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.integration.magento.test_categories import BAGS_FR

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.magento.categories import CategoryReader
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import ProductReader
from ragsync.settings import Settings, parse_settings
from ragsync_dev.demo.shop import ShopManifest

DEFAULT, VI = 1, 2
RATE = Decimal("27000.5")


def _config(db: Database, scope: str, scope_id: int, path: str, value: str) -> None:
    db.execute(f"INSERT INTO {db.table('core_config_data')} (scope, scope_id, path, value) VALUES (%s, %s, %s, %s)"
               " ON DUPLICATE KEY UPDATE value = VALUES(value)", (scope, scope_id, path, value))


def _vietnamese_store(db: Database, rate: Decimal | None = RATE) -> None:
    _config(db, "stores", VI, "general/locale/code", "vi_VN")
    _config(db, "stores", VI, "currency/options/allow", "EUR,VND")
    _config(db, "stores", VI, "currency/options/default", "VND")
    if rate is not None:
        db.execute(f"INSERT INTO {db.table('directory_currency_rate')} (currency_from, currency_to, rate)"
                   " VALUES ('EUR', 'VND', %s), ('EUR', 'USD', 1.08)", (rate,))


def _attribute_id(db: Database, code: str) -> int:
    return int(db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')} WHERE attribute_code = %s"
                         " AND entity_type_id = 4", (code,)))


def _products(db: Database, ids: list[int]) -> dict[tuple[int, int], Any]:
    batch = ProductReader(MagentoContext(db), Settings(), None, SHOP_NOW).read(ids)
    assert batch.problems == []
    return {(int(d.id), d.store_id): d.data for d in batch.documents}


def test_a_product_in_a_vietnamese_store_view_with_vnd(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    _vietnamese_store(db)
    pid, hoodie = shop_manifest.simple_with_overrides, shop_manifest.configurable
    # a special price in its window (open-ended), and the shop's own Vietnamese label for "price"
    db.execute(f"INSERT INTO {db.table('catalog_product_entity_decimal')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, 0, %s, 24.5)", (_attribute_id(db, "special_price"), pid))
    db.execute(f"INSERT INTO {db.table('eav_attribute_label')} (attribute_id, store_id, value) VALUES (%s, %s, %s)",
               (_attribute_id(db, "price"), VI, "Giá bán"))
    docs = _products(db, [pid, hoodie])

    data = docs[(pid, VI)]
    # 29.00 EUR and 24.50 EUR at 27000.5 VND per EUR, rounded to whole dong
    assert {k: data[k] for k in ("locale", "price", "special_price", "currency", "display_currency",
                                 "display_price", "display_special_price")} == {
        "locale": "vi_VN", "price": 29.0, "special_price": 24.5, "currency": "EUR", "display_currency": "VND",
        "display_price": 783015.0, "display_special_price": 661512.0}
    head = (
        "# T-shirt de fitness Aero Daily\n\n"
        "- Mã sản phẩm: RS-TEE-AERO\n"
        "- Giá bán: 783.015 ₫\n"
        "- Giá khuyến mãi: 661.512 ₫\n"
        "- Tình trạng: Còn hàng\n"
        "- Danh mục: Collections > Écoresponsable > Coton biologique; Hommes > Hauts > T-shirts\n"
        "- Couleur: Bleu\n"
        "- Matière: Coton, Polyester\n"
        "- Taille: Moyen\n\n"
        "T-shirt d'entraînement à séchage rapide.\n\n"
    )
    assert data["content"].startswith(head)
    assert data["content"].endswith("\n\nURL: https://magento.test/fr/t-shirt-fitness-aero-daily.html")

    configurable = docs[(hoodie, VI)]
    assert (configurable["price"], configurable["display_price"], configurable["display_currency"]) == (
        52.0, 1404026.0, "VND")
    assert [(v["price"], v["display_price"], v["display_special_price"]) for v in configurable["variants"]] == [
        (52.0, 1404026.0, None)] * 6
    assert (
        "- Mã sản phẩm: RS-HOODIE-CHAZ\n- Giá bán: 1.404.026 ₫\n- Tình trạng: Còn hàng\n"
        "- Danh mục: Hommes > Hauts > Sweats à capuche\n- Matière: Coton, Élasthanne\n\n"
        "## Biến thể\n\n"
        "| Mã sản phẩm | Tùy chọn | Giá bán | Tình trạng |\n"
        "| --- | --- | --- | --- |\n"
        "| RS-HOODIE-CHAZ-S-Black | Couleur: Noir, Taille: Petit | 1.404.026 ₫ | Còn hàng |\n"
    ) in configurable["content"]
    assert "| RS-HOODIE-CHAZ-L-Gray | Couleur: Gris, Taille: Grand | 1.404.026 ₫ | Hết hàng |\n" in (
        configurable["content"])

    # the default store view is untouched: English words, euros as en_US writes them
    english = docs[(pid, DEFAULT)]
    assert (english["display_currency"], english["display_price"], english["display_special_price"]) == (
        "EUR", 29.0, 24.5)
    assert "\n- SKU: RS-TEE-AERO\n- Price: €29.00\n- Special price: €24.50\n- Availability: In stock\n" in (
        english["content"])


def test_no_rate_means_the_base_currency(make_shop: Any, shop_manifest: ShopManifest) -> None:
    """Magento's Store::getCurrentCurrency(): without a rate from the base currency, prices stay in it."""
    db = make_shop(products=21)
    _vietnamese_store(db, rate=None)
    pid = shop_manifest.simple_with_overrides
    data = _products(db, [pid])[(pid, VI)]
    assert (data["currency"], data["display_currency"], data["display_price"]) == ("EUR", "EUR", 29.0)
    assert "\n- Giá: 29,00 €\n" in data["content"]


def test_display_currency_follows_magentos_rules(make_shop: Any) -> None:
    db = make_shop(products=21)
    _vietnamese_store(db)
    _config(db, "stores", DEFAULT, "currency/options/default", "USD")  # not allowed: the first allowed, EUR
    ctx = MagentoContext(db)
    assert {s.code: (s.currency, s.display_currency, s.display_rate) for s in ctx.stores} == {
        "default": ("EUR", "EUR", Decimal(1)), "fr": ("EUR", "VND", RATE), "outlet": ("GBP", "GBP", Decimal(1))}
    _config(db, "stores", DEFAULT, "currency/options/allow", "EUR,USD")
    assert MagentoContext(db).store(DEFAULT).display_currency == "USD"
    assert MagentoContext(db).store(DEFAULT).display_rate == Decimal("1.08")


def test_a_category_in_a_vietnamese_store_view(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    _vietnamese_store(db)
    bags = shop_manifest.gear_bags
    reader = CategoryReader(MagentoContext(db), parse_settings(None), None, SHOP_NOW)
    docs = {(int(d.id), d.store_id): d.data for d in reader.read([bags]).documents}
    # the French store view's document, in Vietnamese: only the locale and ragsync's own words change
    assert docs[(bags, VI)] == {
        **BAGS_FR, "locale": "vi_VN",
        "content": "# Sacs\n\n- Đường dẫn: Équipement > Sacs\n\nURL: https://magento.test/fr/equipement/sacs.html"}
    assert docs[(bags, DEFAULT)]["content"] == (
        "# Bags\n\n- Path: Gear > Bags\n\nURL: https://magento.test/gear/bags.html")
