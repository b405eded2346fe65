"""Render Magento template directives (``{{store url=...}}``, ``{{block id=...}}``, ...) in CMS content.

This runs on the raw HTML of a page, block, category or product description, before
:func:`ragsync.documents.markdown.html_to_markdown`, and never touches the database: the reader
supplies a :class:`DirectiveContext` whose callables resolve URLs, config values and blocks for one
store view.

What each directive becomes:

- ``{{store url="path"}}`` / ``{{store direct_url="path"}}`` -> ``ctx.store_url(path)``;
  ``{{media url="path"}}`` -> ``ctx.media_url(path)``; ``{{view url=...}}`` -> "" (theme assets
  cannot be resolved outside Magento).
- ``{{config path="..."}}`` -> ``ctx.config_value(path)`` or "", for the paths Magento itself lets
  CMS content read (:data:`ALLOWED_CONFIG_PATHS`, its ``Magento_Variable`` allow-list); any other
  path renders "" and is reported, so content can never leak a secret from ``core_config_data``.
- ``{{trans "Text %name" name="X"}}`` -> the text with its ``%name`` placeholders filled.
- ``{{widget type="Magento\\Cms\\Block\\Widget\\Block" block_id="5"}}``, ``{{block id="footer"}}`` and
  ``{{block class="Magento\\Cms\\Block\\Block" block_id="x"}}`` -> that block's content for the store,
  rendered recursively. A block that includes itself, directly or through a cycle, or nesting
  deeper than ``ctx.max_depth`` renders "" the second time, is reported, and rendering goes on.
- CMS page, product and category link widgets -> their ``anchor_text`` (the link itself needs
  data the context does not have; the words keep the sentence around them whole).
- ``{{protocol http="..." https="..."}}`` -> the https value (the storefront is served over TLS).
- Conditionals: CMS content is rendered by Magento with no template variables, so every variable
  is empty. ``{{depend x}}...{{/depend}}`` therefore renders "" (body dropped) and
  ``{{if x}}A{{else}}B{{/if}}`` renders ``B`` (``A`` dropped; "" without ``{{else}}``). Keeping
  ``A`` would put text in the document that the storefront never shows; keeping neither would lose
  the text the storefront does show.
- Every other directive (``{{var}}``, ``{{customVar}}``, ``{{layout}}``, ``{{css}}``, ``{{inlinecss}}``,
  ``{{template}}``, other widgets, ...) renders "".

Quotes around parameter values may be ``"``, ``'`` or absent, and may be HTML-escaped (``&quot;``),
as Page Builder writes them inside attributes: ``<img src="{{media url=&quot;a.jpg&quot;}}">``.
A broken directive never raises: an unclosed ``{{`` is removed together with what follows it up to
the end of the tag, text line or attribute it sits in, a ``{{...}}`` that is not a directive is
removed, and each is reported with its offset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape, unescape

ALLOWED_CONFIG_PATHS = frozenset({
    "web/unsecure/base_url",
    "web/secure/base_url",
    "trans_email/ident_general/name",
    "trans_email/ident_general/email",
    "trans_email/ident_sales/name",
    "trans_email/ident_sales/email",
    "trans_email/ident_support/name",
    "trans_email/ident_support/email",
    "trans_email/ident_custom1/name",
    "trans_email/ident_custom1/email",
    "trans_email/ident_custom2/name",
    "trans_email/ident_custom2/email",
    "general/store_information/name",
    "general/store_information/phone",
    "general/store_information/hours",
    "general/store_information/country_id",
    "general/store_information/region_id",
    "general/store_information/postcode",
    "general/store_information/city",
    "general/store_information/street_line1",
    "general/store_information/street_line2",
    "general/store_information/merchant_vat_number",
})
"""Config paths ``{{config path=...}}`` may read: Magento_Variable's allow-list (``etc/di.xml``)."""

_CMS_BLOCK_CLASSES = frozenset({"magentocmsblockwidgetblock", "magentocmsblockblock", "cmsblock"})
# Link widgets (CMS page, product, category): their anchor text is part of the sentence around them.
_LINK_WIDGET_CLASSES = frozenset({
    "magentocmsblockwidgetpagelink", "magentocatalogblockproductwidgetlink", "magentocatalogblockcategorywidgetlink",
})
_NAME_RE = re.compile(r"\s*([a-zA-Z]{1,20})(?!\w)")
_CONDITIONAL_RE = re.compile(r"\{\{\s*(/?)(if|depend|else)\b[^{}]*\}\}", re.I)
_PARAM_RE = re.compile(
    r"""([A-Za-z_][\w.-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s"']*))""")
