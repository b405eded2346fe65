"""Canonical storefront URLs from ``url_rewrite``, one set-based query per chunk of ids."""

from __future__ import annotations

from collections.abc import Iterable

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

