"""Texts of the demo shop: Page Builder-style HTML, CMS pages and blocks, product copy in English and French.

Everything here is data and pure string building; :mod:`ragsync_dev.demo.shop` decides which product
gets which text and writes the rows. The markup mimics what Magento 2.4 stores: Page Builder
``data-content-type`` rows, WYSIWYG directives (``{{store url=...}}``, ``{{media url=...}}``,
``{{widget ...}}``, ``{{block id=...}}``, ``{{config path=...}}``, ``{{trans ...}}``) and, on purpose,
a ``<script>`` and a ``<style>`` that a reader must strip.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Page Builder building blocks (the attribute soup Page Builder 2.4 writes, shortened a little)
# --------------------------------------------------------------------------------------------

_ROW_OPEN = (
    '<div data-content-type="row" data-appearance="contained" data-element="main">'
    '<div data-enable-parallax="0" data-parallax-speed="0.5" data-background-images="{}" '
    'data-background-type="image" data-video-loop="true" data-video-play-only-visible="true" '
    'data-video-lazy-load="true" data-video-fallback-src="" data-element="inner" '
    'style="justify-content: flex-start; display: flex; flex-direction: column; background-position: '
    'left top; background-size: cover; background-repeat: no-repeat; background-attachment: scroll; '
    'border-style: none; border-width: 1px; border-radius: 0px; margin: 0px 0px 10px; padding: 10px;">'
)
_ROW_CLOSE = "</div></div>"

WIDGET_BLOCK = 'Magento\\Cms\\Block\\Widget\\Block'


def pb_row(*parts: str) -> str:
    """Wrap content in a Page Builder row."""
    return _ROW_OPEN + "".join(parts) + _ROW_CLOSE


def pb_heading(text: str, level: int = 2) -> str:
    """Return a Page Builder heading element."""
    return (f'<h{level} data-content-type="heading" data-appearance="default" data-element="main">'
            f"{text}</h{level}>")


def pb_text(html: str) -> str:
    """Return a Page Builder text element holding WYSIWYG HTML."""
    return f'<div data-content-type="text" data-appearance="default" data-element="main">{html}</div>'


def pb_image(media_path: str, alt: str) -> str:
    """Return a Page Builder image element whose source is a ``{{media url=...}}`` directive."""
    return (
        '<figure data-content-type="image" data-appearance="full-width" data-element="main" '
        'style="margin: 0px; padding: 0px; border-style: none;">'
        f'<img class="pagebuilder-mobile-hidden" src="{{{{media url={media_path}}}}}" alt="{alt}" '
        'title="" data-element="desktop_image" style="border-style: none; max-width: 100%; height: auto;">'
        "</figure>"
    )


def pb_button(store_path: str, label: str) -> str:
    """Return a Page Builder button linking to a store URL."""
    return (
        '<div data-content-type="buttons" data-appearance="inline" data-same-width="false" data-element="main">'
        '<div data-content-type="button-item" data-appearance="default" data-element="main">'
        f'<a class="pagebuilder-button-primary" href="{{{{store url="{store_path}"}}}}" target="" '
        f'data-link-type="default" data-element="link"><span data-element="link_text">{label}</span></a>'
        "</div></div>"
    )


def block_widget(block_id: int | str) -> str:
    """Return the CMS static block widget directive for a block id or identifier."""
    return (f'{{{{widget type="{WIDGET_BLOCK}" template="widget/static_block/default.phtml" '
            f'block_id="{block_id}"}}}}')


def html_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Return a plain HTML table (as the WYSIWYG editor stores it)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table border="1" style="border-collapse: collapse;"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --------------------------------------------------------------------------------------------
# CMS pages and blocks (ids are fixed; the manifest in shop.py refers to them)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CmsPage:
    """One row of cms_page with its store assignment (store 0 = all store views)."""

    page_id: int
    identifier: str
    title: str
    content_heading: str
    content: str
    stores: tuple[int, ...] = (0,)
    is_active: int = 1
    page_layout: str = "1column"
    meta_title: str | None = None
    meta_keywords: str | None = None
    meta_description: str | None = None


@dataclass(frozen=True)
class CmsBlock:
    """One row of cms_block with its store assignment (store 0 = all store views)."""

    block_id: int
    identifier: str
    title: str
    content: str
    stores: tuple[int, ...] = (0,)
    is_active: int = 1


# Block ids (the manifest exposes them by identifier and by kind).
BLOCK_FOOTER_LINKS = 1
BLOCK_PROMO_BANNER = 2
BLOCK_HOME_PROMO = 3        # contains a widget of block 2 (by identifier)
BLOCK_RECURSIVE = 4         # contains a widget of itself
BLOCK_OLD_BANNER = 5        # inactive
BLOCK_FR_ONLY = 6           # store 2 (fr) only
BLOCK_SHIPPING_NOTICE = 7   # stores 1 and 3

_NO_ROUTE = (
    "<dl>\r\n<dt>The page you requested was not found, and we have a fine guess why.</dt>\r\n<dd>\r\n"
    '<ul class="disc">\r\n<li>If you typed the URL directly, please make sure the spelling is correct.</li>\r\n'
    "<li>If you clicked on a link to get here, the link is outdated.</li>\r\n</ul></dd>\r\n</dl>\r\n"
    "<dl>\r\n<dt>What can you do?</dt>\r\n<dd>Have no fear, help is near! There are many ways you can get "
    "back on track with Magento Store.</dd>\r\n<dd>\r\n<ul class=\"disc\">\r\n"
    '<li><a href="#" onclick="history.go(-1); return false;">Go back</a> to the previous page.</li>\r\n'
    "<li>Use the search bar at the top of the page to search for your products.</li>\r\n"
    '<li>Follow these links to get you back on track!<br /><a href="{{store url=""}}">Store Home</a> '
    '<span class="separator">|</span> <a href="{{store url="customer/account"}}">My Account</a></li></ul></dd></dl>'
)

_ENABLE_COOKIES = (
    '<div class="enable-cookies cms-content">\r\n<p>&quot;Cookies&quot; are little pieces of data we send when '
    "you visit our store. Cookies help us get to know you better and personalize your experience. Plus they "
    "help protect you and other shoppers from fraud.</p>\r\n<p style=\"margin-bottom: 20px;\">Set your browser "
    "to accept cookies so you can buy items, save items, and receive customized recommendations. Here’s "
    "how:</p>\r\n<ul>\r\n<li><a href=\"https://support.google.com/accounts/answer/61416?hl=en\" "
    'target="_blank">Google Chrome</a></li>\r\n<li><a href="https://support.mozilla.org/en-US/kb/'
    'enable-and-disable-cookies-website-preferences" target="_blank">Mozilla/Firefox</a></li>\r\n'
    '<li><a href="https://support.apple.com/guide/safari/manage-cookies-and-website-data-sfri11471/mac" '
    'target="_blank">Safari</a></li>\r\n</ul>\r\n</div>'
)

_COOKIE_POLICY = (
    '<div class="privacy-policy cms-content">\r\n<div class="message info">\r\n<span>Please replace this text '
    "with your Privacy Policy. Please add any additional cookies your website uses below (e.g. Google "
    "Analytics).</span>\r\n</div>\r\n<p>This privacy policy sets out how this website (hereafter &quot;the "
    "Store&quot;) uses and protects any information that you give the Store while using this website.</p>\r\n"
    '<h2 id="privacy-policy-title-1">What information we collect</h2>\r\n<p>We may collect the following '
    "information:</p>\r\n<ul>\r\n<li>name</li>\r\n<li>contact information including email address</li>\r\n"
    "<li>demographic information such as postcode, preferences and interests</li>\r\n</ul>\r\n"
    '<h2 id="privacy-policy-title-2">List of cookies we collect</h2>\r\n'
    + html_table(("Cookie Name", "Cookie Description"), [
        ("FORM_KEY", "Stores randomly generated key used to prevent forged requests."),
        ("PHPSESSID", "Your session ID on the server."),
        ("GUEST-VIEW", "Allows guests to view and edit their orders."),
        ("STORE", "The store view or language you have selected."),
    ])
    + "\r\n</div>"
)

_HOME = (
    "<style>#html-body [data-pb-style=HERO]{min-height:420px;background-color:#f4f1ec}"
    ".home-hero h1{font-size:3rem}</style>"
    + pb_row(
        pb_heading('{{trans "Shop the new season"}}', 1),
        pb_image("wysiwyg/home/hero-new-season.jpg", "Runners on a mountain trail at sunrise"),
        pb_text("<p>Technical clothing and gear for <strong>running, yoga and the outdoors</strong>. "
                "Free delivery on orders over €50 and free returns within 30 days.</p>"),
        pb_button("women.html", "Shop Women"),
        pb_button("men.html", "Shop Men"),
    )
    + pb_row(
        pb_heading("This week's picks"),
        pb_text('<ul><li><a href="{{store url="gear/bags.html"}}">Bags for every trip</a></li>'
                '<li><a href="{{store url="collections/eco-friendly.html"}}">Eco-friendly collection</a></li>'
                '<li><a href="{{store url="sale.html"}}">Sale: up to 40% off</a></li></ul>'),
        block_widget(BLOCK_HOME_PROMO),
    )
    + '<script type="text/javascript">require(["jquery"], function ($) { $(".home-hero").addClass("ready"); '
    'window.dataLayer = window.dataLayer || []; window.dataLayer.push({"event": "home_view"}); });</script>'
)

_ABOUT = pb_row(
    pb_heading("Our story"),
    pb_text("<p>Demo Shop started in 2009 as a two-person workshop in Lyon making running jackets for "
            "friends. Today we design technical clothing and gear for people who move outdoors, "
            "whatever the weather.</p>"
            "<p>We still test every product on the trails around the workshop before it goes on sale.</p>"
            '<p><img src="{{media url="wysiwyg/about/team.jpg"}}" alt="The Demo Shop team"></p>'),
    pb_image("wysiwyg/about/workshop.jpg", "Our workshop in Lyon"),
    pb_heading("What we believe in", 3),
    pb_text("<ul><li><strong>Durability</strong>: a jacket should last ten seasons, not one.</li>"
            "<li><strong>Repair</strong>: we repair what we sell, for free during the first two years.</li>"
            "<li><strong>Transparency</strong>: every product page lists where and how it was made.</li></ul>"
            '<p>Questions? <a href="{{store url="contact"}}">Get in touch</a>.</p>'),
)

_CONTACT = pb_row(
    pb_heading("Contact us"),
    pb_text("<p>Our customer service team answers within one working day.</p>"
            "<ul><li>Email: <a href=\"mailto:help@demo-shop.test\">help@demo-shop.test</a></li>"
            '<li>Phone: {{config path="general/store_information/phone"}} (Monday to Friday, 9:00–18:00 CET)</li>'
            "<li>Post: {{config path=\"general/store_information/name\"}}, 12 rue des Coureurs, 69002 Lyon, France</li></ul>"
            '<p>For returns, please read <a href="{{store url="shipping-and-returns"}}">Shipping and returns</a> first.</p>'),
)

_FAQ = pb_row(
    pb_heading("Frequently asked questions"),
    pb_heading("Orders", 2),
    pb_heading("How do I track my order?", 3),
    pb_text("<p>As soon as your parcel leaves our warehouse you receive an email with a tracking link. "
            'You can also follow it from <a href="{{store url="sales/order/history"}}">My Orders</a>.</p>'),
    pb_heading("Can I change or cancel my order?", 3),
    pb_text("<p>Yes, within one hour after ordering. After that the order is already being packed; "
            "you can return it free of charge instead.</p>"),
    pb_heading("Delivery and returns", 2),
    pb_heading("How long does delivery take?", 3),
    pb_text("<p>2–3 working days in France, 3–5 working days in the rest of the EU and in the UK.</p>"
            '{{block id="shipping-notice"}}'),
    pb_heading("How do I return an item?", 3),
    pb_text("<p>Print the prepaid label from your account, pack the item and drop it at any pick-up point. "
            "Refunds are issued within 5 days after we receive the parcel.</p>"),
    pb_heading("Products", 2),
    pb_heading("How do I find my size?", 3),
    pb_text('<p>See our <a href="{{store url="size-guide"}}">size guide</a>; when in doubt, take the larger size.</p>'),
    pb_heading("Do you repair products?", 3),
    pb_text("<p>Yes. Repairs are free during the first two years and at cost afterwards.</p>"),
)

_PRIVACY = pb_row(
    pb_heading("Privacy policy"),
    pb_text("<p>Last updated: 1 September 2025. This policy explains which personal data Demo Shop collects, "
            "why, and what your rights are.</p>"),
    pb_heading("1. Who we are", 2),
    pb_text("<p>Demo Shop SAS, 12 rue des Coureurs, 69002 Lyon, France, is the controller of your personal data. "
            "You can reach our data protection officer at privacy@demo-shop.test.</p>"),
    pb_heading("2. Data we collect", 2),
    pb_text("<ul><li>Identity and contact data: name, email address, postal address, phone number.</li>"
            "<li>Order data: products bought, payment status (never your full card number).</li>"
            "<li>Technical data: IP address, browser type, pages visited.</li></ul>"),
    pb_heading("3. Why we use it", 2),
    pb_text("<p>To deliver your orders (contract), to prevent fraud (legitimate interest), and, only with your "
            "consent, to send our newsletter.</p>"),
    pb_heading("4. How long we keep it", 2),
    pb_text("<p>Order data: 10 years (accounting law). Account data: until you close your account. "
            "Newsletter: until you unsubscribe.</p>"),
    pb_heading("5. Your rights", 2),
    pb_text("<p>You may access, correct, delete or port your data and object to its use. Write to "
            "privacy@demo-shop.test; you may also complain to the CNIL.</p>"),
)

_SHIPPING = pb_row(
    pb_heading("Shipping and returns"),
    pb_heading("Shipping rates", 2),
    pb_text(html_table(("Destination", "Standard (3–5 days)", "Express (1–2 days)"), [
        ("France", "€4.90 — free over €50", "€9.90"),
        ("European Union", "€7.90 — free over €80", "€14.90"),
        ("United Kingdom", "£6.90 — free over £70", "£12.90"),
    ])),
    pb_heading("Returns", 2),
    pb_text("<ol><li>Returns are free within <strong>30 days</strong> of delivery.</li>"
            "<li>Items must be unworn, with their labels.</li>"
            "<li>Refunds go back to the original payment method within 5 days.</li></ol>"),
    block_widget("shipping-notice"),
)

_SIZE_GUIDE = pb_row(
    pb_heading("Size guide"),
    pb_text("<p>Measure yourself in underwear, tape horizontal. Sizes are body measurements in centimetres.</p>"),
    pb_heading("Tops and jackets", 3),
    pb_text(html_table(("Size", "Chest (cm)", "Waist (cm)", "Hips (cm)"), [
        ("XS", "82–86", "66–70", "88–92"),
        ("S", "86–90", "70–74", "92–96"),
        ("M", "90–96", "74–80", "96–102"),
        ("L", "96–102", "80–86", "102–108"),
        ("XL", "102–110", "86–94", "108–116"),
    ])),
    pb_heading("Bottoms", 3),
    pb_text(html_table(("Size", "Waist (cm)", "Inside leg (cm)"), [
        ("S", "70–74", "79"), ("M", "74–80", "81"), ("L", "80–86", "83"), ("XL", "86–94", "84"),
    ])),
    pb_text("<p><em>Between two sizes?</em> Take the larger one for jackets and the smaller one for tights.</p>"),
)

_BLACK_FRIDAY = pb_row(
    pb_heading("Black Friday 2023"),
    pb_text("<p>Up to 50% off everything until Monday midnight. This offer has ended.</p>"),
)

_FR_DELIVERY = pb_row(
    pb_heading("Livraison gratuite"),
    pb_text("<p>La livraison standard est <strong>gratuite dès 50 €</strong> d'achat en France métropolitaine.</p>"
            "<ul><li>Livraison en 2 à 3 jours ouvrés</li><li>Retours gratuits sous 30 jours</li></ul>"
            '<p>Consultez notre <a href="{{store url="faq"}}">FAQ</a> pour en savoir plus.</p>'),
    block_widget(BLOCK_FR_ONLY),
)

_OUTLET_TERMS = pb_row(
    pb_heading("Outlet terms"),
    pb_text("<p>Outlet items are end-of-line or B-grade products sold at reduced prices. "
            "All outlet sales are final except for faulty goods.</p>"),
)

CMS_PAGES: tuple[CmsPage, ...] = (
    CmsPage(1, "no-route", "404 Not Found", "Whoops, our bad...", _NO_ROUTE, page_layout="2columns-right"),
    CmsPage(2, "home", "Home Page", "", _HOME,
            meta_title="Demo Shop – clothing and gear for the outdoors",
            meta_keywords="running, yoga, outdoor clothing, bags",
            meta_description="Technical clothing and gear for running, yoga and the outdoors."),
    CmsPage(3, "enable-cookies", "Enable Cookies", "What are Cookies?", _ENABLE_COOKIES),
    CmsPage(4, "privacy-policy-cookie-restriction-mode", "Privacy Policy", "Privacy Policy", _COOKIE_POLICY),
    CmsPage(5, "about-us", "About us", "About Demo Shop", _ABOUT,
            meta_title="About us", meta_description="Who we are and what we believe in."),
    CmsPage(6, "contact", "Contact", "Contact us", _CONTACT, meta_title="Contact Demo Shop"),
    CmsPage(7, "faq", "FAQ", "Frequently asked questions", _FAQ, stores=(1, 2),
            meta_title="FAQ", meta_keywords="faq, delivery, returns, sizes",
            meta_description="Answers to the questions we hear most often."),
    CmsPage(8, "privacy-policy", "Privacy Policy", "Privacy policy", _PRIVACY,
            meta_description="How Demo Shop collects and uses personal data."),
    CmsPage(9, "shipping-and-returns", "Shipping and returns", "Shipping and returns", _SHIPPING,
            meta_title="Shipping and returns"),
    CmsPage(10, "size-guide", "Size guide", "Find your size", _SIZE_GUIDE, stores=(1, 3),
            meta_title="Size guide"),
    CmsPage(11, "black-friday-2023", "Black Friday 2023", "Black Friday", _BLACK_FRIDAY, is_active=0),
    CmsPage(12, "livraison-gratuite", "Livraison gratuite", "Livraison gratuite dès 50 €", _FR_DELIVERY,
            stores=(2,), meta_title="Livraison gratuite"),
    CmsPage(13, "outlet-terms", "Outlet terms", "Outlet terms", _OUTLET_TERMS, stores=(3,)),
)

CMS_BLOCKS: tuple[CmsBlock, ...] = (
    CmsBlock(BLOCK_FOOTER_LINKS, "footer-links", "Footer links", pb_row(pb_text(
        '<ul class="footer links"><li><a href="{{store url="about-us"}}">About us</a></li>'
        '<li><a href="{{store url="contact"}}">Contact</a></li>'
        '<li><a href="{{store url="privacy-policy"}}">Privacy policy</a></li>'
        '<li><a href="{{store url="shipping-and-returns"}}">Shipping and returns</a></li></ul>'))),
    CmsBlock(BLOCK_PROMO_BANNER, "promo-banner", "Promo banner", pb_row(
        pb_image("wysiwyg/banners/spring-promo.jpg", "Spring promotion"),
        pb_heading("Spring into running", 3),
        pb_text('<p>10% off every order over €100. <a href="{{store url="sale.html"}}">See the deals</a>.</p>'))),
    CmsBlock(BLOCK_HOME_PROMO, "home-promo", "Home page promo", pb_row(
        pb_text("<p><strong>New:</strong> the eco-friendly collection is here.</p>"),
        block_widget("promo-banner"))),
    CmsBlock(BLOCK_RECURSIVE, "recursive-block", "Block that includes itself", pb_row(
        pb_text("<p>This block embeds itself; a renderer must stop the recursion.</p>"),
        block_widget(BLOCK_RECURSIVE))),
    CmsBlock(BLOCK_OLD_BANNER, "old-banner", "Old banner (disabled)", pb_row(
        pb_text("<p>Winter sale — ended.</p>")), is_active=0),
    CmsBlock(BLOCK_FR_ONLY, "bandeau-fr", "Bandeau France", pb_row(
        pb_text("<p>Livraison offerte en France dès 50 € d'achat. {{trans \"Offer valid in mainland France\"}}</p>")),
        stores=(2,)),
    CmsBlock(BLOCK_SHIPPING_NOTICE, "shipping-notice", "Shipping notice", pb_row(
        pb_text("<p>Orders placed before 14:00 ship the same working day.</p>")), stores=(1, 3)),
)

# --------------------------------------------------------------------------------------------
# Product copy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of product: its nouns (en, fr + gender), whether it has sizes, typical price and weight."""

    code: str
    noun: str
    noun_fr: str
    feminine: bool
    sized: bool
    price: tuple[int, int]
    weight: tuple[float, float]


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("jacket", "Jacket", "Veste", True, True, (59, 189), (0.3, 1.2)),
    Kind("hoodie", "Hoodie", "Sweat à capuche", False, True, (45, 89), (0.4, 0.9)),
    Kind("tee", "Tee", "T-shirt", False, True, (19, 45), (0.1, 0.3)),
    Kind("pants", "Pant", "Pantalon", False, True, (39, 119), (0.2, 0.7)),
    Kind("shorts", "Short", "Short", False, True, (25, 59), (0.1, 0.3)),
    Kind("backpack", "Backpack", "Sac à dos", False, False, (39, 149), (0.5, 1.8)),
    Kind("duffle", "Duffle Bag", "Sac de sport", False, False, (35, 99), (0.6, 1.5)),
    Kind("yoga", "Yoga Mat", "Tapis de yoga", False, False, (19, 79), (0.8, 2.5)),
    Kind("watch", "Watch", "Montre", True, False, (49, 299), (0.05, 0.2)),
    Kind("bottle", "Water Bottle", "Gourde", True, False, (9, 29), (0.1, 0.4)),
)}

