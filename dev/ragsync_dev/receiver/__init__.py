"""The reference webhook receiver: verifies ragsync's signed requests and keeps what arrived in SQLite.

``verify_signature`` and ``verify_standard_webhook`` (from :mod:`ragsync.signing`) are the checks a
backend needs (``signing_key`` shows the key they make of a raw or ``whsec_`` secret);
:func:`check_request` runs both plus the tenant check; :class:`ReferenceReceiver` is the
in-process server that tests, ``make demo`` and the benchmarks deliver to. See docs/receiver.md.

The server module is imported on first use, so ``python -m ragsync_dev.receiver.server`` runs cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragsync.signing import (
    sign_body,
    signed_headers,
    signing_key,
    standard_webhook_signature,
    verify_signature,
    verify_standard_webhook,
)

if TYPE_CHECKING:
    from ragsync_dev.receiver.server import (
        BodyError,
        ReferenceReceiver,
        check_request,
        main,
        parse_webhook_body,
    )
    from ragsync_dev.receiver.store import ReceiverStore

__all__ = [
    "BodyError",
    "ReceiverStore",
    "ReferenceReceiver",
    "check_request",
    "main",
    "parse_webhook_body",
    "sign_body",
    "signed_headers",
    "signing_key",
    "standard_webhook_signature",
    "verify_signature",
    "verify_standard_webhook",
]

_LAZY = {
    "BodyError": "ragsync_dev.receiver.server",
    "ReferenceReceiver": "ragsync_dev.receiver.server",
    "check_request": "ragsync_dev.receiver.server",
    "main": "ragsync_dev.receiver.server",
    "parse_webhook_body": "ragsync_dev.receiver.server",
    "ReceiverStore": "ragsync_dev.receiver.store",
}


def __getattr__(name: str) -> Any:
    """Import the server and store modules only when one of their names is used."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
