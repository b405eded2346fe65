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
- also before: source line breaks (and the whitespace around them) become one space outside
  ``<pre>``, as a browser shows them (only ``<br>`` breaks a line); list items holding only spaces,
  ``&nbsp;``, ``<br>`` or empty inline tags are dropped; an ``<img>`` whose ``src`` is missing or a
  placeholder takes the first real URL of ``data-src``, ``data-original``, ``data-srcset``, ``srcset``
  (first candidate of a set). A URL is a placeholder when it is empty, a ``data:`` URI, or one of the
  words (runs of letters and digits) of its path is in :data:`PLACEHOLDER_WORDS` (``spacer.gif``,
  ``lazy-placeholder.png``, ``1x1.gif``; not ``blanket.jpg``); a real ``src`` is kept. Inline tags
  wrapped right around a heading (``<span><h4>``, ``<strong><h2>``) move out of it (an ``<a>`` moves
  into it), and a heading after inline content is put on its own lines with a blank line around it;
- after: drop ``data:`` images and images left without any URL, empty image titles, icon links
  without text, links that lead nowhere (``#``, any in-page ``#anchor``: the document is read away
  from its page; ``javascript:``; an empty or blank ``href``; their text, or image, stays), list
  markers left with nothing after them, turn non-breaking spaces into spaces, strip trailing
  whitespace and collapse runs of blank lines.

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
# An image the core found no URL for: "![alt]()", "![alt]( \"title\")", "![alt](< >)".
_NO_URL_IMAGE_RE = re.compile(r'!\[[^\]]*\]\((?:<\s*>)?(?:\s*"[^"]*")?\)')
# A link to "#", "#anchor", "javascript:...", "" or only spaces (the core writes "<>", "< >", "<# >");
# its text may hold images ("[![alt](src)](#)").
_DEAD_LINK_RE = re.compile(
    r"\[((?:[^\[\]]|!\[[^\]]*\]\([^)]*\))*)\]"
    r"\((#[^)]*|javascript:[^()]*(?:\([^)]*\)[^()]*)*|<\s*(?:#[^>]*|javascript:[^>]*)?>(?:\s*\"[^\"]*\")?)\)",
    re.I)
_DEAD_AUTOLINK_RE = re.compile(r"<(?:#|javascript:)[^<>\s]*>", re.I)  # the core's "<#top>" for [#top](#top)

# Source line breaks are only whitespace in HTML; outside <pre> they become one space.
_SOURCE_BREAK_RE = re.compile(r"[\r\n]\s*")
_PRE_RE = re.compile(r"<pre\b.*?</pre\s*>", re.S | re.I)
# A list item with nothing to read: spaces, &nbsp;, <br> and empty inline tags only.
_EMPTY_ITEM_HTML_RE = re.compile(
    r"<li\b[^>]*>(?:\s|&nbsp;|&#160;|&#xa0;|<br\s*/?>|</?(?:span|strong|b|em|i|u|font|small|p|div)\b[^>]*>)*</li\s*>",
    re.I)
# A Markdown list marker alone on its line whose next line is not indented deeper (no nested content).
_EMPTY_ITEM_RE = re.compile(r"\n( *)(?:-|\d{1,9}[.)])(?=\n|$)(?!\n\1 )")

# Lazy-loaded images: where the real URL is when src is missing or a placeholder.
_IMG_TAG_RE = re.compile(r"<img\b[^>]*>", re.I)
_ATTR_RE = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_SRC_ATTR_RE = re.compile(r"""\ssrc\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)""", re.I)
_LAZY_ATTRS = ("data-src", "data-original", "data-srcset", "srcset")
_URL_WORD_RE = re.compile(r"[a-z0-9]+")
PLACEHOLDER_WORDS = frozenset(
    {"placeholder", "blank", "spacer", "transparent", "pixel", "1x1", "lazy", "loader", "loading"})
"""Words (runs of letters and digits) of an image URL that mark it as a lazy-loading placeholder."""

# Headings inside inline elements: the core renders "<strong><h2>A</h2></strong>" as "**## A**" and a
# heading after text in a list item as "- Intro #### A". Inline wrappers right around a heading are
# moved after it (<a> into it); a heading after inline content is marked with these two characters
# (Unicode private use) and put on its own lines after the conversion.
_INLINE_TAGS = frozenset({"a", "abbr", "b", "big", "cite", "del", "em", "font", "i", "ins", "label", "mark",
                          "q", "s", "small", "span", "strike", "strong", "sub", "sup", "u"})
