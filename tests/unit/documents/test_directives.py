"""render_directives: every Magento directive kind, block recursion guards, broken markup."""

from __future__ import annotations

import pytest

from ragsync.documents.directives import (
    DirectiveContext,
    render_directives,
    render_directives_with_problems,
)
from ragsync.documents.markdown import html_to_markdown

BASE = "https://shop.example.com/"
CONFIG = {
    "general/store_information/phone": "+1 555 0100",
    "trans_email/ident_support/email": "help@shop.example.com",
    "payment/braintree/private_key": "s3cr3t",
}


def context(blocks: dict[str, str] | None = None, max_depth: int = 5,
            open_blocks: tuple[str, ...] = ()) -> DirectiveContext:
    """Return a context over fixed URLs, config and blocks."""
    library = blocks or {}
    return DirectiveContext(
        store_url=lambda path: BASE + path,
        media_url=lambda path: BASE + "media/" + path,
        config_value=CONFIG.get,
        block_content=library.get,
        max_depth=max_depth,
        open_blocks=open_blocks,
    )


def test_text_without_directives_is_returned_as_is() -> None:
    text = "<p>No directives here, only {braces} and }} closers.</p>"
    assert render_directives_with_problems(text, context()) == (text, [])
    assert render_directives_with_problems("", context()) == ("", [])


@pytest.mark.parametrize(("text", "expected"), [
    ('{{store url=""}}', BASE),
    ('{{store url="contact"}}', BASE + "contact"),
    ("{{store url='customer/account'}}", BASE + "customer/account"),
    ("{{store url=checkout/cart}}", BASE + "checkout/cart"),
    ('{{store direct_url="about-us.html"}}', BASE + "about-us.html"),
    ('{{store url="x" direct_url="gear/bags.html"}}', BASE + "gear/bags.html"),
    ('{{ STORE  URL="Contact" }}', BASE + "Contact"),
    ("{{store}}", BASE),
])
def test_store_directive_becomes_an_absolute_url(text: str, expected: str) -> None:
    assert render_directives_with_problems(text, context()) == (expected, [])


@pytest.mark.parametrize(("text", "expected"), [
    ('{{media url="wysiwyg/a.jpg"}}', BASE + "media/wysiwyg/a.jpg"),
    ("{{media url='wysiwyg/a.jpg'}}", BASE + "media/wysiwyg/a.jpg"),
    ("{{media url=wysiwyg/a.jpg}}", BASE + "media/wysiwyg/a.jpg"),
    ('{{media url="/wysiwyg/a.jpg"}}', BASE + "media/wysiwyg/a.jpg"),
    ("{{media url=&quot;wysiwyg/a.jpg&quot;}}", BASE + "media/wysiwyg/a.jpg"),
    ("{{media url=&#039;wysiwyg/a.jpg&#039;}}", BASE + "media/wysiwyg/a.jpg"),
])
def test_media_directive_accepts_every_quoting(text: str, expected: str) -> None:
    assert render_directives_with_problems(text, context()) == (expected, [])


def test_media_url_inside_a_page_builder_attribute() -> None:
    html = ('<figure data-content-type="image"><img src="{{media url=&quot;wysiwyg/home/hero.jpg&quot;}}" '
            'alt="Hero"></figure><p><a href="{{store url=&quot;sale.html&quot;}}">Sale</a></p>')
    rendered = render_directives(html, context())
    assert rendered == ('<figure data-content-type="image"><img src="https://shop.example.com/media/wysiwyg/home/'
                        'hero.jpg" alt="Hero"></figure><p><a href="https://shop.example.com/sale.html">Sale</a></p>')
    assert html_to_markdown(rendered) == (
        "![Hero](https://shop.example.com/media/wysiwyg/home/hero.jpg)\n\n[Sale](https://shop.example.com/sale.html)")


def test_config_directive_reads_allowed_paths_only() -> None:
    text = ('Call {{config path="general/store_information/phone"}} or mail '
            '{{config path="trans_email/ident_support/email"}}. {{config path="general/store_information/city"}}'
            '[{{config path="payment/braintree/private_key"}}]')
    assert render_directives_with_problems(text, context()) == (
        "Call +1 555 0100 or mail help@shop.example.com. []",
        ["config path 'payment/braintree/private_key' is not readable by CMS content"],
    )


