"""ragsync's signatures checked by the official Standard Webhooks library, with whsec_ and raw secrets."""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fixtures.receiver import RECEIVER_TENANT, post_signed
from ragsync.delivery.hook import RagWebhookHook
from ragsync.documents.model import Document
from ragsync.errors import ConfigError, ConnectionNotConfiguredError
from ragsync.signing import (
    SIGNATURE_HEADER,
    sign_body,
    signed_headers,
    signing_key,
    verify_signature,
    verify_standard_webhook,
)
from ragsync_dev.receiver import ReferenceReceiver, check_request

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the example secret of the Standard Webhooks spec
KEY = bytes(range(7, 39))  # 32 bytes, as a Standard Webhooks library generates them
WHSEC_SECRET = "whsec_" + base64.b64encode(KEY).decode("ascii")
RAW_SECRET = "test-secret-not-for-production"  # the seed module's kind of secret: any text
PAYLOAD: dict[str, Any] = Document("product", "1", 1, "save", {"name": "Item 1", "sku": "SKU-1"}).item()
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode("utf-8")
MSG_ID = "mag-20260102103000-abcd1234"


def as_standard_secret(raw_secret: str) -> str:
    """Return how a backend gives ragsync's raw secret to ``Webhook(...)``: whsec_ and the base64 of its UTF-8 bytes."""
    return "whsec_" + base64.b64encode(raw_secret.encode("utf-8")).decode("ascii")


# -- the key ---------------------------------------------------------------------------------------


def test_a_whsec_secret_is_its_base64_decoded_bytes() -> None:
    assert signing_key(WHSEC_SECRET) == KEY
    assert signing_key(SPEC_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert signing_key(WHSEC_SECRET.rstrip("=")) == KEY  # padding may be left out, as the libraries allow


def test_any_other_secret_is_its_utf8_bytes() -> None:
    assert signing_key(RAW_SECRET) == RAW_SECRET.encode("utf-8")
    assert signing_key("sécret") == "sécret".encode()
    assert signing_key("WHSEC_" + "YWJj") == b"WHSEC_YWJj"  # the prefix is case-sensitive, as in the spec
    assert signing_key(b"whsec_YWJj") == b"whsec_YWJj"  # bytes are a key already


# -- (a) the official library verifies what ragsync signs with a whsec_ secret --------------------


@pytest.mark.parametrize("secret", [WHSEC_SECRET, SPEC_SECRET, WHSEC_SECRET.rstrip("=")])
def test_the_library_verifies_ragsync_headers_signed_with_a_whsec_secret(secret: str) -> None:
    headers = signed_headers(BODY, secret, MSG_ID)
    assert Webhook(secret).verify(BODY, headers) == PAYLOAD
    assert Webhook(secret).verify(BODY, {name.upper(): value for name, value in headers.items()}) == PAYLOAD


def test_the_library_and_ragsync_compute_the_same_signature() -> None:
    timestamp = int(time.time())
    headers = signed_headers(BODY, WHSEC_SECRET, MSG_ID, timestamp)
    library = Webhook(WHSEC_SECRET).sign(MSG_ID, datetime.fromtimestamp(timestamp, UTC), BODY)
    assert library == headers["webhook-signature"]


def test_a_receiver_holding_the_whsec_secret_verifies_both_signatures() -> None:
    headers = signed_headers(BODY, WHSEC_SECRET, MSG_ID)
    for secret in (WHSEC_SECRET, KEY):
        assert verify_signature(BODY, headers[SIGNATURE_HEADER], secret)
        assert verify_standard_webhook(BODY, headers["webhook-id"], headers["webhook-timestamp"],
                                       headers["webhook-signature"], secret)
        assert check_request(headers, BODY, secret) is None
    assert headers[SIGNATURE_HEADER] == sign_body(BODY, KEY)
    assert not verify_signature(BODY, headers[SIGNATURE_HEADER], WHSEC_SECRET.encode("ascii"))  # bytes are not decoded


# -- (b) a raw secret: the library takes it as whsec_ + base64 of its bytes -----------------------


@pytest.mark.parametrize("raw_secret", [RAW_SECRET, "It's a Secret to Everybody", "sécret with spaces"])
def test_the_library_verifies_a_raw_secret_given_as_whsec_base64(raw_secret: str) -> None:
    headers = signed_headers(BODY, raw_secret, MSG_ID)
    assert Webhook(as_standard_secret(raw_secret)).verify(BODY, headers) == PAYLOAD
    assert Webhook(raw_secret.encode("utf-8")).verify(BODY, headers) == PAYLOAD  # the Python library also takes bytes
    assert signing_key(as_standard_secret(raw_secret)) == signing_key(raw_secret)  # one key, two spellings


@pytest.mark.parametrize("raw_secret", [RAW_SECRET, "It's a Secret to Everybody", "sécret with spaces"])
def test_the_library_rejects_a_raw_secret_given_as_is(raw_secret: str) -> None:
    headers = signed_headers(BODY, raw_secret, MSG_ID)
    with pytest.raises((WebhookVerificationError, binascii.Error, ValueError)):
        Webhook(raw_secret).verify(BODY, headers)  # it reads any text secret as base64


# -- (c) tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [WHSEC_SECRET, RAW_SECRET])
def test_a_tampered_request_fails_with_the_library(secret: str) -> None:
    headers = signed_headers(BODY, secret, MSG_ID)
    webhook = Webhook(secret if secret.startswith("whsec_") else as_standard_secret(secret))
    tampered = [
        (BODY.replace(b"Item 1", b"Item 2"), headers),
        (BODY + b" ", headers),
        (BODY, {**headers, "webhook-id": MSG_ID + "x"}),
        (BODY, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)}),
    ]
    for body, sent in tampered:
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            webhook.verify(body, sent)
        assert check_request(sent, body, secret) is not None
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(as_standard_secret("another secret")).verify(BODY, headers)