_HEADING_OPEN_RE = re.compile(r"<h[1-6][\s>]")  # searched in the lowercased HTML
_TAG_NAME_RE = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")
_WRAPPER_CLOSERS_RE = re.compile(r"(?:\s*</[a-zA-Z][a-zA-Z0-9]*\s*>)+")
_HEADING_START = "\ue000"
_HEADING_END = "\ue001"
_HEADING_BLOCK_RE = re.compile("([ \t]*)(#{1,6} )?\ue000([^\ue001\n]*)\ue001?[ \t]*\n?")
_BLOCK_PREFIX_RE = re.compile(r"[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+|>[ \t]?)*")
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
        lowered = text.lower()
    text, marked = _repair(text, lowered)
    if base_url:
        root = base_url.rstrip("/")
        text = _RELATIVE_URL_RE.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{root}{m[4]}{m[3]}", text)
    if text.count("<") > MAX_NESTING and _nesting_depth(text) > MAX_NESTING:
        return _strip_tags(text)
    return _tidy(_convert(text), images="<img" in lowered, marked=marked)


def _repair(text: str, lowered: str) -> tuple[str, bool]:
    """Fix what the core gets wrong: source line breaks, empty items, lazy images, headings in inline tags.

    Returns the HTML and whether headings were marked for :func:`_heading_block`.
    """
    if "\n" in text or "\r" in text:
        text = _collapse_source_lines(text, lowered)
    if "<li" in lowered and _EMPTY_ITEM_HTML_RE.search(lowered) is not None:
        text = _EMPTY_ITEM_HTML_RE.sub("", text)
    if "<img" in lowered and ("data-src" in lowered or "data-original" in lowered or "srcset" in lowered):
        text = _IMG_TAG_RE.sub(_lazy_image, text)
    if _HEADING_OPEN_RE.search(lowered) is not None:
        return _free_headings(text, lowered)
    return text, False


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


def _tidy(markdown: str, *, images: bool = True, marked: bool = False) -> str:
    """Post-process the core's Markdown: junk images and links, odd spaces, headings, empty items, blanks.

    ``images`` says the HTML had an <img> (else no image can lack its URL); ``marked`` that
    :func:`_free_headings` marked headings.
    """
    if "\xa0" in markdown:
        markdown = markdown.replace("\xa0", " ")
    if ' "")' in markdown:
        markdown = markdown.replace(' "")', ")")
    emptied = False
    if "](" in markdown:
        removed = 0
        if "](data:" in markdown:
            markdown, count = _DATA_IMAGE_RE.subn("", markdown)
            removed += count
        if images and ("]()" in markdown or ']( "' in markdown or "](<" in markdown):
            markdown, count = _NO_URL_IMAGE_RE.subn("", markdown)
            removed += count
        if "](#" in markdown or "](<" in markdown or "avascript:" in markdown:
            markdown = _DEAD_LINK_RE.sub(_dead_link_text, markdown)
            removed += 1
        if "[](" in markdown:
            markdown, count = _EMPTY_LINK_RE.subn("", markdown)
            removed += count
        markdown, count = _SELF_LINK_RE.subn("", markdown)
        if removed or count:
            markdown = _INNER_SPACES_RE.sub(" ", markdown)
            emptied = True
    if "<#" in markdown or "<javascript:" in markdown or "<JavaScript:" in markdown:
        markdown = _DEAD_AUTOLINK_RE.sub("", markdown)
        emptied = True
    return _tidy_lines(markdown, marked=marked, emptied=emptied)


def _tidy_lines(markdown: str, *, marked: bool, emptied: bool) -> str:
    """Put marked headings on their own lines, strip line ends, drop empty list items and blank runs."""
    if marked:
        markdown = _HEADING_BLOCK_RE.sub(_heading_block, markdown)
        markdown = markdown.replace(_HEADING_START, "").replace(_HEADING_END, "")
    markdown = "\n".join([line.rstrip() for line in markdown.split("\n")])
    if emptied or "-\n" in markdown:  # an item whose only content was removed above, or one the core
        markdown = _EMPTY_ITEM_RE.sub("", "\n" + markdown)  # left empty
    while "\n\n\n" in markdown:
        markdown = markdown.replace("\n\n\n", "\n\n")
    return markdown.strip()


def _collapse_source_lines(text: str, lowered: str) -> str:
    """Turn source line breaks (and the spaces around them) into one space, except inside <pre>."""
    if "<pre" not in lowered:
        return _SOURCE_BREAK_RE.sub(" ", text)
    pieces: list[str] = []
    position = 0
    for block in _PRE_RE.finditer(text):
        pieces.append(_SOURCE_BREAK_RE.sub(" ", text[position:block.start()]))
        pieces.append(block[0])
        position = block.end()
    pieces.append(_SOURCE_BREAK_RE.sub(" ", text[position:]))
    return "".join(pieces)


def _is_placeholder(url: str) -> bool:
    """Tell whether an image URL shows nothing real: empty, a data: URI or a placeholder file."""
    url = url.strip().lower()
    if not url or url.startswith("data:"):
        return True
    path = url.split("?", 1)[0].split("#", 1)[0]
    return not PLACEHOLDER_WORDS.isdisjoint(_URL_WORD_RE.findall(path))