_LEADING_STRING_RE = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_BACKSLASH_ESCAPE_RE = re.compile(r"\\(.)")
_PLACEHOLDER_RE = re.compile(r"%(\w+)")
_UNCLOSED_STOP_IN_TEXT = "<\n"
_UNCLOSED_STOP_IN_TAG = "\"'>\n"
_UNCLOSED_MAX = 200


@dataclass
class DirectiveContext:
    """What directives resolve against, for one store view; the callables come from the reader."""

    store_url: Callable[[str], str]
    """Path ("" for the home page, "contact", "customer/account") -> absolute store URL."""
    media_url: Callable[[str], str]
    """Path relative to media/ -> absolute media URL."""
    config_value: Callable[[str], str | None]
    """Config path -> its value for this store (store, website, default fallback), None if unset."""
    block_content: Callable[[str], str | None]
    """Block id (numeric string) or identifier -> raw block HTML for this store; None if unknown or inactive."""
    max_depth: int = 5
    """How many blocks may nest inside one another."""
    open_blocks: tuple[str, ...] = ()
    """Ids and identifiers of the block being rendered itself, so that it cannot include itself."""


def render_directives(text: str, ctx: DirectiveContext) -> str:
    """Return ``text`` with every Magento directive rendered or removed (see the module docstring)."""
    return render_directives_with_problems(text, ctx)[0]


def render_directives_with_problems(text: str, ctx: DirectiveContext) -> tuple[str, list[str]]:
    """Return ``text`` rendered and the problems met: broken directives, block cycles, depth, unknown blocks.

    Problems are warnings: the rendered text is complete and safe to use either way.
    """
    if not text or "{{" not in text:
        return text or "", []
    problems: list[str] = []
    renderer = _Renderer(ctx, problems)
    return renderer.render(text, (), "", 0), problems


