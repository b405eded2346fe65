"""Set-based EAV value loading with Magento's store fallback and attribute scope.

Readers of EAV entities (products, categories) load the values of a chunk of entities with
**one query per value table for all store views at once**::

    values = load_values(ctx, "catalog_product_entity", [name, status, description],
                         IdSelection.of(chunk_ids), store_ids=[1, 2])
    values.get(entity_id, "name", store_id=2)          # store 2 row, else the store 0 row
    values.resolve_all([1, 2])                          # {store_id: {entity_id: {code: value}}}

Magento's rules, applied in :meth:`EavValues.get` and :meth:`EavValues.resolve_all`:

* **Store fallback**: the value for store view S is the row with ``store_id = S`` if it exists,
  else the ``store_id = 0`` row. *A store row whose value is NULL still wins* (it yields None):
  that is what Magento's own loaders do (they test ``store_row.value_id``, not the value), so a
  store view that blanked a field shows it blank here too.
* **Scope**: attributes with ``is_global = 1`` are read at store 0 only; leftover store rows
  (from an earlier scope change) are ignored. Website-scope attributes (``is_global = 2``) are
  stored per store view by Magento and follow the store fallback.
* **Attributes by code**: callers pass :class:`~ragsync.magento.context.Attribute` objects found
  with ``ctx.attributes(...)``; the value table is the one named by the attribute's *current*
  ``backend_type`` (or its ``backend_table``). Static attributes are columns of the entity table
  and are ignored here.
* **Adobe Commerce**: value tables are keyed by ``row_id``; the query joins the entity table and
  keeps the row version active at ``now`` (``created_in <= v < updated_in``), so a scheduled
  future update is never read. Values are still returned keyed by ``entity_id``.
* **Text safety**: ``varchar`` and ``text`` values are fetched as bytes (``CAST(... AS BINARY)``)
  and decoded here, value by value, so that one row of invalid UTF-8 cannot break the whole
  chunk's fetch. Such a value reads as None and is listed by :meth:`EavValues.invalid_reasons`,
  which readers turn into a :class:`~ragsync.documents.model.Problem` for that entity only.

Chunks are selected with :class:`IdSelection`: ``BETWEEN first AND last`` for a dense,
keyset-paginated chunk (faster than an ``IN`` list of the same ids), an ``IN`` list for scattered
ids; :class:`SubquerySelection` selects ids with a subquery (children of a chunk's parents).
"""

from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragsync.magento.context import Attribute, MagentoContext

log = logging.getLogger(__name__)

TEXT_BACKENDS = frozenset({"varchar", "text"})
_MISSING = object()

# A dense chunk (ids / (last - first + 1) >= this) is selected with BETWEEN, else with IN (...).
DENSE_FRACTION = 0.5


@dataclass(frozen=True)
class IdSelection:
    """The ids of one chunk and how SQL selects them: a BETWEEN range when dense, else an IN list."""

    ids: tuple[int, ...]
    first: int
    last: int
    use_range: bool

    @classmethod
    def of(cls, ids: Iterable[int]) -> IdSelection:
        """Return the selection of ``ids`` (deduplicated, sorted)."""
        unique = tuple(sorted({int(i) for i in ids}))
        if not unique:
            return cls((), 0, -1, True)
        first, last = unique[0], unique[-1]
        dense = len(unique) >= DENSE_FRACTION * (last - first + 1)
        return cls(unique, first, last, dense)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def sql(self, column: str) -> tuple[str, list[int]]:
        """Return a condition on ``column`` selecting these ids (a superset for ranges) and its params.

        A range may also match entities that are not in ``ids`` (when the chunk was not
        keyset-paginated); callers filter rows with :meth:`contains` where that matters.
        """
        if not self.ids:
            return "1=0", []
        if self.use_range:
            return f"{column} BETWEEN %s AND %s", [self.first, self.last]
        return f"{column} IN ({', '.join(['%s'] * len(self.ids))})", list(self.ids)

    def exact_sql(self, column: str) -> tuple[str, list[int]]:
        """Return a condition on ``column`` selecting exactly ``ids`` (a range only when it has no gaps)."""
        if self.ids and not self.exact:
            return f"{column} IN ({', '.join(['%s'] * len(self.ids))})", list(self.ids)
        return self.sql(column)

    @property
    def id_set(self) -> frozenset[int]:
        """Return the ids as a frozenset."""
        cached = self.__dict__.get("_id_set")
        if cached is None:
            cached = frozenset(self.ids)
            object.__setattr__(self, "_id_set", cached)
        return cached

    @property
    def exact(self) -> bool:
        """Return True when :meth:`sql` selects exactly ``ids`` (no filtering needed)."""
        return not self.use_range or len(self.ids) == self.last - self.first + 1

    def contains(self, entity_id: int) -> bool:
        """Return True when ``entity_id`` is one of the ids."""
        return entity_id in self.id_set


