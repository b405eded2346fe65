"""html_to_markdown: Page Builder and WYSIWYG HTML to clean Markdown."""

from __future__ import annotations

import pytest

from ragsync.documents.markdown import MAX_NESTING, html_to_markdown
from ragsync.documents.text import decode_text

PAGE_BUILDER_PAGE = """\
<style>#html-body [data-pb-style=AB12CD3]{justify-content:flex-start;display:flex;flex-direction:column}</style>\
<div data-content-type="row" data-appearance="contained" data-element="main">\
<div data-enable-parallax="0" data-parallax-speed="0.5" data-background-images="{}" data-background-type="image" \
data-video-loop="true" data-element="inner" data-pb-style="AB12CD3">\
<h1 data-content-type="heading" data-appearance="default" data-element="main">Shipping &amp; Returns</h1>\
<div class="pagebuilder-column-group" data-content-type="column-group" data-grid-size="12" data-element="main">\
<div class="pagebuilder-column" data-content-type="column" data-appearance="full-height" \
data-background-images="{}" data-element="main" data-pb-style="EF45GH6">\
<div data-content-type="text" data-appearance="default" data-element="main">\
<p>We ship <strong>worldwide</strong> &ndash; orders over <em>$50</em> ship free.</p>
<ul>
<li>Standard: 3&ndash;5 days</li>
<li>Express
<ul>
<li>Next day</li>
<li>Same day (city only)</li>
</ul>
</li>
</ul>
<ol>
<li>Pack the item</li>
<li>Print the label</li>
</ol>
<p>Read the <a href="https://shop.example.com/returns.html">returns policy</a>.</p>
<table><thead><tr><th>Zone</th><th>Days</th></tr></thead>\
<tbody><tr><td>EU</td><td>2</td></tr><tr><td>World</td><td>7</td></tr></tbody></table>\
</div></div>\
<div class="pagebuilder-column" data-content-type="column" data-appearance="full-height" data-element="main">\
<figure data-content-type="image" data-appearance="full-width" data-element="main">\
<img class="pagebuilder-mobile-hidden" src="https://shop.example.com/media/wysiwyg/box.jpg" alt="A parcel" \
title="" data-element="desktop_image"></figure>\
<div data-content-type="buttons" data-appearance="inline" data-same-width="false" data-element="main">\
<div data-content-type="button-item" data-appearance="default" data-element="main">\
<a class="pagebuilder-button-primary" href="https://shop.example.com/contact" target="" data-link-type="default" \
data-element="link"><span data-element="link_text">Contact us</span></a></div></div>\
</div></div>\
<script type="text/x-magento-init">{"*": {"Magento_PageBuilder/js/widget-initializer": {}}}</script>\
<noscript><p>Please enable JavaScript.</p></noscript><!-- editor note: update in May -->\
<div></div><div class="spacer"> </div><div>&nbsp;</div>\
</div></div>"""

PAGE_BUILDER_MARKDOWN = """\
# Shipping & Returns

We ship **worldwide** – orders over *$50* ship free.

- Standard: 3–5 days
- Express
    - Next day
    - Same day (city only)

1. Pack the item
2. Print the label

Read the [returns policy](https://shop.example.com/returns.html).

| Zone | Days |
| --- | --- |
| EU | 2 |
| World | 7 |

![A parcel](https://shop.example.com/media/wysiwyg/box.jpg)

[Contact us](https://shop.example.com/contact)"""


def test_page_builder_page_becomes_clean_markdown() -> None:
    assert html_to_markdown(PAGE_BUILDER_PAGE) == PAGE_BUILDER_MARKDOWN


def test_page_builder_wrappers_and_their_attributes_leave_no_trace() -> None:
    markdown = html_to_markdown(PAGE_BUILDER_PAGE)
    for junk in ("data-", "pb-style", "<div", "<", "justify-content", "Magento_PageBuilder", "editor note",
                 "enable JavaScript", "\xa0", '""', "\n\n\n"):
        assert junk not in markdown


