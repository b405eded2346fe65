"""What one run covers: the entity types of a DAG or a CLI sync, and the validated ids of a manual one.

DAG tasks and the ``ragsync`` CLI both ask this module (:func:`types_for`, :func:`entity_ids`,
:func:`with_promotion_type`, :func:`skus_to_ids`), so a type, an id list or a SKU means the
same thing everywhere. Every refusal is a :class:`~ragsync.errors.ConfigError` (a permanent error:
the run fails at once, before any work, with the message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ragsync.db import Database
from ragsync.errors import ConfigError
from ragsync.settings import Settings
from ragsync.vocabulary import CMS_SCOPES, ENTITY_TYPES, PROMOTION_KINDS, PROMOTION_SCOPES

RESYNC_PARAMS = ("type", "ids", "skus", "store", "force", "dry_run")
MAX_SKUS = 10_000


@dataclass(frozen=True)
class Resync:
    """A validated manual resync: exactly these ids of one type, in one store view or all."""

    entity_type: str
    ids: list[Any]
    store: str | None
    force: bool
    dry_run: bool


def refuse_unknown_params(dag_id: str, conf: Mapping[str, Any] | None, allowed: Sequence[str]) -> None:
    """Refuse trigger params the DAG does not declare (a typo must never widen a run)."""
    unknown = sorted(set(conf or {}) - set(allowed))
    if not unknown:
        return
    if not allowed:
        hint = (" To resync a few entities, trigger ragsync_resync with type, ids or skus."
                if dag_id != "ragsync_resync" else "")
        raise ConfigError(f"{dag_id} takes no params, got {', '.join(map(repr, unknown))}.{hint}")
    raise ConfigError(f"{dag_id}: unknown param {', '.join(map(repr, unknown))}; "
                      f"allowed params: {', '.join(allowed)}")


def types_for(kind: str, subtype: str | None = None) -> tuple[str, ...]:
    """Return the entity types a run of ``kind`` covers, in the order they run.

    ``kind`` is an entity type, or ``cms`` for CMS pages and blocks. ``subtype`` narrows a CMS run
    (a :data:`~ragsync.vocabulary.CMS_SCOPES` word: ``pages``, ``blocks``; None: both). A
    promotion run is always the one type ``promotion``; its ``subtype`` (``cart``, ``catalog``)
    picks the rule tables instead (:func:`with_promotion_type`).
    """
    if kind == "cms":
        scope = subtype or "all"
        if scope not in CMS_SCOPES:
            raise ConfigError(f"CMS type must be one of {', '.join(CMS_SCOPES)}, got {subtype!r}")
        return CMS_SCOPES[scope]
    if kind not in ENTITY_TYPES:
        raise ConfigError(f"type must be one of {', '.join((*ENTITY_TYPES, 'cms'))}, got {kind!r}")
    if subtype is not None and (kind != "promotion" or subtype not in PROMOTION_SCOPES):
        raise ConfigError(f"{kind} runs take no type {subtype!r}"
                          + (f" (promotions: {', '.join(PROMOTION_SCOPES)})" if kind == "promotion" else ""))
    return (kind,)


def with_promotion_type(settings: Settings, promotion_type: str | None) -> Settings:
    """Return the settings with ``promotions.type`` set to ``promotion_type`` (None: as configured)."""
    if not promotion_type:
        return settings
    if promotion_type not in PROMOTION_SCOPES:
        raise ConfigError(f"promotion type must be one of {', '.join(PROMOTION_SCOPES)}, got {promotion_type!r}")
    return replace(settings, promotions=replace(settings.promotions, type=promotion_type))


def promotion_ids(ids: Any, promotion_type: str | None) -> list[str] | None:
    """Turn rule ids into promotion ids: ``cart-N``/``catalog-N`` by type (both kinds for ``both``)."""
    if not ids:
        return None
    kinds = PROMOTION_SCOPES.get(promotion_type or "both", PROMOTION_SCOPES["both"])
    result: list[str] = []
    for raw in ids:
        text = str(raw).strip()
        if text.startswith(tuple(f"{kind}-" for kind in PROMOTION_KINDS)):
            result.append(text)
        else:
            result.extend(f"{kind}-{text}" for kind in kinds)
    return result


def entity_ids(entity_type: str, raw_ids: Sequence[Any] | None, promotion_type: str | None = None) -> list[Any] | None:
    """Validate the ids a run of one type is limited to (None: every entity); rule ids become promotion ids."""
    from ragsync.pipeline.sync import parse_ids

    return parse_ids(entity_type, promotion_ids(raw_ids, promotion_type) if entity_type == "promotion" else raw_ids)


def skus_to_ids(magento: Database, skus: Sequence[Any]) -> list[int]:
    """Return the product entity ids of ``skus`` (one query); refuse SKUs Magento does not have."""
    wanted: list[str] = []
    for sku in skus:
        if not isinstance(sku, str) or not sku.strip():
            raise ConfigError(f"skus must be a list of non-empty strings, got {sku!r}")
        wanted.append(sku.strip())
    if len(wanted) > MAX_SKUS:
        raise ConfigError(f"skus: at most {MAX_SKUS:,} per run, got {len(wanted):,}")
    if not wanted:
        return []
    marks = ", ".join(["%s"] * len(wanted))
    rows = magento.query(
        f"SELECT DISTINCT entity_id, sku FROM {magento.table('catalog_product_entity')} WHERE sku IN ({marks})",
        wanted)
    # MySQL compares SKUs with the column's collation (case-insensitive in Magento): so does this
    found = {str(sku).casefold(): int(entity_id) for entity_id, sku in rows}
    missing = [sku for sku in wanted if sku.casefold() not in found]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise ConfigError(f"no product with SKU {shown} in Magento; nothing was queued")
    return sorted({found[sku.casefold()] for sku in wanted})


def resync_from_params(params: Mapping[str, Any], magento: Database) -> Resync:
    """Validate the params of a ``ragsync_resync`` run (ids, SKUs, type, store) before any work."""
    from ragsync.magento.context import MagentoContext

    refuse_unknown_params("ragsync_resync", params, RESYNC_PARAMS)
    entity_type = params.get("type") or "product"
    if entity_type not in ENTITY_TYPES:
        raise ConfigError(f"param type must be one of {', '.join(ENTITY_TYPES)}, got {entity_type!r}")
    raw_ids = list(params.get("ids") or [])
    skus = list(params.get("skus") or [])
    if skus and entity_type != "product":
        raise ConfigError(f"param skus only applies to type product, not {entity_type}")
    if skus:
        raw_ids.extend(skus_to_ids(magento, skus))
    if not raw_ids:
        raise ConfigError("ragsync_resync needs ids or skus: it syncs exactly those entities. To sync a whole "
                          "type, trigger its full-sync DAG (e.g. ragsync_full_product_sync).")
    ids = entity_ids(entity_type, raw_ids)
    store = params.get("store")
    store = None if store in (None, "") else str(store)
    if store is not None and entity_type != "promotion":
        MagentoContext(magento).select_stores([store])  # an unknown store lists the valid ones
    elif store is not None:
        raise ConfigError("param store does not apply to promotions (rules belong to websites)")
    return Resync(entity_type, list(ids or []), store, bool(params.get("force")), bool(params.get("dry_run")))
