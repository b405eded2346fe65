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
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ragsync.documents.shapes import (
    CategoryData,
    CmsBlockData,
    CmsPageData,
    ProductData,
    PromotionData,
    VariantData,
)
from ragsync.documents.text import clean_text

_TWO = Decimal("0.01")
_SIX = Decimal("0.000001")
_ID_PATH_RE = re.compile(r"^[\d/\s]+$")

RULE_TYPE_WORDS = {"cart": "Cart price rule", "catalog": "Catalog price rule"}
FREE_SHIPPING_WORDS = {"matching_items": "for matching items", "whole_shipment": "for the whole shipment"}


def product_content(data: ProductData, labels: Mapping[str, str] | None = None, *,
                    price_text: str | None = None, special_price_text: str | None = None) -> str:
    """Render a product: name, SKU, prices, availability, categories, attributes, variants, texts, URL.

    Reads ``name``, ``sku``, ``price``, ``special_price``, ``currency``, ``in_stock``,
    ``category_paths`` (else ``categories``), ``attributes`` (code -> value; ``labels`` maps a code
    to its store label), ``variants`` (``sku``, ``options``, ``price``, ``special_price``, ``in_stock``),
    ``short_description``, ``description`` and ``url``. A special price (the product's or a
    variant's) is shown only when it is below the price.
    ``price_text`` and ``special_price_text``, when given, are the two prices already as
    :func:`money` shows them without a currency (the product reader converts each price once).
    """
    currency = data.get("currency")
    sku = _text(data.get("sku"))
    facts: list[tuple[str, str]] = [("SKU", sku)]
    price = data.get("price")
    special = data.get("special_price")
    if price is not None:
        facts.append(("Price", _with_currency(price_text or money(price), currency)))
    if special is not None and (price is None or _decimal(special) < _decimal(price)):
        facts.append(("Special price", _with_currency(special_price_text or money(special), currency)))
    facts.append(("Availability", _availability(data.get("in_stock"))))
    paths = data.get("category_paths") or data.get("categories") or []
    facts.append(("Categories", "; ".join([t for t in map(_text, paths) if t])))
    attributes = data.get("attributes")
    if attributes:
        facts.extend(_attribute_facts(attributes, labels or {}))

    blocks = [f"# {_text(data.get('name')) or sku or 'Product'}", _fact_list(facts)]
    variants = data.get("variants")
    if variants:
        blocks.append(_variants_table(variants, currency))
    short_description = _body(data.get("short_description"))
    description = _body(data.get("description"))
    blocks.append(short_description)
    if description != short_description:
        blocks.append(description)
    blocks.append(_url_line(data.get("url")))
    return _join(blocks)


def category_content(data: CategoryData) -> str:
    """Render a category: name, path (when it is made of names), description, URL.

    Reads ``name``, ``path`` (shown only as names such as "Gear > Bags", never as "1/2/5"),
    ``description`` and ``url``.
    """
    path = _text(data.get("path"))
    if _ID_PATH_RE.match(path):
        path = ""
    blocks = [
        f"# {_text(data.get('name')) or 'Category'}",
        _fact_list([("Path", path)]),
        _body(data.get("description")),
        _url_line(data.get("url")),
    ]
    return _join(blocks)


def cms_page_content(data: CmsPageData, body: str | None = None) -> str:
    """Render a CMS page: its title as "# ", a differing content heading as "## ", the body, the URL.

    ``body`` is the page's Markdown (directives rendered, HTML converted); when omitted it is read
    from ``data["content"]``, so a reader may store the body in ``content`` and replace it with
    the result. A body that already starts with the same heading does not get it twice.
    """
    title = _text(data.get("title"))
    content_heading = _text(data.get("content_heading"))
    heading = title or content_heading or _text(data.get("identifier")) or "Page"
    text = _body(body if body is not None else data.get("content"))
    blocks = [f"# {heading}"]
    if content_heading and content_heading != heading:
        blocks.append(f"## {content_heading}")
    blocks.append(_without_leading_heading(text, [heading, content_heading]))
    blocks.append(_url_line(data.get("url")))
    return _join(blocks)


def cms_block_content(data: CmsBlockData, body: str | None = None) -> str:
    """Render a CMS block: its title as "# " and its body (from ``body``, else ``data["content"]``)."""
    heading = _text(data.get("title")) or _text(data.get("identifier")) or "Block"
    text = _body(body if body is not None else data.get("content"))
    return _join([f"# {heading}", _without_leading_heading(text, [heading])])


