"""The words ragsync's records and runs are made of, defined once: every other module imports them.

This module imports nothing of ragsync, so any layer may use it.
"""

from __future__ import annotations

ENTITY_TYPES = ("product", "category", "cms_page", "cms_block", "promotion")
"""The ``type`` of a document, in the order runs and reports list them."""
ACTIONS = ("save", "delete")
"""A document's ``action``: a save carries data, a delete does not."""

CMS_ENTITY_TYPES = ("cms_page", "cms_block")
CMS_SCOPES = {"all": CMS_ENTITY_TYPES, "pages": ("cms_page",), "blocks": ("cms_block",)}
"""What ``ragsync sync cms --type`` and the CMS DAG cover, by the word the user gives."""
CMS_DOCUMENT_TYPES = ("policy", "faq", "guide", "about", "contact", "landing", "other")
"""The ``document_type`` of a CMS page or block (``data.document_type``)."""

PROMOTION_KINDS = ("cart", "catalog")
"""The two rule tables behind a promotion id (``cart-3``, ``catalog-1``)."""
PROMOTION_SCOPES = {"both": PROMOTION_KINDS, "cart": ("cart",), "catalog": ("catalog",)}
"""What the ``promotions.type`` setting and ``--type`` cover."""

QUEUE_STATUSES = ("pending", "processing", "sent", "failed", "dead")
"""A queue row's ``status``, in life-cycle order."""
OPEN_STATUSES = ("pending", "failed")
"""Statuses of the (at most one) open row per entity: waiting to be sent."""
RETRYABLE_STATUSES = ("failed", "dead")
"""What ``queue retry`` (and the Retry buttons, and the admin DAG's ``retry``) put back to pending."""
CLEARABLE_STATUSES = ("sent", "failed", "dead", "pending")
"""What ``queue clear`` may delete (and ``all`` of them); the dashboard offers the first three."""
QUEUE_SOURCES = ("incremental", "full", "manual", "reconcile")
"""What queued a row (``rag_sync_queue.source``)."""

RUN_KINDS = ("full", "incremental", "manual")
RUN_STATUSES = ("running", "success", "failed", "aborted")
