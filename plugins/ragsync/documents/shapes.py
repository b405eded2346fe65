"""The shape of each document type's ``data``: the keys the readers put in it and the renderers read.

One :class:`~typing.TypedDict` per document type, declared once here: the readers
(``ragsync.magento.products``, ``categories``, ``cms``, ``promotions``) annotate the dict they
build with it and the renderers (:mod:`ragsync.documents.render`) take it, so mypy checks every key
name on both sides. ``content`` (the Markdown the renderer makes from the rest) is the last key a
reader sets, hence not required while the dict is being built. A :class:`~ragsync.documents.model.Document`
holds its data as a plain dict: :func:`as_document_data` hands a shaped dict over, unchanged.

The user documentation of the fields is ``docs/products.md`` and ``docs/content-types.md``.
"""

from typing import Any, NotRequired, TypedDict, cast

# No ``from __future__ import annotations`` here: TypedDict tells required keys from ``NotRequired``
# ones at runtime only from evaluated annotations (``__required_keys__``, which the tests check).


class StoreViewData(TypedDict):
    """The keys every document's data starts with: the store view and the entity's update time."""

    store_code: str
    locale: str
    updated_at: str | None
    """ISO 8601 UTC with a ``Z``; never hashed. Always None for promotions (Magento keeps no time)."""


class VariantData(TypedDict):
    """An enabled child of a configurable product, in the store view's website."""

    sku: str
    options: dict[str, str]
    """Configurable attribute label -> option label, both in the store view's language."""
    price: float | None
    """The child's own ``price``."""
    special_price: float | None
    """The child's special price, only while today (the store view's local date) is inside its window."""
    display_price: float | None
    """``price`` in the store view's display currency (``ProductData.display_currency``)."""
    display_special_price: float | None
    """``special_price`` in the store view's display currency."""
    in_stock: bool


class ProductData(StoreViewData):
    """A product in a store view (``type`` ``product``)."""

    url: str | None
    sku: str
    name: str | None
    type_id: str
    description: str | None
    short_description: str | None
    price: float | None
    """The ``price`` attribute; a configurable product's: the lowest price a shopper pays for one of its
    enabled, in-stock children in the website (None when none qualifies)."""
    special_price: float | None
    """Only while today (the store view's local date) is inside the special-price window; always None
    for a configurable product (its children's special prices are in ``variants`` and in ``price``)."""
    currency: str
    """The base currency: the unit of ``price`` and ``special_price``."""
    display_currency: str
    """The currency the store view shows prices in (``Store::getCurrentCurrency()``); ``currency`` when
    it has no other or no rate to it."""
    display_price: float | None
    """``price`` converted with ``directory_currency_rate``, rounded to the display currency's decimals."""
    display_special_price: float | None
    """``special_price`` converted the same way."""
    in_stock: bool
    categories: list[str]
    category_paths: list[str]
    attributes: dict[str, str | list[str]]
    """Attribute code -> the value as shoppers read it (a list for multiselects)."""
    images: list[str]
    visibility: str
    status: str
    meta_title: str | None
    meta_description: str | None
    meta_keywords: str | None
    variants: NotRequired[list[VariantData]]
    """Configurable products only."""
    content: NotRequired[str]


class CategoryData(StoreViewData):
    """A category in a store view (``type`` ``category``)."""

    name: str
    path: str
    """The store view's names from below the root category down to this one: ``"Gear > Bags"``."""
    level: int
    parent_id: int
    description: str | None
    is_active: bool
    include_in_menu: bool
    url: str
    content: NotRequired[str]


class CmsPageData(StoreViewData):
    """A CMS page in a store view (``type`` ``cms_page``)."""

    identifier: str
    title: str
    content_heading: str | None
    document_type: str
    meta_title: str | None
    meta_description: str | None
    meta_keywords: str | None
    url: str | None
    content: str
    """The page body as Markdown while the data is built, then the rendered document."""


class CmsBlockData(StoreViewData):
    """A CMS static block in a store view (``type`` ``cms_block``)."""

    identifier: str
    title: str
    content: str
    """The block body as Markdown while the data is built, then the rendered document."""


class DiscountData(TypedDict):
    """What a price rule takes off."""

    simple_action: str
    amount: float
    sentence: str
    """The discount in words ("20% off")."""
    discount_qty: NotRequired[float | None]
    """Cart rules only: the most items the discount applies to."""
    discount_step: NotRequired[int]
    """Cart rules only: the X of "buy X get Y"."""


class PromotionData(StoreViewData):
    """A cart or catalog price rule in a store view (``type`` ``promotion``)."""

    rule_type: str
    """``cart`` or ``catalog``."""
    name: str
    description: str | None
    label: str
    from_date: str | None
    to_date: str | None
    discount: DiscountData
    currency: str
    coupon_required: bool
    coupon_code: str | None
    customer_groups: list[str]
    websites: list[str]
    sort_order: int
    stop_rules_processing: bool
    apply_to_shipping: NotRequired[bool]
    """Cart rules only."""
    free_shipping: NotRequired[str | None]
    """Cart rules only: ``matching_items``, ``whole_shipment`` or None."""
    conditions: str | None
    """The rule's conditions in words (a Markdown list; cart rules: when the rule applies to a cart,
    catalog rules: which products it applies to), or None when it sets none."""
    actions: NotRequired[str | None]
    """Cart rules only: which cart items the discount applies to, in words (a Markdown list), or None for all."""
    content: NotRequired[str]


DocumentData = ProductData | CategoryData | CmsPageData | CmsBlockData | PromotionData


def as_document_data(data: DocumentData) -> dict[str, Any]:
    """Return a shaped ``data`` as the plain dict a :class:`~ragsync.documents.model.Document` holds (the same object)."""
    return cast("dict[str, Any]", data)
