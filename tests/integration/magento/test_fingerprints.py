"""Fingerprints of Magento rows: every edit moves its bucket, also edits that look alike."""

from __future__ import annotations

from typing import Any

from ragsync.magento import changes
from ragsync.magento.context import MagentoContext
from ragsync_dev.demo.shop import manifest

KNOWN = manifest()
DECIMAL = next(s for s in changes.SOURCES if s.table == "catalog_product_entity_decimal")


def test_two_rows_edited_the_same_way_move_their_bucket(make_shop: Any) -> None:
    shop = make_shop(products=21)
    ctx = MagentoContext(shop)
    price = int(shop.scalar("SELECT attribute_id FROM eav_attribute WHERE entity_type_id = 4"
                            " AND attribute_code = 'price'"))
    two = [KNOWN.products["simple_with_overrides"], KNOWN.products["not_visible_child"]]  # ids of one digit
    shop.execute("UPDATE catalog_product_entity_decimal SET value = 10 WHERE attribute_id = %s AND store_id = 0"
                 " AND entity_id IN (%s, %s)", (price, *two))
    before = changes.bucket_checksums(ctx, [DECIMAL], 0, 999)
    before_keys = changes.key_checksums(ctx, [DECIMAL], [0])
    # both rows change in the same character: a CRC32 of each would move by the same bits, and cancel
    shop.execute("UPDATE catalog_product_entity_decimal SET value = 11 WHERE attribute_id = %s AND store_id = 0"
                 " AND entity_id IN (%s, %s)", (price, *two))
    assert changes.bucket_checksums(ctx, [DECIMAL], 0, 999) != before
    after_keys = changes.key_checksums(ctx, [DECIMAL], [0])
    assert {k for k in before_keys if before_keys[k] != after_keys.get(k)} == set(two)

