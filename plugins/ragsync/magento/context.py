"""What every Magento reader needs to know about the store: store views, config, URLs, EAV, edition.

Everything here is read once per run with a handful of set-based queries and then served from
memory. Config values follow Magento's scope fallback (stores -> websites -> default -> the
module defaults of ``etc/config.xml``), and base URLs have their ``{{unsecure_base_url}}``-style
placeholders expanded. Attributes are always found by code, never by a fixed id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from ragsync.db import Database
from ragsync.errors import ConfigError, DatabaseError, UnknownStoreError

log = logging.getLogger(__name__)

CATEGORY_ENTITY_TYPE = "catalog_category"
PRODUCT_ENTITY_TYPE = "catalog_product"

# Module defaults (etc/config.xml of Store, Directory, Catalog) for the paths readers use.
CONFIG_DEFAULTS: dict[str, str] = {
    "web/unsecure/base_link_url": "{{unsecure_base_url}}",
    "web/secure/base_link_url": "{{secure_base_url}}",
    "web/secure/use_in_frontend": "0",
    "web/url/use_store": "0",
    "web/seo/use_rewrites": "1",
    "general/locale/code": "en_US",
    "general/locale/timezone": "America/Los_Angeles",
    "currency/options/base": "USD",
    "currency/options/default": "USD",
    "currency/options/allow": "USD",
    "catalog/seo/product_url_suffix": ".html",
    "catalog/seo/category_url_suffix": ".html",
    "web/default/cms_home_page": "home",
}


@dataclass(frozen=True)
class StoreView:
    """One active store view with everything a document needs about it."""

    store_id: int
    code: str
    name: str
    website_id: int
    website_code: str
    group_id: int
    root_category_id: int
    locale: str
    timezone: str
    currency: str
    """The base currency (``currency/options/base``): the unit of every price Magento stores."""
    display_currency: str
    """The currency the storefront shows prices in (``Store::getCurrentCurrency()``): the default display
    currency when it is allowed, else the first allowed one, and the base currency when
    ``directory_currency_rate`` has no rate from the base currency to it."""
    display_rate: Decimal
    """The rate from ``currency`` to ``display_currency`` (1 when they are the same)."""
    base_url: str
    """Absolute link URL for pages of this store view, ending in ``/`` (store code and
    ``index.php/`` included when the config asks for them)."""
    media_url: str
    """Absolute media base URL ending in ``/`` (``.../media/``)."""
    static_base_url: str
    """The plain (secure or unsecure) base URL of the store view, ending in ``/``."""


@dataclass(frozen=True)
class Attribute:
    """An EAV attribute as read from ``eav_attribute`` + ``catalog_eav_attribute``."""

    attribute_id: int
    code: str
    backend_type: str
    frontend_input: str | None
    label: str | None
    source_model: str | None
    is_global: int
    is_user_defined: bool
    is_visible_on_front: bool
    backend_table: str | None

    @property
    def has_option_labels(self) -> bool:
        """Return True when values are option ids whose labels live in eav_attribute_option_value."""
        return self.frontend_input in ("select", "multiselect") and (
            self.source_model in (None, "", "Magento\\Eav\\Model\\Entity\\Attribute\\Source\\Table")
        )

    def value_table(self, entity_table: str) -> str | None:
        """Return the unprefixed value table name (None for static attributes)."""
        if self.backend_type == "static":
            return None
        return self.backend_table or f"{entity_table}_{self.backend_type}"


def expand_placeholders(url: str, unsecure_base: str, secure_base: str) -> str:
    """Replace Magento's ``{{unsecure_base_url}}``/``{{secure_base_url}}``/``{{base_url}}`` placeholders."""
    return (
        url.replace("{{unsecure_base_url}}", unsecure_base)
        .replace("{{secure_base_url}}", secure_base)
        .replace("{{base_url}}", unsecure_base)
    )


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


