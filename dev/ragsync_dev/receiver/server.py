"""The reference receiver: a small HTTP server that verifies ragsync's webhook requests and keeps what arrived.

Tests, ``make demo`` and the benchmarks deliver to it, and backend teams can read it as the
reference for checking our requests. A webhook request is a POST to the base path (or any path
that is not a control path, i.e. does not start with ``/_``). It is checked in this order:

1. ``X-Magento-Webhook-Signature: sha256=<hex HMAC-SHA256 of the exact body>``;
2. the Standard Webhooks headers ``webhook-id``, ``webhook-timestamp`` (within the tolerance)
   and ``webhook-signature: v1,<base64>`` (one of several space-separated signatures must match);
3. ``X-Tenant-ID`` equal to the configured tenant, when one is configured;
4. the body: the single item form, the batch form or a ping (see :func:`parse_webhook_body`).

Items are applied per (type, id, store_id) in arrival order, except that an item whose
``sequence`` is lower than the one of the version held is older than it: it is acknowledged
(answered 200, counted in ``"stale"``) but not applied. Items without a sequence are applied.

A failed check 1-3 is answered 401 and a bad body 400, each with ``{"error": "..."}`` naming what
failed; an accepted request is answered 200 ``{"accepted": <items>}`` after its items are committed
to SQLite (:mod:`ragsync_dev.receiver.store`). Every request is recorded as a delivery, accepted or not.

The secret is given as the ``ragsync_webhook`` connection holds it: a raw secret (its UTF-8 bytes
are the key) or a Standard Webhooks ``whsec_<base64>`` secret (the decoded bytes are the key), see
:func:`ragsync.signing.signing_key`; a ``whsec_`` value that is not base64 is refused at start.

For tests, failures can be injected (:meth:`ReferenceReceiver.fail_next`, :meth:`~ReferenceReceiver.poison`,
:meth:`~ReferenceReceiver.set_down`), in-process or over HTTP under ``/_control`` with the
``X-Control-Token`` header. Injected failures store no items.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ragsync.documents.model import ACTIONS, ENTITY_TYPES
from ragsync.errors import ConfigError
from ragsync.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    SIGNATURE_HEADER,
    signing_key,
    verify_signature,
    verify_standard_webhook,
)
from ragsync_dev.receiver.store import DeliveryRecord, ReceivedItem, ReceiverStore

log = logging.getLogger("ragsync_dev.receiver.server")  # the same name when run with python -m

SECRET_ENV = "RAGSYNC_RECEIVER_SECRET"
TENANT_ENV = "RAGSYNC_RECEIVER_TENANT"
CONTROL_TOKEN_ENV = "RAGSYNC_RECEIVER_CONTROL_TOKEN"
CONTROL_TOKEN_HEADER = "X-Control-Token"
TENANT_HEADER = "X-Tenant-ID"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
RECORDED_HEADERS = ("X-Tenant-ID", "X-Environment", "User-Agent", "Content-Type", "webhook-timestamp")
_DRAIN_CHUNK = 1024 * 1024


class HeaderLookup(Protocol):
    """Request headers looked up case-insensitively by name (http.server, Flask and Starlette headers are)."""

    def get(self, name: str, /) -> str | None:
        """Return the header's value, or None when it is absent."""


class BodyError(ValueError):
    """The request body is not valid JSON or not one of the accepted forms; the message says why."""


@dataclass(frozen=True)
class ParsedBody:
    """A validated webhook body: its kind (single, batch or ping), batch id and items."""

    kind: str
    batch_id: str | None
    items: list[ReceivedItem]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_hex_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


