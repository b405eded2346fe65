"""CMS page document types: policy, faq, guide, about, contact, landing, other.

A per-identifier override wins, and the store's home page is a landing page. Otherwise the
identifier decides, then the title; then a page whose headings are mostly questions is a FAQ;
then the headings in order. The first of these with a keyword match gives the type. Keywords are whole words or phrases (English, French,
German), matched on lowercased text with accents folded and every non-alphanumeric character
read as a space, so "shipping-and-returns", "Shipping & Returns" and "shipping_and_returns" read
the same. When several types match one text, the longest phrase wins ("customer care" is contact,
though "care" alone is guide), then the order faq, guide, policy, contact, about, landing (a
"returns-faq" is a FAQ, a "size-guide" a guide, a "company-policy" a policy).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from ragsync.vocabulary import CMS_DOCUMENT_TYPES

KEYWORDS: dict[str, tuple[str, ...]] = {
    "faq": (
        "faq", "faqs", "frequently asked questions", "frequently asked", "questions", "question",
        "help", "help center", "help centre", "support center", "q a",
        "foire aux questions", "questions frequentes", "aide", "centre d aide",
        "haufige fragen", "haeufige fragen", "fragen", "hilfe",
    ),
    "guide": (
        "guide", "guides", "how to", "howto", "size guide", "size chart", "sizing", "fit guide",
        "care", "care instructions", "instructions", "tutorial", "tutorials", "manual",
        "guide des tailles", "guide de tailles", "tableau des tailles", "entretien", "mode d emploi",
        "tutoriel", "conseils",
        "grossentabelle", "groessentabelle", "grossenratgeber", "groessenratgeber", "anleitung",
        "pflege", "pflegehinweise", "ratgeber",
    ),
    "policy": (
        "privacy", "privacy policy", "policy", "policies", "terms", "terms and conditions",
        "terms of service", "terms of use", "conditions", "cookie", "cookies", "legal",
        "legal notice", "returns", "return", "return policy", "refund", "refunds", "shipping",
        "delivery", "warranty", "guarantee", "gdpr", "imprint", "impressum", "payment methods",
        "confidentialite", "politique de confidentialite", "cgv", "cgu", "conditions generales",
        "mentions legales", "livraison", "retours", "retour", "remboursement", "remboursements",
        "garantie", "donnees personnelles", "moyens de paiement",
        "datenschutz", "datenschutzerklarung", "datenschutzerklaerung", "agb", "versand",
        "versandkosten", "lieferung", "ruckgabe", "rueckgabe", "widerruf", "widerrufsbelehrung",
        "widerrufsrecht", "zahlungsarten",
    ),
    "contact": (
        "contact", "contact us", "contacts", "customer service", "customer care", "customer support",
        "store locator", "store finder", "find us", "find a store", "our stores", "get in touch",
        "contactez nous", "nous contacter", "service client", "nos magasins", "trouver un magasin",
        "kontakt", "kundenservice", "kundendienst", "filialen", "filialfinder",
    ),
    "about": (
        "about", "about us", "our story", "who we are", "company", "our company", "our history",
        "our brand", "brand story", "careers", "press",
        "a propos", "qui sommes nous", "notre histoire", "notre entreprise",
        "uber uns", "ueber uns", "wir uber uns", "unternehmen", "geschichte",
    ),
    "landing": (
        "home", "homepage", "home page", "landing", "sale", "sales", "promo", "promos", "promotion",
        "promotions", "campaign", "new arrivals", "new in", "deals", "special offers",
        "black friday", "clearance", "outlet",
        "accueil", "soldes", "nouveautes", "offres",
        "startseite", "angebote", "aktion", "aktionen", "neuheiten",
    ),
}
"""Keywords per document type, as normalized text (lowercase ASCII words separated by one space)."""

PRIORITY = ("faq", "guide", "policy", "contact", "about", "landing")
"""Which type wins when phrases of the same length match one text."""

QUESTION_HEADINGS_MIN = 3
"""A page with at least this many headings, most of them questions, is a FAQ."""

_KEYWORD_RES = {
    kind: re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
    for kind, words in KEYWORDS.items()
}
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
_ATX_HEADING_RE = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_AUTOLINK_RE = re.compile(r"<(https?://[^>]+)>")
_EMPHASIS_RE = re.compile(r"(\*\*|__|\*|_|~~|`)(?=\S)(.+?)(?<=\S)\1")


def detect_document_type(
    identifier: str,
    title: str | None = None,
    headings: Sequence[str] = (),
    overrides: Mapping[str, str] | None = None,
    home_identifier: str | None = "home",
) -> str:
    """Return the document type of a CMS page: policy, faq, guide, about, contact, landing or other."""
    ident = (identifier or "").strip()
    if overrides:
        forced = overrides.get(ident)
        if forced is None:
            folded = ident.lower()
            forced = next((v for k, v in overrides.items() if k.strip().lower() == folded), None)
        if forced in CMS_DOCUMENT_TYPES:
            return forced
    if home_identifier and ident.lower() == home_identifier.split("|", 1)[0].strip().lower():
        return "landing"
    for text in (ident, title or ""):
        found = keyword_type(text)
        if found is not None:
            return found
    questions = sum(1 for h in headings if h.strip().endswith("?"))
    if len(headings) >= QUESTION_HEADINGS_MIN and questions * 2 > len(headings):
        return "faq"
    for heading in headings:
        found = keyword_type(heading)
        if found is not None:
            return found
    return "other"


def keyword_type(text: str) -> str | None:
    """Return the document type whose keywords match ``text`` best, or None when none matches."""
    normalized = normalize(text)
    if not normalized:
        return None
    best: tuple[int, int] | None = None
    best_kind: str | None = None
    for rank, kind in enumerate(PRIORITY):
        for match in _KEYWORD_RES[kind].finditer(normalized):
            score = (-(match[0].count(" ") + 1), rank)
            if best is None or score < best:
                best, best_kind = score, kind
    return best_kind


def normalize(text: str) -> str:
    """Return ``text`` as lowercase ASCII words separated by single spaces (accents folded, ß as ss)."""
    if not text:
        return ""
    text = _CAMEL_RE.sub(" ", text).replace("ß", "ss").replace("ẞ", "ss")
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NON_ALNUM_RE.sub(" ", text.lower()).strip()


def extract_headings(markdown: str) -> list[str]:
    """Return the text of the ATX headings ("# ...") of a Markdown text, in order, outside code fences."""
    if not markdown or "#" not in markdown:
        return []
    headings: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        opening = _FENCE_RE.match(line)
        if opening is not None:
            if fence is None:
                fence = opening[1]
            elif opening[1] == fence:
                fence = None
            continue
        if fence is not None or "#" not in line:
            continue
        match = _ATX_HEADING_RE.match(line)
        if match is None or not match[1]:
            continue
        text = _IMAGE_RE.sub(r"\1", match[1])
        text = _LINK_RE.sub(r"\1", text)
        text = _AUTOLINK_RE.sub(r"\1", text)
        text = _EMPHASIS_RE.sub(r"\2", text)
        text = " ".join(text.split())
        if text:
            headings.append(text)
    return headings