def _lazy_image(match: re.Match[str]) -> str:
    """Give an <img> whose src is missing or a placeholder the URL a lazy loader would load."""
    tag = match[0]
    values: dict[str, str] = {}
    for attribute in _ATTR_RE.finditer(tag, 4):
        value = attribute[2] if attribute[2] is not None else attribute[3]
        values.setdefault(attribute[1].lower(), (attribute[4] or "") if value is None else value)
    if not _is_placeholder(values.get("src", "")):
        return tag
    for name in _LAZY_ATTRS:
        url = values.get(name, "").strip()
        if url and name.endswith("srcset"):
            url = url.split()[0].rstrip(",")
        if url and not _is_placeholder(url):
            url = url.replace('"', "&quot;")
            return f'<img src="{url}"{_SRC_ATTR_RE.sub("", tag[4:])}'
    return tag


def _free_headings(text: str, lowered: str) -> tuple[str, bool]:
    """Move inline wrappers out of the way of headings and mark the headings that need their own block.

    Inline opening tags right before a heading (only whitespace between) move to after its end tag,
    or vanish with their end tags when those follow it; an ``<a>`` goes inside the heading. A
    heading moved so, or one that follows text or inline tags, is marked for :func:`_heading_block`.
    """
    if len(lowered) != len(text):  # lowercasing changed lengths (rare letters): positions would not match
        lowered = text
    pieces: list[str] = []
    position = 0
    for opening in _HEADING_OPEN_RE.finditer(lowered):
        start = opening.start()
        if start < position:
            continue
        cut, spans, after_inline = _heading_context(lowered, position, start)
        if not spans and not after_inline:
            continue
        open_end = lowered.find(">", start)
        close = lowered.find(f"</h{lowered[start + 2]}", open_end) if open_end != -1 else -1
        close_end = lowered.find(">", close) + 1 if close != -1 else 0
        if close_end <= 0:
            continue
        wrappers = [text[a:b] for a, b in spans]
        links = [wrapper for wrapper in wrappers if wrapper[1] in "aA" and not wrapper[2].isalnum()]
        kept = [wrapper for wrapper in wrappers if wrapper not in links]
        closers = _WRAPPER_CLOSERS_RE.match(lowered, close_end)
        names = [_TAG_NAME_RE.findall(wrapper)[0].lower() for wrapper in reversed(wrappers)]
        if closers is not None and _TAG_NAME_RE.findall(closers[0]) == names:
            kept, close_end = [], closers.end()  # "<span><h4>A</h4></span>": the wrappers go entirely
        pieces.append(text[position:cut])
        pieces.append(f"{text[start:open_end + 1]}{_HEADING_START}{''.join(links)}{text[open_end + 1:close]}"
                      f"{'</a>' * len(links)}{_HEADING_END}{text[close:close_end]}{''.join(kept)}")
        position = close_end
    if not pieces:
        return text, False
    pieces.append(text[position:])
    return "".join(pieces), True


def _heading_context(lowered: str, position: int, start: int) -> tuple[int, list[tuple[int, int]], bool]:
    """Look back from a heading at ``start``: where its inline wrappers begin, their spans, and
    whether text or an inline element comes right before it (then the core may put it mid-line)."""
    wrappers: list[tuple[int, int]] = []
    cut = start
    while True:
        lead = cut
        while lead > position and lowered[lead - 1] in " \t\r\n\f":
            lead -= 1
        if lead == position:
            return cut, wrappers, False
        if lowered[lead - 1] != ">":
            return cut, wrappers, True  # text right before the heading
        tag_start = lowered.rfind("<", position, lead)
        name = _TAG_NAME_RE.match(lowered, tag_start) if tag_start != -1 else None
        if name is None or (name[1] not in _INLINE_TAGS and name[1] not in ("br", "img")):
            return cut, wrappers, False  # a block tag: the heading starts a block already
        if lowered[tag_start + 1] == "/" or name[1] in ("br", "img"):
            return cut, wrappers, True  # an inline element ends right before the heading
        wrappers.insert(0, (tag_start, lead))
        cut = tag_start


def _heading_block(match: re.Match[str]) -> str:
    """Put a marked heading on its own line, with a blank line before (unless it starts a list item) and after."""
    line_start = match.string.rfind("\n", 0, match.start()) + 1
    prefix = match.string[line_start:match.start()] + match[1]
    hashes, content = match[2], match[3].strip()
    if hashes is None:  # no heading right there (a table cell, emphasis around it): leave it as it is
        return match[0].replace(_HEADING_START, "").replace(_HEADING_END, "")
    heading = f"{hashes}{content}\n\n"
    if not prefix:
        return f"\n{heading}"
    if _BLOCK_PREFIX_RE.fullmatch(prefix) is not None:
        return f"{match[1]}{heading}"
    return f"\n\n{heading}"


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
