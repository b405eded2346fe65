"""The webhook hook: connection fields, headers, signing the exact bytes, and never raising on HTTP errors."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync import USER_AGENT
from ragsync.delivery.hook import RagWebhookHook, WebhookConfig, safe_url, url_from_connection
from ragsync.errors import ConnectionNotConfiguredError
from ragsync.receiver import ReferenceReceiver
from ragsync.signing import sign_body, verify_signature, verify_standard_webhook


def test_hook_follows_airflow_conventions() -> None:
    assert RagWebhookHook.conn_name_attr == "ragsync_webhook_conn_id"
    assert RagWebhookHook.default_conn_name == "ragsync_webhook"
    assert RagWebhookHook.conn_type == "http"
    assert RagWebhookHook.hook_name == "RAG Sync Webhook"
    assert "relabeling" in RagWebhookHook.get_ui_field_behaviour()


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


def test_missing_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RAGSYNC_MISSING", raising=False)
    with pytest.raises(ConnectionNotConfiguredError, match="airflow connections add"):
        _ = RagWebhookHook("ragsync_missing").config


def test_post_sends_exact_signed_bytes_and_all_headers(receiver: ReferenceReceiver) -> None:
    captured: dict[str, object] = {}
    hook = RagWebhookHook.from_values(receiver.url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=5,
                                      environment="staging")
    session = hook.get_conn()
    assert hook.get_conn() is session  # one reused session

    def keep(response: requests.Response, *args: object, **kwargs: object) -> None:
        captured["request"] = response.request

    session.hooks["response"].append(keep)
    body = b'{"type":"ping","batch_id":"mag-20260102103000-00000001","timestamp":"2026-01-02T10:30:00Z"}'
    response = hook.post_body(body, "mag-20260102103000-00000001")
    assert response.status == 200 and response.ok and response.error_kind is None
    request = captured["request"]
    assert isinstance(request, requests.PreparedRequest)
    assert request.body == body
    headers = request.headers
    assert headers["X-Magento-Webhook-Signature"] == sign_body(body, RECEIVER_SECRET)
    assert verify_signature(body, headers["X-Magento-Webhook-Signature"], RECEIVER_SECRET)
    assert verify_standard_webhook(body, headers["webhook-id"], headers["webhook-timestamp"],
                                   headers["webhook-signature"], RECEIVER_SECRET)
    assert headers["webhook-id"] == "mag-20260102103000-00000001"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT == "Magento-RagSync/1.0"
    assert headers["X-Environment"] == "staging"
    assert headers["X-Tenant-ID"] == RECEIVER_TENANT


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


def test_environment_proxy_and_ca_bundle_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/corp.pem")
    session = RagWebhookHook.from_values("https://rag.example.com/hook", "s").get_conn()
    assert session.proxies.get("https") == "http://proxy.internal:3128"
    assert session.verify == "/etc/ssl/certs/corp.pem"
    assert session.trust_env is False  # not re-read on every request
    bypassed = RagWebhookHook.from_values("https://localhost/hook", "s", verify=False).get_conn()
    assert "https" not in bypassed.proxies and bypassed.verify is False