@pytest.mark.parametrize(("text", "expected"), [
    ('{{trans "Free shipping"}}', "Free shipping"),
    ("{{trans 'Free shipping'}}", "Free shipping"),
    ('{{trans "Hello %name, welcome to %store" name="Ann" store="Luma"}}', "Hello Ann, welcome to Luma"),
    ('{{trans "Hi %name" name=$customer.name}}', "Hi "),
    ('{{trans "50% off %what" what=jackets}}', "50% off jackets"),
    ('{{trans "Say \\"hi\\""}}', 'Say "hi"'),
    ("{{trans &quot;Escaped quotes&quot;}}", "Escaped quotes"),
    ("{{trans}}", ""),
])
def test_trans_directive_becomes_its_text(text: str, expected: str) -> None:
    assert render_directives_with_problems(text, context()) == (expected, [])


BLOCKS = {
    "5": '<div class="shipping-note"><p>Free shipping over $50. <a href="{{store url="shipping"}}">Details</a></p></div>',
    "footer-links": "<ul><li>{{trans \"About\"}}</li></ul>",
    "promo": '<p>Promo: {{widget type="Magento\\Cms\\Block\\Widget\\Block" block_id="footer-links"}}</p>',
}


@pytest.mark.parametrize("directive", [
    '{{widget type="Magento\\Cms\\Block\\Widget\\Block" template="widget/static_block/default.phtml" block_id="5"}}',
    '{{widget type="Magento\\\\Cms\\\\Block\\\\Widget\\\\Block" template="widget/static_block/default.phtml" block_id="5"}}',
    '{{widget type="MagentoCmsBlockWidgetBlock" template="widget/static_block/default.phtml" block_id="5" '
    'type_name="CMS Static Block"}}',
    "{{widget type=&quot;Magento\\Cms\\Block\\Widget\\Block&quot; block_id=&quot;5&quot;}}",
    '{{block id="5"}}',
    '{{block class="Magento\\Cms\\Block\\Block" block_id="5"}}',
])
def test_cms_block_widget_is_replaced_by_the_rendered_block(directive: str) -> None:
    html = f'<div data-content-type="block" data-appearance="default" data-element="main">{directive}</div>'
    assert render_directives_with_problems(html, context(BLOCKS)) == (
        '<div data-content-type="block" data-appearance="default" data-element="main"><div class="shipping-note">'
        '<p>Free shipping over $50. <a href="https://shop.example.com/shipping">Details</a></p></div></div>',
        [],
    )


def test_blocks_by_identifier_render_recursively() -> None:
    assert render_directives_with_problems('{{block id="promo"}}', context(BLOCKS)) == (
        "<p>Promo: <ul><li>About</li></ul></p>", [])


def test_unknown_block_renders_nothing_and_is_reported() -> None:
    assert render_directives_with_problems('a{{block id="gone"}}b', context(BLOCKS)) == (
        "ab", ["block 'gone' is unknown or inactive in this store"])


def test_block_that_includes_itself_terminates() -> None:
    blocks = {"footer": '<p>Footer {{block id="footer"}} end</p>'}
    assert render_directives_with_problems('<main>{{block id="footer"}}</main>', context(blocks)) == (
        "<main><p>Footer  end</p></main>", ["block 'footer' includes itself (footer -> footer)"])


def test_block_document_cannot_include_itself() -> None:
    blocks = {"footer": '<p>Footer {{widget type="Magento\\Cms\\Block\\Widget\\Block" block_id="7"}}</p>'}
    ctx = context(blocks, open_blocks=("7", "footer"))
    assert render_directives_with_problems(blocks["footer"], ctx) == (
        "<p>Footer </p>", ["block '7' includes itself (7/footer -> 7)"])


def test_two_block_cycle_terminates_with_a_problem() -> None:
    blocks = {"a": 'A[{{block id="b"}}]', "b": 'B[{{block id="a"}}]'}
    assert render_directives_with_problems('{{block id="a"}}', context(blocks)) == (
        "A[B[]]", ["block 'a' includes itself (a -> b -> a)"])


def test_cycle_through_an_alias_of_the_same_block_terminates() -> None:
    content = 'Self by id: {{block id="3"}}'
    blocks = {"3": content, "footer": content}
    text, problems = render_directives_with_problems('{{block id="footer"}}', context(blocks))
    assert text == "Self by id: "
    assert problems == ["block '3' includes itself (footer -> 3; same block as 'footer')"]


def test_nesting_deeper_than_max_depth_is_cut() -> None:
    blocks = {f"b{i}": f"b{i}({{{{block id=\"b{i + 1}\"}}}})" for i in range(10)}
    assert render_directives_with_problems('{{block id="b0"}}', context(blocks, max_depth=3)) == (
        "b0(b1(b2()))", ["block 'b3' nested deeper than 3 levels"])
    text, problems = render_directives_with_problems('{{block id="b0"}}', context(blocks))
    assert text == "b0(b1(b2(b3(b4()))))"
    assert problems == ["block 'b5' nested deeper than 5 levels"]


