"""Canonical storefront URLs from ``url_rewrite``, one set-based query per chunk of ids."""

from __future__ import annotations

from collections.abc import Iterable

from ragsync.magento.context import MagentoContext, StoreView

# url_rewrite.entity_type per document type
REWRITE_TYPES = {"product": "product", "category": "category", "cms_page": "cms-page"}


def canonical_paths(
    ctx: MagentoContext, entity_type: str, ids: Iterable[int], store_ids: Iterable[int]
) -> dict[tuple[int, int], str]:
    """Return (entity_id, store_id) -> request_path of the canonical (non-redirect) rewrite.

    Products use the row without category metadata; when a store has several canonical rows
    for one entity (hand-made rewrites), the lowest url_rewrite_id wins, deterministically.
    """
    id_list, stores = sorted(set(ids)), sorted(set(store_ids))
    if not id_list or not stores:
        return {}
    metadata = " AND metadata IS NULL" if entity_type == "product" else ""
    rows = ctx.db.query(
        f"SELECT entity_id, store_id, request_path FROM {ctx.t('url_rewrite')}"
        f" WHERE entity_type = %s AND redirect_type = 0{metadata}"
        f" AND entity_id IN ({', '.join(['%s'] * len(id_list))})"
        f" AND store_id IN ({', '.join(['%s'] * len(stores))})"
        f" ORDER BY url_rewrite_id",
        [REWRITE_TYPES[entity_type], *id_list, *stores],
    )
    paths: dict[tuple[int, int], str] = {}
    for entity_id, store_id, path in rows:
        if path:
            paths.setdefault((int(entity_id), int(store_id)), str(path))
    return paths


def absolute_url(store: StoreView, path: str | None) -> str | None:
    """Return the store view's link URL joined with a request path (None when there is no path)."""
    if path is None:
        return None
    return store.base_url + path.lstrip("/")