def _parse_item(raw: Any, where: str) -> ReceivedItem:
    if not isinstance(raw, dict):
        raise BodyError(f"{where}: an item must be a JSON object")
    entity_type = raw.get("type")
    if entity_type not in ENTITY_TYPES:
        raise BodyError(f'{where}: "type" must be one of {", ".join(ENTITY_TYPES)}, not {entity_type!r}')
    entity_id = raw.get("id")
    if not isinstance(entity_id, str) or not entity_id:
        raise BodyError(f'{where}: "id" must be a non-empty string, not {entity_id!r}')
    store_id = raw.get("store_id")
    if not isinstance(store_id, int) or isinstance(store_id, bool) or store_id < 0:
        raise BodyError(f'{where}: "store_id" must be an integer >= 0, not {store_id!r}')
    action = raw.get("action")
    if action not in ACTIONS:
        raise BodyError(f'{where}: "action" must be one of {", ".join(ACTIONS)}, not {action!r}')
    content_hash = raw.get("hash")
    if not isinstance(content_hash, str) or not _is_hex_digest(content_hash):
        raise BodyError(f'{where}: "hash" must be a SHA-256 hex digest')
    timestamp = raw.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        raise BodyError(f'{where}: "timestamp" must be an ISO 8601 string')
    if "data" not in raw:
        raise BodyError(f'{where}: "data" is missing (a delete carries "data": null)')
    data = raw["data"]
    if action == "save" and not isinstance(data, dict):
        raise BodyError(f'{where}: a save needs "data" as a JSON object')
    if action == "delete" and data is not None:
        raise BodyError(f'{where}: a delete carries "data": null')
    sequence = raw.get("sequence")  # optional: senders before ragsync's sequence send none
    if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0):
        raise BodyError(f'{where}: "sequence" must be an integer >= 0 when present, not {sequence!r}')
    return ReceivedItem(entity_type, entity_id, store_id, action, content_hash.lower(), data, timestamp, sequence)


