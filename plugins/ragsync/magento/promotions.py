"""The promotion reader: cart price rules (``cart-<rule_id>``) and catalog price rules (``catalog-<rule_id>``).

Set-based: a chunk of ids costs at most :data:`QUERIES_PER_CHUNK` statements whatever its size,
two per rule kind present in the chunk: the rules themselves, and one ``UNION ALL`` of their
websites, customer groups, store labels and (cart rules, when ``include_coupon_codes`` is on)
primary coupon codes; plus, when the chunk's conditions name categories or product attributes,
one ``UNION ALL`` of those category names, attribute labels and option labels for the store views.

Conditions: ``conditions_serialized`` (and, for cart rules, ``actions_serialized``) are read in
either stored form (PHP ``serialize()`` of Magento 2.1, JSON of 2.2+) by
:mod:`ragsync.documents.rule_conditions` and sent in words (``data.conditions``, ``data.actions``).
Stored conditions that cannot be read do not stop the document: it says that it cannot show
them, and a problem is reported for each store view.

Which rules belong to a store view: the rule's kind is selected by ``promotions.type``, it is
active, assigned to the store view's website, and the store view's local date today (in its
``general/locale/timezone``) lies inside ``[from_date, to_date]``, both ends inclusive and NULL
meaning open. Everything else that the reader is asked about is a delete for that store view.

Rules carry no timestamps in Magento: :meth:`PromotionReader.changed_ids` returns every rule
of both kinds and the content hash decides what is queued (a rule that starts or ends today
changes membership without any row changing). ``data.updated_at`` is therefore null.

Ids: :meth:`PromotionReader.iter_id_chunks` pages through the kinds that ``promotions.type``
selects (``reader.kinds``), so a run limited to cart rules never produces catalog-rule deletes;
``read`` answers for any id (a kind that is not selected reads as a delete) and
``existing_ids`` reports what exists in Magento whatever the setting, so reconciliation never
removes rules that merely were not read. Adobe Commerce: ``salesrule``/``catalogrule`` and their
website and customer-group tables are keyed by ``row_id``; the row version active at ``now`` is read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property, partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ragsync.documents.markdown import html_to_markdown
from ragsync.documents.model import Document, Problem, ReadBatch
from ragsync.documents.render import discount_sentence, promotion_content
from ragsync.documents.rule_conditions import (
    Condition,
    ConditionError,
    Names,
    References,
    describe,
    parse_conditions,
    references,
)
from ragsync.documents.shapes import DiscountData, PromotionData, as_document_data
from ragsync.documents.text import ContentError, check_document_size, clean_text, decode_text, format_price
from ragsync.magento.base import (
    DEFAULT_CHUNK_SIZE,
    ChunkedReader,
    existing_in_table,
    keyset_chunks,
)
from ragsync.magento.context import StoreView
from ragsync.magento.eav import current_version_condition
from ragsync.vocabulary import PROMOTION_KINDS, PROMOTION_SCOPES

log = logging.getLogger(__name__)

KINDS = PROMOTION_KINDS
CART, CATALOG = KINDS
RULE_TABLES = {CART: "salesrule", CATALOG: "catalogrule"}

COUPON_NONE = 1
COUPON_SPECIFIC = 2
COUPON_AUTO = 3
# salesrule.simple_free_shipping (Magento_OfflineShipping): 1 = matching items only, 2 = whole shipment
FREE_SHIPPING = {0: None, 1: "matching_items", 2: "whole_shipment"}
QUERIES_PER_CHUNK = 2 * len(KINDS) + 1
UNREADABLE_CONDITIONS = "- conditions ragsync cannot show (the stored conditions could not be read)"


def promotion_id(kind: str, rule_id: int) -> str:
    """Return the document id of a rule: ``cart-<rule_id>`` or ``catalog-<rule_id>``."""
    return f"{kind}-{int(rule_id)}"


def parse_promotion_id(value: object) -> tuple[str, int] | None:
    """Return (kind, rule_id) of a promotion id such as ``cart-3``, or None when it is not one."""
    kind, _, number = str(value).strip().partition("-")
    if kind in KINDS and number.isdigit() and int(number) > 0:
        return kind, int(number)
    return None


def local_date(moment: datetime, timezone: str) -> date:
    """Return the calendar date of a naive-UTC moment in a store view's timezone (UTC when unknown)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone %r: comparing rule dates in UTC", timezone)
        zone = ZoneInfo("UTC")
    return moment.replace(tzinfo=UTC).astimezone(zone).date()