def test_a_stale_timestamp_fails_with_the_library() -> None:
    headers = signed_headers(BODY, WHSEC_SECRET, MSG_ID, int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WHSEC_SECRET).verify(BODY, headers)


# -- (d) a whsec_ value that is not base64 ---------------------------------------------------------

BAD_SECRETS = [
    "whsec_",  # no key
    "whsec_==",  # padding only
    "whsec_Zm9vYmFyYmF6!",  # not a base64 character
    "whsec_Zm9vYmFy YmF6",  # a space
    "whsec_Zm9vYmFyYmF6\n",  # a line break
    "whsec_Zm9v-YmFy_YmF6",  # URL-safe base64
    "whsec_Zm9vYmFyYmF6Q",  # one character too many
    "whsec_=Zm9vYmFyYmF6",  # padding in front
]


@pytest.mark.parametrize("secret", BAD_SECRETS)
def test_a_bad_whsec_secret_is_a_clear_config_error(secret: str) -> None:
    for sign in (lambda: signing_key(secret), lambda: signed_headers(BODY, secret, MSG_ID),
                 lambda: sign_body(BODY, secret)):
        with pytest.raises(ConfigError) as caught:
            sign()
        message = str(caught.value)
        assert "whsec_" in message
        assert "base64" in message
        assert "raw secret" in message  # what to do instead
        encoded = secret.removeprefix("whsec_")
        if len(encoded) > 3:
            assert encoded.strip() not in message
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__  # no chained decoding error


@pytest.mark.parametrize("secret", BAD_SECRETS[:3])
def test_the_hook_and_the_receiver_refuse_a_bad_whsec_secret(secret: str) -> None:
    with pytest.raises(ConnectionNotConfiguredError, match="password .* is unusable: the webhook secret"):
        RagWebhookHook.from_values("http://127.0.0.1:9/", secret, RECEIVER_TENANT)
    with pytest.raises(ConfigError, match="whsec_"):
        ReferenceReceiver(secret, RECEIVER_TENANT)


# -- (e) end to end over real HTTP -----------------------------------------------------------------


def _product(entity_id: str) -> bytes:
    item = Document("product", entity_id, 1, "save", {"name": f"Item {entity_id}"}).item()
    return json.dumps(item, separators=(",", ":")).encode("utf-8")


