"""The product reader against the generated demo shop on a real MariaDB (no mocks).

Expected documents are written out by hand from the rows the generator writes for its
well-known products (``ragsync_dev.demo.shop``: ``_fixed_products`` and ``shop_content.AERO_TEE_*``)
at ``SHOP_NOW`` = 2026-01-15 12:00 UTC. ``updated_at`` is ``now - (60 + id * 37 % 1380)`` minutes.
Store views: ``default`` (1) and ``fr`` (2) on website ``base`` (root "Default Category"),
``outlet`` (3) on website ``outlet`` (root "Outlet Root"), all on timezone-aware local dates.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import Document, ReadBatch
from ragsync.errors import UnknownStoreError
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import ProductReader
from ragsync.settings import Settings, parse_settings
from ragsync_dev.demo.shop import ShopManifest

DEFAULT, FR, OUTLET = 1, 2, 3

# --- product 1 "simple_with_overrides": Aero Daily Fitness Tee -----------------------------------------
AERO_DESCRIPTION = (
    "## Aero Daily Fitness Tee\n\n"
    "The **Aero Daily Fitness Tee** is the shirt you reach for every morning: quick-drying, soft and cut "
    "for movement.\n\n"
    "![Fabric close-up](https://magento.test/media/wysiwyg/products/aero-tee-fabric.jpg)\n\n"
    "### Features\n\n"
    "- Quick-drying recycled polyester and organic cotton\n"
    "- Flatlock seams\n"
    "- Odour control finish\n\n"
    "### Specifications\n\n"
    "| Property | Value |\n"
    "| --- | --- |\n"
    "| Weight | 140 g |\n"
    "| Fit | Regular |\n"
    "| Care | Machine wash 30 °C |\n\n"
    "![Aero Daily Fitness Tee fabric detail](https://magento.test/media/wysiwyg/products/aero-tee-detail.jpg)\n\n"
    "Not sure about your size? [See the size guide](https://magento.test/size-guide)."
)
AERO_DESCRIPTION_FR = (
    "## T-shirt de fitness Aero Daily\n\n"
    "Le **T-shirt de fitness Aero Daily** est celui que vous enfilez chaque matin : séchage rapide, doux et "
    "coupé pour le mouvement.\n\n"
    "### Caractéristiques\n\n"
    "- Polyester recyclé et coton biologique à séchage rapide\n"
    "- Coutures plates\n"
    "- Traitement anti-odeurs\n\n"
    "![Détail du tissu](https://magento.test/media/wysiwyg/products/aero-tee-detail.jpg)"
)
AERO_IMAGES = "https://magento.test/media/catalog/product/a/e/aero-daily-fitness-tee-"

AERO_DEFAULT: dict[str, Any] = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T10:23:00Z",
    "url": "https://magento.test/aero-daily-fitness-tee.html",
    "sku": "RS-TEE-AERO",
    "name": "Aero Daily Fitness Tee",
    "type_id": "simple",
    "description": AERO_DESCRIPTION,
    "short_description": "Quick-drying everyday training tee.",
    "price": 29.0,
    "special_price": None,
    "currency": "EUR",
    "display_currency": "EUR",
    "display_price": 29.0,
    "display_special_price": None,
    "in_stock": True,
    "categories": ["Organic Cotton", "Tees"],
    "category_paths": ["Collections > Eco Friendly > Organic Cotton", "Men > Tops > Tees"],
    "attributes": {"color": "Blue", "material": ["Cotton", "Polyester"], "size": "M"},
    # base image first, then the gallery by position; the third image is disabled
    "images": [AERO_IMAGES + "1.jpg", AERO_IMAGES + "2.jpg"],
    "visibility": "Catalog, Search",
    "status": "Enabled",
    "meta_title": "Aero Daily Fitness Tee | Demo Shop",
    "meta_description": "The quick-drying Aero Daily Fitness Tee for training and everyday wear.",
    "meta_keywords": "tee, fitness, running, aero",
    "content": (
        "# Aero Daily Fitness Tee\n\n"
        "- SKU: RS-TEE-AERO\n"
        "- Price: €29.00\n"
        "- Availability: In stock\n"
        "- Categories: Collections > Eco Friendly > Organic Cotton; Men > Tops > Tees\n"
        "- Color: Blue\n"
        "- Material: Cotton, Polyester\n"
        "- Size: M\n\n"
        "Quick-drying everyday training tee.\n\n"
        + AERO_DESCRIPTION
        + "\n\nURL: https://magento.test/aero-daily-fitness-tee.html"
    ),
}

AERO_FR: dict[str, Any] = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T10:23:00Z",
    "url": "https://magento.test/fr/t-shirt-fitness-aero-daily.html",
    "sku": "RS-TEE-AERO",
    "name": "T-shirt de fitness Aero Daily",
    "type_id": "simple",
    "description": AERO_DESCRIPTION_FR,
    "short_description": "T-shirt d'entraînement à séchage rapide.",
    "price": 29.0,
    "special_price": None,
    "currency": "EUR",
    "display_currency": "EUR",
    "display_price": 29.0,
    "display_special_price": None,
    "in_stock": True,
    "categories": ["Coton biologique", "T-shirts"],
    "category_paths": ["Collections > Écoresponsable > Coton biologique", "Hommes > Hauts > T-shirts"],
    "attributes": {"color": "Bleu", "material": ["Coton", "Polyester"], "size": "Moyen"},
    # the fr base image is the second gallery image
    "images": [AERO_IMAGES + "2.jpg", AERO_IMAGES + "1.jpg"],
    "visibility": "Catalog, Search",
    "status": "Enabled",
    "meta_title": "T-shirt de fitness Aero Daily | Demo Shop",
    "meta_description": "Le T-shirt Aero Daily à séchage rapide pour l'entraînement.",
    "meta_keywords": "tee, fitness, running, aero",
    "content": (
        "# T-shirt de fitness Aero Daily\n\n"
        "- Référence: RS-TEE-AERO\n"
        "- Prix: 29,00 €\n"
        "- Disponibilité: En stock\n"
        "- Catégories: Collections > Écoresponsable > Coton biologique; Hommes > Hauts > T-shirts\n"
        "- Couleur: Bleu\n"
        "- Matière: Coton, Polyester\n"
        "- Taille: Moyen\n\n"
        "T-shirt d'entraînement à séchage rapide.\n\n"
        + AERO_DESCRIPTION_FR
        + "\n\nURL: https://magento.test/fr/t-shirt-fitness-aero-daily.html"
    ),
}


# --- product 2 "configurable": Chaz Kangeroo Hoodie, children 3-8 (the last one out of stock) -----------
def hoodie_description(store_url: str) -> str:
    """Return the hoodie's description Markdown; ``{{store url="size-guide"}}`` depends on the store view."""
    return (
        "Meet the Chaz Kangeroo Hoodie. Designed with athletes and tested on the trails, it combines comfort "
        "and durability.\n\n"
        "### Features\n\n"
        "- Kangaroo pocket\n"
        "- Flatlock seams against chafing\n"
        "- Brushed inside for warmth\n"
        "- Ribbed cuffs and hem\n\n"
        "### Specifications\n\n"
        "| Property | Value |\n"
        "| --- | --- |\n"
        "| Weight | 339 g |\n"
        "| Fit | Relaxed |\n"
        "| Care | Machine wash 30 °C |\n\n"
        "![Chaz Kangeroo Hoodie](https://magento.test/media/wysiwyg/products/chaz-hoodie.jpg)\n\n"
        "*Part of our eco-friendly collection: at least 50% recycled content. "
        f"[See the size guide]({store_url}size-guide).*"
    )


