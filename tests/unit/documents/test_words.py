"""The words ragsync adds to the content: every catalog complete, chosen by locale, English per key."""

from __future__ import annotations

import re

import pytest

from ragsync.documents.words import CATALOGS, ENGLISH, catalog_language, fill, words_for

LANGUAGES = ["en", "fr", "de", "es", "it", "nl", "pt", "vi", "ar", "ja", "zh"]


def test_the_common_languages_are_shipped() -> None:
    assert sorted(CATALOGS) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_each_catalog(language: str) -> None:
    catalog = CATALOGS[language]
    assert set(catalog) == set(ENGLISH), set(ENGLISH) ^ set(catalog)
    assert all(value.strip() for value in catalog.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_templates_keep_their_fields(language: str) -> None:
    for key, english in ENGLISH.items():
        fields = sorted(re.findall(r"{(\w+)}", english))
        assert sorted(re.findall(r"{(\w+)}", CATALOGS[language][key])) == fields, (language, key)


@pytest.mark.parametrize(("locale", "language"), [
    ("fr_FR", "fr"), ("fr_CA", "fr"), ("vi_VN", "vi"), ("ar_SA", "ar"), ("ar_AE", "ar"), ("pt_PT", "pt"),
    ("zh_Hans_CN", "zh"), ("en_GB", "en"), ("pl_PL", "en"), ("", "en"), (None, "en"), ("de-AT", "de"),
])
def test_locale_picks_its_languages_catalog(locale: str | None, language: str) -> None:
    assert catalog_language(locale) == language


def test_english_per_key_and_store_labels_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(CATALOGS["fr"], "variants")
    from ragsync.documents import words
    words._catalog_words.cache_clear()
    try:
        french = words_for("fr_FR", {"price": "Tarif", "sku": ""})
        assert (french["variants"], french["price"], french["sku"], french["in_stock"]) == (
            "Variants", "Tarif", "Référence", "En stock")
    finally:
        words._catalog_words.cache_clear()
    assert fill(words_for("vi_VN")["up_to_items"], count="3") == " (tối đa 3 sản phẩm)"