def promotion_content(data: PromotionData) -> str:
    """Render a price rule: name, label, type, discount, free shipping, dates, coupon, groups, websites,
    description, then its conditions and (cart rules) the items it applies to.

    Reads ``name``, ``label``, ``rule_type``, ``discount`` (``sentence``, else ``simple_action``,
    ``amount``, ``discount_step``, ``discount_qty``), ``currency``, ``free_shipping``,
    ``from_date``, ``to_date``, ``coupon_required``, ``coupon_code``, ``customer_groups``,
    ``websites``, ``description``, ``conditions`` and ``actions``.
    """
    name = _text(data.get("name"))
    label = _text(data.get("label"))
    discount = data.get("discount")
    free_shipping = _text(data.get("free_shipping"))
    sentence = _text(discount.get("sentence")) if discount else ""
    if discount and not sentence and discount.get("simple_action"):
        sentence = discount_sentence(
            discount["simple_action"], discount.get("amount") or 0, data.get("currency"),
            discount.get("discount_step"), discount.get("discount_qty"), free_shipping or None)
    shipping_words = FREE_SHIPPING_WORDS.get(free_shipping, "")
    if shipping_words and sentence.startswith("Free shipping"):
        shipping_words = ""  # the discount is the free shipping: said once
    coupon_required = data.get("coupon_required")
    facts = [
        ("Label", label if label != name else ""),
        ("Type", RULE_TYPE_WORDS.get(_text(data.get("rule_type")), "")),
        ("Discount", sentence),
        ("Free shipping", shipping_words),
        ("", _validity(data.get("from_date"), data.get("to_date"))),
        ("Coupon required", "" if coupon_required is None else ("yes" if coupon_required else "no")),
        ("Coupon code", _text(data.get("coupon_code"))),
        ("Customer groups", ", ".join(_text(g) for g in data.get("customer_groups") or [] if _text(g))),
        ("Websites", ", ".join(_text(w) for w in data.get("websites") or [] if _text(w))),
    ]
    blocks = [f"# {name or label or 'Promotion'}", _fact_list(facts), _body(data.get("description"))]
    catalog = _text(data.get("rule_type")) == "catalog"
    for heading, words in (("Applies to products" if catalog else "Conditions", data.get("conditions")),
                           ("Applies to items", data.get("actions"))):
        if words and str(words).strip():
            blocks += [f"## {heading}", str(words).strip()]
    return _join(blocks)


def discount_sentence(
    simple_action: str,
    amount: float,
    currency: str | None = None,
    discount_step: int | None = None,
    discount_qty: float | None = None,
    free_shipping: str | None = None,
) -> str:
    """Describe a rule's discount in words: "20% off", "5.00 USD off each item", "Buy 2, get 1 free".

    A rule that takes nothing off (amount 0 for ``by_percent``, ``by_fixed``, ``cart_fixed`` and
    ``buy_x_get_y``) says what it does instead: "Free shipping for the whole shipment" (or "for
    matching items") when ``free_shipping`` is set, else "no discount".
    """
    action = (simple_action or "").strip().lower()
    if action in ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y") and _decimal(amount) == 0:
        words = FREE_SHIPPING_WORDS.get((free_shipping or "").strip())
        return f"Free shipping {words}" if words else "no discount"
    limit = ""
    if discount_qty and _decimal(discount_qty) > 0:
        count = number(discount_qty)
        limit = f" (up to {count} item{'' if count == '1' else 's'})"
    if action == "by_percent":
        return f"{number(amount)}% off{limit}"
    if action == "by_fixed":
        return f"{money(amount, currency)} off each item{limit}"
    if action == "cart_fixed":
        return f"{money(amount, currency)} off the cart"
    if action == "buy_x_get_y":
        step = int(_decimal(discount_step or 0))
        free = f"get {number(amount)} free"
        return (f"Buy {step}, {free}" if step > 0 else free[0].upper() + free[1:]) + limit
    if action == "to_percent":
        return f"price set to {number(amount)}% of the original"
    if action == "to_fixed":
        return f"price set to {money(amount, currency)}"
    return f"discount of {number(amount)} ({action or 'unknown action'})"


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


def _decimal(value: Any) -> Decimal:
    """Return a value as a Decimal (0 when it is not a finite number)."""
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return result if result.is_finite() else Decimal(0)


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


def _availability(in_stock: Any) -> str:
    """Return "In stock" / "Out of stock", or "" when unknown."""
    if in_stock is None:
        return ""
    return "In stock" if in_stock else "Out of stock"


def _fact_list(facts: Sequence[tuple[str, str]]) -> str:
    """Return "- Label: value" lines for the facts that have a value ("- value" when the label is "")."""
    return "\n".join(f"- {label}: {value}" if label else f"- {value}" for label, value in facts if value)


def _variants_table(variants: Sequence[VariantData], currency: str | None = None) -> str:
    """Return the variants as a pipe table (SKU | Options | Price | Availability), or "" when there are none.

    The price cell is formatted like the product's price ("52.00 EUR"); a special price below it is
    added as "52.00 EUR, special price 40.00 EUR".
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
        cells = (_text(variant.get("sku")), shown,
                 _variant_price(variant.get("price"), variant.get("special_price"), currency),
                 _availability(variant.get("in_stock")))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        return ""
    return "\n".join(["## Variants", "", "| SKU | Options | Price | Availability |",
                      "| --- | --- | --- | --- |", *rows])


def _variant_price(price: Any, special: Any, currency: str | None) -> str:
    """Return a variant's price cell: "52.00 EUR", "52.00 EUR, special price 40.00 EUR", or ""."""
    text = "" if price is None else money(price, currency)
    if special is not None and (price is None or _decimal(special) < _decimal(price)):
        special_text = money(special, currency)
        return f"{text}, special price {special_text}" if text else f"special price {special_text}"
    return text


def _cell(text: str) -> str:
    """Escape a table cell: pipes escaped, never empty (GitHub tables need a character)."""
    return text.replace("|", "\\|") if text else " "


def _validity(from_date: Any, to_date: Any) -> str:
    """Return "Valid from A to B", "Valid from A", "Valid until B", or ""."""
    start = from_date.isoformat() if isinstance(from_date, date) else _text(from_date)
    end = to_date.isoformat() if isinstance(to_date, date) else _text(to_date)
    if start and end:
        return f"Valid from {start} to {end}"
    if start:
        return f"Valid from {start}"
    if end:
        return f"Valid until {end}"
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


def _url_line(url: Any) -> str:
    """Return "URL: <url>" or ""."""
    text = _text(url)
    return f"URL: {text}" if text else ""


def _join(blocks: Sequence[str]) -> str:
    """Join the non-empty blocks with one blank line."""
    return "\n\n".join(block for block in blocks if block)