class MagentoContext:
    """Store views, config, attributes and edition of one Magento database, loaded lazily once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def t(self, name: str) -> str:
        """Return the quoted, prefixed name of a Magento table."""
        return self.db.table(name)

    def clock(self) -> datetime:
        """Return Magento's database clock, naive UTC with microseconds (the clock of ``updated_at``).

        Readers stamp every chunk with it before they read (``Document.read_at``), capture takes
        its watermark from it: one clock for every process that reads this shop.
        """
        value = self.db.scalar("SELECT UTC_TIMESTAMP(6)")
        if not isinstance(value, datetime):
            raise DatabaseError(f"the Magento database answered {value!r} to SELECT UTC_TIMESTAMP(6)")
        return value

    # --- edition ------------------------------------------------------------------------
    @cached_property
    def link_fields(self) -> dict[str, str]:
        """Return, per entity table, the column value tables join on: ``row_id`` (Adobe Commerce) or the id."""
        tables = {
            "catalog_product_entity": "entity_id",
            "catalog_category_entity": "entity_id",
            "cms_page": "page_id",
            "cms_block": "block_id",
            "salesrule": "rule_id",
            "catalogrule": "rule_id",
        }
        rows = self.db.query(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = DATABASE()"
            " AND column_name = 'row_id' AND table_name IN ("
            + ", ".join(["%s"] * len(tables)) + ")",
            [self.db.prefix + t for t in tables],
        )
        staged = {r[0][len(self.db.prefix):] for r in rows}
        return {t: ("row_id" if t in staged else ident) for t, ident in tables.items()}

    @property
    def is_commerce(self) -> bool:
        """Return True for an Adobe Commerce (content staging, ``row_id``) database."""
        return self.link_fields["catalog_product_entity"] == "row_id"

    def link_field(self, entity_table: str) -> str:
        """Return the link column of ``entity_table``."""
        return self.link_fields[entity_table]

    def staging_condition(self, alias: str) -> str:
        """Return a SQL condition selecting the row version active now (always true on Open Source)."""
        if not self.is_commerce:
            return "1=1"
        return f"({alias}.created_in <= UNIX_TIMESTAMP() AND {alias}.updated_in > UNIX_TIMESTAMP())"

    # --- config -------------------------------------------------------------------------
    @cached_property
    def _config(self) -> dict[tuple[str, int, str], str | None]:
        rows = self.db.query(f"SELECT scope, scope_id, path, value FROM {self.t('core_config_data')}")
        return {(scope, int(scope_id), path): value for scope, scope_id, path, value in rows}

    @cached_property
    def _store_rows(self) -> list[dict[str, Any]]:
        return self.db.query_dicts(
            f"SELECT s.store_id, s.code, s.name, s.website_id, s.group_id, s.is_active, s.sort_order,"
            f" w.code AS website_code, g.root_category_id"
            f" FROM {self.t('store')} s"
            f" JOIN {self.t('store_website')} w ON w.website_id = s.website_id"
            f" JOIN {self.t('store_group')} g ON g.group_id = s.group_id"
            f" ORDER BY s.sort_order, s.store_id"
        )

    def config_paths(self) -> set[tuple[str, int, str]]:
        """Return the ``(scope, scope_id, path)`` of every row of ``core_config_data``."""
        return set(self._config)

    def config(self, path: str, store_id: int | None = None) -> str | None:
        """Return a config value with Magento's scope fallback: stores -> websites -> default -> module default."""
        if store_id:
            value = self._config.get(("stores", store_id, path))
            if ("stores", store_id, path) in self._config:
                return value
            website_id = self._website_of(store_id)
            if website_id is not None and ("websites", website_id, path) in self._config:
                return self._config[("websites", website_id, path)]
        if ("default", 0, path) in self._config:
            return self._config[("default", 0, path)]
        return CONFIG_DEFAULTS.get(path)

    def _website_of(self, store_id: int) -> int | None:
        for row in self._store_rows:
            if row["store_id"] == store_id:
                return int(row["website_id"])
        return None

    def config_flag(self, path: str, store_id: int | None = None) -> bool:
        """Return a yes/no config value as a bool."""
        return str(self.config(path, store_id) or "0").strip() in ("1", "true")

    # --- currencies ---------------------------------------------------------------------
    @cached_property
    def currency_rates(self) -> dict[tuple[str, str], Decimal]:
        """Return (currency_from, currency_to) -> rate of ``directory_currency_rate`` (positive rates only).

        Read once per context; a database without the table (it is Magento's own, so only a
        stripped-down copy lacks it) has no rates.
        """
        present = self.db.scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
            (self.db.prefix + "directory_currency_rate",))
        if not present:
            return {}
        rows = self.db.query(f"SELECT currency_from, currency_to, rate FROM {self.t('directory_currency_rate')}")
        return {(str(f).strip(), str(t).strip()): Decimal(str(r)) for f, t, r in rows
                if r is not None and Decimal(str(r)) > 0}

    def display_currency(self, store_id: int, base: str) -> tuple[str, Decimal]:
        """Return the currency a store view shows prices in and the rate from ``base`` to it.

        As Magento's ``Store::getCurrentCurrencyCode()`` without a shopper's choice: the default
        display currency (``currency/options/default``) when it is among the allowed ones
        (``currency/options/allow``, the base currency left out unless allowed), else the first
        allowed one; then ``Store::getCurrentCurrency()``: without a rate from the base currency to
        it, the base currency.
        """
        allowed = [c.strip() for c in (self.config("currency/options/allow", store_id) or "").split(",") if c.strip()]
        code = (self.config("currency/options/default", store_id) or base).strip()
        if code not in allowed and allowed:
            code = allowed[0]
        if code == base:
            return base, Decimal(1)
        rate = self.currency_rates.get((base, code))
        return (code, rate) if rate is not None else (base, Decimal(1))

    # --- stores -------------------------------------------------------------------------
    def _store_view(self, row: dict[str, Any]) -> StoreView:
        sid = int(row["store_id"])
        unsecure = _slash(self.config("web/unsecure/base_url", sid) or "")
        secure = _slash(self.config("web/secure/base_url", sid) or unsecure)
        unsecure = expand_placeholders(unsecure, unsecure, secure)
        secure = expand_placeholders(secure, unsecure, secure)
        use_secure = self.config_flag("web/secure/use_in_frontend", sid)
        scheme = "secure" if use_secure else "unsecure"
        plain = secure if use_secure else unsecure
        link = _slash(expand_placeholders(self.config(f"web/{scheme}/base_link_url", sid) or plain,
                                          unsecure, secure))
        if not self.config_flag("web/seo/use_rewrites", sid):
            link += "index.php/"
        if self.config_flag("web/url/use_store", sid):
            link += f"{row['code']}/"
        media = self.config(f"web/{scheme}/base_media_url", sid)
        media_url = _slash(expand_placeholders(media, unsecure, secure)) if media else plain + "media/"
        base_currency = (self.config("currency/options/base", sid) or "USD").strip()
        display_currency, display_rate = self.display_currency(sid, base_currency)
        return StoreView(
            store_id=sid,
            code=str(row["code"]),
            name=str(row["name"]),
            website_id=int(row["website_id"]),
            website_code=str(row["website_code"]),
            group_id=int(row["group_id"]),
            root_category_id=int(row["root_category_id"]),
            locale=self.config("general/locale/code", sid) or "en_US",
            timezone=self.config("general/locale/timezone", sid) or "UTC",
            currency=base_currency,
            display_currency=display_currency,
            display_rate=display_rate,
            base_url=link,
            media_url=media_url,
            static_base_url=plain,
        )

    @cached_property
    def stores(self) -> list[StoreView]:
        """Return every active store view (the admin store 0 excluded), in Magento's sort order."""
        return [self._store_view(r) for r in self._store_rows if int(r["store_id"]) != 0 and int(r["is_active"])]

    def store(self, store_id: int) -> StoreView:
        """Return one active store view by id."""
        for view in self.stores:
            if view.store_id == store_id:
                return view
        raise UnknownStoreError(self._unknown_store_message(str(store_id)))

    def _unknown_store_message(self, wanted: str) -> str:
        valid = ", ".join(f"{s.code} (id {s.store_id})" for s in self.stores) or "none"
        return f"unknown store {wanted!r}: active store views are {valid}"

    def select_stores(self, wanted: Sequence[str | int] = ()) -> list[StoreView]:
        """Resolve store codes or ids to active store views; empty means all of them."""
        if not wanted:
            return list(self.stores)
        chosen: list[StoreView] = []
        for item in wanted:
            text = str(item).strip()
            match = [s for s in self.stores if s.code == text or (text.isdigit() and s.store_id == int(text))]
            if not match:
                raise UnknownStoreError(self._unknown_store_message(text))
            if match[0] not in chosen:
                chosen.append(match[0])
        return chosen

    @cached_property
    def websites(self) -> dict[int, str]:
        """Return website id -> code (admin website 0 excluded)."""
        rows = self.db.query(f"SELECT website_id, code FROM {self.t('store_website')} WHERE website_id <> 0")
        return {int(i): str(c) for i, c in rows}

    @cached_property
    def customer_groups(self) -> dict[int, str]:
        """Return customer group id -> name."""
        rows = self.db.query(f"SELECT customer_group_id, customer_group_code FROM {self.t('customer_group')}")
        return {int(i): str(c) for i, c in rows}

    # --- EAV ----------------------------------------------------------------------------
    @cached_property
    def _entity_type_ids(self) -> dict[str, int]:
        rows = self.db.query(f"SELECT entity_type_code, entity_type_id FROM {self.t('eav_entity_type')}")
        return {str(code): int(i) for code, i in rows}

    def entity_type_id(self, entity_type_code: str) -> int:
        """Return the EAV entity type id of ``catalog_product`` or ``catalog_category``."""
        try:
            return self._entity_type_ids[entity_type_code]
        except KeyError:
            raise ConfigError(f"eav_entity_type has no {entity_type_code!r}: is this a Magento 2 database?") from None

    def attributes(self, entity_type_code: str) -> dict[str, Attribute]:
        """Return every attribute of an entity type by code."""
        cache = self.__dict__.setdefault("_attributes", {})
        if entity_type_code not in cache:
            rows = self.db.query_dicts(
                f"SELECT a.attribute_id, a.attribute_code, a.backend_type, a.backend_table, a.frontend_input,"
                f" a.frontend_label, a.source_model, a.is_user_defined,"
                f" COALESCE(c.is_global, 1) AS is_global, COALESCE(c.is_visible_on_front, 0) AS is_visible_on_front"
                f" FROM {self.t('eav_attribute')} a"
                f" LEFT JOIN {self.t('catalog_eav_attribute')} c ON c.attribute_id = a.attribute_id"
                f" WHERE a.entity_type_id = %s",
                (self.entity_type_id(entity_type_code),),
            )
            cache[entity_type_code] = {
                r["attribute_code"]: Attribute(
                    attribute_id=int(r["attribute_id"]),
                    code=str(r["attribute_code"]),
                    backend_type=str(r["backend_type"]),
                    frontend_input=r["frontend_input"],
                    label=r["frontend_label"],
                    source_model=r["source_model"],
                    is_global=int(r["is_global"]),
                    is_user_defined=bool(r["is_user_defined"]),
                    is_visible_on_front=bool(r["is_visible_on_front"]),
                    backend_table=r["backend_table"],
                )
                for r in rows
            }
        result: dict[str, Attribute] = cache[entity_type_code]
        return result

    def attribute(self, entity_type_code: str, code: str) -> Attribute | None:
        """Return one attribute by code, or None when this install does not have it."""
        return self.attributes(entity_type_code).get(code)

    def attribute_labels(self, attribute_ids: Iterable[int], store_ids: Iterable[int]) -> dict[tuple[int, int], str]:
        """Return (attribute_id, store_id) -> store label from eav_attribute_label (no fallback applied)."""
        ids, stores = sorted(set(attribute_ids)), sorted(set(store_ids))
        if not ids or not stores:
            return {}
        rows = self.db.query(
            f"SELECT attribute_id, store_id, value FROM {self.t('eav_attribute_label')}"
            f" WHERE attribute_id IN ({', '.join(['%s'] * len(ids))})"
            f" AND store_id IN ({', '.join(['%s'] * len(stores))})",
            [*ids, *stores],
        )
        return {(int(a), int(s)): str(v) for a, s, v in rows if v}

    def option_labels(self, attribute_ids: Iterable[int], store_ids: Iterable[int]) -> dict[tuple[int, int], str]:
        """Return (option_id, store_id) -> label for the given stores, falling back to the store-0 label.

        Store 0 itself is always in the result so callers can look up the default label.
        """
        ids = sorted(set(attribute_ids))
        stores = sorted(set(store_ids) | {0})
        if not ids:
            return {}
        rows = self.db.query(
            f"SELECT o.option_id, v.store_id, v.value FROM {self.t('eav_attribute_option')} o"
            f" JOIN {self.t('eav_attribute_option_value')} v ON v.option_id = o.option_id"
            f" WHERE o.attribute_id IN ({', '.join(['%s'] * len(ids))})"
            f" AND v.store_id IN ({', '.join(['%s'] * len(stores))})",
            [*ids, *stores],
        )
        raw = {(int(o), int(s)): v for o, s, v in rows if v is not None and v != ""}
        labels: dict[tuple[int, int], str] = {}
        for (option_id, store_id), value in raw.items():
            labels[(option_id, store_id)] = str(value)
        for option_id in {o for o, _ in raw}:
            default = raw.get((option_id, 0))
            if default is None:
                continue
            for store_id in stores:
                labels.setdefault((option_id, store_id), str(default))
        return labels

    def option_sort_order(self, attribute_ids: Iterable[int]) -> dict[int, int]:
        """Return option_id -> sort_order for the given attributes."""
        ids = sorted(set(attribute_ids))
        if not ids:
            return {}
        rows = self.db.query(
            f"SELECT option_id, sort_order FROM {self.t('eav_attribute_option')}"
            f" WHERE attribute_id IN ({', '.join(['%s'] * len(ids))})",
            ids,
        )
        return {int(o): int(s) for o, s in rows}