@pytest.mark.parametrize("html", [None, "", "   ", "<div></div>", "<p> </p>", "<style>p{}</style>"])
def test_empty_input_gives_empty_string(html: str | None) -> None:
    assert html_to_markdown(html) == ""


def test_scripts_styles_noscript_and_comments_are_removed() -> None:
    html = ("<p>Before</p><script>alert('x')</script><SCRIPT type='text/javascript'>bad()</SCRIPT>"
            "<style>.a{color:red}</style><noscript>No JS</noscript><!-- hidden --><p>After</p><!-- unclosed")
    assert html_to_markdown(html) == "Before\n\nAfter"


def test_forms_and_media_embeds_are_removed() -> None:
    html = ('<p>Join us</p><form action="/newsletter"><label>Email</label><input name="email">'
            '<button type="submit">Subscribe</button></form>'
            '<iframe src="https://www.youtube.com/embed/abc"></iframe><video src="a.mp4"></video>'
            '<svg viewBox="0 0 1 1"><text>icon</text></svg><p>Thanks</p>')
    assert html_to_markdown(html) == "Join us\n\nThanks"


def test_entities_are_decoded() -> None:
    html = "<p>Caf&eacute; &amp; cr&egrave;me &ndash; 5&nbsp;&euro; &#8364; &#x20AC; &lt;b&gt; &quot;q&quot;</p>"
    assert html_to_markdown(html) == 'Café & crème – 5 € € € <b> "q"'


def test_product_text_is_not_mangled() -> None:
    html = "<p>50% off C++ books, snake_case_names and a*b*c for 3 * 4 = 12 [limited] #1 seller</p>"
    assert html_to_markdown(html) == "50% off C++ books, snake_case_names and a*b*c for 3 * 4 = 12 [limited] #1 seller"


def test_plain_text_passes_through_with_lines_kept() -> None:
    text = "50% off &amp; free shipping!\r\nC++  for  <10 EUR   \n\n\n\nSecond paragraph\t"
    assert html_to_markdown(text) == "50% off & free shipping!\nC++ for <10 EUR\n\nSecond paragraph"


def test_headings_bold_italic_links_and_images() -> None:
    html = ('<h2>Care</h2><h3>Washing <small>tips</small></h3><p><b>Bold</b>, <i>italic</i>, '
            '<a href="https://e.com/x" title="X">link</a> and <img src="https://e.com/i.png" alt="icon">.</p>')
    assert html_to_markdown(html) == (
        "## Care\n\n### Washing tips\n\n**Bold**, *italic*, [link](https://e.com/x \"X\") and "
        "![icon](https://e.com/i.png).")


def test_links_that_lead_nowhere_keep_their_text_only() -> None:
    html = ('<p><a href="#tab-1">Details</a> <a href="javascript:void(0)">Open</a> '
            '<a href="https://facebook.com/shop"><i class="fa fa-facebook"></i></a>'
            '<a href="#top"></a> <img src="data:image/png;base64,iVBORw0KGgo=" alt="pixel">end</p>')
    assert html_to_markdown(html) == "Details Open end"


def test_relative_links_are_kept_or_made_absolute_with_base_url() -> None:
    html = '<p><a href="/contact">Contact</a> <img src="/media/a.jpg" alt="a"> <a href="//cdn.e.com/x">cdn</a></p>'
    assert html_to_markdown(html) == "[Contact](/contact) ![a](/media/a.jpg) [cdn](//cdn.e.com/x)"
    assert html_to_markdown(html, base_url="https://shop.example.com/") == (
        "[Contact](https://shop.example.com/contact) ![a](https://shop.example.com/media/a.jpg) "
        "[cdn](//cdn.e.com/x)")


def test_nested_ordered_and_unordered_lists_stay_nested() -> None:
    html = "<ol><li>One</li><li>Two<ul><li>Two a<ol><li>deep</li></ol></li><li>Two b</li></ul></li><li>Three</li></ol>"
    assert html_to_markdown(html) == (
        "1. One\n2. Two\n    - Two a\n        1. deep\n    - Two b\n3. Three")