@dataclass(frozen=True)
class SubquerySelection:
    """Ids selected by a SQL subquery (``column IN (SELECT ...)``), e.g. the children of a chunk's parents."""

    subquery: str
    params: tuple[Any, ...] = ()

    def __bool__(self) -> bool:
        return True

    def sql(self, column: str) -> tuple[str, list[Any]]:
        """Return ``column IN (subquery)`` and its params."""
        return f"{column} IN ({self.subquery})", list(self.params)

    @property
    def exact(self) -> bool:
        """Return True: the subquery selects exactly the wanted ids."""
        return True

    def contains(self, entity_id: int) -> bool:
        """Return True (rows are already limited by the subquery)."""
        return True


Selection = IdSelection | SubquerySelection


def staging_version(now: datetime | None) -> int:
    """Return the Adobe Commerce staging version active at ``now`` (naive = UTC; None = the current time)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return calendar.timegm(moment.timetuple())


def current_version_condition(ctx: MagentoContext, alias: str, now: datetime | None) -> tuple[str, list[int]]:
    """Return a condition keeping the row version of ``alias`` active at ``now`` (always true on Open Source)."""
    if not ctx.is_commerce:
        return "1=1", []
    version = staging_version(now)
    return f"{alias}.created_in <= %s AND {alias}.updated_in > %s", [version, version]


def entity_id_column(ctx: MagentoContext, entity_table: str) -> str:
    """Return the public id column of an entity table (``entity_id``, ``page_id``, ...)."""
    ids = {"cms_page": "page_id", "cms_block": "block_id", "salesrule": "rule_id", "catalogrule": "rule_id"}
    return ids.get(entity_table, "entity_id")


def as_int(value: Any) -> int | None:
    """Return a stored value as an int, or None when it is empty or not a number."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def decode_bytes(value: Any) -> tuple[Any, str | None]:
    """Return (text, None) for valid UTF-8 bytes or str, or (None, reason) for invalid bytes."""
    if not isinstance(value, bytes | bytearray):
        return value, None
    try:
        return bytes(value).decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"


@dataclass
class EavValues:
    """Attribute values of a chunk of entities in store 0 and some store views, before fallback.

    ``rows`` maps (entity_id, attribute_id, store_id) to the stored value; use :meth:`get` or
    :meth:`resolve_all` to apply store fallback and scope.
    """

    attributes: dict[str, Attribute]
    store_ids: tuple[int, ...]
    rows: dict[tuple[int, int, int], Any] = field(default_factory=dict)
    invalid: dict[tuple[int, int, int], str] = field(default_factory=dict)

    def _source(self, entity_id: int, attribute: Attribute, store_id: int) -> int | None:
        if store_id and attribute.is_global != 1 and (entity_id, attribute.attribute_id, store_id) in self.rows:
            return store_id
        if (entity_id, attribute.attribute_id, 0) in self.rows:
            return 0
        return None

    def get(self, entity_id: int, code: str, store_id: int, default: Any = None) -> Any:
        """Return the value of ``code`` for an entity in a store view, with fallback and scope applied."""
        attribute = self.attributes.get(code)
        if attribute is None:
            return default
        rows = self.rows
        aid = attribute.attribute_id
        if store_id and attribute.is_global != 1:
            value = rows.get((entity_id, aid, store_id), _MISSING)
            if value is not _MISSING:
                return value
        value = rows.get((entity_id, aid, 0), _MISSING)
        return default if value is _MISSING else value

    def resolve_all(self, store_ids: Iterable[int]) -> dict[int, dict[int, dict[str, Any]]]:
        """Return {store_id: {entity_id: {code: value}}} for several store views in one pass over the rows.

        Codes without any row for an entity are absent from its dict. The result is read-only: an entity without store rows in a store view shares its dict of
        default values with the other store views (no copy per store view).
        """
        by_id: dict[int, str] = {a.attribute_id: code for code, a in self.attributes.items()}
        global_ids = {a.attribute_id for a in self.attributes.values() if a.is_global == 1}
        stores = list(dict.fromkeys(store_ids))
        defaults: dict[int, dict[str, Any]] = {}
        overrides: dict[int, dict[int, dict[str, Any]]] = {s: {} for s in stores if s}
        for (entity_id, aid, sid), value in self.rows.items():
            if sid == 0:
                target = defaults.get(entity_id)
                if target is None:
                    target = defaults[entity_id] = {}
            elif sid in overrides and aid not in global_ids:
                per_store = overrides[sid]
                target = per_store.get(entity_id)
                if target is None:
                    target = per_store[entity_id] = {}
            else:
                continue
            target[by_id[aid]] = value
        result: dict[int, dict[int, dict[str, Any]]] = {}
        for store_id in stores:
            own = overrides.get(store_id)
            if not own:
                result[store_id] = defaults
                continue
            merged = dict(defaults)
            for entity_id, values in own.items():
                base = defaults.get(entity_id)
                merged[entity_id] = values if base is None else {**base, **values}
            result[store_id] = merged
        return result

    def invalid_reasons(self, entity_id: int, store_id: int, codes: Iterable[str] | None = None) -> list[str]:
        """Return why values the store view would use could not be decoded (empty when all are fine)."""
        if not self.invalid:
            return []
        reasons = []
        for code in (self.attributes if codes is None else codes):
            attribute = self.attributes.get(code)
            if attribute is None:
                continue
            source = self._source(entity_id, attribute, store_id)
            if source is None:
                continue
            reason = self.invalid.get((entity_id, attribute.attribute_id, source))
            if reason:
                reasons.append(f"{code} (store {source} value): {reason}")
        return reasons


