"""Canonical storefront URLs from ``url_rewrite``, one set-based query per chunk of ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

from ragsync.magento.context import MagentoContext, StoreView
from ragsync.magento.eav import IdSelection

# url_rewrite.entity_type per document type
REWRITE_TYPES = {"product": "product", "category": "category", "cms_page": "cms-page"}


def canonical_paths(
    ctx: MagentoContext, entity_type: str, ids: Iterable[int] | IdSelection, store_ids: Iterable[int]
) -> dict[tuple[int, int], str]:
    """Return (entity_id, store_id) -> request_path of the canonical (non-redirect) rewrite.

    Products use the row without category metadata; when a store has several canonical rows
    for one entity (hand-made rewrites), the lowest url_rewrite_id wins, deterministically.
    ``ids`` may be an :class:`~ragsync.magento.eav.IdSelection` (a dense chunk is then read
    with ``BETWEEN``).
    """
    selection = ids if isinstance(ids, IdSelection) else IdSelection.of(ids)
    stores = sorted(set(store_ids))
    if not selection or not stores:
        return {}
    metadata = " AND metadata IS NULL" if entity_type == "product" else ""
    id_sql, id_params = selection.sql("entity_id")
    rows = ctx.db.query(
        f"SELECT entity_id, store_id, request_path FROM {ctx.t('url_rewrite')}"
        f" WHERE entity_type = %s AND redirect_type = 0{metadata}"
        f" AND {id_sql}"
        f" AND store_id IN ({', '.join(['%s'] * len(stores))})"
        f" ORDER BY url_rewrite_id",
        [REWRITE_TYPES[entity_type], *id_params, *stores],
    )
    exact = selection.exact
    paths: dict[tuple[int, int], str] = {}
    for entity_id, store_id, path in rows:
        if path and (exact or selection.contains(int(entity_id))):
            paths.setdefault((int(entity_id), int(store_id)), str(path))
    return paths


def absolute_url(store: StoreView, path: str | None) -> str | None:
    """Return the store view's link URL joined with a request path (None when there is no path)."""
    if path is None:
        return None
    return store.base_url + path.lstrip("/")



def translit_url(text: str) -> str:
    """Return ``text`` as Magento's ``Framework\\Filter\\TranslitUrl`` makes a URL key of it.

    Transliterated to ASCII (Magento's conversion table; here: the Unicode decomposition without its
    accents, ``ß`` as ``ss``), every run of characters other than ``0-9a-z`` (case-insensitive) made
    one ``-``, lower-cased, ``-`` trimmed: ``"Sacs à dos"`` -> ``"sacs-a-dos"``.
    """
    ascii_text = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ẞ", "SS"))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-z]+", "-", ascii_text, flags=re.IGNORECASE).lower().strip("-")


def category_id_path(category_id: int, url_key: str | None, name: str | None) -> str:
    """Return the route path Magento links a category by when it has no URL rewrite in the store view.

    ``Catalog\\Model\\Category::getCategoryIdUrl()``: ``getUrl('catalog/category/view', ['s' => $urlKey,
    'id' => $id])`` with the store view's ``url_key``, else the name made a URL key
    (:func:`translit_url`). ``Framework\\Url::_getRoutePath()`` appends each parameter as
    ``<key>/<value>/`` (an empty one is left out), the value URL-encoded (``encodeUrlParam``):
    ``catalog/category/view/s/backpacks/id/22/``.
    """
    key = url_key if url_key else translit_url(name or "")
    params = f"s/{quote(key, safe='-_.~')}/" if key else ""
    return f"catalog/category/view/{params}id/{category_id}/"
