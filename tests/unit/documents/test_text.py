"""decode_text, clean_text, format_price and the document size limit."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from ragsync.documents.model import Document
from ragsync.documents.text import (
    MAX_DOCUMENT_BYTES,
    ContentError,
    check_document_size,
    clean_text,
    decode_text,
    document_bytes,
    format_price,
)


def test_decode_text_decodes_valid_utf8() -> None:
    assert decode_text("Crème brûlée 🍮".encode(), "name") == "Crème brûlée 🍮"
    assert decode_text(None, "name") is None
    assert decode_text("", "name") == ""


def test_decode_text_rejects_invalid_utf8_naming_field_and_byte() -> None:
    with pytest.raises(ContentError) as caught:
        decode_text(b"Caf\xe9 au lait", "description")
    assert caught.value.reason == "description: invalid UTF-8 at byte 3"
    assert str(caught.value) == "description: invalid UTF-8 at byte 3"
    assert isinstance(caught.value, ValueError)


def test_decode_text_rejects_truncated_multibyte_sequence() -> None:
    with pytest.raises(ContentError, match="short_description: invalid UTF-8 at byte 5"):
        decode_text("abcde€".encode()[:-1], "short_description")


def test_decode_text_rejects_lone_surrogates() -> None:
    with pytest.raises(ContentError, match=r"name: invalid UTF-8 \(lone surrogate\) at character 2"):
        decode_text("ab\udcffcd", "name")


def test_decode_text_removes_control_characters_and_bom() -> None:
    assert decode_text("\ufeffa\x00b\x07c\td\ne\r\nf\x7fg\x85h", "content") == "abc\td\ne\r\nfgh"
    assert decode_text(b"\xef\xbb\xbfx\x00y", "content") == "xy"


def test_clean_text_makes_one_clean_line() -> None:
    assert clean_text("  Cruise\n Dual\t\tJacket\xa0 \x00") == "Cruise Dual Jacket"
    assert clean_text(None) == ""
    assert clean_text("   ") == ""


def test_clean_text_shortcut_for_clean_values_changes_no_result() -> None:
    # clean values are returned as they are; every other value goes through the full normalization
    rng = random.Random(11)
    alphabet = "ab Z9é\u00a0\u2003\u2028\t\n\r\x00\x1f\x7f\x85\x9f\ufeff|#"
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        expected = re.sub(r"\s+", " ", re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "", value)).strip()
        assert clean_text(value) == expected, repr(value)


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("19.990000"), 19.99),
    (Decimal("20.000000"), 20.0),
    (Decimal("0.1234567"), 0.123457),
    (19.9, 19.9),
    (5, 5.0),
    ("12.50", 12.5),
    (Decimal("-0.0000001"), 0.0),
    (None, None),
    (Decimal("NaN"), None),
    (float("inf"), None),
    ("abc", None),
    (True, None),
])
def test_format_price(value: Decimal | float | str | None, expected: float | None) -> None:
    result = format_price(value)  # type: ignore[arg-type]
    assert result == expected
    assert result is None or type(result) is float


def _document(content: str) -> Document:
    return Document("cms_page", "1", 1, "save", {"content": content, "title": "Big"})


def test_document_under_the_limit_passes() -> None:
    check_document_size(_document("x" * 1000))


def test_document_over_the_limit_is_rejected_with_its_size() -> None:
    doc = _document("é" * 500_000)  # 1,000,000 bytes of content alone
    size = document_bytes(doc)
    assert size > MAX_DOCUMENT_BYTES
    with pytest.raises(ContentError) as caught:
        check_document_size(doc)
    assert caught.value.reason == f"document is {size} bytes, over the 1000000-byte limit"


def test_size_counts_utf8_bytes_of_the_canonical_json() -> None:
    doc = _document("é")
    assert document_bytes(doc) == len(doc.item_json().encode("utf-8"))
    check_document_size(_document("x"), limit=10_000)
    with pytest.raises(ContentError, match="over the 100-byte limit"):
        check_document_size(_document("x"), limit=100)


def test_unencodable_document_is_a_content_error() -> None:
    with pytest.raises(ContentError, match="not valid UTF-8"):
        check_document_size(_document("bad \udc80 surrogate"))