LINES = ("Juno", "Aero", "Chaz", "Olivia", "Ravenna", "Selene", "Typhon", "Atlas", "Helios", "Ariel",
         "Zephyr", "Orion", "Nadia", "Kratos", "Marco", "Iris", "Lando", "Mona", "Sol", "Vega",
         "Cassius", "Daphne", "Emma", "Fenix", "Gaia", "Hugo", "Ines", "Jade", "Kai", "Luna")

# (English, French masculine, French feminine)
ADJECTIVES = (
    ("Lightweight", "léger", "légère"), ("Performance", "performance", "performance"),
    ("Essential", "essentiel", "essentielle"), ("Thermal", "thermique", "thermique"),
    ("Waterproof", "imperméable", "imperméable"), ("Trail", "trail", "trail"),
    ("Everyday", "quotidien", "quotidienne"), ("Recycled", "recyclé", "recyclée"),
    ("Windproof", "coupe-vent", "coupe-vent"), ("Compact", "compact", "compacte"),
    ("Classic", "classique", "classique"), ("Breathable", "respirant", "respirante"),
)

FEATURES = {
    "jacket": ("Fully taped seams keep the rain out", "Two zipped hand pockets", "Adjustable hood with a stiffened peak",
               "Packs into its own chest pocket", "Reflective details for low light", "Underarm vents"),
    "hoodie": ("Brushed inside for warmth", "Kangaroo pocket", "Ribbed cuffs and hem", "Flatlock seams against chafing",
               "Drawcord hood", "Thumb loops"),
    "tee": ("Quick-drying fabric", "Odour control finish", "Raglan sleeves for freedom of movement",
            "Flatlock seams", "UPF 30 sun protection", "Relaxed fit"),
    "pants": ("Four-way stretch fabric", "Zipped back pocket", "Articulated knees", "Elastic waistband with drawcord",
              "Ankle zips", "Water-repellent finish"),
    "shorts": ("Built-in liner", "Side pocket for a phone", "Quick-drying fabric", "7-inch inseam",
               "Reflective logo", "Elastic waistband"),
    "backpack": ("Padded laptop sleeve (15\")", "Water-resistant base", "Ventilated back panel",
                 "Hip belt with pockets", "Rain cover included", "Compression straps"),
    "duffle": ("Separate shoe compartment", "Detachable shoulder strap", "Wipe-clean lining", "Lockable zips",
               "Folds flat for storage", "Side water-bottle pocket"),
    "yoga": ("Non-slip natural rubber", "6 mm cushioning", "Alignment lines", "Carry strap included",
             "Closed-cell surface is easy to clean", "Latex-free"),
    "watch": ("GPS with route navigation", "Heart-rate monitor", "10 ATM water resistance",
              "14-day battery life", "Sleep tracking", "Sapphire glass"),
    "bottle": ("Double-wall insulation", "Keeps drinks cold for 24 hours", "Leak-proof lid", "BPA-free",
               "Fits standard bottle cages", "Dishwasher safe"),
}

