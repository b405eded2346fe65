"""Turn a generated Open Source demo database into Adobe Commerce's content-staging layout (for tests).

Adobe Commerce (with the staging modules) versions products, categories, CMS pages and blocks and
both kinds of price rules (NOTES.md section 11). :func:`convert_to_commerce` rewrites a demo
database in place the way that layout looks:

* each staged entity table gets ``row_id`` as its primary key (``row_id = id + ROW_ID_OFFSET``, so
  a reader that joins on the wrong column finds nothing), its id column becomes a plain key, and
  ``created_in = 1`` / ``updated_in = 2147483647`` mark every row as the current version;
* ``sequence_product``, ``sequence_catalog_category``, ``sequence_cms_page``, ``sequence_cms_block``,
  ``sequence_salesrule`` and ``sequence_catalogrule`` hold the entity ids;
* value tables (``catalog_{product,category}_entity_<type>``, the media-gallery value tables) and
  the store/website/group link tables of CMS and rules have ``row_id`` instead of the id column;
  ``catalog_product_super_attribute.product_id``, ``catalog_product_super_link.parent_id`` and
  ``catalog_product_relation.parent_id`` keep their names but hold row ids;
* tables keyed by entity id stay as they are (websites, categories, stock, url_rewrite, coupons,
  labels, index tables).

:func:`schedule_update` adds a staged version of one entity: the current row ends at the update's
version and a copy (values, gallery, configurable links) starts there. The demo uses it twice:
one product whose *past* update made a new version current (the reader must read the new row)
and one product with a *future* update that must not be read yet.

Foreign keys are dropped by the conversion: the tests read the data, they do not maintain it.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ragsync.db import Database

log = logging.getLogger(__name__)

ROW_ID_OFFSET = 100_000
FIRST_VERSION = 1
MAX_VERSION = 2_147_483_647


@dataclass(frozen=True)
class StagedEntity:
    """One staged entity table and the tables keyed by its row id."""

    table: str
    id_column: str
    sequence: str
    renamed: tuple[tuple[str, str], ...] = ()
    """(table, column): the column becomes ``row_id`` and holds row ids."""
    rekeyed: tuple[tuple[str, str], ...] = ()
    """(table, column): the column keeps its name and holds row ids."""
    value_tables: tuple[str, ...] = ()
    """Tables of (attribute_id, store_id, row_id, value) rows copied by :func:`schedule_update`."""


_PRODUCT_VALUES = tuple(f"catalog_product_entity_{t}" for t in ("datetime", "decimal", "int", "text", "varchar"))
_CATEGORY_VALUES = tuple(f"catalog_category_entity_{t}" for t in ("datetime", "decimal", "int", "text", "varchar"))

STAGED_ENTITIES: tuple[StagedEntity, ...] = (
    StagedEntity(
        "catalog_product_entity", "entity_id", "sequence_product",
        renamed=tuple((t, "entity_id") for t in _PRODUCT_VALUES) + (
            ("catalog_product_entity_media_gallery_value", "entity_id"),
            ("catalog_product_entity_media_gallery_value_to_entity", "entity_id"),
        ),
        rekeyed=(
            ("catalog_product_super_attribute", "product_id"),
            ("catalog_product_super_link", "parent_id"),
            ("catalog_product_relation", "parent_id"),
        ),
        value_tables=_PRODUCT_VALUES,
    ),
    StagedEntity(
        "catalog_category_entity", "entity_id", "sequence_catalog_category",
        renamed=tuple((t, "entity_id") for t in _CATEGORY_VALUES),
        value_tables=_CATEGORY_VALUES,
    ),
    StagedEntity("cms_page", "page_id", "sequence_cms_page", renamed=(("cms_page_store", "page_id"),)),
    StagedEntity("cms_block", "block_id", "sequence_cms_block", renamed=(("cms_block_store", "block_id"),)),
    StagedEntity(
        "salesrule", "rule_id", "sequence_salesrule",
        renamed=(("salesrule_website", "rule_id"), ("salesrule_customer_group", "rule_id")),
    ),
    StagedEntity(
        "catalogrule", "rule_id", "sequence_catalogrule",
        renamed=(("catalogrule_website", "rule_id"), ("catalogrule_customer_group", "rule_id")),
    ),
)


@dataclass
class CommerceLayout:
    """What the conversion did: the row id offset and the staged updates it added."""

    row_id_offset: int
    now: datetime
    past_update: int | None = None
    """Product whose update started yesterday: its new row is current."""
    future_update: int | None = None
    """Product with an update scheduled next week: its new row must not be read."""
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    """product id -> the values its staged row changed (by attribute code)."""


def staging_version(moment: datetime) -> int:
    """Return the staging version id of a moment (a Unix timestamp; naive means UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return calendar.timegm(moment.timetuple())


def _columns(db: Database, table: str) -> list[tuple[str, str, str]]:
    """Return (name, column type, extra) of a table's columns in order."""
    rows = db.query(
        "SELECT column_name, column_type, extra FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position",
        (db.prefix + table,),
    )
    return [(str(n), str(t), str(e)) for n, t, e in rows]


def _keep_timestamps(db: Database, table: str) -> str:
    """Return ``, col = col`` for the ``ON UPDATE CURRENT_TIMESTAMP`` columns, so a rewrite keeps their values."""
    columns = [name for name, _type, extra in _columns(db, table) if "on update" in extra.lower()]
    return "".join(f", `{c}` = `{c}`" for c in columns)


def _has_table(db: Database, table: str) -> bool:
    return bool(db.scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
        (db.prefix + table,),
    ))