def value_tables(attributes: Iterable[Attribute], entity_table: str) -> dict[str, list[Attribute]]:
    """Group non-static attributes by the (unprefixed) value table that holds their values."""
    tables: dict[str, list[Attribute]] = defaultdict(list)
    for attribute in attributes:
        table = attribute.value_table(entity_table)
        if table is not None:
            tables[table].append(attribute)
    return dict(tables)


def value_query(
    ctx: MagentoContext,
    entity_table: str,
    value_table: str,
    attributes: Sequence[Attribute],
    selection: Selection,
    store_ids: Iterable[int],
    now: datetime | None = None,
) -> tuple[str, list[Any]]:
    """Return the one SELECT (and params) reading ``attributes`` of the selected entities from one value table.

    Rows come as (entity_id, attribute_id, store_id, value) for store 0 and every given store view;
    ``varchar``/``text`` values come as bytes (decode with :func:`decode_bytes`).
    """
    stores = sorted(set(store_ids) | {0})
    attribute_ids = sorted({a.attribute_id for a in attributes})
    text = any(a.backend_type in TEXT_BACKENDS for a in attributes)
    value_sql = "CAST(v.value AS BINARY)" if text else "v.value"
    link = ctx.link_field(entity_table) if entity_table in ctx.link_fields else "entity_id"
    id_column = entity_id_column(ctx, entity_table)
    store_sql = f"v.store_id IN ({', '.join(['%s'] * len(stores))})"
    attr_sql = f"v.attribute_id IN ({', '.join(['%s'] * len(attribute_ids))})"
    if link == "row_id":
        id_sql, id_params = selection.sql(f"e.{id_column}")
        version_sql, version_params = current_version_condition(ctx, "e", now)
        sql = (
            f"SELECT e.{id_column}, v.attribute_id, v.store_id, {value_sql}"
            f" FROM {ctx.t(value_table)} v JOIN {ctx.t(entity_table)} e ON e.row_id = v.row_id"
            f" WHERE {id_sql} AND {version_sql} AND {attr_sql} AND {store_sql}"
        )
        return sql, [*id_params, *version_params, *attribute_ids, *stores]
    id_sql, id_params = selection.sql("v.entity_id")
    sql = (
        f"SELECT v.entity_id, v.attribute_id, v.store_id, {value_sql}"
        f" FROM {ctx.t(value_table)} v WHERE {id_sql} AND {attr_sql} AND {store_sql}"
    )
    return sql, [*id_params, *attribute_ids, *stores]


def load_values(
    ctx: MagentoContext,
    entity_table: str,
    attributes: Iterable[Attribute],
    selection: Selection | Iterable[int],
    store_ids: Iterable[int],
    now: datetime | None = None,
) -> EavValues:
    """Load attribute values of the selected entities for store 0 and ``store_ids``: one query per value table.

    ``entity_table`` is the unprefixed entity table (``catalog_product_entity``,
    ``catalog_category_entity``); ``now`` picks the Adobe Commerce row version (None = now).
    Global attributes (``is_global = 1``) are only read at store 0.
    """
    if not isinstance(selection, IdSelection | SubquerySelection):
        selection = IdSelection.of(selection)
    attrs = {a.code: a for a in attributes if a.backend_type != "static"}
    stores = tuple(sorted(set(store_ids) | {0}))
    values = EavValues(attributes=attrs, store_ids=stores)
    if not selection or not attrs:
        return values
    filter_ids = None if selection.exact or not isinstance(selection, IdSelection) else selection.id_set
    text_ids = {a.attribute_id for a in attrs.values() if a.backend_type in TEXT_BACKENDS}
    global_ids = {a.attribute_id for a in attrs.values() if a.is_global == 1}
    rows, invalid = values.rows, values.invalid
    for table, table_attrs in value_tables(attrs.values(), entity_table).items():
        sql, params = value_query(ctx, entity_table, table, table_attrs, selection, stores, now)
        found = ctx.db.query(sql, params)
        if filter_ids is None and not any(a.attribute_id in text_ids or a.attribute_id in global_ids
                                          for a in table_attrs):
            rows.update({(entity_id, attribute_id, store_id): value
                         for entity_id, attribute_id, store_id, value in found})
            continue
        for entity_id, attribute_id, store_id, value in found:
            if filter_ids is not None and entity_id not in filter_ids:
                continue
            if store_id and attribute_id in global_ids:
                continue
            if attribute_id in text_ids and value is not None:
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    invalid[(entity_id, attribute_id, store_id)] = f"invalid UTF-8 at byte {exc.start}"
                    value = None
                except AttributeError:  # already str (a driver that decodes BINARY itself)
                    pass
            rows[(entity_id, attribute_id, store_id)] = value
    return values