FEATURES_FR = ("Coutures étanchées", "Tissu respirant à séchage rapide", "Poches zippées", "Détails réfléchissants",
               "Coupe ajustée", "Finition déperlante")

_INTROS = (
    "The {name} is built for long days outside: {feature_lc}, and a fit that moves with you.",
    "Meet the {name}. Designed with athletes and tested on the trails, it combines comfort and durability.",
    "Whether you are training for a marathon or walking the dog, the {name} keeps up.",
    "Our best-selling {noun_lc}, updated for this season with recycled materials and a cleaner cut.",
)
_CLOSINGS = (
    "Machine washable at 30 °C. Do not tumble dry.",
    "Backed by our two-year free repair guarantee.",
    "Made in Portugal in a Fair Wear audited factory.",
    "Part of our eco-friendly collection: at least 50% recycled content.",
)


_SLUG_TRANSLATION = str.maketrans("àâäéèêëîïôöùûüçœ", "aaaeeeeiioouuuco")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Return a Magento-style URL key for a text (lowercase ASCII words joined by dashes)."""
    return _NOT_SLUG.sub("-", text.lower().translate(_SLUG_TRANSLATION)).strip("-")


def product_description_html(rng: random.Random, name: str, kind: Kind, media_path: str | None,
                             link_path: str | None, with_table: bool) -> str:
    """Return a Page Builder product description: intro, feature list, optional specs table, image and link."""
    features = rng.sample(FEATURES[kind.code], 4)
    intro = rng.choice(_INTROS).format(name=name, feature_lc=features[0].lower(), noun_lc=kind.noun.lower())
    parts = [pb_text(f"<p>{intro}</p>")]
    parts.append(pb_heading("Features", 3))
    parts.append(pb_text("<ul>" + "".join(f"<li>{f}</li>" for f in features) + "</ul>"))
    if with_table:
        weight = f"{rng.randint(120, 1800)} g"
        parts.append(pb_heading("Specifications", 3))
        parts.append(pb_text(html_table(("Property", "Value"), [
            ("Weight", weight), ("Fit", rng.choice(("Regular", "Slim", "Relaxed"))),
            ("Care", rng.choice(("Machine wash 30 °C", "Hand wash", "Wipe clean"))),
        ])))
    if media_path:
        parts.append(pb_image(media_path, name))
    closing = rng.choice(_CLOSINGS)
    if link_path:
        closing += f' <a href="{{{{store url="{link_path}"}}}}">See the size guide</a>.'
    parts.append(pb_text(f"<p><em>{closing}</em></p>"))
    return pb_row(*parts)


def product_description_plain(rng: random.Random, name: str, kind: Kind) -> str:
    """Return a plain-text product description (no markup, paragraphs separated by blank lines)."""
    features = rng.sample(FEATURES[kind.code], 3)
    intro = rng.choice(_INTROS).format(name=name, feature_lc=features[0].lower(), noun_lc=kind.noun.lower())
    return f"{intro}\n\n" + "\n".join(f"- {f}" for f in features) + f"\n\n{rng.choice(_CLOSINGS)}"


def product_description_fr(rng: random.Random, name_fr: str, kind: Kind) -> str:
    """Return a French Page Builder product description."""
    features = rng.sample(FEATURES_FR, 3)
    return pb_row(
        pb_text(f"<p>Découvrez {'la' if kind.feminine else 'le'} {name_fr}, conçu{'e' if kind.feminine else ''} "
                "pour les longues journées en plein air.</p>"),
        pb_heading("Caractéristiques", 3),
        pb_text("<ul>" + "".join(f"<li>{f}</li>" for f in features) + "</ul>"),
        pb_text("<p><em>Lavable en machine à 30 °C.</em></p>"),
    )


def short_description(rng: random.Random, kind: Kind) -> str:
    """Return a one-paragraph short description."""
    return f"<p>{rng.choice(FEATURES[kind.code])}. {rng.choice(FEATURES[kind.code])}.</p>"


# The hand-written copy of the well-known product with store-level overrides.
AERO_TEE_DESCRIPTION = pb_row(
    pb_heading("Aero Daily Fitness Tee", 2),
    pb_text("<p>The <strong>Aero Daily Fitness Tee</strong> is the shirt you reach for every morning: "
            "quick-drying, soft and cut for movement.</p>"
            '<p><img src="{{media url="wysiwyg/products/aero-tee-fabric.jpg"}}" alt="Fabric close-up"></p>'),
    pb_heading("Features", 3),
    pb_text("<ul><li>Quick-drying recycled polyester and organic cotton</li><li>Flatlock seams</li>"
            "<li>Odour control finish</li></ul>"),
    pb_heading("Specifications", 3),
    pb_text(html_table(("Property", "Value"), [("Weight", "140 g"), ("Fit", "Regular"),
                                               ("Care", "Machine wash 30 °C")])),
    pb_image("wysiwyg/products/aero-tee-detail.jpg", "Aero Daily Fitness Tee fabric detail"),
    pb_text('<p>Not sure about your size? <a href="{{store url="size-guide"}}">See the size guide</a>.</p>'),
)
AERO_TEE_DESCRIPTION_FR = pb_row(
    pb_heading("T-shirt de fitness Aero Daily", 2),
    pb_text("<p>Le <strong>T-shirt de fitness Aero Daily</strong> est celui que vous enfilez chaque matin : "
            "séchage rapide, doux et coupé pour le mouvement.</p>"),
    pb_heading("Caractéristiques", 3),
    pb_text("<ul><li>Polyester recyclé et coton biologique à séchage rapide</li><li>Coutures plates</li>"
            "<li>Traitement anti-odeurs</li></ul>"),
    pb_image("wysiwyg/products/aero-tee-detail.jpg", "Détail du tissu"),
)
