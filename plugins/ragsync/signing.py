"""Webhook signatures: what ragsync sends and what a receiver checks.

Two signatures cover every request, both HMAC-SHA256 keyed with the same API secret (the UTF-8
bytes of the ``ragsync_webhook`` connection's password):

* ``X-Magento-Webhook-Signature: sha256=<hex HMAC of the exact body bytes>`` (the seed's header,
  GitHub's scheme).
* Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
  ``webhook-signature: v1,<base64 HMAC of "<id>.<timestamp>.<body>">``, so a receiver can
  reject replays by checking the timestamp and remembering ids.

For backend teams, :func:`verify_signature` and :func:`verify_standard_webhook` are the whole
check; both compare in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Magento-Webhook-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def sign_body(body: bytes, secret: str | bytes) -> str:
    """Return the ``X-Magento-Webhook-Signature`` value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str | bytes) -> bool:
    """Return True when ``header`` is ``sha256=<hex>`` of the HMAC-SHA256 of ``body`` with ``secret``.

    ``body`` must be the raw request bytes exactly as received (not re-serialized JSON).
    """
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign_body(body, secret), header.strip())


def standard_webhook_signature(msg_id: str, timestamp: int, body: bytes, secret: str | bytes) -> str:
    """Return the Standard Webhooks ``webhook-signature`` value: ``v1,<base64 HMAC>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_standard_webhook(
    body: bytes,
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    secret: str | bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Return True when one of the space-separated ``v1,`` signatures matches and the timestamp is fresh."""
    if not msg_id or not timestamp or not signature_header:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_seconds:
        return False
    expected = standard_webhook_signature(msg_id, ts, body, secret)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature_header.split())


def signed_headers(body: bytes, secret: str | bytes, msg_id: str, timestamp: int | None = None) -> dict[str, str]:
    """Return both signatures' headers for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        SIGNATURE_HEADER: sign_body(body, secret),
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_webhook_signature(msg_id, ts, body, secret),
    }
