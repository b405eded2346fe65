-- ragsync pipeline tables, version 9: change capture beyond updated_at.
--
-- Capture used to follow `updated_at` only, so stock, prices, mass attribute updates, option
-- labels, URL rewrites and rules waited for the nightly full sync. It now also reads Magento's
-- mview changelogs (a version per `<view>_cl` table) and, for tables no changelog covers,
-- compares fingerprints: an XOR of 64-bit row digests (a product of two CRC32s) per bucket of 1,000 keys and per key.
-- Both tables are positions only: emptying the fingerprints makes capture read each key again once;
-- emptying the positions restarts changelogs at their newest version (the full sync catches up).
CREATE TABLE IF NOT EXISTS `rag_sync_capture_position` (
  `name` varchar(128) NOT NULL COMMENT 'changelog:<view_id>, window:<entity type>, sweep:<target>',
  `version` bigint unsigned NULL COMMENT 'last changelog version read, or the next sweep bucket',
  `moment` datetime(6) NULL COMMENT 'last time a window was checked (UTC)',
  `updated_at` datetime(6) NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync change-capture positions';

CREATE TABLE IF NOT EXISTS `rag_sync_fingerprint` (
  `grp` varchar(64) NOT NULL COMMENT '<target>:<digest of its source tables>',
  `level` tinyint unsigned NOT NULL COMMENT '0 = bucket of 1,000 keys, 1 = one key',
  `id` bigint unsigned NOT NULL COMMENT 'bucket number or key',
  `checksum` bigint unsigned NOT NULL,
  PRIMARY KEY (`grp`, `level`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin COMMENT='ragsync fingerprints of Magento rows';