def parse_webhook_body(body: bytes) -> ParsedBody:
    """Parse and validate a webhook body (single item, batch or ping); raise :class:`BodyError` if invalid."""
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BodyError(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BodyError("the body must be a JSON object")
    kind = payload.get("type")
    batch_id = payload.get("batch_id")
    if kind == "ping":
        return ParsedBody("ping", batch_id if isinstance(batch_id, str) and batch_id else None, [])
    if kind == "batch":
        if not isinstance(batch_id, str) or not batch_id:
            raise BodyError('a batch needs a non-empty string "batch_id"')
        items = payload.get("items")
        if not isinstance(items, list) or not items:
            raise BodyError('a batch needs a non-empty "items" list')
        return ParsedBody("batch", batch_id, [_parse_item(raw, f"items[{i}]") for i, raw in enumerate(items)])
    if kind in ENTITY_TYPES:
        return ParsedBody("single", None, [_parse_item(payload, "the item")])
    allowed = ", ".join((*ENTITY_TYPES, "batch", "ping"))
    raise BodyError(f'"type" must be one of {allowed}, not {kind!r}')


def check_request(
    headers: HeaderLookup,
    body: bytes,
    secret: str | bytes,
    tenant_id: str | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str | None:
    """Return why a webhook request must be rejected with 401, or None when both signatures and the tenant pass.

    The replay check that remains for the caller: refuse a ``webhook-id`` already processed.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return f"missing {SIGNATURE_HEADER}"
    if not verify_signature(body, signature, secret):
        return f"{SIGNATURE_HEADER} does not match the body"
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    standard_signature = headers.get("webhook-signature")
    missing = [name for name, value in (("webhook-id", msg_id), ("webhook-timestamp", timestamp),
                                         ("webhook-signature", standard_signature)) if not value]
    if missing:
        return "missing Standard Webhooks header(s): " + ", ".join(missing)
    try:
        sent_at = int(timestamp or "")
    except ValueError:
        return "webhook-timestamp is not Unix seconds"
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return f"webhook-timestamp is outside the {tolerance_seconds} s tolerance"
    if not verify_standard_webhook(body, msg_id, timestamp, standard_signature, secret,
                                   tolerance_seconds=tolerance_seconds, now=current):
        return "webhook-signature does not match"
    if tenant_id is not None:
        tenant = headers.get(TENANT_HEADER)
        if not tenant:
            return f"missing {TENANT_HEADER}"
        if tenant != tenant_id:
            return f"{TENANT_HEADER} does not match this receiver's tenant"
    return None


@dataclass(frozen=True)
class InjectedFailure:
    """How to answer one request instead of processing it: a status, after a delay, or a dropped connection.

    A 2xx status with a delay only delays: the request is then processed normally. ``garbage``
    (``"html"`` or ``"json"``) answers the status with an HTML page or invalid JSON and stores
    nothing: what a proxy, a login page or a broken backend may answer.
    """

    status: int = 503
    delay: float = 0.0
    retry_after: str | None = None
    drop: bool = False
    garbage: str | None = None


@dataclass
class _Rules:
    """The injected behaviour: a FIFO of per-request failures, poisoned items and the down switch."""

    queue: deque[InjectedFailure] = field(default_factory=deque)
    poisoned: set[tuple[str, str, int | None]] = field(default_factory=set)
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_failure(self) -> InjectedFailure | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None

    def poisoned_items(self, items: Iterable[ReceivedItem]) -> list[str]:
        with self.lock:
            if not self.poisoned:
                return []
            poisoned = set(self.poisoned)
        names = []
        for item in items:
            if (item.type, item.id, None) in poisoned or (item.type, item.id, item.store_id) in poisoned:
                names.append(f"poison item {item.type} {item.id} store {item.store_id}")
        return names


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    reason: str | None = None  # why the request was not accepted, for the delivery record and the log


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _Response(status, body, "application/json", headers or {})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Response:
    response = _json_response(status, {"error": message}, headers)
    response.reason = message
    return response


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its receiver and can close every open connection on stop."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], receiver: ReferenceReceiver) -> None:
        self.receiver = receiver
        self._open: dict[Any, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="ragsync-receiver-conn", daemon=True)
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_open_connections(self, timeout: float = 5.0) -> None:
        """Shut down every open client socket and wait for their threads to finish."""
        with self._open_lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for _, thread in open_now:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 keep-alive connection: webhook POSTs and the control endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "ragsync-reference-receiver/1.0"
    disable_nagle_algorithm = True
    timeout = 120  # seconds an idle keep-alive connection stays open
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing here: the receiver logs one line per webhook request itself."""

    def log_message(self, format: str, *args: Any) -> None:
        """Send http.server's own messages (malformed request lines, timeouts) to the debug log."""
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, response: _Response) -> None:
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> tuple[bytes | None, _Response | None]:
        """Read the body by Content-Length; return (body, None) or (None, the error to answer)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return None, _error(411, "send the body with Content-Length (chunked bodies are not accepted)")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            self.close_connection = True
            return None, _error(411, "Content-Length is required")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError(raw_length)
        except ValueError:
            self.close_connection = True
            return None, _error(400, "Content-Length is not a non-negative integer")
        limit = self.server.receiver.max_body_bytes
        if length > limit:
            remaining = length
            while remaining > 0:  # drain so the client reads our answer instead of a reset
                chunk = self.rfile.read(min(remaining, _DRAIN_CHUNK))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None, _error(413, f"body of {length} bytes is over this receiver's limit of {limit} bytes")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return None, _error(400, "body shorter than Content-Length")
        return body, None

    def _path(self) -> str:
        return urlsplit(self.path).path or "/"

    @staticmethod
    def _is_control(path: str) -> bool:
        return path.startswith("/_")

    # -- verbs ------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        """Handle a webhook POST or a control command."""
        path = self._path()
        receiver = self.server.receiver
        try:
            if self._is_control(path):
                response = self._control_post(path)
            else:
                response = receiver._handle_webhook(self, path)
        except Exception:
            if receiver._stopping.is_set():
                self.close_connection = True
                return
            log.exception("POST %s failed inside the receiver", path)
            response = _error(500, "internal error in the reference receiver")
        self._send(response)

    def do_GET(self) -> None:
        """Answer the read-only control endpoints; webhook paths only take POST."""
        path = self._path()
        if not self._is_control(path):
            self._send(_error(405, "webhook requests are POSTs", {"Allow": "POST"}))
            return
        if path == "/_health":
            self._send(_json_response(200, {"status": "ok"}))
            return
        denied = self._check_control_token()
        if denied is not None:
            self._send(denied)
            return
        receiver = self.server.receiver
        query = parse_qs(urlsplit(self.path).query)
        try:
            if path == "/_summary":
                response = _json_response(200, receiver.summary())
            elif path == "/_documents":
                entity_type = query.get("type", [None])[0]
                store = query.get("store_id", [None])[0]
                store_id = int(store) if store not in (None, "") else None
                response = _json_response(200, {"documents": receiver.documents(entity_type, store_id)})
            elif path == "/_deliveries":
                response = _json_response(200, {"deliveries": receiver.deliveries()})
            elif path == "/_items":
                response = _json_response(200, {"items": receiver.items()})
            else:
                response = _error(404, f"no control endpoint {path}")
        except ValueError:
            response = _error(400, "store_id must be an integer")
        self._send(response)

    do_HEAD = do_GET

    # -- control ----------------------------------------------------------------------------------

    def _check_control_token(self) -> _Response | None:
        token = self.headers.get(CONTROL_TOKEN_HEADER)
        expected = self.server.receiver._control_token
        if not token or not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
            return _error(401, f"missing or wrong {CONTROL_TOKEN_HEADER}")
        return None

    def _control_post(self, path: str) -> _Response:
        body, problem = self._read_body()
        if problem is not None:
            return problem
        denied = self._check_control_token()
        if denied is not None:
            return denied
        if path != "/_control":
            return _error(404, f"no control endpoint {path} (POST /_control)")
        try:
            command = json.loads(body or b"")
        except ValueError as exc:
            return _error(400, f"malformed JSON: {exc}")
        if not isinstance(command, dict) or not command:
            return _error(400, 'send a JSON object with "fail_next", "poison", "down" and/or "reset"')
        unknown = set(command) - {"fail_next", "poison", "down", "reset"}
        if unknown:
            return _error(400, f"unknown control command(s): {', '.join(sorted(unknown))}")
        receiver = self.server.receiver
        try:
            if command.get("reset"):
                receiver.reset()
            if "fail_next" in command:
                spec = command["fail_next"]
                if not isinstance(spec, dict):
                    raise ValueError('"fail_next" must be an object')
                allowed = {"count", "status", "delay", "retry_after", "drop"}
                if set(spec) - allowed:
                    raise ValueError(f'"fail_next" takes {", ".join(sorted(allowed))}')
                retry_after = spec.get("retry_after")
                receiver.fail_next(
                    count=int(spec.get("count", 1)), status=int(spec.get("status", 503)),
                    delay=float(spec.get("delay", 0.0)),
                    retry_after=None if retry_after is None else str(retry_after), drop=bool(spec.get("drop", False)),
                )
            if "poison" in command:
                entries = command["poison"]
                if not isinstance(entries, list):
                    raise ValueError('"poison" must be a list of [type, id] or [type, id, store_id]')
                receiver.poison(*(_poison_entry(entry) for entry in entries))
            if "down" in command:
                receiver.set_down(bool(command["down"]))
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        log.info("control: %s", ", ".join(sorted(command)))
        return _json_response(200, {"ok": True})


def _poison_entry(entry: Any) -> tuple[str, str] | tuple[str, str, int]:
    if not isinstance(entry, list | tuple) or len(entry) not in (2, 3):
        raise ValueError("a poison entry is [type, id] or [type, id, store_id]")
    if len(entry) == 2:
        return (str(entry[0]), str(entry[1]))
    return (str(entry[0]), str(entry[1]), int(entry[2]))


class ReferenceReceiver:
    """Serve the reference webhook receiver on loopback (or any address) and keep what it receives in SQLite."""

    def __init__(
        self,
        secret: str,
        tenant_id: str | None = None,
        db_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timestamp_tolerance: int = DEFAULT_TOLERANCE_SECONDS,
        *,
        control_token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the reference receiver needs the webhook secret")
        self._key = signing_key(secret)  # a raw secret or whsec_<base64>, as the ragsync_webhook connection holds it
        self._control_token = control_token or secret
        self.tenant_id = tenant_id or None
        self.host = host
        self.timestamp_tolerance = int(timestamp_tolerance)
        self.max_body_bytes = int(max_body_bytes)
        self._requested_port = int(port)
        self._tls = tls
        self._temporary_db = db_path is None
        if db_path is None:
            handle, name = tempfile.mkstemp(prefix="ragsync-receiver-", suffix=".sqlite")
            os.close(handle)
            db_path = name
        self.db_path = Path(db_path)
        self._store: ReceiverStore | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._rules = _Rules()
        self._stopping = threading.Event()
        self._count_lock = threading.Lock()
        self._request_count = 0

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<ReferenceReceiver {where} tenant={self.tenant_id!r} db={str(self.db_path)!r}>"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> ReferenceReceiver:
        """Bind the port, open the store and serve in a background thread; return self."""
        if self._server is not None:
            raise RuntimeError("the reference receiver is already started")
        self._stopping.clear()
        self._store = ReceiverStore(self.db_path)
        try:
            self._server = _Server((self.host, self._requested_port), self)
            if self._tls is not None:  # HTTPS: the handshake happens on accept
                self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        except OSError:
            self._store.close()
            self._store = None
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ragsync-receiver", daemon=True)
        self._thread.start()
        log.info("reference receiver listening on %s (tenant %s)", self.url, self.tenant_id or "not checked")
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the SQLite store (removing it when it was a temp file)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._temporary_db:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        log.info("reference receiver stopped")

    def __enter__(self) -> ReferenceReceiver:
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port (valid after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("start() the reference receiver first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Return the base URL to POST to, e.g. ``http://127.0.0.1:43123/`` (valid after :meth:`start`)."""
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self._tls is not None else 'http'}://{host}:{self.port}/"

    @property
    def request_count(self) -> int:
        """Return how many webhook POSTs arrived, including rejected and injected ones (not control calls)."""
        with self._count_lock:
            return self._request_count

    # -- behaviour injection ----------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503, delay: float = 0.0,
                  retry_after: str | None = None, drop: bool = False, garbage: str | None = None) -> None:
        """Answer the next ``count`` webhook requests with ``status`` (or drop them), after ``delay`` seconds.

        ``garbage="html"`` or ``"json"`` answers with an HTML page or invalid JSON instead of the
        usual body, processing nothing (with status 200: a 2xx that does not acknowledge).
        """
        if garbage not in (None, "html", "json"):
            raise ValueError("garbage must be None, 'html' or 'json'")
        if count < 1:
            raise ValueError("count must be at least 1")
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if delay < 0:
            raise ValueError("delay must be >= 0 seconds")
        failure = InjectedFailure(int(status), float(delay), retry_after, bool(drop), garbage)
        with self._rules.lock:
            self._rules.queue.extend([failure] * int(count))

    def set_down(self, down: bool = True) -> None:
        """Answer 503 to every webhook request while ``down`` is set."""
        with self._rules.lock:
            self._rules.down = down

    def poison(self, *items: tuple[str, str] | tuple[str, str, int]) -> None:
        """Answer 422 to any request that holds one of these (type, id) or (type, id, store_id) items."""
        entries: set[tuple[str, str, int | None]] = set()
        for item in items:
            if len(item) == 2:
                entries.add((str(item[0]), str(item[1]), None))
            elif len(item) == 3:
                entries.add((str(item[0]), str(item[1]), int(item[2])))
            else:
                raise ValueError("a poison item is (type, id) or (type, id, store_id)")
        with self._rules.lock:
            self._rules.poisoned |= entries

    def reset(self) -> None:
        """Clear every injected rule (pending failures, poisoned items, down); stored data stays."""
        with self._rules.lock:
            self._rules.queue.clear()
            self._rules.poisoned.clear()
            self._rules.down = False

    # -- what arrived -----------------------------------------------------------------------------

    def _require_store(self) -> ReceiverStore:
        if self._store is None:
            raise RuntimeError("start() the reference receiver first")
        return self._store

    def documents(self, type: str | None = None, store_id: int | None = None) -> list[dict[str, Any]]:
        """Return the latest document per (type, id, store_id), tombstones included, with action, hash and data."""
        return self._require_store().documents(type, store_id)

    def document(self, type: str, id: str, store_id: int) -> dict[str, Any] | None:
        """Return the latest document of one key, or None when nothing arrived for it."""
        return self._require_store().document(type, str(id), store_id)

    def items(self) -> list[dict[str, Any]]:
        """Return every item received in accepted requests, in order."""
        return self._require_store().items()

    def deliveries(self) -> list[dict[str, Any]]:
        """Return every webhook request in order, with its status, kind, counts, ids and non-secret headers."""
        return self._require_store().deliveries()

    def summary(self) -> dict[str, Any]:
        """Return ``{"documents": {type: {store_id: live}}, "deliveries": n, "items": n}``."""
        return self._require_store().summary()

    @property
    def stale_dropped(self) -> int:
        """Return how many items arrived older (lower ``sequence``) than the version held, and were not applied."""
        return self._require_store().stale_dropped()

    # -- request handling -------------------------------------------------------------------------

    def _handle_webhook(self, handler: _Handler, path: str) -> _Response:
        with self._count_lock:
            self._request_count += 1
        headers = handler.headers
        record = DeliveryRecord(
            path=path, status=0, webhook_id=headers.get("webhook-id"),
            headers={name: value for name in RECORDED_HEADERS if (value := headers.get(name)) is not None},
        )
        body, problem = handler._read_body()
        if problem is not None or body is None:
            return self._finish(record, problem or _error(400, "no body"))
        record.body_bytes = len(body)

        with self._rules.lock:
            down = self._rules.down
        if down:
            self._describe(record, body)
            return self._finish(record, _error(503, "receiver is down (injected)"))
        failure = self._rules.next_failure()
        if failure is not None:
            if failure.delay:
                self._stopping.wait(failure.delay)
            if not 200 <= failure.status <= 299 or failure.drop or failure.garbage:
                return self._inject(record, body, failure)

        reason = check_request(headers, body, self._key, self.tenant_id, self.timestamp_tolerance)
        if reason is not None:
            return self._finish(record, _error(401, reason))
        try:
            parsed = parse_webhook_body(body)
        except BodyError as exc:
            return self._finish(record, _error(400, str(exc)))
        record.kind = parsed.kind
        record.batch_id = parsed.batch_id or record.webhook_id
        record.item_count = len(parsed.items)
        poisoned = self._rules.poisoned_items(parsed.items)
        if poisoned:
            text = "; ".join(poisoned)
            return self._finish(record, _Response(422, text.encode("utf-8"), "text/plain; charset=utf-8", reason=text))

        record.status = 200
        _, duplicate = self._require_store().record_accepted(record, parsed.items)
        payload: dict[str, Any] = {"accepted": len(parsed.items)}
        if duplicate:
            payload["duplicate"] = True
        notes = ["redelivery of an accepted webhook-id"] if duplicate else []
        if record.stale_dropped:
            payload["stale"] = record.stale_dropped  # acknowledged, but older than what is held: not applied
            notes.append(f"{record.stale_dropped} stale item(s) dropped: lower sequence than the stored version")
        self._log(record, "; ".join(notes) or None)
        return _json_response(200, payload)

    def _describe(self, record: DeliveryRecord, body: bytes) -> None:
        """Fill kind, batch id and item count from a body that will not be stored (best effort, for tests)."""
        try:
            parsed = parse_webhook_body(body)
        except BodyError:
            return
        record.kind = parsed.kind
        record.batch_id = parsed.batch_id or record.webhook_id
        record.item_count = len(parsed.items)

    def _inject(self, record: DeliveryRecord, body: bytes, failure: InjectedFailure) -> _Response:
        self._describe(record, body)
        if failure.drop:
            return self._finish(record, _Response(0, drop=True, reason="connection dropped (injected)"))
        headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
        if failure.garbage == "html":
            page = b"<!DOCTYPE html><html><body><h1>Please sign in</h1></body></html>"
            return self._finish(record, _Response(failure.status, page, "text/html; charset=utf-8", headers,
                                                  reason=f"injected {failure.status} with an HTML page"))
        if failure.garbage == "json":
            return self._finish(record, _Response(failure.status, b'{"accepted": ', "application/json", headers,
                                                  reason=f"injected {failure.status} with invalid JSON"))
        return self._finish(record, _error(failure.status, f"injected {failure.status}", headers))

    def _finish(self, record: DeliveryRecord, response: _Response) -> _Response:
        """Record a request that stores nothing (status 0 = connection dropped) and return its answer."""
        record.status = response.status
        record.error = response.reason
        self._require_store().record_rejected(record)
        self._log(record, response.reason)
        return response

    @staticmethod
    def _log(record: DeliveryRecord, reason: str | None) -> None:
        log.info("POST %s %s kind=%s items=%d batch_id=%s%s", record.path, record.status or "dropped", record.kind,
                 record.item_count, record.batch_id or "-", f" ({reason})" if reason else "")


