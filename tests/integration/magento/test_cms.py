"""CmsPageReader and CmsBlockReader on the demo shop (real MariaDB).

Expected documents are written out by hand from the shop's pages and blocks
(``ragsync_dev.demo.shop_content.CMS_PAGES`` / ``CMS_BLOCKS``): store views 1 default
(``https://magento.test/``), 2 fr (``https://magento.test/fr/``), 3 outlet
(``https://outlet.magento.test/``, store name "Demo Outlet" at website scope); ``update_time`` of
page or block N is ``SHOP_NOW - (60 + 37 N mod 1380) minutes``; pages have ``cms-page`` URL
rewrites equal to their identifier.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.model import Document
from ragsync.magento.base import CLOCK_QUERIES
from ragsync.magento.cms import QUERIES_PER_CHUNK, CmsBlockReader, CmsPageReader
from ragsync.magento.context import MagentoContext
from ragsync.settings import parse_settings
from ragsync_dev.demo.commerce import STAGED_ENTITIES, convert_to_commerce, schedule_update, staging_version
from ragsync_dev.demo.shop import ShopManifest

from .statement_count import count_statements

PAGE_IDS = list(range(1, 14))
BLOCK_IDS = list(range(1, 8))

HOME_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T09:46:00Z",
    "identifier": "home",
    "title": "Home Page",
    "content_heading": None,
    "document_type": "landing",
    "meta_title": "Demo Shop – clothing and gear for the outdoors",
    "meta_description": "Technical clothing and gear for running, yoga and the outdoors.",
    "meta_keywords": "running, yoga, outdoor clothing, bags",
    "url": "https://magento.test/",
    # the <style> and <script> are gone; block 3 (home-promo) is inlined with block 2 (promo-banner) inside it
    "content": "# Home Page\n\n"
               "# Shop the new season\n\n"
               "![Runners on a mountain trail at sunrise](https://magento.test/media/wysiwyg/home/hero-new-season.jpg)\n\n"
               "Technical clothing and gear for **running, yoga and the outdoors**. Free delivery on orders over €50 "
               "and free returns within 30 days.\n\n"
               "[Shop Women](https://magento.test/women.html)\n\n"
               "[Shop Men](https://magento.test/men.html)\n\n"
               "## This week's picks\n\n"
               "- [Bags for every trip](https://magento.test/gear/bags.html)\n"
               "- [Eco-friendly collection](https://magento.test/collections/eco-friendly.html)\n"
               "- [Sale: up to 40% off](https://magento.test/sale.html)\n\n"
               "**New:** the eco-friendly collection is here.\n\n"
               "![Spring promotion](https://magento.test/media/wysiwyg/banners/spring-promo.jpg)\n\n"
               "### Spring into running\n\n"
               "10% off every order over €100. [See the deals](https://magento.test/sale.html).\n\n"
               "URL: https://magento.test/",
}
ABOUT_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T07:55:00Z",
    "identifier": "about-us",
    "title": "About us",
    "content_heading": "About Demo Shop",
    "document_type": "about",
    "meta_title": "About us",
    "meta_description": "Who we are and what we believe in.",
    "meta_keywords": None,
    "url": "https://magento.test/about-us",
    "content": "# About us\n\n## About Demo Shop\n\n## Our story\n\n"
               "Demo Shop started in 2009 as a two-person workshop in Lyon making running jackets for friends. "
               "Today we design technical clothing and gear for people who move outdoors, whatever the weather.\n\n"
               "We still test every product on the trails around the workshop before it goes on sale.\n\n"
               "![The Demo Shop team](https://magento.test/media/wysiwyg/about/team.jpg)\n\n"
               "![Our workshop in Lyon](https://magento.test/media/wysiwyg/about/workshop.jpg)\n\n"
               "### What we believe in\n\n"
               "- **Durability**: a jacket should last ten seasons, not one.\n"
               "- **Repair**: we repair what we sell, for free during the first two years.\n"
               "- **Transparency**: every product page lists where and how it was made.\n\n"
               "Questions? [Get in touch](https://magento.test/contact).\n\n"
               "URL: https://magento.test/about-us",
}
CONTACT_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T07:18:00Z",
    "identifier": "contact",
    "title": "Contact",
    "content_heading": "Contact us",
    "document_type": "contact",
    "meta_title": "Contact Demo Shop",
    "meta_description": None,
    "meta_keywords": None,
    "url": "https://magento.test/contact",
    "content": "# Contact\n\n## Contact us\n\n"
               "Our customer service team answers within one working day.\n\n"
               "- Email: <help@demo-shop.test>\n"
               "- Phone: +33 4 72 00 00 00 (Monday to Friday, 9:00–18:00 CET)\n"
               "- Post: Demo Shop, 12 rue des Coureurs, 69002 Lyon, France\n\n"
               "For returns, please read [Shipping and returns](https://magento.test/shipping-and-returns) first.\n\n"
               "URL: https://magento.test/contact",
}
CONTACT_OUTLET = {
    **CONTACT_DEFAULT,
    "store_code": "outlet",
    "locale": "en_GB",
    "url": "https://outlet.magento.test/contact",
    # {{config path="general/store_information/name"}} is "Demo Outlet" at the outlet website's scope
    "content": "# Contact\n\n## Contact us\n\n"
               "Our customer service team answers within one working day.\n\n"
               "- Email: <help@demo-shop.test>\n"
               "- Phone: +33 4 72 00 00 00 (Monday to Friday, 9:00–18:00 CET)\n"
               "- Post: Demo Outlet, 12 rue des Coureurs, 69002 Lyon, France\n\n"
               "For returns, please read [Shipping and returns](https://outlet.magento.test/shipping-and-returns) first.\n\n"
               "URL: https://outlet.magento.test/contact",
}
FAQ_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T06:41:00Z",
    "identifier": "faq",
    "title": "FAQ",
    "content_heading": "Frequently asked questions",
    "document_type": "faq",
    "meta_title": "FAQ",
    "meta_description": "Answers to the questions we hear most often.",
    "meta_keywords": "faq, delivery, returns, sizes",
    "url": "https://magento.test/fr/faq",
    # {{block id="shipping-notice"}}: that block is kept to store views 1 and 3, so nothing here
    "content": "# FAQ\n\n## Frequently asked questions\n\n## Orders\n\n"
               "### How do I track my order?\n\n"
               "As soon as your parcel leaves our warehouse you receive an email with a tracking link. You can also "
               "follow it from [My Orders](https://magento.test/fr/sales/order/history).\n\n"
               "### Can I change or cancel my order?\n\n"
               "Yes, within one hour after ordering. After that the order is already being packed; you can return "
               "it free of charge instead.\n\n"
               "## Delivery and returns\n\n"
               "### How long does delivery take?\n\n"
               "2–3 working days in France, 3–5 working days in the rest of the EU and in the UK.\n\n"
               "### How do I return an item?\n\n"
               "Print the prepaid label from your account, pack the item and drop it at any pick-up point. Refunds "
               "are issued within 5 days after we receive the parcel.\n\n"
               "## Products\n\n"
               "### How do I find my size?\n\n"
               "See our [size guide](https://magento.test/fr/size-guide); when in doubt, take the larger size.\n\n"
               "### Do you repair products?\n\n"
               "Yes. Repairs are free during the first two years and at cost afterwards.\n\n"
               "URL: https://magento.test/fr/faq",
}
FAQ_DEFAULT = {
    **FAQ_FR,
    "store_code": "default",
    "locale": "en_US",
    "url": "https://magento.test/faq",
    "content": FAQ_FR["content"].replace("https://magento.test/fr/", "https://magento.test/").replace(
        "in the UK.\n\n", "in the UK.\n\nOrders placed before 14:00 ship the same working day.\n\n"),
}
SHIPPING_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T05:27:00Z",
    "identifier": "shipping-and-returns",
    "title": "Shipping and returns",
    "content_heading": "Shipping and returns",
    "document_type": "policy",
    "meta_title": "Shipping and returns",
    "meta_description": None,
    "meta_keywords": None,
    "url": "https://magento.test/shipping-and-returns",
    "content": "# Shipping and returns\n\n## Shipping rates\n\n"
               "| Destination | Standard (3–5 days) | Express (1–2 days) |\n"
               "| --- | --- | --- |\n"
               "| France | €4.90 — free over €50 | €9.90 |\n"
               "| European Union | €7.90 — free over €80 | €14.90 |\n"
               "| United Kingdom | £6.90 — free over £70 | £12.90 |\n\n"
               "## Returns\n\n"
               "1. Returns are free within **30 days** of delivery.\n"
               "2. Items must be unworn, with their labels.\n"
               "3. Refunds go back to the original payment method within 5 days.\n\n"
               "Orders placed before 14:00 ship the same working day.\n\n"
               "URL: https://magento.test/shipping-and-returns",
}
SHIPPING_FR = {
    **SHIPPING_DEFAULT,
    "store_code": "fr",
    "locale": "fr_FR",
    "url": "https://magento.test/fr/shipping-and-returns",
    "content": SHIPPING_DEFAULT["content"]
    .replace("Orders placed before 14:00 ship the same working day.\n\n", "")
    .replace("https://magento.test/", "https://magento.test/fr/"),
}
SIZE_GUIDE_OUTLET = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": "2026-01-15T04:50:00Z",
    "identifier": "size-guide",
    "title": "Size guide",
    "content_heading": "Find your size",
    "document_type": "guide",
    "meta_title": "Size guide",
    "meta_description": None,
    "meta_keywords": None,
    "url": "https://outlet.magento.test/size-guide",
    "content": "# Size guide\n\n## Find your size\n\n"
               "Measure yourself in underwear, tape horizontal. Sizes are body measurements in centimetres.\n\n"
               "### Tops and jackets\n\n"
               "| Size | Chest (cm) | Waist (cm) | Hips (cm) |\n"
               "| --- | --- | --- | --- |\n"
               "| XS | 82–86 | 66–70 | 88–92 |\n"
               "| S | 86–90 | 70–74 | 92–96 |\n"
               "| M | 90–96 | 74–80 | 96–102 |\n"
               "| L | 96–102 | 80–86 | 102–108 |\n"
               "| XL | 102–110 | 86–94 | 108–116 |\n\n"
               "### Bottoms\n\n"
               "| Size | Waist (cm) | Inside leg (cm) |\n"
               "| --- | --- | --- |\n"
               "| S | 70–74 | 79 |\n"
               "| M | 74–80 | 81 |\n"
               "| L | 80–86 | 83 |\n"
               "| XL | 86–94 | 84 |\n\n"
               "*Between two sizes?* Take the larger one for jackets and the smaller one for tights.\n\n"
               "URL: https://outlet.magento.test/size-guide",
}
LIVRAISON_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T03:36:00Z",
    "identifier": "livraison-gratuite",
    "title": "Livraison gratuite",
    "content_heading": "Livraison gratuite dès 50 €",
    "document_type": "policy",
    "meta_title": "Livraison gratuite",
    "meta_description": None,
    "meta_keywords": None,
    "url": "https://magento.test/fr/livraison-gratuite",
    # the widget of block 6 (bandeau-fr, fr only) with its {{trans}} rendered
    "content": "# Livraison gratuite\n\n## Livraison gratuite dès 50 €\n\n"
               "La livraison standard est **gratuite dès 50 €** d'achat en France métropolitaine.\n\n"
               "- Livraison en 2 à 3 jours ouvrés\n"
               "- Retours gratuits sous 30 jours\n\n"
               "Consultez notre [FAQ](https://magento.test/fr/faq) pour en savoir plus.\n\n"
               "Livraison offerte en France dès 50 € d'achat. Offer valid in mainland France\n\n"
               "URL: https://magento.test/fr/livraison-gratuite",
}
OUTLET_TERMS_OUTLET = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": "2026-01-15T02:59:00Z",
    "identifier": "outlet-terms",
    "title": "Outlet terms",
    "content_heading": "Outlet terms",
    "document_type": "policy",
    "meta_title": None,
    "meta_description": None,
    "meta_keywords": None,
    "url": "https://outlet.magento.test/outlet-terms",
    "content": "# Outlet terms\n\n"
               "Outlet items are end-of-line or B-grade products sold at reduced prices. All outlet sales are final "
               "except for faulty goods.\n\n"
               "URL: https://outlet.magento.test/outlet-terms",
}

FOOTER_LINKS_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T10:23:00Z",
    "identifier": "footer-links",
    "title": "Footer links",
    "content": "# Footer links\n\n"
               "- [About us](https://magento.test/fr/about-us)\n"
               "- [Contact](https://magento.test/fr/contact)\n"
               "- [Privacy policy](https://magento.test/fr/privacy-policy)\n"
               "- [Shipping and returns](https://magento.test/fr/shipping-and-returns)",
}
HOME_PROMO_OUTLET = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": "2026-01-15T09:09:00Z",
    "identifier": "home-promo",
    "title": "Home page promo",
    # the widget of block "promo-banner" (by identifier) is replaced by that block's content
    "content": "# Home page promo\n\n"
               "**New:** the eco-friendly collection is here.\n\n"
               "![Spring promotion](https://outlet.magento.test/media/wysiwyg/banners/spring-promo.jpg)\n\n"
               "### Spring into running\n\n"
               "10% off every order over €100. [See the deals](https://outlet.magento.test/sale.html).",
}
RECURSIVE_DEFAULT = {
    "store_code": "default",
    "locale": "en_US",
    "updated_at": "2026-01-15T08:32:00Z",
    "identifier": "recursive-block",
    "title": "Block that includes itself",
    "content": "# Block that includes itself\n\nThis block embeds itself; a renderer must stop the recursion.",
}
BANDEAU_FR = {
    "store_code": "fr",
    "locale": "fr_FR",
    "updated_at": "2026-01-15T07:18:00Z",
    "identifier": "bandeau-fr",
    "title": "Bandeau France",
    "content": "# Bandeau France\n\nLivraison offerte en France dès 50 € d'achat. Offer valid in mainland France",
}
SHIPPING_NOTICE_OUTLET = {
    "store_code": "outlet",
    "locale": "en_GB",
    "updated_at": "2026-01-15T06:41:00Z",
    "identifier": "shipping-notice",
    "title": "Shipping notice",
    "content": "# Shipping notice\n\nOrders placed before 14:00 ship the same working day.",
}

# identifier -> (document type, store views where the page is saved) with the default settings
PAGES = {
    "no-route": ("other", []),                       # blacklisted by default
    "home": ("landing", [1, 2, 3]),
    "enable-cookies": ("policy", [1, 2, 3]),
    "privacy-policy-cookie-restriction-mode": ("policy", [1, 2, 3]),
    "about-us": ("about", [1, 2, 3]),
    "contact": ("contact", [1, 2, 3]),
    "faq": ("faq", [1, 2]),
    "privacy-policy": ("policy", [1, 2, 3]),
    "shipping-and-returns": ("policy", [1, 2, 3]),
    "size-guide": ("guide", [1, 3]),
    "black-friday-2023": (None, []),                 # disabled
    "livraison-gratuite": ("policy", [2]),           # fr only
    "outlet-terms": ("policy", [3]),                 # outlet only
}


def pages(db: Database, now: datetime = SHOP_NOW, **raw: Any) -> CmsPageReader:
    return CmsPageReader(MagentoContext(db), parse_settings(raw or None), None, now)


def blocks(db: Database, now: datetime = SHOP_NOW, **raw: Any) -> CmsBlockReader:
    return CmsBlockReader(MagentoContext(db), parse_settings(raw or None), None, now)


def by_key(documents: list[Document]) -> dict[tuple[str, int], Document]:
    return {(d.id, d.store_id): d for d in documents}


def saved_in(documents: list[Document]) -> dict[str, list[int]]:
    """Return entity id -> the store views it is saved in (every id read is a key)."""
    result: dict[str, list[int]] = {d.id: [] for d in documents}
    for doc in documents:
        if doc.action == "save":
            result[doc.id].append(doc.store_id)
    return {k: sorted(v) for k, v in result.items()}


def types(documents: list[Document]) -> dict[str, str]:
    return {d.data["identifier"]: d.data["document_type"] for d in documents if d.data is not None}


# --- pages -----------------------------------------------------------------------------------------

def test_every_page_with_its_type_and_store_views(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    batch = pages(demo_shop).read(PAGE_IDS)
    assert [(p.entity_id, p.store_id) for p in batch.problems] == []
    assert len(batch.documents) == 13 * 3
    saved = saved_in(batch.documents)
    found = types(batch.documents)
    for identifier, (document_type, stores) in PAGES.items():
        page_id = str(shop_manifest.cms_pages[identifier])
        assert saved[page_id] == stores, identifier
        if stores:
            assert found[identifier] == document_type, identifier
    deletes = [d for d in batch.documents if d.action == "delete"]
    assert all(d.data is None for d in deletes)


def test_page_documents(demo_shop: Database) -> None:
    docs = by_key(pages(demo_shop).read(PAGE_IDS).documents)
    assert docs[("2", 1)].data == HOME_DEFAULT
    assert docs[("5", 1)].data == ABOUT_DEFAULT
    assert docs[("6", 1)].data == CONTACT_DEFAULT
    assert docs[("6", 3)].data == CONTACT_OUTLET
    assert docs[("7", 1)].data == FAQ_DEFAULT
    assert docs[("7", 2)].data == FAQ_FR
    assert docs[("9", 1)].data == SHIPPING_DEFAULT
    assert docs[("9", 2)].data == SHIPPING_FR
    assert docs[("10", 3)].data == SIZE_GUIDE_OUTLET
    assert docs[("12", 2)].data == LIVRAISON_FR
    assert docs[("13", 3)].data == OUTLET_TERMS_OUTLET


def test_home_page_url_is_the_store_base_url(demo_shop: Database) -> None:
    docs = by_key(pages(demo_shop).read([2]).documents)
    urls = {sid: docs[("2", sid)].data["url"] for sid in (1, 2, 3)}  # type: ignore[index]
    assert urls == {1: "https://magento.test/", 2: "https://magento.test/fr/", 3: "https://outlet.magento.test/"}


def test_disabled_and_single_store_pages(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    ids = [shop_manifest.disabled_page, shop_manifest.single_store_page, shop_manifest.outlet_only_page,
           shop_manifest.multi_store_page]
    saved = saved_in(pages(demo_shop).read(ids).documents)
    assert saved == {"11": [], "12": [2], "13": [3], "10": [1, 3]}


def test_whitelist_mode(demo_shop: Database) -> None:
    chosen = pages(demo_shop, cms_pages={"mode": "whitelist", "identifiers": ["faq", "contact", "black-friday-2023"]})
    saved = saved_in(chosen.read(PAGE_IDS).documents)
    assert {k: v for k, v in saved.items() if v} == {"6": [1, 2, 3], "7": [1, 2]}  # a disabled page stays out


def test_blacklist_mode(demo_shop: Database) -> None:
    chosen = pages(demo_shop, cms_pages={"mode": "blacklist", "identifiers": ["about-us", "privacy-policy"]})
    documents = chosen.read(PAGE_IDS).documents
    saved = saved_in(documents)
    assert saved["5"] == saved["8"] == []
    assert saved["1"] == [1, 2, 3]  # no-route is only blacklisted by the default list
    assert saved["4"] == [1, 2, 3]  # the identifier must match exactly
    assert types(documents)["no-route"] == "other"


def test_document_type_overrides(demo_shop: Database) -> None:
    chosen = pages(demo_shop, cms_pages={"document_types": {"about-us": "landing", "size-guide": "faq"}})
    found = types(chosen.read([5, 9, 10]).documents)
    assert found == {"about-us": "landing", "size-guide": "faq", "shipping-and-returns": "policy"}


def test_store_specific_page_wins_over_all_store_views(make_shop: Any) -> None:
    db = make_shop(products=21)
    t = db.table
    db.execute(f"INSERT INTO {t('cms_page')} (page_id, title, identifier, content_heading, content, is_active,"
               " update_time) VALUES (14, 'À propos', 'about-us', 'Qui sommes-nous', '<p>Notre histoire.</p>', 1, %s)",
               (SHOP_NOW - timedelta(hours=2),))
    db.execute(f"INSERT INTO {t('cms_page_store')} (page_id, store_id) VALUES (14, 2)")
    documents = pages(db).read([5, 14]).documents
    assert saved_in(documents) == {"5": [1, 3], "14": [2]}
    french = by_key(documents)[("14", 2)].data
    assert french == {
        "store_code": "fr",
        "locale": "fr_FR",
        "updated_at": "2026-01-15T10:00:00Z",
        "identifier": "about-us",
        "title": "À propos",
        "content_heading": "Qui sommes-nous",
        "document_type": "about",
        "meta_title": None,
        "meta_description": None,
        "meta_keywords": None,
        "url": "https://magento.test/fr/about-us",  # no rewrite of its own yet: base URL + identifier
        "content": "# À propos\n\n## Qui sommes-nous\n\nNotre histoire.\n\nURL: https://magento.test/fr/about-us",
    }
    # a disabled store-specific twin does not hide the page for all store views
    db.execute(f"UPDATE {t('cms_page')} SET is_active = 0 WHERE page_id = 14")
    assert saved_in(pages(db).read([5, 14]).documents) == {"5": [1, 2, 3], "14": []}


def test_home_page_setting_per_store_view(make_shop: Any) -> None:
    db = make_shop(products=21)
    db.execute(f"INSERT INTO {db.table('core_config_data')} (scope, scope_id, path, value)"
               " VALUES ('stores', 2, 'web/default/cms_home_page', 'size-guide|10')")
    db.execute(f"INSERT INTO {db.table('cms_page_store')} (page_id, store_id) VALUES (10, 2)")
    docs = by_key(pages(db).read([2, 10]).documents)
    guide_fr = docs[("10", 2)].data
    assert guide_fr is not None
    assert (guide_fr["document_type"], guide_fr["url"]) == ("landing", "https://magento.test/fr/")
    guide_default = docs[("10", 1)].data
    assert guide_default is not None
    assert (guide_default["document_type"], guide_default["url"]) == ("guide", "https://magento.test/size-guide")
    home_fr = docs[("2", 2)].data
    assert home_fr is not None
    assert home_fr["url"] == "https://magento.test/fr/home"  # no longer the fr home page: its own rewrite


def test_page_problems_do_not_stop_the_chunk(make_shop: Any) -> None:
    db = make_shop(products=21)
    t = db.table
    # a column whose bytes the server does not validate (MariaDB refuses invalid UTF-8 in a utf8mb4 column)
    db.execute(f"ALTER TABLE {t('cms_page')} DROP INDEX CMS_PAGE_TITLE_META_KEYWORDS_META_DESCRIPTION_IDENTIFIER_CONTENT,"
               " MODIFY content MEDIUMBLOB")
    db.execute(f"UPDATE {t('cms_page')} SET content = %s WHERE page_id = 5", (b"<p>Our \xe9quipe</p>",))
    db.execute(f"UPDATE {t('cms_page')} SET content = %s WHERE page_id = 8",
               (("<p>" + "Privacy matters. " * 70_000 + "</p>").encode(),))
    db.execute(f"UPDATE {t('cms_page')} SET content = %s WHERE page_id = 13",
               (b'<p>Final sale {{block id="gone-forever"}} except {{config path="payment/secret/key"}}.</p>',))
    batch = pages(db, stores=["outlet"]).read([5, 6, 8, 13])
    problems = sorted((p.entity_id, p.store_id, p.reason) for p in batch.problems)
    assert problems[:2] == [("13", 3, "block 'gone-forever' is unknown or inactive in this store"),
                            ("13", 3, "config path 'payment/secret/key' is not readable by CMS content")]
    assert problems[2] == ("5", 3, "content: invalid UTF-8 at byte 7")
    assert problems[3][:2] == ("8", 3) and problems[3][2].endswith("over the 1000000-byte limit")
    assert len(problems) == 4
    docs = by_key(batch.documents)
    assert docs[("6", 3)].data == CONTACT_OUTLET
    assert ("5", 3) not in docs and ("8", 3) not in docs
    terms = docs[("13", 3)].data
    assert terms is not None
    assert terms["content"] == "# Outlet terms\n\nFinal sale except .\n\nURL: https://outlet.magento.test/outlet-terms"


def test_page_hash_is_stable_across_a_save_without_change(make_shop: Any) -> None:
    db = make_shop(products=21)
    before = {d.key: d.hash for d in pages(db).read(PAGE_IDS).documents}
    db.execute(f"UPDATE {db.table('cms_page')} SET update_time = %s", (SHOP_NOW - timedelta(minutes=1),))
    again = pages(db).read(PAGE_IDS).documents
    assert {d.key: d.hash for d in again} == before
    assert by_key(again)[("6", 1)].data["updated_at"] == "2026-01-15T11:59:00Z"  # type: ignore[index]


def test_changed_ids_follow_blocks_into_pages(make_shop: Any) -> None:
    db = make_shop(products=21)
    since, until = SHOP_NOW - timedelta(minutes=30), SHOP_NOW
    assert pages(db).changed_ids(since, until) == [] and blocks(db).changed_ids(since, until) == []

    def touch(table: str, column: str, entity_id: int) -> None:
        db.execute(f"UPDATE {db.table(table)} SET update_time = %s WHERE {column} = %s",
                   (SHOP_NOW - timedelta(minutes=5), entity_id))

    touch("cms_page", "page_id", 6)
    assert pages(db).changed_ids(since, until) == [6]
    touch("cms_block", "block_id", 2)  # promo-banner, inside home-promo (3), inside the home page (2)
    assert blocks(db).changed_ids(since, until) == [2, 3]
    assert pages(db).changed_ids(since, until) == [2, 6]
    touch("cms_block", "block_id", 7)  # shipping-notice: {{block id=...}} in the FAQ, a widget in shipping
    assert pages(db).changed_ids(since, until) == [2, 6, 7, 9]
    assert pages(db).changed_ids(since, SHOP_NOW - timedelta(minutes=10)) == []


def test_page_store_filter(demo_shop: Database) -> None:
    documents = pages(demo_shop, stores=["fr"]).read(PAGE_IDS).documents
    assert {d.store_id for d in documents} == {2}
    assert by_key(documents)[("12", 2)].data == LIVRAISON_FR


def test_page_statements_per_chunk_do_not_depend_on_its_size(demo_shop: Database) -> None:
    chosen = pages(demo_shop)
    chosen.prepare()  # the edition and config, once per reader
    first, _ = count_statements(demo_shop, lambda: chosen.read([2]))  # + the block library, once per reader
    small, _ = count_statements(demo_shop, lambda: chosen.read([3]))
    large, batch = count_statements(demo_shop, lambda: chosen.read(PAGE_IDS))
    chunked, _ = count_statements(demo_shop, lambda: list(chosen.read_all(chunk_size=5, workers=1)))
    assert len(batch.documents) == 39
    assert small == large == QUERIES_PER_CHUNK["cms_page"] + CLOCK_QUERIES == 4
    assert first == small + 1
    assert chunked == 3 * small + 3  # three chunks of 5, 5, 3 ids, and one id page per chunk


def test_pages_read_all(demo_shop: Database) -> None:
    chosen = pages(demo_shop)
    assert [c for c in chosen.iter_id_chunks(5)] == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13]]
    documents = [d for b in chosen.read_all(chunk_size=5) for d in b.documents]
    assert len(documents) == 39
    assert by_key(documents)[("2", 1)].data == HOME_DEFAULT
    assert chosen.existing_ids([1, 13, 14, 99]) == {1, 13}


def test_pages_with_a_table_prefix(make_shop: Any) -> None:
    db = make_shop(products=21, table_prefix="m2_")
    docs = by_key(pages(db).read(PAGE_IDS).documents)
    assert docs[("2", 1)].data == HOME_DEFAULT
    assert docs[("12", 2)].data == LIVRAISON_FR
    assert saved_in(list(docs.values()))["7"] == [1, 2]


def test_pages_in_the_adobe_commerce_layout(make_shop: Any, demo_shop: Database) -> None:
    db = make_shop(products=21)
    convert_to_commerce(db, now=SHOP_NOW, past_update=0, future_update=0)
    page = next(e for e in STAGED_ENTITIES if e.table == "cms_page")
    row = schedule_update(db, 6, staging_version(SHOP_NOW + timedelta(days=7)), {}, entity=page)
    db.execute(f"UPDATE {db.table('cms_page')} SET title = 'Contact (new)' WHERE row_id = %s", (row,))
    chosen = pages(db)
    assert chosen.ctx.is_commerce
    assert [i for c in chosen.iter_id_chunks() for i in c] == PAGE_IDS
    documents = [d for b in chosen.read_all(chunk_size=4) for d in b.documents]
    open_source = pages(demo_shop).read(PAGE_IDS).documents
    assert {d.key: d.hash for d in documents} == {d.key: d.hash for d in open_source}
    assert by_key(documents)[("6", 1)].data["title"] == "Contact"  # type: ignore[index]
    live = by_key(pages(db, now=SHOP_NOW + timedelta(days=8)).read([6]).documents)
    assert live[("6", 1)].data["title"] == "Contact (new)"  # type: ignore[index]


# --- blocks ----------------------------------------------------------------------------------------

def test_every_block_and_its_store_views(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    batch = blocks(demo_shop).read(BLOCK_IDS)
    assert saved_in(batch.documents) == {
        "1": [1, 2, 3], "2": [1, 2, 3], "3": [1, 2, 3], "4": [1, 2, 3],
        "5": [],            # inactive
        "6": [2],           # fr only
        "7": [1, 3],        # default and outlet
    }
    assert shop_manifest.inactive_block == 5 and shop_manifest.single_store_block == 6


def test_block_documents(demo_shop: Database) -> None:
    docs = by_key(blocks(demo_shop).read(BLOCK_IDS).documents)
    assert docs[("1", 2)].data == FOOTER_LINKS_FR
    assert docs[("3", 3)].data == HOME_PROMO_OUTLET
    assert docs[("6", 2)].data == BANDEAU_FR
    assert docs[("7", 3)].data == SHIPPING_NOTICE_OUTLET


def test_block_with_a_widget_includes_the_other_block(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    widget, target = shop_manifest.block_with_widget, shop_manifest.widget_target_block
    docs = by_key(blocks(demo_shop).read([widget, target]).documents)
    for store_id in (1, 2, 3):
        outer = docs[(str(widget), store_id)].data
        inner = docs[(str(target), store_id)].data
        assert outer is not None and inner is not None
        assert inner["content"].removeprefix("# Promo banner\n\n") in outer["content"]


def test_self_including_block_terminates(demo_shop: Database, shop_manifest: ShopManifest) -> None:
    block = shop_manifest.self_including_block
    batch = blocks(demo_shop).read([block])
    docs = by_key(batch.documents)
    assert docs[(str(block), 1)].data == RECURSIVE_DEFAULT
    assert [d.action for d in batch.documents] == ["save", "save", "save"]
    assert sorted((p.entity_id, p.store_id) for p in batch.problems) == [("4", 1), ("4", 2), ("4", 3)]
    assert all("includes itself" in p.reason for p in batch.problems)


def test_block_identifiers_setting(demo_shop: Database) -> None:
    chosen = blocks(demo_shop, cms_blocks={"identifiers": ["footer-links", "bandeau-fr", "old-banner"]})
    saved = saved_in(chosen.read(BLOCK_IDS).documents)
    assert {k: v for k, v in saved.items() if v} == {"1": [1, 2, 3], "6": [2]}


@pytest.mark.parametrize("reference", ["2", "promo-banner", "PROMO-BANNER"])
def test_widgets_find_blocks_by_id_or_identifier(make_shop: Any, reference: str) -> None:
    db = make_shop(products=21)
    db.execute(f"UPDATE {db.table('cms_block')} SET content = %s WHERE block_id = 1",
               (f'<p>See {{{{widget type="Magento\\Cms\\Block\\Widget\\Block" block_id="{reference}"}}}}</p>',))
    docs = by_key(blocks(db, stores=["default"]).read([1]).documents)
    assert docs[("1", 1)].data is not None
    assert "### Spring into running" in docs[("1", 1)].data["content"]


def test_block_statements_per_chunk_do_not_depend_on_its_size(demo_shop: Database) -> None:
    chosen = blocks(demo_shop)
    chosen.read([3])  # the first chunk with a widget also reads the block library
    small, _ = count_statements(demo_shop, lambda: chosen.read([3]))
    large, batch = count_statements(demo_shop, lambda: chosen.read(BLOCK_IDS))
    assert len(batch.documents) == 21
    assert small == large == QUERIES_PER_CHUNK["cms_block"] + CLOCK_QUERIES == 3


def test_blocks_with_a_table_prefix_and_in_adobe_commerce(make_shop: Any) -> None:
    prefixed = make_shop(products=21, table_prefix="m2_")
    assert by_key(blocks(prefixed).read([3]).documents)[("3", 3)].data == HOME_PROMO_OUTLET
    commerce = make_shop(products=21)
    convert_to_commerce(commerce, now=SHOP_NOW, past_update=0, future_update=0)
    docs = by_key(blocks(commerce).read(BLOCK_IDS).documents)
    assert {k: v for k, v in saved_in(list(docs.values())).items()} == {
        "1": [1, 2, 3], "2": [1, 2, 3], "3": [1, 2, 3], "4": [1, 2, 3], "5": [], "6": [2], "7": [1, 3]}
    for key, expected in ((("3", 3), HOME_PROMO_OUTLET), (("6", 2), BANDEAU_FR)):
        data = docs[key].data
        assert data is not None
        # the conversion rewrote every row, which bumped update_time (ON UPDATE CURRENT_TIMESTAMP)
        assert {k: v for k, v in data.items() if k != "updated_at"} == {
            k: v for k, v in expected.items() if k != "updated_at"}