def test_omitted_end_tags_do_not_merge_items_or_lose_cells() -> None:
    html = ("<ul><li>First<li>Second<ul><li>Inner a<li>Inner b</ul><li>Third</ul>"
            "<table><tr><th>Size<th>Chest<tr><td>S<td>90<tr><td>M<td>100</table>"
            "<dl><dt>Fabric<dd>Cotton<dt>Fit<dd>Slim</dl>")
    assert html_to_markdown(html) == (
        "- First\n- Second\n    - Inner a\n    - Inner b\n- Third\n\n"
        "| Size | Chest |\n| --- | --- |\n| S | 90 |\n| M | 100 |\n\n"
        "Fabric\nCotton\n\nFit\nSlim")


def test_table_without_header_row_and_with_pipes() -> None:
    html = "<table><tr><td>A|B</td><td>C</td></tr><tr><td>1</td><td>2</td></tr></table>"
    assert html_to_markdown(html) == "| A\\|B | C |\n| --- | --- |\n| 1 | 2 |"


def test_page_builder_html_code_element_is_decoded() -> None:
    html = ('<div data-content-type="html" data-appearance="default" data-element="main">'
            "&lt;h2&gt;Size &amp;amp; fit&lt;/h2&gt;\n&lt;ul&gt;&lt;li&gt;True to size&lt;/li&gt;&lt;/ul&gt;"
            "&lt;script&gt;track()&lt;/script&gt;</div><p>After</p>")
    assert html_to_markdown(html) == "## Size & fit\n\n- True to size\n\nAfter"


@pytest.mark.parametrize("html", [
    "<div><p>unclosed <b>bold <i>both</p></div><ul><li>x<li>y</ul><p",
    "<<<>>> <p <a href=> </div></div></span> <table><td>x</tr></ul>",
    "<p>a\x00b\x01c</p>",
    "<![CDATA[x]]><?xml version='1.0'?><!DOCTYPE html><html><head><title>T</title></head><body>ok</body></html>",
    "<img src=x onerror=alert(1)><a href='javascript:alert(1)'>click</a>",
    "\ud800 lone surrogate <p>x</p>",
])
def test_malformed_html_never_raises(html: str) -> None:
    assert isinstance(html_to_markdown(html), str)


def test_malformed_html_keeps_its_text() -> None:
    assert html_to_markdown(decode_text("<p>a\x00b\x01c</p>", "description")) == "abc"
    assert html_to_markdown("<div><p>Hello <b>world</p></div>") == "Hello **world**"


def test_nesting_deeper_than_the_limit_falls_back_to_text() -> None:
    too_deep = "<ul><li>" * (MAX_NESTING + 10) + "deep text" + "</li></ul>" * (MAX_NESTING + 10)
    assert html_to_markdown(too_deep) == "deep text"
    # a process-killing depth for the Rust core (it overflows its stack past ~2,000 lists)
    assert html_to_markdown("<ul><li>" * 3000 + "x") == "x"


def test_long_flat_content_is_not_mistaken_for_deep_nesting() -> None:
    html = "".join(f"<p>Paragraph {i} with <b>bold</b> and <br> a break</p>" for i in range(MAX_NESTING))
    markdown = html_to_markdown(html)
    assert markdown.startswith("Paragraph 0 with **bold** and\na break\n\nParagraph 1")


@pytest.mark.parametrize(("html", "expected"), [
    ('<img data-src="https://e.com/a.jpg" class="lazyload" alt="A" title="T">', '![A](https://e.com/a.jpg "T")'),
    ('<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-original="https://e.com/b.jpg" alt="B">',
     "![B](https://e.com/b.jpg)"),
    ('<img src="https://e.com/static/images/spacer.gif" data-src="https://e.com/c.jpg" alt="C">',
     "![C](https://e.com/c.jpg)"),
    ('<img src="" data-srcset="https://e.com/d-1x.jpg 1x, https://e.com/d-2x.jpg 2x" alt="D">',
     "![D](https://e.com/d-1x.jpg)"),
    ('<img srcset="data:image/gif;base64,R0lG 1x" data-src="https://e.com/e.jpg" alt="E">', "![E](https://e.com/e.jpg)"),
    ('<img src="https://e.com/real.jpg" data-src="https://e.com/large.jpg" alt="R">', "![R](https://e.com/real.jpg)"),
    ('<img src="https://e.com/blanket.jpg" data-src="https://e.com/other.jpg" alt="W">', "![W](https://e.com/blanket.jpg)"),
])
def test_lazy_loaded_images_take_their_real_url(html: str, expected: str) -> None:
    assert html_to_markdown(f"<p>{html}</p>") == expected


