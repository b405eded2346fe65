"""Webhook signatures: what ragsync sends and what a receiver checks.

Two signatures cover every request, both HMAC-SHA256 keyed with the same key, made from the
``ragsync_webhook`` connection's password by :func:`signing_key`: a Standard Webhooks secret
``whsec_<base64>`` is the base64-decoded bytes after the prefix (as the Standard Webhooks
libraries read it); any other secret, like the seed module's raw API secret, is its UTF-8 bytes.

* ``X-Magento-Webhook-Signature: sha256=<hex HMAC of the exact body bytes>`` (the seed's header,
  GitHub's scheme).
* Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
  ``webhook-signature: v1,<base64 HMAC of "<id>.<timestamp>.<body>">``, so a receiver can
  reject replays by checking the timestamp and remembering ids.

For backend teams, :func:`verify_signature` and :func:`verify_standard_webhook` are the whole
check; both compare in constant time and take the secret in the same form as the connection.
A backend using an official Standard Webhooks library gives ``Webhook(...)`` the ``whsec_``
secret as is, or, for a raw secret ``S``, ``"whsec_" + base64(S)`` (see docs/receiver.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from ragsync.errors import ConfigError

SIGNATURE_HEADER = "X-Magento-Webhook-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
STANDARD_SECRET_PREFIX = "whsec_"


def signing_key(secret: str | bytes) -> bytes:
    """Return the HMAC key of ``secret``: ``whsec_<base64>`` decoded, any other text as UTF-8, bytes as they are.

    The base64 after ``whsec_`` may omit its ``=`` padding, as the Standard Webhooks libraries
    allow; anything else that is not standard base64, or that decodes to nothing, raises
    :class:`~ragsync.errors.ConfigError` (whose message never holds the secret).
    """
    if isinstance(secret, bytes):
        return secret
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        return secret.encode("utf-8")
    encoded = secret[len(STANDARD_SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        problem = f"what follows the {STANDARD_SECRET_PREFIX} prefix is not valid base64 ({exc})"
    else:
        if key:
            return key
        problem = f"there is no key after the {STANDARD_SECRET_PREFIX} prefix"
    raise ConfigError(
        f"the webhook secret starts with {STANDARD_SECRET_PREFIX}, so it is read as a Standard Webhooks secret, "
        f"but {problem}. Copy the secret exactly as the backend's Standard Webhooks library gives it "
        f"({STANDARD_SECRET_PREFIX} then standard base64: A-Z, a-z, 0-9, + and /, no spaces or line breaks), "
        f"or use a raw secret that does not start with {STANDARD_SECRET_PREFIX}."
    ) from None


def sign_body(body: bytes, secret: str | bytes) -> str:
    """Return the ``X-Magento-Webhook-Signature`` value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(signing_key(secret), body, hashlib.sha256).hexdigest()


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
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
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
    """Return both signatures' headers for ``body``, keyed with :func:`signing_key` of ``secret``."""
    key = signing_key(secret)
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        SIGNATURE_HEADER: sign_body(body, key),
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_webhook_signature(msg_id, ts, body, key),
    }