HOODIE_IMAGES = [
    "https://magento.test/media/catalog/product/c/h/chaz-kangeroo-hoodie-1.jpg",
    "https://magento.test/media/catalog/product/c/h/chaz-kangeroo-hoodie-2.jpg",
]
HOODIE_DEFAULT: dict[str, Any] = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T09:46:00Z",
    "url": "https://magento.test/chaz-kangeroo-hoodie.html",
    "sku": "RS-HOODIE-CHAZ",
    "name": "Chaz Kangeroo Hoodie",
    "type_id": "configurable",
    "description": hoodie_description("https://magento.test/"),
    "short_description": "A warm, brushed hoodie with a kangaroo pocket.",
    # the lowest price of its enabled, in-stock children (the out-of-stock L-Gray does not count)
    "price": 52.0,
    "special_price": None,
    "currency": "EUR",
    "display_currency": "EUR",
    "display_price": 52.0,
    "display_special_price": None,
    "in_stock": True,
    "categories": ["Hoodies & Sweatshirts"],
    "category_paths": ["Men > Tops > Hoodies & Sweatshirts"],
    "attributes": {"material": ["Cotton", "Elastane"]},
    "images": HOODIE_IMAGES,
    "visibility": "Catalog, Search",
    "status": "Enabled",
    "meta_title": None,
    "meta_description": None,
    "meta_keywords": None,
    "variants": [
        {"sku": "RS-HOODIE-CHAZ-S-Black", "options": {"Color": "Black", "Size": "S"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-M-Black", "options": {"Color": "Black", "Size": "M"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-L-Black", "options": {"Color": "Black", "Size": "L"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-S-Gray", "options": {"Color": "Gray", "Size": "S"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-M-Gray", "options": {"Color": "Gray", "Size": "M"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-L-Gray", "options": {"Color": "Gray", "Size": "L"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": False},
    ],
    "content": (
        "# Chaz Kangeroo Hoodie\n\n"
        "- SKU: RS-HOODIE-CHAZ\n"
        "- Price: €52.00\n"
        "- Availability: In stock\n"
        "- Categories: Men > Tops > Hoodies & Sweatshirts\n"
        "- Material: Cotton, Elastane\n\n"
        "## Variants\n\n"
        "| SKU | Options | Price | Availability |\n"
        "| --- | --- | --- | --- |\n"
        "| RS-HOODIE-CHAZ-S-Black | Color: Black, Size: S | €52.00 | In stock |\n"
        "| RS-HOODIE-CHAZ-M-Black | Color: Black, Size: M | €52.00 | In stock |\n"
        "| RS-HOODIE-CHAZ-L-Black | Color: Black, Size: L | €52.00 | In stock |\n"
        "| RS-HOODIE-CHAZ-S-Gray | Color: Gray, Size: S | €52.00 | In stock |\n"
        "| RS-HOODIE-CHAZ-M-Gray | Color: Gray, Size: M | €52.00 | In stock |\n"
        "| RS-HOODIE-CHAZ-L-Gray | Color: Gray, Size: L | €52.00 | Out of stock |\n\n"
        "A warm, brushed hoodie with a kangaroo pocket.\n\n"
        + hoodie_description("https://magento.test/")
        + "\n\nURL: https://magento.test/chaz-kangeroo-hoodie.html"
    ),
}
HOODIE_FR: dict[str, Any] = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T09:46:00Z",
    "url": "https://magento.test/fr/sweat-capuche-chaz-kangeroo.html",
    "sku": "RS-HOODIE-CHAZ",
    "name": "Sweat à capuche Chaz Kangeroo",
    "type_id": "configurable",
    # no French description: the store 0 one, its {{store url}} rendered with the fr link URL
    "description": hoodie_description("https://magento.test/fr/"),
    "short_description": "A warm, brushed hoodie with a kangaroo pocket.",
    "price": 52.0,
    "special_price": None,
    "currency": "EUR",
    "display_currency": "EUR",
    "display_price": 52.0,
    "display_special_price": None,
    "in_stock": True,
    "categories": ["Sweats à capuche"],
    "category_paths": ["Hommes > Hauts > Sweats à capuche"],
    "attributes": {"material": ["Coton", "Élasthanne"]},
    "images": HOODIE_IMAGES,
    "visibility": "Catalog, Search",
    "status": "Enabled",
    "meta_title": None,
    "meta_description": None,
    "meta_keywords": None,
    "variants": [
        {"sku": "RS-HOODIE-CHAZ-S-Black", "options": {"Couleur": "Noir", "Taille": "Petit"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-M-Black", "options": {"Couleur": "Noir", "Taille": "Moyen"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-L-Black", "options": {"Couleur": "Noir", "Taille": "Grand"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-S-Gray", "options": {"Couleur": "Gris", "Taille": "Petit"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-M-Gray", "options": {"Couleur": "Gris", "Taille": "Moyen"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": True},
        {"sku": "RS-HOODIE-CHAZ-L-Gray", "options": {"Couleur": "Gris", "Taille": "Grand"}, "price": 52.0,
         "special_price": None, "display_price": 52.0, "display_special_price": None, "in_stock": False},
    ],
    "content": (
        "# Sweat à capuche Chaz Kangeroo\n\n"
        "- Référence: RS-HOODIE-CHAZ\n"
        "- Prix: 52,00 €\n"
        "- Disponibilité: En stock\n"
        "- Catégories: Hommes > Hauts > Sweats à capuche\n"
        "- Matière: Coton, Élasthanne\n\n"
        "## Variantes\n\n"
        "| Référence | Options | Prix | Disponibilité |\n"
        "| --- | --- | --- | --- |\n"
        "| RS-HOODIE-CHAZ-S-Black | Couleur: Noir, Taille: Petit | 52,00 € | En stock |\n"
        "| RS-HOODIE-CHAZ-M-Black | Couleur: Noir, Taille: Moyen | 52,00 € | En stock |\n"
        "| RS-HOODIE-CHAZ-L-Black | Couleur: Noir, Taille: Grand | 52,00 € | En stock |\n"
        "| RS-HOODIE-CHAZ-S-Gray | Couleur: Gris, Taille: Petit | 52,00 € | En stock |\n"
        "| RS-HOODIE-CHAZ-M-Gray | Couleur: Gris, Taille: Moyen | 52,00 € | En stock |\n"
        "| RS-HOODIE-CHAZ-L-Gray | Couleur: Gris, Taille: Grand | 52,00 € | En rupture de stock |\n\n"
        "A warm, brushed hoodie with a kangaroo pocket.\n\n"
        + hoodie_description("https://magento.test/fr/")
        + "\n\nURL: https://magento.test/fr/sweat-capuche-chaz-kangeroo.html"
    ),
}


def reader(db: Database, settings: Settings | None = None, now: datetime = SHOP_NOW,
           stores: list[str] | None = None) -> ProductReader:
    """Return a product reader on a shop database."""
    ctx = MagentoContext(db)
    views = ctx.select_stores(stores) if stores is not None else None
    return ProductReader(ctx, settings or Settings(), views, now)


def by_key(batch: ReadBatch | list[Document]) -> dict[tuple[int, int], Document]:
    """Return documents by (entity id, store id)."""
    documents = batch.documents if isinstance(batch, ReadBatch) else batch
    return {(int(d.id), d.store_id): d for d in documents}


def test_simple_product_with_store_overrides(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    pid = shop_manifest.simple_with_overrides
    batch = reader(demo_shop).read([pid])
    docs = by_key(batch)
    assert batch.problems == []
    assert docs[(pid, DEFAULT)].action == "save"
    assert docs[(pid, DEFAULT)].data == AERO_DEFAULT
    assert docs[(pid, FR)].data == AERO_FR
    assert docs[(pid, DEFAULT)].timestamp == SHOP_NOW
    # on the outlet website: its own base URL, currency, root category and the "Size (UK)" label
    outlet = docs[(pid, OUTLET)].data
    assert outlet is not None
    assert (outlet["url"], outlet["currency"], outlet["category_paths"], outlet["images"][0]) == (
        "https://outlet.magento.test/aero-daily-fitness-tee.html", "GBP", ["Clearance > Men > Tees"],
        "https://outlet.magento.test/media/catalog/product/a/e/aero-daily-fitness-tee-1.jpg")
    assert "- Size (UK): M" in outlet["content"]


def test_configurable_product_and_its_variants(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    pid = shop_manifest.configurable
    docs = by_key(reader(demo_shop).read([pid]))
    assert docs[(pid, DEFAULT)].data == HOODIE_DEFAULT
    assert docs[(pid, FR)].data == HOODIE_FR
    # only on the base website
    assert docs[(pid, OUTLET)].action == "delete" and docs[(pid, OUTLET)].data is None
    # read alone, its children (3-8) were read by the children's own queries; read with them in
    # the chunk, from the chunk's rows: the same document
    with_children = by_key(reader(demo_shop).read(list(range(pid, pid + 7))))
    assert with_children[(pid, DEFAULT)].data == HOODIE_DEFAULT
    assert with_children[(pid, FR)].data == HOODIE_FR


def test_variants_follow_child_status_and_stock(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    status = db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')} WHERE attribute_code = 'status'"
                       " AND entity_type_id = 4")
    children = shop_manifest.configurable_children
    # the first child disabled in fr only; every in-stock child out of stock -> parent out of stock
    db.execute(f"INSERT INTO {db.table('catalog_product_entity_int')} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, %s, %s, 2)", (status, FR, children[0]))
    db.execute(f"UPDATE {db.table('cataloginventory_stock_item')} SET is_in_stock = 0 WHERE product_id IN"
               f" ({', '.join(['%s'] * len(children))})", children)
    docs = by_key(reader(db).read([shop_manifest.configurable]))
    default, fr = docs[(shop_manifest.configurable, DEFAULT)].data, docs[(shop_manifest.configurable, FR)].data
    assert default is not None and fr is not None
    assert [v["sku"] for v in default["variants"]] == [v["sku"] for v in HOODIE_DEFAULT["variants"]]
    assert [v["sku"] for v in fr["variants"]] == [v["sku"] for v in HOODIE_FR["variants"][1:]]
    assert default["in_stock"] is False and fr["in_stock"] is False
    assert all(v["in_stock"] is False for v in default["variants"])


def test_disabled_product_is_a_delete_unless_included(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    pid = shop_manifest.disabled_product
    docs = by_key(reader(demo_shop).read([pid]))
    assert {k: d.action for k, d in docs.items()} == {(pid, DEFAULT): "delete", (pid, FR): "delete",
                                                    (pid, OUTLET): "delete"}
    included = by_key(reader(demo_shop, parse_settings({"products": {"include_disabled": True}})).read([pid]))
    data = included[(pid, DEFAULT)].data
    assert data is not None
    assert (data["sku"], data["name"], data["status"], data["visibility"], data["price"]) == (
        "RS-BAG-RETIRED", "Retired Messenger Bag", "Disabled", "Catalog, Search", 45.0)
    assert included[(pid, OUTLET)].action == "delete"  # not in the outlet website either way


def test_status_is_read_per_store_view_with_fallback(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    juno, sol = shop_manifest.disabled_in_outlet, shop_manifest.enabled_by_store_override
    docs = by_key(reader(demo_shop).read([juno, sol]))
    assert {k: d.action for k, d in docs.items()} == {
        (juno, DEFAULT): "save", (juno, FR): "save", (juno, OUTLET): "delete",  # status 2 in store 3 only
        (sol, DEFAULT): "save", (sol, FR): "save", (sol, OUTLET): "delete",  # 2 at store 0, 1 in stores 1, 2
    }
    assert docs[(sol, FR)].data is not None and docs[(sol, FR)].data["status"] == "Enabled"


def test_not_visible_products_are_deletes(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    child, clamber = shop_manifest.not_visible_child, shop_manifest.not_visible_in_fr
    docs = by_key(reader(demo_shop).read([child, clamber]))
    assert {k: d.action for k, d in docs.items()} == {
        (child, DEFAULT): "delete", (child, FR): "delete", (child, OUTLET): "delete",
        (clamber, DEFAULT): "save", (clamber, FR): "delete", (clamber, OUTLET): "delete",
    }
    # include_disabled does not bring back invisible products
    included = by_key(reader(demo_shop, parse_settings({"products": {"include_disabled": True}})).read([child]))
    assert included[(child, DEFAULT)].action == "delete"


def test_missing_product_is_a_delete_everywhere(demo_shop: Database) -> None:
    docs = by_key(reader(demo_shop).read([987654]))
    assert {k: d.action for k, d in docs.items()} == {(987654, DEFAULT): "delete", (987654, FR): "delete",
                                                      (987654, OUTLET): "delete"}


def _special(db: Database, pid: int, now: datetime, store: int = DEFAULT) -> Any:
    data = by_key(reader(db, now=now).read([pid]))[(pid, store)].data
    assert data is not None
    return data["special_price"]


def test_special_price_only_inside_its_window(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    m = shop_manifest
    # SHOP_NOW's local date is 2026-01-15 (13:00 in Paris)
    assert _special(demo_shop, m.special_past, SHOP_NOW) is None  # 2025-12-16 .. 2026-01-05
    assert _special(demo_shop, m.special_current, SHOP_NOW) == 24.0  # 2026-01-10 .. 2026-01-20
    assert _special(demo_shop, m.special_future, SHOP_NOW) is None  # 2026-01-25 .. 2026-02-04
    assert _special(demo_shop, m.special_no_dates, SHOP_NOW) == 11.0  # no dates: always
    # the window's last day is inclusive, in the store's timezone (Europe/Paris = UTC+1 in January)
    assert _special(demo_shop, m.special_current, datetime(2026, 1, 20, 22, 30)) == 24.0  # 23:30 on the 20th
    assert _special(demo_shop, m.special_current, datetime(2026, 1, 20, 23, 30)) is None  # 00:30 on the 21st
    assert _special(demo_shop, m.special_current, datetime(2026, 1, 9, 22, 59)) is None  # 23:59 on the 9th
    assert _special(demo_shop, m.special_current, datetime(2026, 1, 9, 23, 0)) == 24.0  # 00:00 on the 10th
    data = by_key(reader(demo_shop).read([m.special_current]))[(m.special_current, DEFAULT)].data
    assert data is not None and "- Special price: €24.00" in data["content"]


def test_configured_attributes(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    settings = parse_settings({"products": {"attributes": ["manufacturer", "color", "weight", "no_such_code"]}})
    docs = by_key(reader(demo_shop, settings).read([shop_manifest.simple_with_overrides]))
    default, fr = docs[(1, DEFAULT)].data, docs[(1, FR)].data
    assert default is not None and fr is not None
    # manufacturer is not visible on front but asked for; weight is a decimal; unknown codes are skipped
    assert default["attributes"] == {"manufacturer": "Luma", "color": "Blue", "weight": "0.14"}
    assert fr["attributes"] == {"manufacturer": "Luma", "color": "Bleu", "weight": "0.14"}
    assert all(f"- {line}\n" in fr["content"] for line in ("Manufacturer: Luma", "Couleur: Bleu", "Weight: 0.14"))


def test_store_filter(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    pid = shop_manifest.simple_with_overrides
    fr_only = reader(demo_shop, parse_settings({"stores": ["fr"]}))
    assert [s.code for s in fr_only.stores] == ["fr"]
    batch = fr_only.read([pid, shop_manifest.configurable])
    assert {(int(d.id), d.store_id) for d in batch.documents} == {(pid, FR), (shop_manifest.configurable, FR)}
    assert by_key(batch)[(pid, FR)].data == AERO_FR
    # an explicit store list wins over the settings
    explicit = reader(demo_shop, parse_settings({"stores": ["fr"]}), stores=["default"])
    assert {d.store_id for d in explicit.read([pid]).documents} == {DEFAULT}
    with pytest.raises(UnknownStoreError, match="unknown store 'nope': active store views are default \\(id 1\\)"):
        reader(demo_shop, parse_settings({"stores": ["nope"]}))


def test_table_prefix(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=30, table_prefix="m2_")
    assert db.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                     " AND table_name = 'catalog_product_entity'") == 0
    prefixed = reader(db)
    docs = by_key(prefixed.read([shop_manifest.simple_with_overrides, shop_manifest.configurable]))
    assert docs[(1, DEFAULT)].data == AERO_DEFAULT
    assert docs[(1, FR)].data == AERO_FR
    assert docs[(2, DEFAULT)].data == HOODIE_DEFAULT
    assert [i for chunk in prefixed.iter_id_chunks(7) for i in chunk] == list(range(1, 31))


def test_read_all_streams_every_product_once(demo_shop: Database) -> None:
    all_ids = [i for chunk in reader(demo_shop).iter_id_chunks(8) for i in chunk]
    assert all_ids == list(range(1, 51))
    chunked = reader(demo_shop)
    batches = list(chunked.read_all(chunk_size=8))
    assert len(batches) == 7
    documents = [d for b in batches for d in b.documents]
    assert sorted({(int(d.id), d.store_id) for d in documents}) == [(i, s) for i in range(1, 51) for s in (1, 2, 3)]
    assert len(documents) == 150
    assert all(b.problems == [] for b in batches)
    # the same documents as one read of every id
    single = by_key(reader(demo_shop).read(all_ids))
    assert {k: d.hash for k, d in by_key(documents).items()} == {k: d.hash for k, d in single.items()}


def test_unchanged_save_keeps_its_hash(make_shop: Any) -> None:
    db = make_shop(products=21)
    before = by_key(reader(db).read([1]))[(1, DEFAULT)]
    db.execute(f"UPDATE {db.table('catalog_product_entity')} SET updated_at = %s WHERE entity_id = 1",
               (SHOP_NOW - timedelta(minutes=5),))
    after = by_key(reader(db, now=SHOP_NOW + timedelta(minutes=1)).read([1]))[(1, DEFAULT)]
    assert after.data is not None and before.data is not None
    assert after.data["updated_at"] == "2026-01-15T11:55:00Z" != before.data["updated_at"]
    assert after.hash == before.hash
    # a real change does change it
    name = db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')} WHERE attribute_code = 'name'"
                     " AND entity_type_id = 4")
    db.execute(f"UPDATE {db.table('catalog_product_entity_varchar')} SET value = 'Aero Tee'"
               " WHERE entity_id = 1 AND attribute_id = %s AND store_id = 0", (name,))
    assert by_key(reader(db).read([1]))[(1, DEFAULT)].hash != before.hash


def test_changed_and_existing_ids(make_shop: Any, shop_manifest: ShopManifest) -> None:
    db = make_shop(products=21)
    products = reader(db)
    # product 1 was updated 97 minutes before SHOP_NOW, product 2 134, child 3 171
    assert products.changed_ids(SHOP_NOW - timedelta(minutes=98), SHOP_NOW) == [1]
    assert products.changed_ids(SHOP_NOW - timedelta(minutes=98), SHOP_NOW - timedelta(minutes=97)) == [1]
    assert products.changed_ids(SHOP_NOW - timedelta(minutes=97), SHOP_NOW) == []
    # a changed child brings its configurable parent along
    db.execute(f"UPDATE {db.table('catalog_product_entity')} SET updated_at = %s WHERE entity_id = %s",
               (SHOP_NOW - timedelta(minutes=1), shop_manifest.not_visible_child))
    assert products.changed_ids(SHOP_NOW - timedelta(minutes=2)) == [shop_manifest.configurable,
                                                                     shop_manifest.not_visible_child]
    db.execute(f"DELETE FROM {db.table('catalog_product_entity')} WHERE entity_id = 20")
    assert products.existing_ids([1, 20, 21, 5000]) == {1, 21}
    assert products.existing_ids([]) == set()
    assert by_key(products.read([20]))[(20, DEFAULT)].action == "delete"


def test_bad_entities_become_problems_and_the_rest_goes_on(make_shop: Any, shop_manifest: ShopManifest) -> None:
    """Invalid UTF-8, an oversized text and a broken directive: one product each, the others unharmed.

    To store bytes that are not UTF-8, the test turns the text value column into MEDIUMBLOB (the
    reader fetches text values as bytes anyway and decodes them itself, value by value).
    """
    db = make_shop(products=30)
    t = db.table
    attr = {code: db.scalar(f"SELECT attribute_id FROM {t('eav_attribute')} WHERE attribute_code = %s"
                            " AND entity_type_id = 4", (code,)) for code in ("description", "short_description")}
    db.execute(f"ALTER TABLE {t('catalog_product_entity_text')} MODIFY `value` MEDIUMBLOB NULL")
    # product 1: invalid UTF-8 in its store-0 description (fr has its own description)
    db.execute(f"UPDATE {t('catalog_product_entity_text')} SET value = %s"
               " WHERE entity_id = 1 AND attribute_id = %s AND store_id = 0",
               (b"<p>Caf\xe9 au lait \xff</p>", attr["description"]))
    # product 19: a 1.2 MB description
    db.execute(f"UPDATE {t('catalog_product_entity_text')} SET value = %s"
               " WHERE entity_id = 19 AND attribute_id = %s AND store_id = 0",
               (("<p>" + "word " * 240_000 + "</p>").encode(), attr["description"]))
    # product 20: a directive that never closes (rendered as text, reported, document still sent)
    db.execute(f"UPDATE {t('catalog_product_entity_text')} SET value = %s"
               " WHERE entity_id = 20 AND attribute_id = %s AND store_id = 0",
               (b'<p>See {{store url="faq"</p>', attr["short_description"]))
    ids = [i for chunk in reader(db).iter_id_chunks() for i in chunk]
    batches = list(reader(db).read_all(chunk_size=10))
    docs = by_key([d for b in batches for d in b.documents])
    problems = {(int(p.entity_id), p.store_id): p.reason for b in batches for p in b.problems}

    assert problems[(1, DEFAULT)] == "description (store 0 value): invalid UTF-8 at byte 6"
    assert problems[(1, OUTLET)] == "description (store 0 value): invalid UTF-8 at byte 6"
    assert (1, DEFAULT) not in docs and (1, OUTLET) not in docs
    assert docs[(1, FR)].data == AERO_FR  # its own description is fine
    assert problems[(19, DEFAULT)].startswith("document is ") and "over the 1000000-byte limit" in problems[(19, DEFAULT)]
    assert (19, DEFAULT) not in docs and (19, FR) not in docs
    assert problems[(20, DEFAULT)].startswith("short_description: unclosed directive")
    assert docs[(20, DEFAULT)].action == "save"
    assert set(problems) == {(1, DEFAULT), (1, OUTLET), (19, DEFAULT), (19, FR), (20, DEFAULT), (20, FR)}
    # everything else was produced
    assert {k for k in docs} | set(problems) == {(i, s) for i in ids for s in (1, 2, 3)}


# --- issue #17: documents say exactly what the storefront shows -------------------------------------------
def _attribute_ids(db: Database, *codes: str) -> dict[str, int]:
    return {code: int(db.scalar(f"SELECT attribute_id FROM {db.table('eav_attribute')} WHERE attribute_code = %s"
                                " AND entity_type_id = 4", (code,))) for code in codes}


def _set_value(db: Database, table: str, attribute_id: int, store_id: int, entity_id: int, value: Any) -> None:
    """Write one EAV value (insert, or replace the row of that entity, attribute and store)."""
    db.execute(f"INSERT INTO {db.table('catalog_product_entity_' + table)} (attribute_id, store_id, entity_id, value)"
               " VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)",
               (attribute_id, store_id, entity_id, value))


def _replaced(text: str, *pairs: tuple[str, str]) -> str:
    """Return ``text`` with each (old, new) replaced; every ``old`` must be there exactly once."""
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _read_hoodie(db: Database, pid: int) -> list[dict[tuple[int, int], Document]]:
    """Read the hoodie alone (its children by their own queries) and with its children in the chunk."""
    return [by_key(reader(db).read([pid])), by_key(reader(db).read(list(range(pid, pid + 7))))]


HOODIE_TABLE_HEAD = "| SKU | Options | Price | Availability |\n| --- | --- | --- | --- |\n"


def test_image_paths_lose_leading_slashes_as_in_magento(make_shop: Any, shop_manifest: ShopManifest) -> None:
    """``//a/e/x.jpg`` in the gallery or the ``image`` attribute is ``catalog/product/a/e/x.jpg`` (``_prepareFile``)."""
    db = make_shop(products=21)
    pid = shop_manifest.simple_with_overrides
    image = _attribute_ids(db, "image")["image"]
    t = db.table
    # every gallery path of the tee gets a second leading slash; the default base image too, and the
    # fr base image none at all: they still name the same files (the base image first, no duplicate)
    db.execute(f"UPDATE {t('catalog_product_entity_media_gallery')} g"
               f" JOIN {t('catalog_product_entity_media_gallery_value_to_entity')} v ON v.value_id = g.value_id"
               " SET g.value = CONCAT('/', g.value) WHERE v.entity_id = %s", (pid,))
    _set_value(db, "varchar", image, 0, pid, "//a/e/aero-daily-fitness-tee-1.jpg")
    _set_value(db, "varchar", image, FR, pid, "a/e/aero-daily-fitness-tee-2.jpg")
    assert db.scalar(f"SELECT COUNT(*) FROM {t('catalog_product_entity_media_gallery')}"
                     " WHERE value LIKE '//a/e/aero-daily-fitness-tee-%'") == 3
    # a product without a gallery: the base image alone
    hoodie = shop_manifest.configurable
    db.execute(f"DELETE FROM {t('catalog_product_entity_media_gallery_value_to_entity')} WHERE entity_id = %s",
               (hoodie,))
    _set_value(db, "varchar", image, 0, hoodie, "///c/h/chaz-kangeroo-hoodie-2.jpg")
    docs = by_key(reader(db).read([pid, hoodie]))
    assert docs[(pid, DEFAULT)].data == AERO_DEFAULT
    assert docs[(pid, FR)].data == AERO_FR
    outlet = docs[(pid, OUTLET)].data
    assert outlet is not None and outlet["images"] == [
        "https://outlet.magento.test/media/catalog/product/a/e/aero-daily-fitness-tee-1.jpg",
        "https://outlet.magento.test/media/catalog/product/a/e/aero-daily-fitness-tee-2.jpg"]
    assert docs[(hoodie, DEFAULT)].data == {**HOODIE_DEFAULT, "images": [HOODIE_IMAGES[1]]}
    assert docs[(hoodie, FR)].data == {**HOODIE_FR, "images": [HOODIE_IMAGES[1]]}


def test_variant_options_are_named_by_the_attribute_store_label(make_shop: Any,
                                                                 shop_manifest: ShopManifest) -> None:
    """The per-product super-attribute label is not what the storefront shows: the attribute's store label is."""
    db = make_shop(products=21)
    pid = shop_manifest.configurable
    t = db.table
    ids = _attribute_ids(db, "color", "size")
    # per-product labels that differ from the store labels, in every store
    db.execute(f"UPDATE {t('catalog_product_super_attribute_label')} l"
               f" JOIN {t('catalog_product_super_attribute')} sa"
               " ON sa.product_super_attribute_id = l.product_super_attribute_id"
               " SET l.value = IF(sa.attribute_id = %s, 'Size Ring', 'Shade') WHERE sa.product_id = %s",
               (ids["size"], pid))
    # a store label of the default store view for color (the admin label "Color" stays for store 0)
    db.execute(f"DELETE FROM {t('eav_attribute_label')} WHERE attribute_id = %s AND store_id = %s",
               (ids["color"], DEFAULT))
    db.execute(f"INSERT INTO {t('eav_attribute_label')} (attribute_id, store_id, value) VALUES (%s, %s, 'Colour')",
               (ids["color"], DEFAULT))
    default_variants = [{**v, "options": {"Colour": v["options"]["Color"], "Size": v["options"]["Size"]}}
                        for v in HOODIE_DEFAULT["variants"]]
    default_content = HOODIE_DEFAULT["content"]
    for size, color in [(s, c) for c in ("Black", "Gray") for s in ("S", "M", "L")]:
        default_content = _replaced(default_content,
                                    (f"| Color: {color}, Size: {size} |", f"| Colour: {color}, Size: {size} |"))
    for docs in _read_hoodie(db, pid):
        assert docs[(pid, DEFAULT)].data == {**HOODIE_DEFAULT, "variants": default_variants,
                                             "content": default_content}
        assert docs[(pid, FR)].data == HOODIE_FR  # "Couleur", "Taille": the fr store labels


def test_configurable_price_is_the_lowest_price_of_its_salable_children(make_shop: Any,
                                                                        shop_manifest: ShopManifest) -> None:
    """Magento's ConfigurablePriceResolver: the parent's own price row is not shown; each child's special price counts."""
    db = make_shop(products=21)
    pid = shop_manifest.configurable
    s_black, m_black, l_black, s_gray, m_gray, l_gray = shop_manifest.configurable_children
    a = _attribute_ids(db, "price", "special_price", "special_from_date", "special_to_date", "status")
    # the parent: a price and a special price of its own (Magento shows neither)
    _set_value(db, "decimal", a["price"], 0, pid, 99.0)
    _set_value(db, "decimal", a["special_price"], 0, pid, 10.0)
    # S-Black: 60, special 45 in its window (2026-01-14 .. 2026-01-16): the lowest, 45
    _set_value(db, "decimal", a["price"], 0, s_black, 60.0)
    _set_value(db, "decimal", a["special_price"], 0, s_black, 45.0)
    _set_value(db, "datetime", a["special_from_date"], 0, s_black, "2026-01-14 00:00:00")
    _set_value(db, "datetime", a["special_to_date"], 0, s_black, "2026-01-16 00:00:00")
    # M-Black: 50; L-Black: 40 but disabled (no variant, no price)
    _set_value(db, "decimal", a["price"], 0, m_black, 50.0)
    _set_value(db, "decimal", a["price"], 0, l_black, 40.0)
    _set_value(db, "int", a["status"], 0, l_black, 2)
    # S-Gray: 55, special 30 whose window is over
    _set_value(db, "decimal", a["price"], 0, s_gray, 55.0)
    _set_value(db, "decimal", a["special_price"], 0, s_gray, 30.0)
    _set_value(db, "datetime", a["special_to_date"], 0, s_gray, "2026-01-10 00:00:00")
    # M-Gray: 52, special 58 (above its price: sent, not shown); L-Gray: 20 but out of stock
    _set_value(db, "decimal", a["special_price"], 0, m_gray, 58.0)
    _set_value(db, "decimal", a["price"], 0, l_gray, 20.0)

    def variants(color_key: str, size_key: str, words: dict[str, str]) -> list[dict[str, Any]]:
        rows = [("RS-HOODIE-CHAZ-S-Black", "Black", "S", 60.0, 45.0, True),
                ("RS-HOODIE-CHAZ-M-Black", "Black", "M", 50.0, None, True),
                ("RS-HOODIE-CHAZ-S-Gray", "Gray", "S", 55.0, None, True),
                ("RS-HOODIE-CHAZ-M-Gray", "Gray", "M", 52.0, 58.0, True),
                ("RS-HOODIE-CHAZ-L-Gray", "Gray", "L", 20.0, None, False)]
        return [{"sku": sku, "options": {color_key: words.get(color, color), size_key: words.get(size, size)},
                 "price": price, "special_price": special, "display_price": price,
                 "display_special_price": special, "in_stock": stock}
                for sku, color, size, price, special, stock in rows]

    expected_default = {
        **HOODIE_DEFAULT, "price": 45.0, "special_price": None, "display_price": 45.0,
        "variants": variants("Color", "Size", {}),
        "content": _replaced(
            HOODIE_DEFAULT["content"],
            ("- Price: €52.00\n", "- Price: €45.00\n"),
            ("| RS-HOODIE-CHAZ-S-Black | Color: Black, Size: S | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-M-Black | Color: Black, Size: M | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-L-Black | Color: Black, Size: L | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-S-Gray | Color: Gray, Size: S | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-M-Gray | Color: Gray, Size: M | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-L-Gray | Color: Gray, Size: L | €52.00 | Out of stock |\n",
             "| RS-HOODIE-CHAZ-S-Black | Color: Black, Size: S | €60.00, special price €45.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-M-Black | Color: Black, Size: M | €50.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-S-Gray | Color: Gray, Size: S | €55.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-M-Gray | Color: Gray, Size: M | €52.00 | In stock |\n"
             "| RS-HOODIE-CHAZ-L-Gray | Color: Gray, Size: L | €20.00 | Out of stock |\n"),
        ),
    }
    fr_words = {"Black": "Noir", "Gray": "Gris", "S": "Petit", "M": "Moyen", "L": "Grand"}
    expected_fr = {
        **HOODIE_FR, "price": 45.0, "special_price": None, "display_price": 45.0,
        "variants": variants("Couleur", "Taille", fr_words),
        "content": _replaced(
            HOODIE_FR["content"],
            ("- Prix: 52,00 €\n", "- Prix: 45,00 €\n"),
            ("| RS-HOODIE-CHAZ-S-Black | Couleur: Noir, Taille: Petit | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-M-Black | Couleur: Noir, Taille: Moyen | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-L-Black | Couleur: Noir, Taille: Grand | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-S-Gray | Couleur: Gris, Taille: Petit | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-M-Gray | Couleur: Gris, Taille: Moyen | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-L-Gray | Couleur: Gris, Taille: Grand | 52,00 € | En rupture de stock |\n",
             "| RS-HOODIE-CHAZ-S-Black | Couleur: Noir, Taille: Petit | 60,00 €, prix spécial 45,00 €"
             " | En stock |\n"
             "| RS-HOODIE-CHAZ-M-Black | Couleur: Noir, Taille: Moyen | 50,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-S-Gray | Couleur: Gris, Taille: Petit | 55,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-M-Gray | Couleur: Gris, Taille: Moyen | 52,00 € | En stock |\n"
             "| RS-HOODIE-CHAZ-L-Gray | Couleur: Gris, Taille: Grand | 20,00 € | En rupture de stock |\n"),
        ),
    }
    for docs in _read_hoodie(db, pid):
        assert docs[(pid, DEFAULT)].data == expected_default
        assert docs[(pid, FR)].data == expected_fr
    # on the 17th (Paris) S-Black's special price is over: the lowest is M-Black's 50
    later = by_key(reader(db, now=datetime(2026, 1, 17, 12, 0)).read([pid]))[(pid, DEFAULT)].data
    assert later is not None
    assert (later["price"], later["special_price"], later["variants"][0]["special_price"]) == (50.0, None, None)
    assert "- Price: €50.00\n" in later["content"]
    assert "| RS-HOODIE-CHAZ-S-Black | Color: Black, Size: S | €60.00 | In stock |\n" in later["content"]


def test_configurable_without_a_salable_child_has_no_price(make_shop: Any, shop_manifest: ShopManifest) -> None:
    """No enabled, in-stock child in the website: Magento shows no price and "Out of stock"; so does the document."""
    db = make_shop(products=21)
    pid = shop_manifest.configurable
    children = shop_manifest.configurable_children
    a = _attribute_ids(db, "price")
    _set_value(db, "decimal", a["price"], 0, pid, 99.0)  # the parent's own price is not shown either
    db.execute(f"UPDATE {db.table('cataloginventory_stock_item')} SET is_in_stock = 0 WHERE product_id IN"
               f" ({', '.join(['%s'] * len(children))})", children)
    for docs in _read_hoodie(db, pid):
        for store, expected, words in (
                (DEFAULT, HOODIE_DEFAULT, ("Price: €52.00", "Availability", "In stock", "Out of stock", "€52.00")),
                (FR, HOODIE_FR, ("Prix: 52,00 €", "Disponibilité", "En stock", "En rupture de stock", "52,00 €"))):
            price_line, availability, in_stock, out_of_stock, cell = words
            content = expected["content"]
            for line in content.splitlines():
                if line.startswith("| RS-HOODIE-CHAZ-") and line.endswith(f"| {in_stock} |"):
                    content = _replaced(content, (line + "\n", line.replace(f"| {in_stock} |", f"| {out_of_stock} |") + "\n"))
            content = _replaced(content, (f"- {price_line}\n", ""),
                                (f"- {availability}: {in_stock}\n", f"- {availability}: {out_of_stock}\n"))
            assert docs[(pid, store)].data == {
                **expected, "price": None, "display_price": None, "in_stock": False, "content": content,
                "variants": [{**v, "in_stock": False} for v in expected["variants"]],
            }
            assert f"- {price_line}" not in content and f"| {cell} | {out_of_stock} |" in content


def test_skus_are_shown_trimmed_and_collapsed_everywhere(make_shop: Any, shop_manifest: ShopManifest) -> None:
    """A SKU follows the names' rule: ends trimmed, inner whitespace collapsed, in data, content and variants."""
    db = make_shop(products=21)
    pid, hoodie = shop_manifest.simple_with_overrides, shop_manifest.configurable
    s_black, m_black = shop_manifest.configurable_children[:2]
    entity = db.table("catalog_product_entity")
    for entity_id, sku in ((pid, "  RS-TEE-AERO \t"), (hoodie, "RS-HOODIE-CHAZ "), (s_black, " RS-HOODIE-CHAZ-S-Black"),
                           (m_black, "RS-HOODIE-CHAZ-M  Black\n")):
        db.execute(f"UPDATE {entity} SET sku = %s, updated_at = updated_at WHERE entity_id = %s", (sku, entity_id))
    docs = by_key(reader(db).read([pid]))
    assert docs[(pid, DEFAULT)].data == AERO_DEFAULT  # "RS-TEE-AERO" in data.sku and "- SKU: RS-TEE-AERO"
    assert docs[(pid, FR)].data == AERO_FR
    for store, expected in ((DEFAULT, HOODIE_DEFAULT), (FR, HOODIE_FR)):
        variants = [dict(v) for v in expected["variants"]]
        variants[1]["sku"] = "RS-HOODIE-CHAZ-M Black"
        content = _replaced(expected["content"], ("| RS-HOODIE-CHAZ-M-Black |", "| RS-HOODIE-CHAZ-M Black |"))
        for docs in _read_hoodie(db, hoodie):
            assert docs[(hoodie, store)].data == {**expected, "variants": variants, "content": content}