def test_lazy_image_urls_are_made_absolute_and_images_without_url_dropped() -> None:
    html = '<p><img src="/media/placeholder.png" data-src="/media/a.jpg" alt="A"> <img alt="N" title="t"> end</p>'
    assert html_to_markdown(html, base_url="https://shop.example.com/") == "![A](https://shop.example.com/media/a.jpg) end"


def test_empty_list_items_are_dropped() -> None:
    html = ("<ul><li>&nbsp;</li><li>One</li><li> </li><li><span>&#160;</span></li><li><strong> </strong><br></li>"
            '<li><a href="#"></a></li><li>Two</li></ul><ol><li>a</li><li>&nbsp;</li><li>b</li></ol>')
    assert html_to_markdown(html) == "- One\n- Two\n\n1. a\n2. b"


def test_an_item_holding_only_a_nested_list_keeps_its_marker() -> None:
    assert html_to_markdown("<ul><li>a</li><li>&nbsp;<ul><li>b</li></ul></li></ul>") == "- a\n-\n    - b"


@pytest.mark.parametrize(("html", "expected"), [
    ("<div><span><h4>Name</h4></span>text</div>", "#### Name\n\ntext"),
    ("<div><strong><h2>Bold head</h2></strong>text</div>", "## Bold head\n\ntext"),
    ("<div>Intro <b><h5>Name</h5></b> after</div>", "Intro\n\n##### Name\n\nafter"),
    ('<div><a href="https://e.com/p"><span><h4>Name</h4></span></a></div>', "#### [Name](https://e.com/p)"),
    ('<p>Text <a href="https://e.com/p"><h4>Name</h4></a> more</p>', "Text\n\n#### [Name](https://e.com/p)\n\nmore"),
    ("<ul><li>Intro <span><h4>Name</h4></span> after</li><li>Next</li></ul>", "- Intro\n\n#### Name\n\nafter\n- Next"),
    ("<ul><li><span><h4>Name</h4></span>desc</li></ul>", "- #### Name\n\ndesc"),
    ("<p>Use the # key in C# <span><h3>Spec</h3></span></p>", "Use the # key in C#\n\n### Spec"),
])
def test_headings_inside_inline_elements_become_blocks(html: str, expected: str) -> None:
    assert html_to_markdown(html) == expected


def test_source_line_breaks_are_spaces_except_in_pre() -> None:
    html = ("<p>line one\nline two\r\n   line three<br>\nafter the break</p>\n"
            "<ul>\n<li>an item\n  that wraps</li>\n</ul>\n<pre>code\n  indented</pre>")
    assert html_to_markdown(html) == (
        "line one line two line three\nafter the break\n\n- an item that wraps\n\n```\ncode\n  indented\n```")


def test_placeholder_links_become_text() -> None:
    html = ('<p><a href="#">A</a> <a href="">B</a> <a href=" ">C</a> <a href="# ">D</a> <a href="javascript:;">E</a> '
            '<a href="JavaScript:void(0)" title="t">F</a> <a href="#" title="x">G</a> <a href="#section-2">H</a> '
            '<a href="#top">#top</a><a href="#"><img src="https://e.com/i.jpg" alt="I"></a> '
            '<a href="https://e.com/p#reviews">J</a></p>')
    assert html_to_markdown(html) == "A B C D E F G H ![I](https://e.com/i.jpg) [J](https://e.com/p#reviews)"