# -- command line ---------------------------------------------------------------------------------

def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragsync-receiver",
        description="Run the ragsync reference webhook receiver. The webhook secret is read from "
                    f"the {SECRET_ENV} environment variable, never from the command line.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default 8765)")
    parser.add_argument("--db", default=None,
                        help="SQLite file to keep what arrives in (default: a temporary file removed on exit)")
    parser.add_argument("--tenant", default=os.environ.get(TENANT_ENV) or None,
                        help=f"required X-Tenant-ID (default ${TENANT_ENV}; unset = not checked)")
    parser.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE_SECONDS,
                        help="accepted webhook-timestamp skew in seconds (default 300)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="bodies larger than this are answered 413")
    parser.add_argument("--tls-cert", default=None,
                        help="serve HTTPS with this PEM certificate (chain); needs --tls-key")
    parser.add_argument("--tls-key", default=None, help="the PEM private key of --tls-cert")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """Return the HTTPS context of --tls-cert/--tls-key (None for plain HTTP); raise ValueError saying what is wrong."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise ValueError("give both --tls-cert and --tls-key (PEM files), or neither for plain HTTP")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate {cert!r} with key {key!r}: {exc}") from None
    return context


def main(argv: Sequence[str] | None = None) -> int:
    """Run the reference receiver until SIGINT or SIGTERM; return the process exit code."""
    args = _build_parser().parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"ragsync-receiver: {SECRET_ENV} is not set. Export the webhook secret (the password of the "
              "ragsync_webhook connection) in that variable and start again.", file=sys.stderr)
        return 2
    try:
        signing_key(secret)
    except ConfigError as exc:
        print(f"ragsync-receiver: {SECRET_ENV}: {exc}", file=sys.stderr)
        return 2
    try:
        tls = _tls_context(args.tls_cert, args.tls_key)
    except ValueError as exc:
        print(f"ragsync-receiver: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    receiver = ReferenceReceiver(
        secret, tenant_id=args.tenant, db_path=args.db, host=args.host, port=args.port,
        timestamp_tolerance=args.tolerance, control_token=os.environ.get(CONTROL_TOKEN_ENV) or None,
        max_body_bytes=args.max_body_bytes, tls=tls,
    )
    try:
        receiver.start()
    except OSError as exc:
        print(f"ragsync-receiver: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"ragsync-receiver listening on {receiver.url} (db {receiver.db_path}, "
          f"tenant {receiver.tenant_id or 'not checked'})", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
