"""Every document the readers build on the demo shop has the keys its shape declares (``documents/shapes.py``).

mypy checks the key names the readers write and the renderers read; this checks the other half
on real documents: no required key is missing, none is undeclared, and every declared key (the
optional ones included) is used by some document of the shop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from fixtures.shop import SHOP_NOW
from ragsync.db import Database
from ragsync.documents.shapes import (
    CategoryData,
    CmsBlockData,
    CmsPageData,
    DiscountData,
    ProductData,
    PromotionData,
    VariantData,
)
from ragsync.magento.categories import CategoryReader
from ragsync.magento.cms import CmsBlockReader, CmsPageReader
from ragsync.magento.context import MagentoContext
from ragsync.magento.products import ProductReader
from ragsync.magento.promotions import PromotionReader
from ragsync.settings import Settings

READERS: list[tuple[type[Any], Any]] = [
    (ProductReader, ProductData), (CategoryReader, CategoryData), (CmsPageReader, CmsPageData),
    (CmsBlockReader, CmsBlockData), (PromotionReader, PromotionData),
]
NESTED: dict[str, tuple[Any, bool]] = {"variants": (VariantData, True), "discount": (DiscountData, False)}


def check_keys(shape: Any, found: Iterable[Mapping[str, Any]]) -> None:
    """Assert that every dict has the shape's required keys and no other than its optional ones, and that all are used."""
    declared = shape.__required_keys__ | shape.__optional_keys__
    used: set[str] = set()
    for data in found:
        keys = set(data)
        assert shape.__required_keys__ <= keys, (shape.__name__, shape.__required_keys__ - keys, data)
        assert keys <= declared, (shape.__name__, keys - declared, data)
        used |= keys
    assert used == declared, (shape.__name__, "never used", declared - used)


@pytest.mark.parametrize(("reader_class", "shape"), READERS, ids=[r.__name__ for r, _ in READERS])
def test_documents_have_the_keys_of_their_shape(demo_shop: Database, reader_class: type[Any], shape: Any) -> None:
    reader = reader_class(MagentoContext(demo_shop), Settings(), now=SHOP_NOW)
    saves = [d.data for batch in reader.read_all(workers=1) for d in batch.documents if d.data is not None]
    assert saves
    check_keys(shape, saves)
    for key, (nested, is_list) in NESTED.items():
        if key in shape.__required_keys__ | shape.__optional_keys__:
            values = [data[key] for data in saves if key in data]
            check_keys(nested, [item for value in values for item in value] if is_list else values)