class _Renderer:
    """One rendering: the context, the problem list, and the recursion through blocks."""

    def __init__(self, ctx: DirectiveContext, problems: list[str]) -> None:
        self.ctx = ctx
        self.problems = problems

    def render(self, text: str, stack: tuple[tuple[str, str], ...], where: str, offset: int) -> str:
        """Render ``text``; ``stack`` holds (ref, content) of the blocks around it, ``offset`` its place."""
        if "{{" not in text:
            return text
        out: list[str] = []
        position = 0
        length = len(text)
        while True:
            start = text.find("{{", position)
            if start == -1:
                break
            out.append(text[position:start])
            end = text.find("}}", start + 2)
            nested = text.find("{{", start + 2)
            if end == -1 or (nested != -1 and nested < end):
                position = self._skip_unclosed(text, start)
                self.problems.append(f"unclosed directive at {offset + start}{where}")
                continue
            body = text[start + 2:end]
            position = end + 2
            name_match = _NAME_RE.match(body)
            if name_match is None:
                if body.strip().startswith("/"):
                    continue  # a stray {{/if}} or {{/depend}}: drop it quietly
                self.problems.append(f"unparsable directive at {offset + start}{where}")
                continue
            name = name_match[1].lower()
            params = body[name_match.end():]
            if name in ("if", "depend"):
                rendered, position = self._conditional(text, start, position, name, stack, where, offset)
                out.append(rendered)
                continue
            out.append(self._directive(name, params, offset + start, stack, where))
        out.append(text[position:length])
        return "".join(out)

    def _skip_unclosed(self, text: str, start: int) -> int:
        """Return where to resume after an unclosed ``{{``: the end of its tag, attribute or line."""
        in_tag = text.rfind("<", 0, start) > text.rfind(">", 0, start)
        stops = _UNCLOSED_STOP_IN_TAG if in_tag else _UNCLOSED_STOP_IN_TEXT
        limit = min(len(text), start + 2 + _UNCLOSED_MAX)
        for index in range(start + 2, limit):
            char = text[index]
            if char in stops:
                return index
            if char == "{" and text.startswith("{{", index):
                return index
        return start + 2 if limit < len(text) else len(text)

    def _conditional(self, text: str, start: int, after_open: int, name: str,
                     stack: tuple[tuple[str, str], ...], where: str, offset: int) -> tuple[str, int]:
        """Render ``{{if}}``/``{{depend}}`` with every variable empty: the ``{{else}}`` part, or ""."""
        depth = 1
        else_at: tuple[int, int] | None = None
        for marker in _CONDITIONAL_RE.finditer(text, after_open):
            kind = marker[2].lower()
            if kind == "else":
                if depth == 1 and name == "if" and else_at is None:
                    else_at = (marker.start(), marker.end())
                continue
            if kind != name:
                continue
            if marker[1]:
                depth -= 1
                if depth == 0:
                    if else_at is None:
                        return "", marker.end()
                    body = text[else_at[1]:marker.start()]
                    return self.render(body, stack, where, offset + else_at[1]), marker.end()
            else:
                depth += 1
        self.problems.append(f"unclosed {{{{{name}}}}} at {offset + start}{where}")
        return "", after_open

    def _directive(self, name: str, raw_params: str, start: int,  # noqa: C901 - one branch per directive Magento has
                   stack: tuple[tuple[str, str], ...], where: str) -> str:
        """Render one self-contained directive."""
        if name == "trans":
            return _trans(raw_params)
        params = _parse_params(raw_params)
        ctx = self.ctx
        if name == "store":
            if "direct_url" in params:
                return ctx.store_url(params["direct_url"])
            return ctx.store_url(params.get("url", ""))
        if name == "media":
            return ctx.media_url(params.get("url", "").lstrip("/"))
        if name == "config":
            path = params.get("path", "").strip()
            if path not in ALLOWED_CONFIG_PATHS:
                self.problems.append(f"config path {path!r} is not readable by CMS content{where}")
                return ""
            return ctx.config_value(path) or ""
        if name == "protocol":
            return params.get("https") or params.get("http") or ""
        if name == "widget":
            widget_type = _class_key(params.get("type", ""))
            if widget_type in _CMS_BLOCK_CLASSES:
                return self._block(params.get("block_id", ""), start, stack, where)
            if widget_type in _LINK_WIDGET_CLASSES:
                return escape(params.get("anchor_text", ""), quote=False)
            return ""
        if name == "block":
            if "id" in params:
                return self._block(params["id"], start, stack, where)
            if _class_key(params.get("class", "")) in _CMS_BLOCK_CLASSES:
                return self._block(params.get("block_id", ""), start, stack, where)
            return ""
        return ""

    def _block(self, ref: str, start: int, stack: tuple[tuple[str, str], ...], where: str) -> str:
        """Render the content of block ``ref`` inside the current text, guarding cycles and depth."""
        ref = ref.strip()
        if not ref:
            self.problems.append(f"block directive without a block id at {start}{where}")
            return ""
        refs = [entry[0] for entry in stack]
        if self.ctx.open_blocks:
            refs.insert(0, "/".join(self.ctx.open_blocks))
        if ref in self.ctx.open_blocks or any(ref == entry[0] for entry in stack):
            self.problems.append(f"block {ref!r} includes itself ({' -> '.join([*refs, ref])})")
            return ""
        if len(stack) >= self.ctx.max_depth:
            self.problems.append(f"block {ref!r} nested deeper than {self.ctx.max_depth} levels")
            return ""
        content = self.ctx.block_content(ref)
        if content is None:
            self.problems.append(f"block {ref!r} is unknown or inactive in this store{where}")
            return ""
        for open_ref, open_content in stack:
            if content == open_content:
                self.problems.append(
                    f"block {ref!r} includes itself ({' -> '.join([*refs, ref])}; same block as {open_ref!r})")
                return ""
        return self.render(content, (*stack, (ref, content)), f" in block {ref!r}", 0)


def _parse_params(raw: str) -> dict[str, str]:
    """Parse ``name="v" name='v' name=v`` parameters, accepting HTML-escaped quotes."""
    if "&" in raw:
        raw = unescape(raw)
    params: dict[str, str] = {}
    for match in _PARAM_RE.finditer(raw):
        double, single, bare = match[2], match[3], match[4]
        if double is not None:
            value = _BACKSLASH_ESCAPE_RE.sub(r"\1", double) if "\\" in double else double
        elif single is not None:
            value = _BACKSLASH_ESCAPE_RE.sub(r"\1", single) if "\\" in single else single
        else:
            value = bare or ""
        params.setdefault(match[1].lower(), value)
    return params


def _trans(raw: str) -> str:
    """Render ``{{trans "Text %name" name="X"}}``: the text with its named placeholders filled."""
    if "&" in raw:
        raw = unescape(raw)
    leading = _LEADING_STRING_RE.match(raw)
    if leading is None:
        return ""
    phrase = leading[1] if leading[1] is not None else leading[2]
    if "\\" in phrase:
        phrase = _BACKSLASH_ESCAPE_RE.sub(r"\1", phrase)
    if "%" not in phrase:
        return phrase
    values = {key: ("" if value.startswith("$") else value)
              for key, value in _parse_params(raw[leading.end():]).items()}
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m[1].lower(), m[0]), phrase)


def _class_key(value: str) -> str:
    """Return a PHP class name without backslashes and case, so escaping variants compare equal."""
    return value.replace("\\", "").replace("/", "").strip().lower()