def _drop_foreign_keys(db: Database) -> None:
    rows = db.query(
        "SELECT table_name, constraint_name FROM information_schema.referential_constraints"
        " WHERE constraint_schema = DATABASE()"
    )
    for table, constraint in rows:
        db.execute(f"ALTER TABLE `{table}` DROP FOREIGN KEY `{constraint}`")


def _stage_entity(db: Database, entity: StagedEntity, offset: int) -> None:
    t = db.table
    ident = entity.id_column
    db.execute(
        f"CREATE TABLE {t(entity.sequence)} (`sequence_value` int unsigned NOT NULL AUTO_INCREMENT,"
        f" PRIMARY KEY (`sequence_value`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    db.execute(f"INSERT INTO {t(entity.sequence)} (sequence_value) SELECT {ident} FROM {t(entity.table)}")
    id_type = next(ct for name, ct, _extra in _columns(db, entity.table) if name == ident)
    db.execute(
        f"ALTER TABLE {t(entity.table)} MODIFY `{ident}` {id_type} NOT NULL,"
        f" ADD COLUMN `row_id` int unsigned NOT NULL DEFAULT 0 FIRST,"
        f" ADD COLUMN `created_in` bigint unsigned NOT NULL DEFAULT {FIRST_VERSION} AFTER `{ident}`,"
        f" ADD COLUMN `updated_in` bigint unsigned NOT NULL DEFAULT {MAX_VERSION} AFTER `created_in`"
    )
    db.execute(f"UPDATE {t(entity.table)} SET row_id = {ident} + %s{_keep_timestamps(db, entity.table)}", (offset,))
    db.execute(
        f"ALTER TABLE {t(entity.table)} DROP PRIMARY KEY,"
        f" MODIFY `row_id` int unsigned NOT NULL AUTO_INCREMENT, ADD PRIMARY KEY (`row_id`),"
        f" ADD KEY `{entity.table.upper()}_{ident.upper()}` (`{ident}`),"
        f" ADD KEY `{entity.table.upper()}_CREATED_IN` (`created_in`),"
        f" ADD KEY `{entity.table.upper()}_UPDATED_IN` (`updated_in`)"
    )
    for table, column in entity.renamed:
        if not _has_table(db, table):
            continue
        db.execute(f"ALTER TABLE {t(table)} CHANGE `{column}` `row_id` int unsigned NOT NULL DEFAULT 0")
        db.execute(f"UPDATE {t(table)} SET row_id = row_id + %s", (offset,))
    for table, column in entity.rekeyed:
        if not _has_table(db, table):
            continue
        db.execute(f"UPDATE {t(table)} SET `{column}` = `{column}` + %s", (offset,))


def _row_id(db: Database, entity: StagedEntity, entity_id: int, version: int) -> int:
    row = db.scalar(
        f"SELECT row_id FROM {db.table(entity.table)} WHERE {entity.id_column} = %s"
        f" AND created_in <= %s AND updated_in > %s",
        (entity_id, version, version),
    )
    if row is None:
        raise ValueError(f"{entity.table} {entity_id} has no row version active at {version}")
    return int(row)


def _copy_rows(db: Database, table: str, key: str, old: int, new: int) -> None:
    """Copy the rows of ``table`` whose ``key`` is ``old`` to ``new`` (auto-increment ids renewed)."""
    columns = [name for name, _type, extra in _columns(db, table) if "auto_increment" not in extra]
    others = [c for c in columns if c != key]
    names = ", ".join(f"`{c}`" for c in [key, *others])
    db.execute(
        f"INSERT INTO {db.table(table)} ({names}) SELECT %s, {', '.join(f'`{c}`' for c in others)}"
        f" FROM {db.table(table)} WHERE `{key}` = %s",
        (new, old),
    )


def schedule_update(
    db: Database,
    entity_id: int,
    version: int,
    values: Mapping[str, Any],
    entity: StagedEntity = STAGED_ENTITIES[0],
    entity_type_code: str = "catalog_product",
) -> int:
    """Add a staged version of an entity starting at ``version`` with changed store-0 ``values``; return its row id.

    The row version that covers ``version`` ends there; the new row (a copy with its values,
    gallery and configurable links) runs from ``version`` to the end of time.
    """
    t = db.table
    old = _row_id(db, entity, entity_id, version)
    columns = [name for name, _type, _extra in _columns(db, entity.table) if name not in ("row_id",)]
    copied = [c for c in columns if c not in ("created_in", "updated_in")]
    names = ", ".join(f"`{c}`" for c in copied)
    db.execute(
        f"INSERT INTO {t(entity.table)} ({names}, `created_in`, `updated_in`)"
        f" SELECT {names}, %s, `updated_in` FROM {t(entity.table)} WHERE row_id = %s",
        (version, old),
    )
    new = int(db.scalar("SELECT LAST_INSERT_ID()"))
    db.execute(f"UPDATE {t(entity.table)} SET updated_in = %s{_keep_timestamps(db, entity.table)}"
               f" WHERE row_id = %s", (version, old))
    for table, _column in entity.renamed:
        if _has_table(db, table):
            _copy_rows(db, table, "row_id", old, new)
    for table, column in entity.rekeyed:
        if table == "catalog_product_super_attribute" and _has_table(db, table):
            _copy_super_attributes(db, old, new)
        elif _has_table(db, table):
            _copy_rows(db, table, column, old, new)
    if values:
        attributes = {
            str(code): (int(aid), str(backend))
            for aid, code, backend in db.query(
                f"SELECT a.attribute_id, a.attribute_code, a.backend_type FROM {t('eav_attribute')} a"
                f" JOIN {t('eav_entity_type')} et ON et.entity_type_id = a.entity_type_id"
                f" WHERE et.entity_type_code = %s",
                (entity_type_code,),
            )
        }
        for code, value in values.items():
            attribute_id, backend = attributes[code]
            table = f"{entity.table}_{backend}"
            db.execute(
                f"INSERT INTO {t(table)} (attribute_id, store_id, row_id, value) VALUES (%s, 0, %s, %s)"
                f" ON DUPLICATE KEY UPDATE value = VALUES(value)",
                (attribute_id, new, value),
            )
    return new


def _copy_super_attributes(db: Database, old: int, new: int) -> None:
    t = db.table
    for super_id, attribute_id, position in db.query(
        f"SELECT product_super_attribute_id, attribute_id, position FROM {t('catalog_product_super_attribute')}"
        f" WHERE product_id = %s",
        (old,),
    ):
        db.execute(
            f"INSERT INTO {t('catalog_product_super_attribute')} (product_id, attribute_id, position)"
            f" VALUES (%s, %s, %s)",
            (new, attribute_id, position),
        )
        copy_id = int(db.scalar("SELECT LAST_INSERT_ID()"))
        db.execute(
            f"INSERT INTO {t('catalog_product_super_attribute_label')}"
            f" (product_super_attribute_id, store_id, use_default, value)"
            f" SELECT %s, store_id, use_default, value FROM {t('catalog_product_super_attribute_label')}"
            f" WHERE product_super_attribute_id = %s",
            (copy_id, super_id),
        )


def _pick_products(db: Database, count: int) -> list[int]:
    """Return enabled, visible simple products assigned to a website (the demo's ordinary products)."""
    t = db.table
    rows = db.query(
        f"SELECT e.entity_id FROM {t('catalog_product_entity')} e"
        f" JOIN {t('eav_entity_type')} et ON et.entity_type_code = 'catalog_product'"
        f" JOIN {t('eav_attribute')} st ON st.attribute_code = 'status' AND st.entity_type_id = et.entity_type_id"
        f" JOIN {t('catalog_product_entity_int')} s ON s.entity_id = e.entity_id"
        f" AND s.attribute_id = st.attribute_id AND s.store_id = 0 AND s.value = 1"
        f" JOIN {t('eav_attribute')} vt ON vt.attribute_code = 'visibility' AND vt.entity_type_id = et.entity_type_id"
        f" JOIN {t('catalog_product_entity_int')} v ON v.entity_id = e.entity_id"
        f" AND v.attribute_id = vt.attribute_id AND v.store_id = 0 AND v.value = 4"
        f" WHERE e.type_id = 'simple'"
        f" AND EXISTS (SELECT 1 FROM {t('catalog_product_website')} w WHERE w.product_id = e.entity_id)"
        f" AND NOT EXISTS (SELECT 1 FROM {t('catalog_product_super_link')} l WHERE l.product_id = e.entity_id)"
        f" ORDER BY e.entity_id DESC LIMIT %s",
        (count,),
    )
    return [int(r[0]) for r in rows]


def convert_to_commerce(
    db: Database,
    now: datetime | None = None,
    past_update: int | None = None,
    future_update: int | None = None,
    offset: int = ROW_ID_OFFSET,
) -> CommerceLayout:
    """Rewrite an Open Source demo database into the Adobe Commerce staging layout, with two staged updates.

    ``past_update`` / ``future_update`` name the products that get an update that started a day
    before ``now`` / starts a week after it (None: two ordinary simple products are picked;
    0: no such update). Their staged rows change ``name`` (and the future one ``price``).
    """
    moment = now or datetime.now(UTC).replace(tzinfo=None)
    if past_update is None or future_update is None:
        picked = _pick_products(db, 2)
        if past_update is None:
            past_update = picked[0] if picked else 0
        if future_update is None:
            future_update = picked[1] if len(picked) > 1 else 0
    layout = CommerceLayout(row_id_offset=offset, now=moment)
    db.execute("SET SESSION foreign_key_checks = 0")
    try:
        _drop_foreign_keys(db)
        for entity in STAGED_ENTITIES:
            if _has_table(db, entity.table):
                _stage_entity(db, entity, offset)
        names = dict(db.query(
            f"SELECT v.row_id - %s, v.value FROM {db.table('catalog_product_entity_varchar')} v"
            f" JOIN {db.table('eav_attribute')} a ON a.attribute_id = v.attribute_id"
            f" JOIN {db.table('eav_entity_type')} et ON et.entity_type_id = a.entity_type_id"
            f" WHERE a.attribute_code = 'name' AND et.entity_type_code = 'catalog_product' AND v.store_id = 0",
            (offset,),
        ))
        if past_update:
            changes = {"name": f"{names.get(past_update, 'Product')} (2nd edition)"}
            schedule_update(db, past_update, staging_version(moment - timedelta(days=1)), changes)
            layout.past_update = past_update
            layout.updates[past_update] = changes
        if future_update:
            changes = {"name": f"{names.get(future_update, 'Product')} (next season)", "price": "1.000000"}
            schedule_update(db, future_update, staging_version(moment + timedelta(days=7)), changes)
            layout.future_update = future_update
            layout.updates[future_update] = changes
    finally:
        db.execute("SET SESSION foreign_key_checks = 1")
    log.info("converted %s to the Adobe Commerce staging layout (row_id = id + %s)", db.params.describe(), offset)
    return layout
