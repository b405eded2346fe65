"""Prices as a store view shows them: conversion and the locale's currency format."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ragsync.documents.prices import LOCALE_FORMATS, convert, currency_decimals, format_money, format_number


@pytest.mark.parametrize(("amount", "currency", "locale", "expected"), [
    (7000, "USD", "en_US", "$7,000.00"),
    (1234567.891, "USD", "en_US", "$1,234,567.89"),
    (29, "EUR", "en_US", "€29.00"),
    (29, "GBP", "en_GB", "£29.00"),
    (29, "USD", "en_GB", "US$29.00"),
    (7000.5, "EUR", "fr_FR", "7 000,50 €"),
    (7000.5, "USD", "fr_FR", "7 000,50 $US"),
    (7000.5, "EUR", "fr_CA", "7 000,50 €"),  # language fallback: fr_FR's format
    (7000.5, "EUR", "de_DE", "7.000,50 €"),
    (7000.5, "EUR", "es_ES", "7000,50 €"),  # Spanish groups from 5 digits on
    (17000.5, "EUR", "es_ES", "17.000,50 €"),
    (7000.5, "EUR", "it_IT", "7.000,50 €"),
    (7000.5, "USD", "it_IT", "7.000,50 USD"),
    (7000.5, "EUR", "nl_NL", "€ 7.000,50"),
    (7000.5, "BRL", "pt_BR", "R$ 7.000,50"),
    (175000000, "VND", "vi_VN", "175.000.000 ₫"),
    (Decimal("174999999.6"), "VND", "vi_VN", "175.000.000 ₫"),
    (29, "USD", "vi_VN", "29,00 US$"),
    (7000.5, "SAR", "ar_SA", "7,000.50 ر.س."),
    (7000.5, "AED", "ar_AE", "7,000.50 د.إ."),
    (7000.5, "JPY", "ja_JP", "￥7,001"),
    (7000.5, "CNY", "zh_CN", "¥7,000.50"),
    (7000.5, "SAR", "en_US", "SAR 7,000.50"),  # a code before the digits keeps a space
    (7000.5, "KWD", "en_US", "KWD 7,000.500"),
    (7000.5, "USD", "pl_PL", "7000.50 USD"),  # a language without a format: neutral
    (7000.5, "USD", None, "7000.50 USD"),
    (-5, "EUR", "de_DE", "-5,00 €"),
    (0.5, "EUR", "en_US", "€0.50"),
])
def test_format_money(amount: Any, currency: str, locale: str | None, expected: str) -> None:
    assert format_money(amount, currency, locale) == expected


def test_every_locale_format_is_complete() -> None:
    for locale, fmt in LOCALE_FORMATS.items():
        assert fmt.decimal and fmt.decimal != fmt.group, locale
        assert format_money(1000, "EUR", locale).count("1") == 1, locale


def test_decimals_per_currency() -> None:
    assert [currency_decimals(c) for c in ("VND", "JPY", "USD", "EUR", "KWD", "vnd", None)] == [0, 0, 2, 2, 3, 0, 2]


def test_convert_rounds_to_the_display_currencys_decimals() -> None:
    assert convert(29.0, Decimal("25345.5"), "VND") == 735020.0
    assert convert(29.99, Decimal("1.0842"), "USD") == 32.52
    assert convert(29.99, None, "EUR") == 29.99


def test_format_number() -> None:
    assert [format_number(v, "fr_FR") for v in (20, 12.5, 12.555, 0)] == ["20", "12,5", "12,56", "0"]
    assert format_number(12.5, "en_US") == "12.5"
