"""A price rule's conditions and actions in words, from Magento's ``conditions_serialized`` / ``actions_serialized``.

Two stored forms: PHP ``serialize()`` (Magento 2.1: ``a:6:{s:4:"type";...}``) and JSON (2.2 and later).
:func:`php_unserialize` reads the subset Magento writes (arrays, strings, ints, floats, bools, null)
and refuses objects and references; nothing is ever evaluated. :func:`parse_conditions` turns
either form into a :class:`Condition` tree, raising :class:`ConditionError` when it cannot.

The reader collects what a tree names (:func:`references`: category ids, product attribute codes,
option ids), looks the names up in one statement per chunk and renders each store view's words
with :func:`describe` and a :class:`Names`. The words are a Markdown list; nested all/any
combinations are nested items. A condition type ragsync does not know is shown as
"a condition ragsync cannot show (<type>)".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ragsync.documents.prices import format_money
from ragsync.documents.render import money, number

MAX_DEPTH = 32
"""Deepest nesting accepted (Magento's editor never comes close; a deeper tree is malformed)."""

_NS = "Magento\\"
COMBINE_TYPES = frozenset({
    "Magento\\SalesRule\\Model\\Rule\\Condition\\Combine",
    "Magento\\SalesRule\\Model\\Rule\\Condition\\Product\\Combine",
    "Magento\\CatalogRule\\Model\\Rule\\Condition\\Combine",
    "Magento\\CatalogRule\\Model\\Rule\\Action\\Collection",
    "Magento\\Rule\\Model\\Condition\\Combine",
    "Magento\\Rule\\Model\\Action\\Collection",
})
ADDRESS_TYPE = "Magento\\SalesRule\\Model\\Rule\\Condition\\Address"
PRODUCT_TYPES = frozenset({
    "Magento\\SalesRule\\Model\\Rule\\Condition\\Product",
    "Magento\\CatalogRule\\Model\\Rule\\Condition\\Product",
})
FOUND_TYPE = "Magento\\SalesRule\\Model\\Rule\\Condition\\Product\\Found"
SUBSELECT_TYPE = "Magento\\SalesRule\\Model\\Rule\\Condition\\Product\\Subselect"

OPERATORS = {
    "==": "is", "!=": "is not", ">=": "is at least", "<=": "is at most", ">": "is more than",
    "<": "is less than", "{}": "contains", "!{}": "does not contain", "()": "is one of",
    "!()": "is not one of", "<=>": "is undefined",
}
_LIST_OPERATORS = {"()", "!()"}
_PLURAL = {"==": "is one of", "!=": "is not one of"}

# Address attributes: label and how the value is shown ("money", "number" or "text")
ADDRESS_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "base_subtotal_with_discount": ("Subtotal after discount", "money"),
    "base_subtotal": ("Subtotal", "money"),
    "base_subtotal_total_incl_tax": ("Subtotal including tax", "money"),
    "total_qty": ("Total quantity of items", "number"),
    "weight": ("Total weight", "number"),
    "payment_method": ("Payment method", "text"),
    "shipping_method": ("Shipping method", "text"),
    "postcode": ("Shipping postcode", "text"),
    "region": ("Shipping region", "text"),
    "region_id": ("Shipping region id", "text"),
    "country_id": ("Shipping country", "text"),
}
# Product conditions that are not product attributes (or whose value is not the attribute's own)
PRODUCT_SPECIAL: dict[str, tuple[str, str]] = {
    "category_ids": ("Category", "category"),
    "attribute_set_id": ("Attribute set id", "text"),
    "quote_item_qty": ("Quantity in cart", "number"),
    "quote_item_price": ("Price in cart", "money"),
    "quote_item_row_total": ("Row total in cart", "money"),
}
SUBSELECT_ATTRIBUTES = {"qty": ("total quantity", "number"), "base_row_total": ("total amount", "money")}


class ConditionError(ValueError):
    """Stored conditions that cannot be read (malformed, truncated, or holding PHP objects)."""


