"""Magento HTML (WYSIWYG and Page Builder) to clean Markdown, fast.

The conversion itself is html-to-markdown's Rust core with options built once; it drops
``<script>``, ``<style>`` and ``<head>`` itself. Around it, a few cheap string passes do what the
core does not, each one skipped unless a substring test says it is needed:

- before: drop comments (html-to-markdown 2.30 converts HTML with a comment about 3x slower),
  ``<noscript>``, forms and their controls, iframes, video and audio; decode the HTML that Page
  Builder's "HTML Code" element stores escaped; close the end tags HTML lets authors omit on
  ``<li>``, ``<td>``, ``<th>``, ``<tr>``, ``<dt>``, ``<dd>`` (the core would merge list items and lose
  table cells); convert nesting deeper than :data:`MAX_NESTING` as plain text (past about 2,000
  nested lists the core overflows its stack and the whole process dies);
- after: drop ``data:`` images, empty image titles, icon links without text and links that lead
  nowhere (``#tab``, ``javascript:``; their text stays), turn non-breaking spaces into spaces,
  strip trailing whitespace and collapse runs of blank lines.

Page Builder wrappers (``div``/``section`` with ``data-content-type``, ``data-element``,
``data-pb-style``) carry no text of their own and vanish in the conversion; their content stays.
Text without any tag takes a plain path: entities decoded, lines kept, nothing escaped.

Control characters are :func:`ragsync.documents.text.decode_text`'s job, which readers call
first; this module only makes sure they never make it raise.
"""

from __future__ import annotations

import re
from html import unescape
from itertools import accumulate

from html_to_markdown import (
    ConversionOptions,
    PreprocessingOptions,
    convert_with_handle,
    create_options_handle,
)

_OPTIONS = create_options_handle(
    ConversionOptions(
        heading_style="atx",
        list_indent_type="spaces",
        list_indent_width=4,  # enough for "1. " items: nested lists stay nested in CommonMark
        bullets="-",
        strong_em_symbol="*",
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
        escape_ascii=False,
        autolinks=True,
        extract_metadata=False,
        whitespace_mode="normalized",
        wrap=False,
        newline_style="spaces",
        code_block_style="backticks",
    ),
    PreprocessingOptions(enabled=False),
)

