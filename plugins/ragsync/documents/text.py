"""Text hygiene for document fields: strict UTF-8, control characters, size limit, prices.

Content that is not valid UTF-8 or a document larger than :data:`MAX_DOCUMENT_BYTES` raises
:class:`ContentError`; a reader turns it into a :class:`~ragsync.documents.model.Problem` for that
entity and goes on, so nothing half-broken is ever sent and one bad row never stops a run.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ragsync.documents.model import Document

MAX_DOCUMENT_BYTES = 1_000_000
"""Per-document limit: bytes of the document's canonical JSON item form."""

PRICE_DECIMALS = 6
"""Magento stores prices as decimal(20,6); JSON numbers keep at most that many decimals."""

# C0 controls except \t \n \r, DEL, and C1 controls (mis-decoded cp1252 residue): invisible junk.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# One scan finds both (the common text has neither): what decode_text must remove or refuse.
_CONTROL_OR_SURROGATE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_WHITESPACE_RE = re.compile(r"\s+")
_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_DECIMALS)


class ContentError(ValueError):
    """A field or document cannot be sent as it is; ``reason`` says why, for the problem log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_text(value: str | bytes | None, field: str) -> str | None:
    """Return ``value`` as clean text: strict UTF-8, control characters removed, BOM dropped.

    Bytes that are not valid UTF-8 and strings holding lone surrogates (which cannot be encoded
    as UTF-8) raise :class:`ContentError` naming ``field``; NUL and other control characters
    other than tab, newline and carriage return are removed silently.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContentError(f"{field}: invalid UTF-8 at byte {exc.start}") from None
    else:
        text = value
    if _CONTROL_OR_SURROGATE_RE.search(text) is not None:
        surrogate = _SURROGATE_RE.search(text)
        if surrogate is not None:
            raise ContentError(f"{field}: invalid UTF-8 (lone surrogate) at character {surrogate.start()}")
        text = _CONTROL_RE.sub("", text)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def clean_text(value: str | None) -> str:
    """Return a single-line field (a name, a label, a title): control characters removed, whitespace collapsed."""
    if not value:
        return ""
    if value.isprintable() and "  " not in value and value[0] != " " and value[-1] != " ":
        # Already clean (the common case, and the renderers clean what readers cleaned): the only
        # whitespace str.isprintable() lets through is the plain space, and no control character.
        return value
    if _CONTROL_RE.search(value) is not None:
        value = _CONTROL_RE.sub("", value)
    return _WHITESPACE_RE.sub(" ", value).strip()


def document_bytes(doc: Document) -> int:
    """Return the size in bytes of the document's canonical JSON item form (what the queue stores)."""
    try:
        return len(doc.item_json().encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ContentError(f"document is not valid UTF-8 ({exc.reason} at character {exc.start})") from None
    except (TypeError, ValueError) as exc:
        raise ContentError(f"document cannot be serialized as JSON ({exc})") from None


def check_document_size(doc: Document, limit: int = MAX_DOCUMENT_BYTES) -> None:
    """Raise :class:`ContentError` when the document's canonical JSON is over ``limit`` bytes."""
    size = document_bytes(doc)
    if size > limit:
        raise ContentError(f"document is {size} bytes, over the {limit}-byte limit")


def format_price(value: Decimal | float | int | str | None) -> float | None:
    """Return a price as a JSON-ready float rounded to at most 6 decimals; None when absent or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        if not number.is_finite():
            return None
        rounded = float(number.quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None
    if not math.isfinite(rounded):
        return None
    return rounded + 0.0  # turns -0.0 into 0.0