@dataclass
class _Rule:
    kind: str
    rule_id: int
    name: bytes | str | None
    description: bytes | str | None
    from_date: date | None
    to_date: date | None
    is_active: bool
    sort_order: int
    stop_rules_processing: bool
    simple_action: str | None
    discount_amount: Any
    discount_qty: Any = None
    discount_step: int = 0
    apply_to_shipping: bool = False
    coupon_type: int = COUPON_NONE
    use_auto_generation: bool = False
    free_shipping: int = 0
    websites: set[int] = field(default_factory=set)
    customer_groups: set[int] = field(default_factory=set)
    labels: dict[int, bytes | str | None] = field(default_factory=dict)
    coupon_code: bytes | str | None = None
    conditions: Condition | None = None
    actions: Condition | None = None
    condition_problems: list[str] = field(default_factory=list)
    """What could not be read of ``conditions_serialized``/``actions_serialized`` (the words say so too)."""
    unreadable: set[str] = field(default_factory=set)
    """The columns whose stored conditions could not be read."""


@dataclass
class PromotionChunk:
    """The raw rows of one chunk of promotion ids (building documents needs no database)."""

    ids: list[str]
    parsed: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    rules: dict[tuple[str, int], _Rule] = field(default_factory=dict)
    names: dict[int, Names] = field(default_factory=dict)
    """Store id -> the category, attribute and option names the chunk's conditions use."""


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _parse(rule: _Rule, column: str, raw: bytes | str | None) -> Condition | None:
    """Return the condition tree of one stored column; a malformed one is recorded on the rule, not raised."""
    try:
        return parse_conditions(raw)
    except ConditionError as exc:
        log.warning("%s rule %s: %s cannot be read: %s", rule.kind, rule.rule_id, column, exc)
        rule.unreadable.add(column)
        rule.condition_problems.append(f"{column}: cannot be read ({exc}); the document says so")
        return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