def test_other_directives_are_removed() -> None:
    text = ('a{{var order.increment_id}}b{{customVar code="hotline"}}c{{layout handle="sales_email_order_items"}}'
            'd{{css file="css/email.css"}}e{{inlinecss file="css/email-inline.css"}}f{{view url="images/logo.svg"}}'
            'g{{widget type="Magento\\CatalogWidget\\Block\\Product\\ProductsList" products_count="5"}}'
            'h{{block class="Magento\\Newsletter\\Block\\Subscribe" template="subscribe.phtml"}}'
            'i{{template config_path="design/email/header_template"}}j{{escapehtml var=$x}}k')
    assert render_directives_with_problems(text, context()) == ("abcdefghijk", [])


def test_link_widgets_keep_their_anchor_text() -> None:
    text = ('See our {{widget type="Magento\\Cms\\Block\\Widget\\Page\\Link" anchor_text="returns &amp; refunds" '
            'template="widget/link/link_inline.phtml" page_id="5"}} or the '
            '{{widget type="Magento\\Catalog\\Block\\Product\\Widget\\Link" anchor_text="<b>Joust</b> bag" '
            'id_path="product/1"}}{{widget type="Magento\\Catalog\\Block\\Category\\Widget\\Link" id_path="category/4"}}.')
    assert render_directives_with_problems(text, context()) == (
        "See our returns &amp; refunds or the &lt;b&gt;Joust&lt;/b&gt; bag.", [])
    assert html_to_markdown(render_directives(text, context())) == "See our returns & refunds or the <b>Joust</b> bag."


def test_protocol_directive_prefers_https() -> None:
    text = '{{protocol http="http://cdn.example.com/a.js" https="https://cdn.example.com/a.js"}}'
    assert render_directives(text, context()) == "https://cdn.example.com/a.js"


def test_conditionals_render_as_with_empty_variables() -> None:
    text = ("<p>A{{depend customer_name}} for {{var customer_name}}{{/depend}}</p>"
            "<p>{{if store_hours}}Open {{var store_hours}}{{else}}See {{store url=\"stores\"}}{{/if}}</p>"
            "<p>{{if promo}}Promo!{{/if}}B</p>"
            "<p>{{if a}}1{{if b}}2{{else}}3{{/if}}{{else}}outer else{{/if}}</p>")
    assert render_directives_with_problems(text, context()) == (
        "<p>A</p><p>See https://shop.example.com/stores</p><p>B</p><p>outer else</p>", [])


def test_unclosed_directive_does_not_raise_and_is_reported() -> None:
    text = '<p>Visit {{store url="contact"</p><p>Tail {{media url="x.jpg"}}</p>'
    assert render_directives_with_problems(text, context()) == (
        "<p>Visit </p><p>Tail https://shop.example.com/media/x.jpg</p>", ["unclosed directive at 9"])


def test_unclosed_directive_inside_an_attribute_keeps_the_tag_intact() -> None:
    text = '<img src="{{media url=&quot;a.jpg&quot;" alt="A"><p>After</p>'
    rendered, problems = render_directives_with_problems(text, context())
    assert rendered == '<img src="" alt="A"><p>After</p>'
    assert problems == ["unclosed directive at 10"]


@pytest.mark.parametrize("text", [
    "{{", "}}{{", "a {{store", "{{{{}}}}", "{{ }}", "{{123 abc}}", '{{store url="a}}', "{{if x}}no end",
    "{{/if}}{{else}}{{/depend}}", "{{trans \"unterminated}}", "{{block id=}}", "{{widget}}",
    "{{" + "x" * 10_000, "{{if a}}" * 50 + "deep",
])
def test_broken_directives_never_raise(text: str) -> None:
    rendered, problems = render_directives_with_problems(text, context(BLOCKS))
    assert "{{" not in rendered
    assert isinstance(problems, list)


def test_broken_directives_report_their_offsets() -> None:
    text = "x {{ }} y {{123}} z {{if a}}never closed"
    assert render_directives_with_problems(text, context()) == (
        "x  y  z never closed",
        ["unparsable directive at 2", "unparsable directive at 10", "unclosed {{if}} at 20"],
    )


def test_problem_in_a_block_names_the_block() -> None:
    blocks = {"bad": "ok {{store url='x'"}
    assert render_directives_with_problems('{{block id="bad"}}', context(blocks)) == (
        "ok ", ["unclosed directive at 3 in block 'bad'"])
