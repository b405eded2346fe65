"""detect_document_type and extract_headings: CMS page types from identifier, title and headings."""

from __future__ import annotations

import pytest

from ragsync.documents.cms_types import detect_document_type, extract_headings, normalize
from ragsync.settings import CMS_DOCUMENT_TYPES


@pytest.mark.parametrize(("identifier", "expected"), [
    ("home", "landing"),
    ("about-us", "about"),
    ("contact", "contact"),
    ("contact-us", "contact"),
    ("customer-service", "contact"),
    ("customer-care", "contact"),
    ("store-locator", "contact"),
    ("faq", "faq"),
    ("frequently-asked-questions", "faq"),
    ("help-center", "faq"),
    ("returns-faq", "faq"),
    ("privacy-policy", "policy"),
    ("privacy-policy-cookie-restriction-mode", "policy"),
    ("enable-cookies", "policy"),
    ("terms-and-conditions", "policy"),
    ("shipping-and-returns", "policy"),
    ("shipping_and_returns", "policy"),
    ("company-policy", "policy"),
    ("size-guide", "guide"),
    ("how-to-order", "guide"),
    ("care-instructions", "guide"),
    ("our-story", "about"),
    ("AboutUs", "about"),
    ("new-arrivals", "landing"),
    ("black-friday-sale", "landing"),
    ("no-route", "other"),
    ("lookbook-2026", "other"),
    ("wholesale", "other"),
])
def test_type_from_identifier(identifier: str, expected: str) -> None:
    assert detect_document_type(identifier) == expected


@pytest.mark.parametrize(("identifier", "expected"), [
    ("confidentialite", "policy"),
    ("politique-de-confidentialite", "policy"),
    ("conditions-generales-de-vente", "policy"),
    ("livraison", "policy"),
    ("retours", "policy"),
    ("mentions-legales", "policy"),
    ("a-propos", "about"),
    ("à-propos", "about"),
    ("qui-sommes-nous", "about"),
    ("guide-des-tailles", "guide"),
    ("foire-aux-questions", "faq"),
    ("nous-contacter", "contact"),
    ("service-client", "contact"),
    ("datenschutz", "policy"),
    ("datenschutzerklaerung", "policy"),
    ("versand", "policy"),
    ("widerrufsbelehrung", "policy"),
    ("impressum", "policy"),
    ("agb", "policy"),
    ("kontakt", "contact"),
    ("ueber-uns", "about"),
    ("über-uns", "about"),
    ("haeufige-fragen", "faq"),
    ("groessentabelle", "guide"),
])
def test_french_and_german_identifiers(identifier: str, expected: str) -> None:
    assert detect_document_type(identifier) == expected


def test_title_decides_when_the_identifier_says_nothing() -> None:
    assert detect_document_type("page-12", "Conditions générales de vente") == "policy"
    assert detect_document_type("page-12", "Who We Are") == "about"
    assert detect_document_type("page-12", "Lookbook") == "other"


def test_identifier_wins_over_title_and_headings() -> None:
    assert detect_document_type("size-guide", "Privacy matters", ["Contact us"]) == "guide"


def test_headings_decide_last_and_questions_make_a_faq() -> None:
    assert detect_document_type("page-12", "Welcome", ["Intro", "Our story"]) == "about"
    questions = ["Welcome", "Can I return an item?", "How long does shipping take?", "Do you ship abroad?"]
    assert detect_document_type("page-12", "Good to know", questions) == "faq"
    assert detect_document_type("page-12", None, ["Is it?", "Why?"]) == "other"


def test_overrides_by_identifier_win() -> None:
    overrides = {"about-us": "landing", "Special-Page": "guide", "faq": "not-a-type"}
    assert detect_document_type("about-us", "About us", overrides=overrides) == "landing"
    assert detect_document_type("special-page", overrides=overrides) == "guide"
    assert detect_document_type("faq", overrides=overrides) == "faq"
    assert detect_document_type("home", overrides={"home": "other"}) == "other"


def test_configured_home_page_is_a_landing_page() -> None:
    assert detect_document_type("start", home_identifier="start") == "landing"
    assert detect_document_type("start", home_identifier="start|2") == "landing"
    assert detect_document_type("start", home_identifier=None) == "other"
    assert detect_document_type("home", home_identifier="start") == "landing"


def test_every_result_is_a_known_type() -> None:
    for identifier in ("home", "faq", "x", "", "privacy", "about", "size-guide", "contact"):
        assert detect_document_type(identifier) in CMS_DOCUMENT_TYPES


def test_normalize_folds_case_accents_and_separators() -> None:
    assert normalize("Über_Uns — À-Propos!  ShippingAndReturns Straße") == (
        "uber uns a propos shipping and returns strasse")


def test_extract_headings() -> None:
    markdown = """# Shipping & Returns

Intro text with a # sign.

## [Delivery times](https://e.com/d) in **Europe**

```
# not a heading
```

### What about *returns*? ###
####
#not-a-heading
    # indented code
"""
    assert extract_headings(markdown) == ["Shipping & Returns", "Delivery times in Europe", "What about returns?"]
    assert extract_headings("") == []
    assert extract_headings("no headings") == []