class PromotionReader(ChunkedReader[str, Any]):
    """Read cart and catalog price rules into per-store-view promotion documents (see the module docstring)."""

    entity_type = "promotion"

    def setup(self) -> None:
        """Read this reader's settings (called once by ``ChunkedReader.__init__``; no database access)."""
        self.kinds: tuple[str, ...] = PROMOTION_SCOPES[self.settings.promotions.type]
        """The rule kinds ``promotions.type`` selects: what ``iter_id_chunks`` pages through."""
        self.include_coupon_codes = self.settings.promotions.include_coupon_codes

    # --- what every chunk shares ------------------------------------------------------------
    @cached_property
    def has_free_shipping_column(self) -> bool:
        """Return True when ``salesrule.simple_free_shipping`` exists (Magento_OfflineShipping installed)."""
        return bool(self.ctx.db.scalar(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()"
            " AND table_name = %s AND column_name = 'simple_free_shipping'",
            (self.ctx.db.prefix + RULE_TABLES[CART],),
        ))

    def prepare(self) -> None:
        """Read what every chunk shares (edition, websites, customer groups) on the calling thread."""
        with self._lock:
            _ = (self.ctx.link_fields, self.ctx.websites, self.ctx.customer_groups, self.has_free_shipping_column,
                 self.ctx.attributes("catalog_product"), self.ctx.attributes("catalog_category"))

    # --- ids ----------------------------------------------------------------------------------
    def _rule_ids(self, kind: str, after: int | None, limit: int | None) -> list[int]:
        table = RULE_TABLES[kind]
        version_sql, version_params = current_version_condition(self.ctx, "r", self.now)
        sql = (f"SELECT r.rule_id FROM {self.ctx.t(table)} r WHERE r.rule_id > %s AND {version_sql}"
               f" ORDER BY r.rule_id")
        params: list[Any] = [after or 0, *version_params]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self._lock:
            return [int(r[0]) for r in self.ctx.db.query(sql, params)]

    def iter_id_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[str]]:
        """Yield the ids of every rule of the selected kinds (cart rules first), ``chunk_size`` at a time."""
        for kind in self.kinds:
            for chunk in keyset_chunks(partial(self._rule_ids, kind), chunk_size):
                yield [promotion_id(kind, rule_id) for rule_id in chunk]

    def changed_ids(self, since: datetime, until: datetime | None = None) -> list[str]:
        """Return every rule of both kinds: rules have no timestamps, the content hash decides what changed."""
        return [promotion_id(kind, rule_id) for kind in KINDS for rule_id in self._rule_ids(kind, None, None)]

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Return which of ``ids`` name a rule that exists in Magento (whatever ``promotions.type`` says)."""
        wanted: dict[str, set[int]] = defaultdict(set)
        for value in ids:
            parsed = parse_promotion_id(value)
            if parsed is not None:
                wanted[parsed[0]].add(parsed[1])
        found: set[str] = set()
        for kind, rule_ids in wanted.items():
            with self._lock:
                existing = existing_in_table(self.ctx, RULE_TABLES[kind], "rule_id", rule_ids,
                                             current_version_condition(self.ctx, "e", self.now))
            found.update(promotion_id(kind, rule_id) for rule_id in existing)
        return {value for value in ids if (p := parse_promotion_id(value)) and promotion_id(*p) in found}

    # --- reading --------------------------------------------------------------------------------


    def fetch(self, ids: Sequence[str]) -> PromotionChunk:
        """Read the raw rows of a chunk of promotion ids: two statements per rule kind in the chunk."""
        chunk = PromotionChunk(ids=[str(i) for i in dict.fromkeys(ids)])
        wanted: dict[str, list[int]] = defaultdict(list)
        for value in chunk.ids:
            parsed = parse_promotion_id(value)
            chunk.parsed[value] = parsed
            if parsed is not None and parsed[1] not in wanted[parsed[0]]:
                wanted[parsed[0]].append(parsed[1])
        with self._lock:
            for kind in KINDS:
                if wanted.get(kind):
                    self._fetch_rules(chunk, kind, sorted(wanted[kind]))
                    self._fetch_relations(chunk, kind, sorted(wanted[kind]))
            self._fetch_names(chunk)
        return chunk

    def _fetch_rules(self, chunk: PromotionChunk, kind: str, rule_ids: list[int]) -> None:
        columns = ("r.rule_id, CAST(r.name AS BINARY), CAST(r.description AS BINARY), r.from_date, r.to_date,"
                   " r.is_active, r.sort_order, r.stop_rules_processing, r.simple_action, r.discount_amount,"
                   " CAST(r.conditions_serialized AS BINARY), CAST(r.actions_serialized AS BINARY)")
        if kind == CART:
            shipping = "r.simple_free_shipping" if self.has_free_shipping_column else "0"
            columns += (", r.discount_qty, r.discount_step, r.apply_to_shipping, r.coupon_type,"
                        f" r.use_auto_generation, {shipping}")
        version_sql, version_params = current_version_condition(self.ctx, "r", self.now)
        rows = self.ctx.db.query(
            f"SELECT {columns} FROM {self.ctx.t(RULE_TABLES[kind])} r"
            f" WHERE r.rule_id IN ({_placeholders(len(rule_ids))}) AND {version_sql}",
            [*rule_ids, *version_params],
        )
        for row in rows:
            rule = _Rule(
                kind=kind, rule_id=int(row[0]), name=row[1], description=row[2],
                from_date=_as_date(row[3]), to_date=_as_date(row[4]), is_active=bool(row[5]),
                sort_order=int(row[6] or 0), stop_rules_processing=bool(row[7]),
                simple_action=row[8], discount_amount=row[9],
            )
            rule.conditions = _parse(rule, "conditions_serialized", row[10])
            if kind == CART:
                rule.actions = _parse(rule, "actions_serialized", row[11])
                rule.discount_qty = row[12]
                rule.discount_step = int(row[13] or 0)
                rule.apply_to_shipping = bool(row[14])
                rule.coupon_type = int(row[15] or COUPON_NONE)
                rule.use_auto_generation = bool(row[16])
                rule.free_shipping = int(row[17] or 0)
            chunk.rules[(kind, rule.rule_id)] = rule

    def _fetch_relations(self, chunk: PromotionChunk, kind: str, rule_ids: list[int]) -> None:
        """Read websites, customer groups, labels and primary coupons of the chunk's rules in one statement."""
        t = self.ctx.t
        table = RULE_TABLES[kind]
        link = self.ctx.link_field(table)
        ids_sql = _placeholders(len(rule_ids))
        version_sql, version_params = current_version_condition(self.ctx, "r", self.now)
        parts = [
            f"SELECT 'website', r.rule_id, x.website_id, NULL FROM {t(table + '_website')} x"
            f" JOIN {t(table)} r ON r.{link} = x.{link} WHERE r.rule_id IN ({ids_sql}) AND {version_sql}",
            f"SELECT 'group', r.rule_id, x.customer_group_id, NULL FROM {t(table + '_customer_group')} x"
            f" JOIN {t(table)} r ON r.{link} = x.{link} WHERE r.rule_id IN ({ids_sql}) AND {version_sql}",
        ]
        params: list[Any] = [*rule_ids, *version_params, *rule_ids, *version_params]
        if kind == CART:
            stores = sorted({0, *self.store_ids})
            parts.append(
                f"SELECT 'label', l.rule_id, l.store_id, CAST(l.label AS BINARY) FROM {t('salesrule_label')} l"
                f" WHERE l.rule_id IN ({ids_sql}) AND l.store_id IN ({_placeholders(len(stores))})"
            )
            params += [*rule_ids, *stores]
            if self.include_coupon_codes:
                parts.append(
                    f"SELECT 'coupon', c.rule_id, c.coupon_id, CAST(c.code AS BINARY) FROM {t('salesrule_coupon')} c"
                    f" WHERE c.rule_id IN ({ids_sql}) AND c.is_primary = 1"
                )
                params += rule_ids
        rows = self.ctx.db.query(" UNION ALL ".join(parts), params)
        for what, rule_id, key, text in rows:
            rule = chunk.rules.get((kind, int(rule_id)))
            if rule is None:
                continue
            if what == "website":
                rule.websites.add(int(key))
            elif what == "group":
                rule.customer_groups.add(int(key))
            elif what == "label":
                rule.labels[int(key)] = text
            elif what == "coupon":
                rule.coupon_code = text

    def _fetch_names(self, chunk: PromotionChunk) -> None:
        """Read the category names, attribute labels and option labels the chunk's conditions use: one statement."""
        found = References()
        for rule in chunk.rules.values():
            references(rule.conditions, found)
            references(rule.actions, found)
        product_attributes = self.ctx.attributes("catalog_product")
        attributes = {code: product_attributes[code] for code in found.attribute_codes if code in product_attributes}
        options = sorted({value for code, values in found.values.items()
                          if code in attributes and attributes[code].has_option_labels for value in values})
        option_attributes = sorted({a.attribute_id for code, a in attributes.items()
                                    if a.has_option_labels and found.values.get(code)})
        stores = sorted({0, *self.store_ids})
        name_attribute = self.ctx.attributes("catalog_category").get("name")
        t = self.ctx.t
        parts: list[str] = []
        params: list[Any] = []
        if found.category_ids and name_attribute is not None:
            link = self.ctx.link_field("catalog_category_entity")
            version_sql, version_params = current_version_condition(self.ctx, "e", self.now)
            categories = sorted(found.category_ids)
            parts.append(
                f"SELECT 'category', e.entity_id, v.store_id, CAST(v.value AS BINARY)"
                f" FROM {t(name_attribute.value_table('catalog_category_entity') or 'catalog_category_entity_varchar')} v"
                f" JOIN {t('catalog_category_entity')} e ON e.{link} = v.{link}"
                f" WHERE v.attribute_id = %s AND e.entity_id IN ({_placeholders(len(categories))})"
                f" AND v.store_id IN ({_placeholders(len(stores))}) AND {version_sql}")
            params += [name_attribute.attribute_id, *categories, *stores, *version_params]
        if attributes:
            ids = sorted(a.attribute_id for a in attributes.values())
            parts.append(
                f"SELECT 'attribute', l.attribute_id, l.store_id, CAST(l.value AS BINARY)"
                f" FROM {t('eav_attribute_label')} l WHERE l.attribute_id IN ({_placeholders(len(ids))})"
                f" AND l.store_id IN ({_placeholders(len(stores))})")
            params += [*ids, *stores]
        if options and option_attributes:
            parts.append(
                f"SELECT CONCAT('option:', o.attribute_id), o.option_id, v.store_id, CAST(v.value AS BINARY)"
                f" FROM {t('eav_attribute_option')} o"
                f" JOIN {t('eav_attribute_option_value')} v ON v.option_id = o.option_id"
                f" WHERE o.attribute_id IN ({_placeholders(len(option_attributes))})"
                f" AND o.option_id IN ({_placeholders(len(options))}) AND v.store_id IN ({_placeholders(len(stores))})")
            params += [*option_attributes, *options, *stores]
        rows = self.ctx.db.query(" UNION ALL ".join(parts), params) if parts else []
        texts: dict[tuple[str, int, int], str] = {}
        for what, key, store_id, raw in rows:
            text = clean_text(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or ""))
            if text:
                texts[(str(what), int(key), int(store_id))] = text
        codes = {a.attribute_id: code for code, a in attributes.items()}
        for store in self.stores:
            def pick(what: str, key: int, store_id: int = store.store_id) -> str | None:
                return texts.get((what, key, store_id)) or texts.get((what, key, 0))
            chunk.names[store.store_id] = Names(
                categories={c: n for c in found.category_ids if (n := pick("category", c))},
                attributes={code: n for code, a in attributes.items()
                            if (n := pick("attribute", a.attribute_id) or clean_text(a.label or ""))},
                options={(codes[int(what.partition(":")[2])], key): n
                         for (what, key, _) in texts if what.startswith("option:")
                         if (n := pick(what, key))},
                currency=store.currency,
                locale=store.locale,
            )

    # --- building -------------------------------------------------------------------------------
    def build(self, chunk: PromotionChunk) -> ReadBatch:
        """Turn the rows of one chunk into documents (no database access)."""
        batch = ReadBatch()
        for value in chunk.ids:
            parsed = chunk.parsed.get(value)
            if parsed is None:
                batch.problems.append(Problem(self.entity_type, value, None,
                                              "not a promotion id: use cart-<rule_id> or catalog-<rule_id>"))
                continue
            kind, rule_id = parsed
            doc_id = promotion_id(kind, rule_id)
            rule = chunk.rules.get(parsed) if kind in self.kinds else None
            for store in self.stores:
                if rule is None or not self._belongs(rule, store):
                    batch.documents.append(Document.delete(self.entity_type, doc_id, store.store_id, self.now))
                    continue
                try:
                    data = self._data(rule, store, chunk.names)
                    document = Document(self.entity_type, doc_id, store.store_id, "save", data, self.now)
                    check_document_size(document)
                except ContentError as exc:
                    batch.problems.append(Problem(self.entity_type, doc_id, store.store_id, exc.reason))
                    continue
                except Exception as exc:
                    log.exception("promotion %s store %s could not be built", doc_id, store.store_id)
                    batch.problems.append(
                        Problem(self.entity_type, doc_id, store.store_id, f"{type(exc).__name__}: {exc}"))
                    continue
                batch.documents.append(document)
                batch.problems.extend(Problem(self.entity_type, doc_id, store.store_id, p)
                                      for p in rule.condition_problems)
        return batch

    def _belongs(self, rule: _Rule, store: StoreView) -> bool:
        """Return True when the rule is active, on the store's website and inside its dates in the store's today."""
        if not rule.is_active or store.website_id not in rule.websites:
            return False
        today = local_date(self.now, store.timezone)
        return (rule.from_date is None or rule.from_date <= today) and (rule.to_date is None or today <= rule.to_date)

    def _label(self, rule: _Rule, store: StoreView, name: str) -> str:
        """Return the store label of a cart rule (store view, else default label), else the rule name."""
        if rule.kind == CART:
            for store_id in (store.store_id, 0):
                label = clean_text(decode_text(rule.labels.get(store_id), "label"))
                if label:
                    return label
        return name

    def _data(self, rule: _Rule, store: StoreView, chunk_names: dict[int, Names]) -> dict[str, Any]:
        name = clean_text(decode_text(rule.name, "name"))
        description = html_to_markdown(decode_text(rule.description, "description")) or None
        amount = format_price(rule.discount_amount) or 0.0
        action = rule.simple_action or "by_percent"
        cart = rule.kind == CART
        discount_qty = format_price(rule.discount_qty) if cart else None
        discount: DiscountData = {
            "simple_action": action,
            "amount": amount,
            "sentence": discount_sentence(action, amount, store.currency, rule.discount_step if cart else 0,
                                          discount_qty or None,
                                          FREE_SHIPPING.get(rule.free_shipping) if cart else None,
                                          locale=store.locale),
        }
        if cart:
            discount["discount_qty"] = discount_qty or None
            discount["discount_step"] = rule.discount_step
        names = chunk_names.get(store.store_id) or Names(currency=store.currency, locale=store.locale)
        coupon_code = None
        if (cart and self.include_coupon_codes and rule.coupon_type == COUPON_SPECIFIC
                and not rule.use_auto_generation):
            coupon_code = clean_text(decode_text(rule.coupon_code, "coupon code")) or None
        data: PromotionData = {
            "store_code": store.code,
            "locale": store.locale,
            "updated_at": None,
            "rule_type": rule.kind,
            "name": name,
            "description": description,
            "label": self._label(rule, store, name),
            "from_date": rule.from_date.isoformat() if rule.from_date else None,
            "to_date": rule.to_date.isoformat() if rule.to_date else None,
            "discount": discount,
            "currency": store.currency,
            "coupon_required": cart and rule.coupon_type != COUPON_NONE,
            "coupon_code": coupon_code,
            "customer_groups": [self.ctx.customer_groups[g] for g in sorted(rule.customer_groups)
                                if g in self.ctx.customer_groups],
            "websites": [self.ctx.websites[w] for w in sorted(rule.websites) if w in self.ctx.websites],
            "sort_order": rule.sort_order,
            "stop_rules_processing": rule.stop_rules_processing,
            "conditions": (UNREADABLE_CONDITIONS if "conditions_serialized" in rule.unreadable
                           else describe(rule.conditions, names)),
        }
        if cart:
            data["apply_to_shipping"] = rule.apply_to_shipping
            data["free_shipping"] = FREE_SHIPPING.get(rule.free_shipping)
            data["actions"] = (UNREADABLE_CONDITIONS if "actions_serialized" in rule.unreadable
                               else describe(rule.actions, names))
        data["content"] = promotion_content(data)
        return as_document_data(data)
