"""The webhook hook: connection fields, headers, signing the exact bytes, and never raising on HTTP errors."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import pytest
import urllib3

from fixtures.fixed_answer import fixed_answer_server
from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from fixtures.tls import self_signed, server_context
from ragsync import USER_AGENT
from ragsync.delivery.hook import (
    MAX_RESPONSE_TEXT,
    RagWebhookHook,
    WebhookConfig,
    safe_url,
    url_from_connection,
)
from ragsync.errors import ConnectionNotConfiguredError
from ragsync.signing import sign_body, signed_headers, verify_standard_webhook
from ragsync_dev.receiver import ReferenceReceiver


def test_hook_follows_airflow_conventions() -> None:
    assert RagWebhookHook.conn_name_attr == "ragsync_webhook_conn_id"
    assert RagWebhookHook.default_conn_name == "ragsync_webhook"
    assert RagWebhookHook.conn_type == "ragsync_webhook"
    assert RagWebhookHook.hook_name == "RAG Sync Webhook"
    assert "relabeling" in RagWebhookHook.get_ui_field_behaviour()
    # the connection type Airflow's providers manager learns from the package's entry point
    from ragsync.provider import get_provider_info

    assert get_provider_info()["connection-types"] == [
        {"connection-type": "ragsync_webhook", "hook-class-name": "ragsync.delivery.hook.RagWebhookHook"}]


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("https://rag.example.com/api/webhooks/magento", None, None, "https://rag.example.com/api/webhooks/magento"),
        ("http://127.0.0.1:8765/", None, None, "http://127.0.0.1:8765/"),
        ("rag.example.com/api/webhooks/magento", "https", 8443, "https://rag.example.com:8443/api/webhooks/magento"),
        ("rag.example.com", None, None, "https://rag.example.com"),
        ("localhost/hook", "http", 8080, "http://localhost:8080/hook"),
        ("https://rag.example.com/hook", None, 8443, "https://rag.example.com:8443/hook"),
    ],
)
def test_url_from_connection_accepts_full_and_split_forms(host: str, schema: str | None, port: int | None,
                                                          expected: str) -> None:
    assert url_from_connection(host, schema, port) == expected


def test_bad_connections_are_named() -> None:
    with pytest.raises(ConnectionNotConfiguredError, match="no host"):
        url_from_connection("")
    with pytest.raises(ConnectionNotConfiguredError, match="schema"):
        url_from_connection("rag.example.com", "ftp")
    with pytest.raises(ConnectionNotConfiguredError, match="secret"):
        WebhookConfig("https://rag.example.com", "")
    with pytest.raises(ConnectionNotConfiguredError, match="extra ack must be one of 'json', 'status'.*'always'"):
        WebhookConfig("https://rag.example.com", "s", ack="always")
    with pytest.raises(ConnectionNotConfiguredError, match="extra ack"):
        RagWebhookHook.from_values("https://rag.example.com", "s", ack="2xx")


def test_config_repr_and_safe_url_hide_secrets() -> None:
    config = WebhookConfig("https://user:pw@rag.example.com/hook?token=abc", "s3cr3t-value", "t1")
    assert "s3cr3t-value" not in repr(config)
    assert safe_url(config.url) == "https://rag.example.com/hook"


def test_connection_from_airflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_WEBHOOK", json.dumps({
        "conn_type": "http", "host": "https://rag.example.com/api/webhooks/magento", "password": "pw-123",
        "extra": {"tenant_id": "acme", "timeout": "12.5", "verify": "false"}}))
    config = RagWebhookHook().config
    assert config.url == "https://rag.example.com/api/webhooks/magento"
    assert config.secret == "pw-123"
    assert (config.tenant_id, config.timeout, config.verify) == ("acme", 12.5, False)
    assert config.ack == "json"  # the safe default: a 2xx needs a JSON object to count as delivered


@pytest.mark.parametrize(("ack", "expected"), [("status", "status"), (" JSON ", "json"), ("json", "json")])
def test_connection_extra_ack_is_read(monkeypatch: pytest.MonkeyPatch, ack: str, expected: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_WEBHOOK", json.dumps({
        "conn_type": "http", "host": "https://rag.example.com/hook", "password": "pw-123", "extra": {"ack": ack}}))
    assert RagWebhookHook().config.ack == expected


@pytest.mark.parametrize("ack", ["always", True, 200, ""])
def test_connection_extra_ack_names_the_allowed_values(monkeypatch: pytest.MonkeyPatch, ack: object) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RAGSYNC_WEBHOOK", json.dumps({
        "conn_type": "http", "host": "https://rag.example.com/hook", "password": "pw-123", "extra": {"ack": ack}}))
    with pytest.raises(ConnectionNotConfiguredError, match="extra ack must be one of 'json', 'status'"):
        _ = RagWebhookHook().config
    ok, message = RagWebhookHook().test_connection()
    assert not ok and "'json', 'status'" in message


def test_missing_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RAGSYNC_MISSING", raising=False)
    with pytest.raises(ConnectionNotConfiguredError, match="airflow connections add"):
        _ = RagWebhookHook("ragsync_missing").config


def test_post_sends_exact_signed_bytes_and_all_headers(receiver: ReferenceReceiver) -> None:
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=5,
                                      environment="staging")
    pool = hook.get_conn()
    assert hook.get_conn() is pool  # one reused pool
    body = b'{"type":"ping","batch_id":"mag-20260102103000-00000001","timestamp":"2026-01-02T10:30:00Z"}'
    response = hook.post_body(body, "mag-20260102103000-00000001")
    # the receiver answers 200 only when both signatures match the bytes it received and the tenant is right
    assert response.status == 200 and response.ok and response.error_kind is None
    second = hook.post_body(body, "mag-20260102103000-00000002")
    assert second.ok
    first, again = receiver.deliveries()[-2:]
    assert (first["webhook_id"], again["webhook_id"]) == ("mag-20260102103000-00000001", "mag-20260102103000-00000002")
    assert first["headers"] == {**first["headers"], "Content-Type": "application/json", "User-Agent": USER_AGENT,
                                "X-Environment": "staging", "X-Tenant-ID": RECEIVER_TENANT}
    assert USER_AGENT == "Magento-RagSync/1.0"
    headers = signed_headers(body, RECEIVER_SECRET, "mag-1")
    assert headers["X-Magento-Webhook-Signature"] == sign_body(body, RECEIVER_SECRET)
    assert verify_standard_webhook(body, headers["webhook-id"], headers["webhook-timestamp"],
                                   headers["webhook-signature"], RECEIVER_SECRET)


def test_receiver_rejects_a_wrong_secret_and_a_wrong_tenant(receiver: ReferenceReceiver) -> None:
    body = b'{"type":"ping"}'
    wrong_secret = RagWebhookHook.from_values(receiver.url, "not-the-secret", RECEIVER_TENANT)
    assert wrong_secret.post_body(body, "mag-1").status == 401
    wrong_tenant = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, "someone-else")
    assert wrong_tenant.post_body(body, "mag-2").status == 401
    ok, message = wrong_secret.test_connection()
    assert not ok and "secret" in message and "401" in message


def test_test_connection_pings(receiver: ReferenceReceiver) -> None:
    ok, message = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT).test_connection()
    assert ok, message
    assert receiver.deliveries()[-1]["kind"] == "ping"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_network_errors_and_timeouts_become_responses(receiver: ReferenceReceiver) -> None:
    refused = RagWebhookHook.from_values(f"http://127.0.0.1:{_free_port()}/", RECEIVER_SECRET)
    response = refused.post_body(b"{}", "mag-1")
    assert response.status is None and response.error_kind == "connection"
    ok, message = refused.test_connection()
    assert not ok and "Cannot reach" in message

    receiver.fail_next(1, status=200, delay=1.5)
    slow = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=0.3)
    response = slow.post_body(b'{"type":"ping"}', "mag-2")
    assert response.status is None and response.error_kind == "timeout"
    assert "0.3" in response.describe()

    receiver.fail_next(1, status=503, retry_after="7")
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT)
    response = hook.post_body(b'{"type":"ping"}', "mag-3")
    assert (response.status, response.retry_after) == (503, "7")
    assert "injected 503" in response.text


def test_redirects_are_not_followed(receiver: ReferenceReceiver) -> None:
    receiver.fail_next(1, status=302)
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT)
    assert hook.post_body(b'{"type":"ping"}', "mag-1").status == 302
    assert receiver.request_count == 1


def test_hook_logs_no_secret_signature_or_body(receiver: ReferenceReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"type":"ping","secret_marker":"BODY-MARKER-123"}'
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT)
    hook.post_body(body, "mag-1")
    hook.test_connection()
    text = caplog.text
    assert RECEIVER_SECRET not in text
    assert sign_body(body, RECEIVER_SECRET) not in text
    assert "BODY-MARKER-123" not in text


def test_environment_proxy_and_ca_bundle_are_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "corp.pem"
    bundle.write_text("not read until a TLS connection is made")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    pool = RagWebhookHook.from_values("https://rag.example.com/hook", "s").get_conn()
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy is not None and pool.proxy.url == "http://proxy.internal:3128"
    assert pool.connection_pool_kw["ca_certs"] == str(bundle)
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    bypassed = RagWebhookHook.from_values("https://localhost/hook", "s", verify=False).get_conn()
    assert not isinstance(bypassed, urllib3.ProxyManager)
    assert bypassed.connection_pool_kw["cert_reqs"] == "CERT_NONE"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    default = RagWebhookHook.from_values("https://localhost/hook", "s").get_conn()
    assert default.connection_pool_kw["ca_certs"] == certifi.where()  # verification is on by default


def test_credentials_in_the_url_become_basic_auth(receiver: ReferenceReceiver) -> None:
    url = receiver.url.replace("http://", "http://hook-user:p%40ss@")
    hook = RagWebhookHook.from_values(url, RECEIVER_SECRET, RECEIVER_TENANT)
    assert hook.post_body(b'{"type":"ping"}', "mag-1").ok
    assert hook._headers["authorization"] == "Basic " + base64.b64encode(b"hook-user:p@ss").decode()


def test_tls_is_verified_by_default_and_a_ca_bundle_can_be_named(tmp_path: Path) -> None:
    cert_path, key_path = self_signed(tmp_path)
    with ReferenceReceiver(RECEIVER_SECRET, RECEIVER_TENANT, db_path=tmp_path / "r.sqlite",
                           tls=server_context(cert_path, key_path)) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        untrusted = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=5)
        refused = untrusted.post_body(b'{"type":"ping"}', "mag-1")
        assert refused.status is None and refused.error_kind == "tls", refused
        assert "CERTIFICATE_VERIFY_FAILED" in refused.text  # the reason reaches last_error and the log
        with pytest.raises(ConnectionNotConfiguredError, match="no-such-bundle.pem.*does not exist"):
            RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, verify=str(tmp_path / "no-such-bundle.pem"))
        trusted = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=5,
                                             verify=str(cert_path))
        assert trusted.post_body(b'{"type":"ping"}', "mag-2").status == 200
        unverified = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=5,
                                                verify=False)
        with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
            assert unverified.post_body(b'{"type":"ping"}', "mag-3").status == 200
        assert [d["webhook_id"] for d in receiver.deliveries()] == ["mag-2", "mag-3"]


def test_error_texts_never_carry_the_urls_credentials_or_query() -> None:
    url = "https://hook-user:pw-9876@rag.example.com/hook?token=tok-12345#frag-777"
    hook = RagWebhookHook.from_values(url, "secret-4567")
    hook.get_conn()
    text = hook._scrubbed(RuntimeError(f"failed on {url} with secret-4567 (token=tok-12345, user hook-user)"))
    for leaked in ("pw-9876", "tok-12345", "frag-777", "secret-4567", "hook-user"):
        assert leaked not in text
    assert "https://rag.example.com/hook" in text


class _AnswerServer(ThreadingHTTPServer):
    """Answers every POST with ``status`` and ``body_bytes`` bytes of body; records the client ports."""

    daemon_threads = True

    def __init__(self, status: int, body_bytes: int) -> None:
        self.status, self.body_bytes = status, body_bytes
        self.ports: list[int] = []
        super().__init__(("127.0.0.1", 0), _AnswerHandler)


class _AnswerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _AnswerServer)
        server.ports.append(self.client_address[1])
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(server.status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(server.body_bytes))
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for start in range(0, server.body_bytes, len(chunk)):
                self.wfile.write(chunk[: server.body_bytes - start])
        except OSError:
            pass  # the client stopped reading

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "body"), [(200, b"<html><body>Sign in</body></html>"), (200, b"OK"), (204, b""),
                                              (200, b'{"ok": false}')])
def test_a_2xx_that_does_not_acknowledge_is_not_ok(status: int, body: bytes) -> None:
    with fixed_answer_server(status, body) as server:
        url = server.url
        response = RagWebhookHook.from_values(url, "s", timeout=10).post_body(b"{}", "mag-1")
        assert (response.status, response.ok, response.error_kind) == (status, False, "not_acknowledged")
        described = response.describe()
        assert described.startswith(f"HTTP {status}, not acknowledged: ")
        assert described.endswith(f"body: {body.decode() or '(empty)'}")
        ok, message = RagWebhookHook.from_values(url, "s", timeout=10).test_connection()
        assert not ok and message.startswith(f"{url} answered HTTP {status}, not acknowledged")
        assert response.problem in message
        relaxed = RagWebhookHook.from_values(url, "s", timeout=10, ack="status")
        assert relaxed.post_body(b"{}", "mag-2").ok
        assert relaxed.test_connection()[0]


@pytest.mark.parametrize(("body_bytes", "reused"), [(300, True), (50 * 1024 * 1024, False)])
def test_answers_are_read_up_to_a_cap_and_keep_alive_survives_normal_ones(body_bytes: int, reused: bool) -> None:
    server = _AnswerServer(503, body_bytes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hook = RagWebhookHook.from_values(f"http://127.0.0.1:{server.server_address[1]}/", "s", timeout=10)
        first = hook.post_body(b"{}", "mag-1")
        second = hook.post_body(b"{}", "mag-2")
        assert (first.status, second.status) == (503, 503)
        assert first.text == "x" * min(body_bytes, MAX_RESPONSE_TEXT)  # bounded however big the answer
        assert (server.ports[0] == server.ports[1]) is reused  # an oversized answer's connection is dropped
    finally:
        server.shutdown()
        server.server_close()