def test_the_receiver_accepts_whsec_signed_requests_from_the_hook(tmp_path: Path) -> None:
    with ReferenceReceiver(WHSEC_SECRET, RECEIVER_TENANT, tmp_path / "r.sqlite") as receiver:
        hook = RagWebhookHook.from_values(receiver.url, WHSEC_SECRET, RECEIVER_TENANT, timeout=10)
        try:
            ok, message = hook.test_connection()
            assert ok, message
            response = hook.post_body(_product("1"), "mag-20260102103000-0000e2e1")
            assert response.status == 200, response.describe()
        finally:
            hook.close()
        assert post_signed(receiver.url, json.loads(_product("2")), secret=WHSEC_SECRET).status_code == 200
        wrong = post_signed(receiver.url, json.loads(_product("3")), secret=as_standard_secret("another secret"))
        assert wrong.status_code == 401
        assert [d["id"] for d in receiver.documents("product")] == ["1", "2"]
        assert [d["status"] for d in receiver.deliveries()] == [200, 200, 200, 401]


def test_an_airflow_connection_with_a_whsec_password_delivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ReferenceReceiver(WHSEC_SECRET, RECEIVER_TENANT, tmp_path / "r.sqlite") as receiver:
        for conn_id, password in (("ragsync_whsec_good", WHSEC_SECRET), ("ragsync_whsec_bad", "whsec_Zm9vYmFy!YmF6")):
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
                "conn_type": "http", "host": receiver.url, "password": password,
                "extra": {"tenant_id": RECEIVER_TENANT, "timeout": 10}}))
        good = RagWebhookHook("ragsync_whsec_good")
        try:
            ok, message = good.test_connection()
        finally:
            good.close()
        assert ok, message
        ok, message = RagWebhookHook("ragsync_whsec_bad").test_connection()
        assert not ok
        assert "password (the API secret) is unusable" in message and "not valid base64" in message
        assert "Zm9vYmFy" not in message
        assert [d["status"] for d in receiver.deliveries()] == [200]  # nothing was sent with the bad secret


def test_a_raw_secret_and_its_whsec_spelling_interoperate(tmp_path: Path) -> None:
    with ReferenceReceiver(as_standard_secret(RAW_SECRET), RECEIVER_TENANT, tmp_path / "r.sqlite") as receiver:
        assert post_signed(receiver.url, json.loads(_product("1")), secret=RAW_SECRET).status_code == 200
    with ReferenceReceiver(RAW_SECRET, RECEIVER_TENANT, tmp_path / "r2.sqlite") as receiver:
        hook = RagWebhookHook.from_values(receiver.url, as_standard_secret(RAW_SECRET), RECEIVER_TENANT, timeout=10)
        try:
            assert hook.post_body(_product("1"), "mag-20260102103000-0000e2e2").status == 200
        finally:
            hook.close()


def _cli_env(secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSYNC_RECEIVER_")}
    env["RAGSYNC_RECEIVER_SECRET"] = secret
    return env


def test_the_cli_receiver_takes_a_whsec_secret(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ragsync_dev.receiver.server", "--port", "0", "--db", str(tmp_path / "cli.sqlite"),
         "--tenant", RECEIVER_TENANT],
        env=_cli_env(WHSEC_SECRET), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ragsync-receiver listening on "), line
        url = line.split()[3]
        assert post_signed(url, json.loads(_product("1")), secret=WHSEC_SECRET).status_code == 200
        assert post_signed(url, json.loads(_product("2")), secret=RAW_SECRET).status_code == 401
        summary = requests.get(url + "_summary", headers={"X-Control-Token": WHSEC_SECRET}, timeout=10).json()
        assert summary["documents"] == {"product": {"1": 1}}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert WHSEC_SECRET not in stderr


def test_the_cli_receiver_refuses_a_bad_whsec_secret(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ragsync_dev.receiver.server", "--port", "0", "--db", str(tmp_path / "cli.sqlite")],
        env=_cli_env("whsec_Zm9vYmFy YmF6"), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "RAGSYNC_RECEIVER_SECRET: the webhook secret starts with whsec_" in done.stderr
    assert "Zm9vYmFy" not in done.stderr
    assert "listening" not in done.stdout