@dataclass(frozen=True)
class Condition:
    """One node of a rule's condition tree, as Magento stores it."""

    type: str
    attribute: str | None = None
    operator: str | None = None
    value: Any = None
    aggregator: str | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass
class References:
    """What a set of condition trees names: category ids, product attribute codes and option-like values."""

    category_ids: set[int] = field(default_factory=set)
    attribute_codes: set[str] = field(default_factory=set)
    values: dict[str, set[int]] = field(default_factory=dict)
    """Attribute code -> the integer values its conditions compare with (option ids when it has options)."""


@dataclass(frozen=True)
class Names:
    """The names one store view's words use (everything missing falls back to codes and ids)."""

    categories: Mapping[int, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Product attribute code -> the store view's label."""
    options: Mapping[tuple[str, int], str] = field(default_factory=dict)
    """(attribute code, option id) -> the store view's option label."""
    currency: str | None = None
    locale: str | None = None
    """The store view's locale: amounts are written as it writes them ("€100.00", "100,00 €");
    None: "100.00 EUR". The words of the conditions stay English."""


# --- PHP unserialize ----------------------------------------------------------------------------
class _PhpReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> ConditionError:
        return ConditionError(f"{what} at byte {self.pos}")

    def expect(self, token: bytes) -> None:
        if self.data[self.pos:self.pos + len(token)] != token:
            raise self.fail(f"expected {token.decode()!r}")
        self.pos += len(token)

    def until(self, stop: bytes) -> bytes:
        end = self.data.find(stop, self.pos)
        if end < 0:
            raise self.fail(f"missing {stop.decode()!r}")
        text = self.data[self.pos:end]
        self.pos = end + len(stop)
        return text

    def integer(self, stop: bytes) -> int:
        text = self.until(stop)
        if not re.fullmatch(rb"[+-]?\d+", text):
            raise self.fail(f"not an integer: {text[:20]!r}")
        return int(text)

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        kind = self.data[self.pos:self.pos + 2]
        if kind == b"N;":
            self.pos += 2
            return None
        self.pos += 2
        if kind == b"b:":
            flag = self.integer(b";")
            if flag not in (0, 1):
                raise self.fail("not a boolean")
            return bool(flag)
        if kind == b"i:":
            return self.integer(b";")
        if kind == b"d:":
            text = self.until(b";")
            try:
                return float(text)
            except ValueError:
                raise self.fail(f"not a number: {text[:20]!r}") from None
        if kind == b"s:":
            return self.string()
        if kind == b"a:":
            return self.array(depth)
        self.pos -= 2
        if kind[:1] in (b"O", b"C", b"r", b"R", b"E"):
            raise self.fail("PHP objects and references are refused")
        raise self.fail(f"unknown PHP value {kind[:1]!r}")

    def string(self) -> str:
        length = self.integer(b":")
        if length < 0:
            raise self.fail("negative string length")
        self.expect(b'"')
        raw = self.data[self.pos:self.pos + length]
        if len(raw) != length:
            raise self.fail("string runs past the end")
        self.pos += length
        self.expect(b'";')
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConditionError(f"invalid UTF-8 in a string at byte {self.pos - length - 2 + exc.start}") from None

    def array(self, depth: int) -> dict[int | str, Any]:
        count = self.integer(b":")
        if count < 0:
            raise self.fail("negative array size")
        self.expect(b"{")
        result: dict[int | str, Any] = {}
        for _ in range(count):
            key = self.value(depth + 1)
            if not isinstance(key, (int, str)) or isinstance(key, bool):
                raise self.fail("array key is not an integer or a string")
            result[key] = self.value(depth + 1)
        self.expect(b"}")
        return result


def php_unserialize(data: bytes | str) -> Any:
    """Read a PHP ``serialize()`` value: arrays (as dicts), strings, ints, floats, bools and null only.

    Raises :class:`ConditionError` for anything else (objects, references, custom serializers),
    for malformed or truncated input and for trailing bytes.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    reader = _PhpReader(raw.strip())
    value = reader.value(0)
    if reader.pos != len(reader.data):
        raise reader.fail("unexpected data after the value")
    return value


# --- parsing ------------------------------------------------------------------------------------
def parse_conditions(raw: bytes | str | None) -> Condition | None:
    """Return the condition tree of a stored ``conditions_serialized``/``actions_serialized`` (None when empty).

    Accepts JSON (Magento 2.2+) and PHP ``serialize()`` (2.1); raises :class:`ConditionError` otherwise.
    """
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConditionError(f"invalid UTF-8 at byte {exc.start}") from None
    else:
        text = raw
    text = text.strip()
    if not text or text in ("[]", "{}", "null"):
        return None
    if text[0] in "{[":
        try:
            tree = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConditionError(f"not valid JSON ({exc})") from None
    elif text[:2] in ("a:", "N;", "s:", "i:", "b:", "d:", "O:", "C:"):
        tree = php_unserialize(text)
    else:
        raise ConditionError("neither JSON nor PHP serialize()")
    if tree is None or tree == [] or tree == {}:
        return None
    return _condition(tree, 0)


def _condition(node: Any, depth: int) -> Condition:
    if depth > MAX_DEPTH:
        raise ConditionError("conditions nested too deeply")
    if not isinstance(node, dict):
        raise ConditionError(f"a condition is a {type(node).__name__}, not an array")
    kind = node.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise ConditionError("a condition has no type")
    children = node.get("conditions")
    if isinstance(children, dict):
        children = list(children.values())
    if children is None:
        children = []
    if not isinstance(children, list):
        raise ConditionError(f"the conditions of {kind} are a {type(children).__name__}")
    attribute, operator, aggregator = node.get("attribute"), node.get("operator"), node.get("aggregator")
    return Condition(
        type=kind.strip().lstrip("\\"),
        attribute=str(attribute) if attribute not in (None, "") else None,
        operator=str(operator) if operator not in (None, "") else None,
        value=node.get("value"),
        aggregator=str(aggregator).lower() if aggregator not in (None, "") else None,
        conditions=tuple(_condition(child, depth + 1) for child in children),
    )


# --- what a tree names ----------------------------------------------------------------------------
def _values(value: Any, operator: str | None, split: bool) -> list[Any]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")]
    if isinstance(value, str) and (split or operator in _LIST_OPERATORS):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [] if value in (None, "") else [value]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def references(tree: Condition | None, into: References | None = None) -> References:
    """Add what ``tree`` names (category ids, product attribute codes and their integer values) to ``into``."""
    found = into if into is not None else References()
    if tree is None:
        return found
    if tree.type in PRODUCT_TYPES and tree.attribute:
        code = tree.attribute
        if code == "category_ids":
            found.category_ids.update(i for v in _values(tree.value, tree.operator, True)
                                      if (i := _int(v)) is not None)
        elif code not in PRODUCT_SPECIAL:
            found.attribute_codes.add(code)
            ints = {i for v in _values(tree.value, tree.operator, True) if (i := _int(v)) is not None}
            if ints:
                found.values.setdefault(code, set()).update(ints)
    for child in tree.conditions:
        references(child, found)
    return found


# --- words ----------------------------------------------------------------------------------------
def describe(tree: Condition | None, names: Names | None = None) -> str | None:
    """Return a condition tree as a Markdown list in words, or None when it sets no condition."""
    if tree is None:
        return None
    names = names or Names()
    lines: list[tuple[int, str]] = []
    if tree.type in COMBINE_TYPES:
        intro = _combine_intro(tree, root=True)
        children = [_lines(child, names, 0 if intro is None else 1) for child in tree.conditions]
        body = [line for child in children for line in child]
        if not body:
            return None
        if intro is not None:
            lines.append((0, intro))
        lines.extend(body)
    else:
        lines = _lines(tree, names, 0)
    return "\n".join(f"{'  ' * depth}- {text}" for depth, text in lines) or None


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false")
    return value is None or bool(value)


def _quantifier(aggregator: str | None, value: Any) -> str:
    every = (aggregator or "all").lower() != "any"
    if _truth(value):
        return "all of these are true" if every else "at least one of these is true"
    return "none of these is true" if every else "at least one of these is not true"


def _combine_intro(tree: Condition, *, root: bool) -> str | None:
    if root and (tree.aggregator or "all").lower() != "any" and _truth(tree.value):
        return None
    words = _quantifier(tree.aggregator, tree.value)
    return f"{words[0].upper()}{words[1:]}:"


def _lines(tree: Condition, names: Names, depth: int) -> list[tuple[int, str]]:
    kind = tree.type
    if kind in COMBINE_TYPES:
        children = [line for child in tree.conditions for line in _lines(child, names, depth + 1)]
        if not children:
            return []
        return [(depth, _combine_intro(tree, root=False) or ""), *children]
    if kind == FOUND_TYPE:
        found = _truth(tree.value)
        children = [line for child in tree.conditions for line in _lines(child, names, depth + 1)]
        if not children:
            return [(depth, "The cart has at least one item" if found else "The cart has no items")]
        has = "has an item" if found else "has no item"
        return [(depth, f"The cart {has} for which {_quantifier(tree.aggregator, True)}:"), *children]
    if kind == SUBSELECT_TYPE:
        what, style = SUBSELECT_ATTRIBUTES.get(tree.attribute or "", (tree.attribute or "value", "text"))
        comparison = _comparison(tree.operator, [_format(v, style, names) for v in
                                                 _values(tree.value, tree.operator, False)])
        children = [line for child in tree.conditions for line in _lines(child, names, depth + 1)]
        if not children:
            return [(depth, f"The {what} of the cart items {comparison}")]
        quantifier = _quantifier(tree.aggregator, True)
        return [(depth, f"The {what} of the cart items for which {quantifier} {comparison}:"), *children]
    if kind == ADDRESS_TYPE and tree.attribute:
        label, style = ADDRESS_ATTRIBUTES.get(tree.attribute, (tree.attribute, "text"))
        values = [_format(v, style, names) for v in _values(tree.value, tree.operator, False)]
        return [(depth, f"{label} {_comparison(tree.operator, values)}")]
    if kind in PRODUCT_TYPES and tree.attribute:
        return [(depth, _product(tree, names))]
    return [(depth, f"a condition ragsync cannot show ({kind})")]


def _product(tree: Condition, names: Names) -> str:
    code = tree.attribute or ""
    if code in PRODUCT_SPECIAL:
        label, style = PRODUCT_SPECIAL[code]
        values = [_format(v, style, names) for v in _values(tree.value, tree.operator, code == "category_ids")]
    else:
        label = names.attributes.get(code) or code
        values = []
        for v in _values(tree.value, tree.operator, False):  # a list for "is one of", else the value as stored
            option = _int(v)
            values.append(names.options.get((code, option), str(v)) if option is not None else _text(v))
    return f"{label} {_comparison(tree.operator, values)}"


def _comparison(operator: str | None, values: list[str]) -> str:
    op = operator or "=="
    if op == "<=>":
        return "is undefined"
    words = OPERATORS.get(op, f"({op})")
    if len(values) > 1 and op in _PLURAL:
        words = _PLURAL[op]
    shown = ", ".join(values) if values else "empty"
    return f"{words} {shown}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _format(value: Any, style: str, names: Names) -> str:
    if style == "category":
        category = _int(value)
        if category is None:
            return _text(value)
        return names.categories.get(category) or f"category id {category}"
    if style in ("money", "number") and _is_number(value):
        if style == "money":
            return format_money(value, names.currency, names.locale) if names.locale else money(value, names.currency)
        return number(value)
    return _text(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return Decimal(str(value).strip()).is_finite()
    except (InvalidOperation, ValueError):
        return False
