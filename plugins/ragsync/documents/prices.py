"""Prices as a store view shows them: converted to its display currency, formatted for its locale.

Magento shows a price in the store view's current currency (``Store::getCurrentCurrency()``: the
configured default display currency when it is allowed and ``directory_currency_rate`` has a rate
from the base currency, else the base currency), formatted by the locale's CLDR currency pattern.
:func:`format_money` is a small table of those patterns for common locales (no Babel/ICU
dependency, and a CLDR update never changes a document's hash): the decimal and grouping
separators, where the symbol goes, the symbol itself for common currencies (the ISO code for the
others) and the decimals of the currency (VND and JPY 0, most others 2). Spaces are plain spaces
(CLDR's no-break spaces and Arabic direction marks are left out: the text is read, not laid out)
and digits are always Latin. A locale whose language the table does not know is shown neutrally,
``"7000.00 USD"``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["LOCALE_FORMATS", "convert", "currency_decimals", "format_money", "format_number", "locale_format"]

# ISO 4217 minor units that are not 2 (CLDR's ``digits``, the ones Magento's formatter uses)
_DECIMALS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 0, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


class LocaleFormat(NamedTuple):
    """How one locale writes an amount of money."""

    decimal: str
    group: str
    symbol_first: bool
    """True: ``¤#`` (``$7,000.00``); False: ``# ¤`` (``7.000,00 €``)."""
    space: bool
    """A space between the symbol and the number."""
    symbols: dict[str, str]
    """Currency code -> symbol in this locale; a currency not listed is shown by its code."""
    min_grouping: int = 1
    """CLDR's minimum grouping digits: 2 means 4-digit amounts are not grouped (Spanish: ``7000,00 €``)."""


_EN = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "VND": "₫", "BRL": "R$", "CAD": "CA$",
       "AUD": "A$", "INR": "₹"}

LOCALE_FORMATS: dict[str, LocaleFormat] = {
    "en_US": LocaleFormat(".", ",", True, False, _EN),
    "en_GB": LocaleFormat(".", ",", True, False, {**_EN, "USD": "US$", "JPY": "JP¥"}),
    "fr_FR": LocaleFormat(",", " ", False, True, {"USD": "$US", "EUR": "€", "GBP": "£GB", "VND": "₫", "BRL": "R$"}),
    "de_DE": LocaleFormat(",", ".", False, True, {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "CN¥",
                                                  "VND": "₫", "BRL": "R$"}),
    "es_ES": LocaleFormat(",", ".", False, True, {"USD": "US$", "EUR": "€", "VND": "₫"}, min_grouping=2),
    "it_IT": LocaleFormat(",", ".", False, True, {"EUR": "€", "GBP": "£", "CNY": "CN¥"}),
    "nl_NL": LocaleFormat(",", ".", True, True, {**_EN, "USD": "US$", "JPY": "JP¥"}),
    "pt_BR": LocaleFormat(",", ".", True, True, {**_EN, "USD": "US$", "JPY": "JP¥"}),
    "vi_VN": LocaleFormat(",", ".", False, True, {**_EN, "USD": "US$"}),
    "ar_SA": LocaleFormat(".", ",", False, True, {"USD": "US$", "EUR": "€", "GBP": "UK£", "JPY": "JP¥",
                                                  "CNY": "CN¥", "VND": "₫", "BRL": "R$", "SAR": "ر.س.",
                                                  "AED": "د.إ."}),
    "ja_JP": LocaleFormat(".", ",", True, False, {**_EN, "JPY": "￥", "CNY": "元"}),
    "zh_CN": LocaleFormat(".", ",", True, False, {**_EN, "USD": "US$", "JPY": "JP¥", "CNY": "¥"}),
}
_LANGUAGE_DEFAULTS = {"en": "en_US", "fr": "fr_FR", "de": "de_DE", "es": "es_ES", "it": "it_IT", "nl": "nl_NL",
                      "pt": "pt_BR", "vi": "vi_VN", "ar": "ar_SA", "ja": "ja_JP", "zh": "zh_CN"}
_NEUTRAL = LocaleFormat(".", "", False, True, {})


def locale_format(locale: str | None) -> LocaleFormat:
    """Return the format of a locale: its own, else its language's (``fr_CA`` -> ``fr_FR``), else the neutral one."""
    code = (locale or "").strip().replace("-", "_")
    found = LOCALE_FORMATS.get(code)
    if found is None:
        default = _LANGUAGE_DEFAULTS.get(code.split("_")[0].lower())
        found = LOCALE_FORMATS[default] if default else _NEUTRAL
    return found


def currency_decimals(currency: str | None) -> int:
    """Return the decimals a currency is shown with: 0 for VND and JPY, 3 for KWD, 2 for most."""
    return _DECIMALS.get((currency or "").strip().upper(), 2)


def as_decimal(value: Any) -> Decimal:
    """Return a value as a Decimal (0 when it is not a finite number)."""
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return result if result.is_finite() else Decimal(0)


def convert(amount: Any, rate: Decimal | None, currency: str | None) -> float:
    """Return ``amount`` times ``rate`` (None: 1) rounded to the decimals of ``currency``, as a JSON number."""
    value = as_decimal(amount) * (rate if rate is not None else 1)
    return float(value.quantize(Decimal(1).scaleb(-currency_decimals(currency)), rounding=ROUND_HALF_UP)) + 0.0


def _digits(value: Decimal, decimals: int, fmt: LocaleFormat) -> str:
    rounded = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    if fmt.group and len(whole) >= 3 + fmt.min_grouping:
        head, tail = whole[: len(whole) % 3], whole[len(whole) % 3:]
        groups = ([head] if head else []) + [tail[i:i + 3] for i in range(0, len(tail), 3)]
        whole = fmt.group.join(groups)
    return sign + whole + (fmt.decimal + fraction if fraction else "")


@lru_cache(maxsize=8192)
def _format_money(amount: Decimal, currency: str, locale: str) -> str:
    fmt = locale_format(locale)
    text = _digits(amount, currency_decimals(currency), fmt)
    if not currency:
        return text
    symbol = fmt.symbols.get(currency, currency)
    if fmt.symbol_first:
        # a symbol ending in a letter ("SAR") is kept apart from the digits (CLDR currency spacing)
        gap = " " if fmt.space or symbol[-1:].isalpha() else ""
        return f"{symbol}{gap}{text}"
    return f"{text} {symbol}" if fmt.space else f"{text}{symbol}"


def format_money(amount: Any, currency: str | None, locale: str | None) -> str:
    """Format an amount of a currency as the locale writes it: ``"$7,000.00"``, ``"175.000.000 ₫"``, ``"7 000,00 €"``."""
    return _format_money(as_decimal(amount), (currency or "").strip().upper(), (locale or "").strip())


def format_number(amount: Any, locale: str | None) -> str:
    """Format a number with at most 2 decimals, no trailing zeros, in the locale's decimal separator: ``"12,5"``."""
    value = as_decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(".", locale_format(locale).decimal)