_TAG_RE = re.compile(r"<[a-zA-Z!/?]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Elements whose content is UI or media, not text (scripts, styles and <head> the core drops
# itself). Presence is tested with one search over the lowercased HTML; the case-insensitive
# removal, much slower, runs only when one is there.
_DROPPED = ("noscript", "template", "object", "canvas", "select", "textarea",
            "audio", "video", "iframe", "button", "form")
_DROPPED_PRESENT_RE = re.compile("<(?:" + "|".join(_DROPPED) + ")")
_DROP_RE = re.compile(r"<(" + "|".join(_DROPPED) + r")\b[^>]*>.*?</\1\s*>", re.S | re.I)
# Tags with optional end tags: when opening and closing ones do not pair up, close them ourselves.
_IMPLIED_TAG_RE = re.compile(r"</?(?:li|dt|dd|tr|td|th)[\s>]")

# The core recurses per nesting level and overflows its stack (the process dies) somewhere past
# 2,000 nested lists; real content nests 10-20 deep. Deeper input is converted as plain text.
MAX_NESTING = 256
_NESTING_TAG_RE = re.compile(
    r"<(/?)(?!(?:area|base|br|col|embed|hr|img|input|link|meta|p|param|source|track|wbr)\b)[a-zA-Z]")
_NESTING_DELTA = {"": 1, "/": -1}

_PB_HTML_CODE_RE = re.compile(r"<div\b[^>]*\bdata-content-type\s*=\s*[\"']?html\b[^>]*>", re.I)
_DIV_TAG_RE = re.compile(r"<(/?)div\b[^>]*>", re.I)
_STRUCT_TAG_RE = re.compile(r"<(/?)(ul|ol|menu|li|dl|dt|dd|table|thead|tbody|tfoot|tr|td|th)\b[^>]*>", re.I)
_RELATIVE_URL_RE = re.compile(r"""\b(href|src)(\s*=\s*)(["'])(/(?!/)[^"']*)\3""", re.I)
_ANY_TAG_RE = re.compile(r"<[^>]*>")

_DATA_IMAGE_RE = re.compile(r"!\[[^\]]*\]\(data:[^)]*\)")
_DEAD_LINK_RE = re.compile(r"\[([^\]]*)\]\((#[^)]*|javascript:[^()]*(?:\([^)]*\)[^()]*)*|<>)\)", re.I)
# "[X](X)": what the core makes of an anchor without text (an icon link) or of an iframe or video.
_INNER_SPACES_RE = re.compile(r"(?<=\S)  +(?=\S)")
_SELF_LINK_RE = re.compile(r"\[(?<!!\[)([^\]]+)\]\(\1\)")
_EMPTY_LINK_RE = re.compile(r"\[(?<!!\[)\]\([^)]*\)")  # the literal first keeps the scan fast

# Implied end tags (HTML's optional closing tags), for the elements the core mishandles:
# an opening tag in the key closes an open sibling that sits above the nearest boundary element.
_SIBLINGS = {
    "li": ("li",), "dt": ("dt", "dd"), "dd": ("dt", "dd"),
    "td": ("td", "th"), "th": ("td", "th"), "tr": ("tr", "td", "th"),
    "thead": ("thead", "tbody", "tfoot", "tr", "td", "th"),
    "tbody": ("thead", "tbody", "tfoot", "tr", "td", "th"),
    "tfoot": ("thead", "tbody", "tfoot", "tr", "td", "th"),
}
_BOUNDARIES = {
    "li": ("ul", "ol", "menu"), "dt": ("dl",), "dd": ("dl",),
    "td": ("tr", "table"), "th": ("tr", "table"), "tr": ("table", "thead", "tbody", "tfoot"),
    "thead": ("table",), "tbody": ("table",), "tfoot": ("table",),
}


def html_to_markdown(html: str | None, *, base_url: str | None = None) -> str:
    """Convert Magento HTML to clean Markdown; return "" for None or empty input, never raise.

    ``base_url`` (optional) makes root-relative ``href``/``src`` values (``/contact``) absolute.
    """
    if not html:
        return ""
    text = html
    if _TAG_RE.search(text) is None:
        return _plain_text(text)
    if 'data-content-type="html"' in text or "data-content-type='html'" in text:
        text = _decode_html_code_elements(text)
    if "<!--" in text:
        # Comments are dropped anyway, and html-to-markdown 2.30 takes a path 3x slower on them.
        text = _strip_comments(text)
    lowered = text.lower()
    if _DROPPED_PRESENT_RE.search(lowered) is not None:
        text = _DROP_RE.sub("", text)
        lowered = text.lower()
    implied = _IMPLIED_TAG_RE.findall(lowered)
    if implied and len(implied) != 2 * "".join(implied).count("/"):
        text = _close_implied_end_tags(text)
    if base_url:
        root = base_url.rstrip("/")
        text = _RELATIVE_URL_RE.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{root}{m[4]}{m[3]}", text)
    if text.count("<") > MAX_NESTING and _nesting_depth(text) > MAX_NESTING:
        return _strip_tags(text)
    return _tidy(_convert(text))


def _nesting_depth(text: str) -> int:
    """Return an upper bound of the element nesting depth (void elements and <p> not counted)."""
    marks = _NESTING_TAG_RE.findall(text)
    if len(marks) <= MAX_NESTING:
        return len(marks)
    return max(accumulate(map(_NESTING_DELTA.__getitem__, marks)))


def _convert(text: str) -> str:
    """Run the Rust core; on failure retry without control characters, then fall back to bare text."""
    markdown = _try_core(text)
    if markdown is None:
        text = _CONTROL_RE.sub("", text)
        markdown = _try_core(text)
    return _strip_tags(text) if markdown is None else markdown


def _try_core(text: str) -> str | None:
    """Return the core's Markdown, or None when it refuses the input (it raises, or panics)."""
    try:
        return convert_with_handle(text, _OPTIONS)
    except Exception:  # noqa: BLE001 - malformed input must not stop a run
        return None
    except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException, a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        return None


def _strip_comments(text: str) -> str:
    """Remove HTML comments; an unclosed one runs to the end, as in a browser."""
    pieces: list[str] = []
    position = 0
    while (start := text.find("<!--", position)) != -1:
        pieces.append(text[position:start])
        end = text.find("-->", start + 4)
        position = len(text) if end == -1 else end + 3
    pieces.append(text[position:])
    return "".join(pieces)


def _plain_text(text: str) -> str:
    """Return tagless text with entities decoded, spaces collapsed per line and blank runs collapsed."""
    if "&" in text:
        text = unescape(text)
    if _CONTROL_RE.search(text) is not None:
        text = _CONTROL_RE.sub("", text)
    text = "\n".join([" ".join(line.split()) for line in text.splitlines()])
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _tidy(markdown: str) -> str:
    """Post-process the core's Markdown: junk images and links, odd spaces, blank runs."""
    if "\xa0" in markdown:
        markdown = markdown.replace("\xa0", " ")
    if ' "")' in markdown:
        markdown = markdown.replace(' "")', ")")
    if "](" in markdown:
        removed = 0
        if "](data:" in markdown:
            markdown, count = _DATA_IMAGE_RE.subn("", markdown)
            removed += count
        if "](#" in markdown or "](<>)" in markdown or "avascript:" in markdown:
            markdown = _DEAD_LINK_RE.sub(_dead_link_text, markdown)
            removed += 1
        if "[](" in markdown:
            markdown, count = _EMPTY_LINK_RE.subn("", markdown)
            removed += count
        markdown, count = _SELF_LINK_RE.subn("", markdown)
        if removed or count:
            markdown = _INNER_SPACES_RE.sub(" ", markdown)
    markdown = "\n".join([line.rstrip() for line in markdown.split("\n")])
    while "\n\n\n" in markdown:
        markdown = markdown.replace("\n\n\n", "\n\n")
    return markdown.strip()


def _dead_link_text(match: re.Match[str]) -> str:
    """Return the text of a link that leads nowhere, or "" when its text is only the target."""
    return "" if match[1] == match[2] else match[1]


def _decode_html_code_elements(text: str) -> str:
    """Unescape the content of Page Builder "HTML Code" elements, which store their HTML escaped."""
    pieces: list[str] = []
    position = 0
    for opening in _PB_HTML_CODE_RE.finditer(text):
        if opening.start() < position:
            continue
        start = opening.end()
        depth = 1
        end = len(text)
        for tag in _DIV_TAG_RE.finditer(text, start):
            depth += -1 if tag[1] else 1
            if depth == 0:
                end = tag.start()
                break
        inner = text[start:end]
        if "&lt;" in inner or "&gt;" in inner:
            pieces.append(text[position:start])
            pieces.append(unescape(inner))
            position = end
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _close_implied_end_tags(text: str) -> str:
    """Insert the closing tags HTML lets authors omit (li, dt, dd, tr, td, th, thead, tbody, tfoot)."""
    pieces: list[str] = []
    stack: list[str] = []
    position = 0
    for tag in _STRUCT_TAG_RE.finditer(text):
        name = tag[2].lower()
        closers = ""
        if tag[1]:
            if name in stack:
                while stack[-1] != name:
                    closers += f"</{stack.pop()}>"
                stack.pop()
        else:
            siblings = _SIBLINGS.get(name)
            if siblings is not None:
                boundaries = _BOUNDARIES[name]
                cut = None
                for index in range(len(stack) - 1, -1, -1):
                    if stack[index] in boundaries:
                        break
                    if stack[index] in siblings:
                        cut = index
                if cut is not None:
                    while len(stack) > cut:
                        closers += f"</{stack.pop()}>"
            stack.append(name)
        if closers:
            pieces.append(text[position:tag.start()])
            pieces.append(closers)
            position = tag.start()
    pieces.append(text[position:])
    pieces.extend(f"</{name}>" for name in reversed(stack))
    return "".join(pieces)


def _strip_tags(text: str) -> str:
    """Return the text of HTML without any tag: the fallback when the converter fails."""
    return _plain_text(_ANY_TAG_RE.sub(" ", text))
