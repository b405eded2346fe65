"""The Markdown ``content`` of each document type, rendered from its ``data`` dict.

``content`` is what a RAG backend embeds: the whole document as one readable Markdown text. Every
renderer is a pure, deterministic function of its arguments; empty fields (None, "", [], {}) are
left out, never printed as blanks. Each renderer takes its document type's ``data`` as declared in
:mod:`ragsync.documents.shapes`; its docstring lists the keys it reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ragsync.documents.prices import as_decimal as _decimal
from ragsync.documents.prices import format_money, format_number
from ragsync.documents.shapes import (
    CategoryData,
    CmsBlockData,
    CmsPageData,
    ProductData,
    PromotionData,
    VariantData,
)
from ragsync.documents.text import clean_text
from ragsync.documents.words import ENGLISH, Words, fill, words_for

_TWO = Decimal("0.01")
_SIX = Decimal("0.000001")
_ID_PATH_RE = re.compile(r"^[\d/\s]+$")

RULE_TYPE_WORDS = {"cart": "cart_price_rule", "catalog": "catalog_price_rule"}
"""Rule type -> its key in the word catalogs (:mod:`ragsync.documents.words`)."""
FREE_SHIPPING_WORDS = {"matching_items": "for_matching_items", "whole_shipment": "for_whole_shipment"}
"""``free_shipping`` -> its key in the word catalogs."""


def product_content(data: ProductData, labels: Mapping[str, str] | None = None, *,
                    words: Words | None = None) -> str:
    """Render a product: name, SKU, prices, availability, categories, attributes, variants, texts, URL.

    Reads ``name``, ``sku``, ``price``, ``special_price``, ``display_price``, ``display_special_price``,
    ``display_currency`` (else ``currency``), ``locale``, ``in_stock``, ``category_paths`` (else
    ``categories``), ``attributes`` (code -> value; ``labels`` maps a code to its store label),
    ``variants`` (``sku``, ``options``, ``price``, ``special_price``, ``display_price``,
    ``display_special_price``, ``in_stock``), ``short_description``, ``description`` and ``url``.
    A special price (the product's or a variant's) is shown only when it is below the price. Prices
    are shown in the display currency as the locale writes them (:func:`~ragsync.documents.prices.format_money`;
    data without ``locale``: ``"42.00 USD"``); the words are the locale's
    (:func:`~ragsync.documents.words.words_for`), or ``words`` when given (the reader's, with the shop's
    store labels).
    """
    locale = data.get("locale")
    w = words if words is not None else words_for(locale)
    currency = data.get("display_currency") or data.get("currency")
    sku = _text(data.get("sku"))
    facts: list[tuple[str, str]] = [(w["sku"], sku)]
    price = data.get("price")
    special = data.get("special_price")
    if price is not None:
        facts.append((w["price"], _money_text(data.get("display_price", price), currency, locale)))
    if special is not None and (price is None or _decimal(special) < _decimal(price)):
        facts.append((w["special_price"],
                      _money_text(data.get("display_special_price", special), currency, locale)))
    facts.append((w["availability"], _availability(data.get("in_stock"), w)))
    paths = data.get("category_paths") or data.get("categories") or []
    facts.append((w["categories"], "; ".join([t for t in map(_text, paths) if t])))
    attributes = data.get("attributes")
    if attributes:
        facts.extend(_attribute_facts(attributes, labels or {}))

    blocks = [f"# {_text(data.get('name')) or sku or w['product']}", _fact_list(facts)]
    variants = data.get("variants")
    if variants:
        blocks.append(_variants_table(variants, currency, locale, w))
    short_description = _body(data.get("short_description"))
    description = _body(data.get("description"))
    blocks.append(short_description)
    if description != short_description:
        blocks.append(description)
    blocks.append(_url_line(data.get("url"), w))
    return _join(blocks)


def category_content(data: CategoryData, words: Words | None = None) -> str:
    """Render a category: name, path (when it is made of names), description, URL.

    Reads ``name``, ``path`` (shown only as names such as "Gear > Bags", never as "1/2/5"),
    ``description``, ``url`` and ``locale`` (the words).
    """
    w = words if words is not None else words_for(data.get("locale"))
    path = _text(data.get("path"))
    if _ID_PATH_RE.match(path):
        path = ""
    blocks = [
        f"# {_text(data.get('name')) or w['category']}",
        _fact_list([(w["path"], path)]),
        _body(data.get("description")),
        _url_line(data.get("url"), w),
    ]
    return _join(blocks)


def cms_page_content(data: CmsPageData, body: str | None = None) -> str:
    """Render a CMS page: its title as "# ", a differing content heading as "## ", the body, the URL.

    ``body`` is the page's Markdown (directives rendered, HTML converted); when omitted it is read
    from ``data["content"]``, so a reader may store the body in ``content`` and replace it with
    the result. A body that already starts with the same heading does not get it twice.
    """
    w = words_for(data.get("locale"))
    title = _text(data.get("title"))
    content_heading = _text(data.get("content_heading"))
    heading = title or content_heading or _text(data.get("identifier")) or w["page"]
    text = _body(body if body is not None else data.get("content"))
    blocks = [f"# {heading}"]
    if content_heading and content_heading != heading:
        blocks.append(f"## {content_heading}")
    blocks.append(_without_leading_heading(text, [heading, content_heading]))
    blocks.append(_url_line(data.get("url"), w))
    return _join(blocks)


def cms_block_content(data: CmsBlockData, body: str | None = None) -> str:
    """Render a CMS block: its title as "# " and its body (from ``body``, else ``data["content"]``)."""
    w = words_for(data.get("locale"))
    heading = _text(data.get("title")) or _text(data.get("identifier")) or w["block"]
    text = _body(body if body is not None else data.get("content"))
    return _join([f"# {heading}", _without_leading_heading(text, [heading])])


def promotion_content(data: PromotionData) -> str:
    """Render a price rule: name, label, type, discount, free shipping, dates, coupon, groups, websites,
    description, then its conditions and (cart rules) the items it applies to.

    Reads ``name``, ``label``, ``rule_type``, ``discount`` (``sentence``, else ``simple_action``,
    ``amount``, ``discount_step``, ``discount_qty``), ``currency``, ``free_shipping``,
    ``from_date``, ``to_date``, ``coupon_required``, ``coupon_code``, ``customer_groups``,
    ``websites``, ``description``, ``conditions``, ``actions`` and ``locale`` (the words).
    """
    locale = data.get("locale")
    w = words_for(locale)
    name = _text(data.get("name"))
    label = _text(data.get("label"))
    discount = data.get("discount")
    free_shipping = _text(data.get("free_shipping"))
    sentence = _text(discount.get("sentence")) if discount else ""
    if discount and not sentence and discount.get("simple_action"):
        sentence = discount_sentence(
            discount["simple_action"], discount.get("amount") or 0, data.get("currency"),
            discount.get("discount_step"), discount.get("discount_qty"), free_shipping or None, locale=locale)
    shipping_key = FREE_SHIPPING_WORDS.get(free_shipping)
    shipping_words = w[shipping_key] if shipping_key else ""
    if shipping_key and sentence == w[f"free_shipping_{free_shipping}"]:
        shipping_words = ""  # the discount is the free shipping: said once
    coupon_required = data.get("coupon_required")
    rule_type = RULE_TYPE_WORDS.get(_text(data.get("rule_type")))
    facts = [
        (w["label"], label if label != name else ""),
        (w["type"], w[rule_type] if rule_type else ""),
        (w["discount"], sentence),
        (w["free_shipping"], shipping_words),
        ("", _validity(data.get("from_date"), data.get("to_date"), w)),
        (w["coupon_required"], "" if coupon_required is None else w["lower_yes" if coupon_required else "lower_no"]),
        (w["coupon_code"], _text(data.get("coupon_code"))),
        (w["customer_groups"], ", ".join(_text(g) for g in data.get("customer_groups") or [] if _text(g))),
        (w["websites"], ", ".join(_text(t) for t in data.get("websites") or [] if _text(t))),
    ]
    blocks = [f"# {name or label or w['promotion']}", _fact_list(facts), _body(data.get("description"))]
    catalog = _text(data.get("rule_type")) == "catalog"
    for heading, text in ((w["applies_to_products"] if catalog else w["conditions"], data.get("conditions")),
                          (w["applies_to_items"], data.get("actions"))):
        if text and str(text).strip():
            blocks += [f"## {heading}", str(text).strip()]
    return _join(blocks)


def discount_sentence(
    simple_action: str,
    amount: float,
    currency: str | None = None,
    discount_step: int | None = None,
    discount_qty: float | None = None,
    free_shipping: str | None = None,
    *,
    locale: str | None = None,
) -> str:
    """Describe a rule's discount in words: "20% off", "5.00 USD off each item", "Buy 2, get 1 free".

    A rule that takes nothing off (amount 0 for ``by_percent``, ``by_fixed``, ``cart_fixed`` and
    ``buy_x_get_y``) says what it does instead: "Free shipping for the whole shipment" (or "for
    matching items") when ``free_shipping`` is set, else "no discount". With a ``locale``, the words
    are the locale's and amounts are written as it writes them ("€5.00 off each item",
    "giảm 20%"); without one, in English with :func:`money` ("5.00 USD").
    """
    w = words_for(locale)

    def amount_text(value: Any) -> str:
        if locale is None:
            return money(value, currency)
        return format_money(value, currency, locale) if currency else format_number(value, locale)

    def count_text(value: Any) -> str:
        return number(value) if locale is None else format_number(value, locale)

    action = (simple_action or "").strip().lower()
    if action in ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y") and _decimal(amount) == 0:
        key = (free_shipping or "").strip()
        return w[f"free_shipping_{key}"] if key in FREE_SHIPPING_WORDS else w["no_discount"]
    limit = ""
    if discount_qty and _decimal(discount_qty) > 0:
        count = number(discount_qty)
        limit = w["up_to_one_item"] if count == "1" else fill(w["up_to_items"], count=count_text(discount_qty))
    if action == "by_percent":
        return fill(w["percent_off"], amount=count_text(amount)) + limit
    if action == "by_fixed":
        return fill(w["fixed_off_each_item"], amount=amount_text(amount)) + limit
    if action == "cart_fixed":
        return fill(w["fixed_off_cart"], amount=amount_text(amount))
    if action == "buy_x_get_y":
        step = int(_decimal(discount_step or 0))
        free = count_text(amount)
        return (fill(w["buy_x_get_y"], step=str(step), free=free) if step > 0
                else fill(w["get_y_free"], free=free)) + limit
    if action == "to_percent":
        return fill(w["price_set_to_percent"], amount=count_text(amount))
    if action == "to_fixed":
        return fill(w["price_set_to"], amount=amount_text(amount))
    return fill(w["discount_of"], amount=count_text(amount), action=action or w["unknown_action"])


def money(amount: Any, currency: str | None = None) -> str:
    """Format an amount with at least 2 and at most 6 decimals, then the currency code: "19.90 USD"."""
    value = _decimal(amount).quantize(_SIX, rounding=ROUND_HALF_UP).normalize()
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(_TWO)
    return _with_currency(f"{value:f}", currency)


def _with_currency(text: str, currency: str | None) -> str:
    return f"{text} {currency}" if currency else text


def number(amount: Any) -> str:
    """Format a number with at most 2 decimals and no trailing zeros: 20 -> "20", 12.5 -> "12.5"."""
    value = _decimal(amount).quantize(_TWO, rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(value: Any) -> str:
    """Return a value as one clean line ("" for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return clean_text(value if isinstance(value, str) else str(value))


def _value_text(value: Any) -> str:
    """Return an attribute value as text: lists joined with commas, booleans as Yes/No."""
    if isinstance(value, (list, tuple)):
        return ", ".join([t for t in map(_text, value) if t])
    if isinstance(value, str) and "\n" in value.strip():
        return " ".join(line.strip() for line in value.strip().splitlines() if line.strip())
    return _text(value)


def _attribute_facts(attributes: Mapping[str, Any], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """Return (label, value) pairs of the attributes, ordered by label then code."""
    facts = []
    for code, value in attributes.items():
        label = _text(labels.get(code)) or _humanize(code)
        facts.append((label.casefold(), code, label, _value_text(value)))
    facts.sort()
    return [(label, text) for _, _, label, text in facts]


def _humanize(code: str) -> str:
    """Turn an attribute code into a label: "eco_collection" -> "Eco collection"."""
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _availability(in_stock: Any, words: Words = ENGLISH) -> str:
    """Return "In stock" / "Out of stock" (in the words given), or "" when unknown."""
    if in_stock is None:
        return ""
    return words["in_stock"] if in_stock else words["out_of_stock"]


def _money_text(amount: Any, currency: str | None, locale: str | None) -> str:
    """Return an amount as the locale writes it, or as :func:`money` with the code when there is no locale."""
    if locale is None:
        return _with_currency(money(amount), currency)
    return format_money(amount, currency, locale)


def _fact_list(facts: Sequence[tuple[str, str]]) -> str:
    """Return "- Label: value" lines for the facts that have a value ("- value" when the label is "")."""
    return "\n".join(f"- {label}: {value}" if label else f"- {value}" for label, value in facts if value)


def _variants_table(variants: Sequence[VariantData], currency: str | None = None, locale: str | None = None,
                    words: Words = ENGLISH) -> str:
    """Return the variants as a pipe table (SKU | Options | Price | Availability), or "" when there are none.

    The price cell is formatted like the product's price ("€52.00"); a special price below it is
    added as "€52.00, special price €40.00". Headers and words are the locale's.
    """
    rows = []
    for variant in variants:
        options = variant.get("options")
        if isinstance(options, Mapping):
            shown = ", ".join(f"{_text(k)}: {_text(v)}" for k, v in options.items() if _text(v))
        elif isinstance(options, (list, tuple)):
            shown = ", ".join(_text(v) for v in options if _text(v))
        else:
            shown = _text(options)
        price, special = variant.get("price"), variant.get("special_price")
        cells = (_text(variant.get("sku")), shown,
                 _variant_price(price, special, variant.get("display_price", price),
                                variant.get("display_special_price", special), currency, locale, words),
                 _availability(variant.get("in_stock"), words))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        return ""
    header = " | ".join(words[k] for k in ("sku", "options", "price", "availability"))
    return "\n".join([f"## {words['variants']}", "", f"| {header} |",
                      "| --- | --- | --- | --- |", *rows])


def _variant_price(price: Any, special: Any, shown_price: Any, shown_special: Any, currency: str | None,
                   locale: str | None, words: Words = ENGLISH) -> str:
    """Return a variant's price cell: "€52.00", "€52.00, special price €40.00", or ""."""
    text = "" if price is None else _money_text(shown_price, currency, locale)
    if special is not None and (price is None or _decimal(special) < _decimal(price)):
        special_text = fill(words["special_price_cell"], price=_money_text(shown_special, currency, locale))
        return f"{text}, {special_text}" if text else special_text
    return text


def _cell(text: str) -> str:
    """Escape a table cell: pipes escaped, never empty (GitHub tables need a character)."""
    return text.replace("|", "\\|") if text else " "


def _validity(from_date: Any, to_date: Any, words: Words = ENGLISH) -> str:
    """Return "Valid from A to B", "Valid from A", "Valid until B" (in the words given), or ""."""
    start = from_date.isoformat() if isinstance(from_date, date) else _text(from_date)
    end = to_date.isoformat() if isinstance(to_date, date) else _text(to_date)
    if start and end:
        return fill(words["valid_from_to"], start=start, end=end)
    if start:
        return fill(words["valid_from"], start=start)
    if end:
        return fill(words["valid_until"], end=end)
    return ""


def _body(markdown: Any) -> str:
    """Return a Markdown body without surrounding blank space ("" for None)."""
    return markdown.strip() if isinstance(markdown, str) else ""


def _without_leading_heading(body: str, headings: Sequence[str]) -> str:
    """Drop a first line "# X" of the body when X is one of the headings already printed."""
    if not body.startswith("#"):
        return body
    first, _, rest = body.partition("\n")
    text = first.lstrip("#").strip()
    if text and text in [h for h in headings if h]:
        return rest.strip()
    return body


def _url_line(url: Any, words: Words = ENGLISH) -> str:
    """Return "URL: <url>" (the word in the words given) or ""."""
    text = _text(url)
    return f"{words['url']}: {text}" if text else ""


def _join(blocks: Sequence[str]) -> str:
    """Join the non-empty blocks with one blank line."""
    return "\n\n".join(block for block in blocks if block)
