"""Webhook signatures: GitHub's and Standard Webhooks' published vectors, tampering, replay windows."""

from __future__ import annotations

import base64

import pytest

from ragsync.errors import ConfigError
from ragsync.signing import (
    SIGNATURE_HEADER,
    sign_body,
    signed_headers,
    signing_key,
    standard_webhook_signature,
    verify_signature,
    verify_standard_webhook,
)
from ragsync_dev.receiver import verify_signature as reexported_verify_signature

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# The example in the Standard Webhooks specification (the key is the base64 part of "whsec_...").
SW_KEY = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "test-secret-not-for-production"
BODY = b'{"type":"ping","timestamp":"2026-01-02T10:30:00Z"}'
NOW = 1_767_350_000


def test_github_published_vector() -> None:
    assert sign_body(GITHUB_BODY, GITHUB_SECRET) == GITHUB_SIGNATURE
    assert sign_body(GITHUB_BODY, GITHUB_SECRET.encode("utf-8")) == GITHUB_SIGNATURE
    assert verify_signature(GITHUB_BODY, GITHUB_SIGNATURE, GITHUB_SECRET)


def test_github_published_vector_with_the_key_spelled_as_a_whsec_secret() -> None:
    whsec = "whsec_" + base64.b64encode(GITHUB_SECRET.encode("utf-8")).decode("ascii")
    assert signing_key(whsec) == signing_key(GITHUB_SECRET) == GITHUB_SECRET.encode("utf-8")
    assert sign_body(GITHUB_BODY, whsec) == GITHUB_SIGNATURE
    assert verify_signature(GITHUB_BODY, GITHUB_SIGNATURE, whsec)


def test_standard_webhooks_published_vector_with_the_whsec_secret() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert signing_key(secret) == SW_KEY
    assert standard_webhook_signature(SW_ID, SW_TIMESTAMP, SW_BODY, secret) == SW_SIGNATURE
    headers = signed_headers(SW_BODY, secret, SW_ID, timestamp=SW_TIMESTAMP)
    assert headers["webhook-signature"] == SW_SIGNATURE
    assert verify_signature(SW_BODY, headers[SIGNATURE_HEADER], secret)
    assert verify_standard_webhook(SW_BODY, SW_ID, str(SW_TIMESTAMP), SW_SIGNATURE, secret, now=SW_TIMESTAMP)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_abc$", "whsec_a"])
def test_a_whsec_secret_that_is_not_base64_is_a_config_error(secret: str) -> None:
    with pytest.raises(ConfigError, match="whsec_"):
        signing_key(secret)


def test_receiver_reexports_verify_signature() -> None:
    assert reexported_verify_signature is verify_signature


@pytest.mark.parametrize("body", [b"Hello, World?", b"Hello, World! ", b"hello, World!", b""])
def test_a_tampered_body_fails(body: bytes) -> None:
    assert not verify_signature(body, GITHUB_SIGNATURE, GITHUB_SECRET)


@pytest.mark.parametrize("header", [
    None,
    "",
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no scheme
    "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
    "sha256=",
])
def test_a_missing_or_wrong_header_fails(header: str | None) -> None:
    assert not verify_signature(GITHUB_BODY, header, GITHUB_SECRET)


def test_a_wrong_secret_fails() -> None:
    assert not verify_signature(GITHUB_BODY, GITHUB_SIGNATURE, "It's a secret to everybody")


def test_standard_webhooks_published_vector() -> None:
    assert standard_webhook_signature(SW_ID, SW_TIMESTAMP, SW_BODY, SW_KEY) == SW_SIGNATURE
    assert verify_standard_webhook(SW_BODY, SW_ID, str(SW_TIMESTAMP), SW_SIGNATURE, SW_KEY, now=SW_TIMESTAMP + 10)


def test_standard_webhook_round_trip() -> None:
    signature = standard_webhook_signature("mag-20260102103000-abcd1234", NOW, BODY, SECRET)
    assert signature.startswith("v1,")
    assert len(base64.b64decode(signature[3:])) == 32
    assert verify_standard_webhook(BODY, "mag-20260102103000-abcd1234", str(NOW), signature, SECRET, now=NOW)
    # The id, the timestamp and the body are all covered by the signature.
    assert not verify_standard_webhook(BODY, "mag-20260102103000-abcd1235", str(NOW), signature, SECRET, now=NOW)
    assert not verify_standard_webhook(BODY, "mag-20260102103000-abcd1234", str(NOW + 1), signature, SECRET,
                                       now=NOW)
    assert not verify_standard_webhook(BODY + b" ", "mag-20260102103000-abcd1234", str(NOW), signature, SECRET,
                                       now=NOW)
    assert not verify_standard_webhook(BODY, "mag-20260102103000-abcd1234", str(NOW), signature, "other", now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 3600, -86400])
def test_a_timestamp_outside_the_tolerance_is_rejected(skew: int) -> None:
    signature = standard_webhook_signature("id-1", NOW, BODY, SECRET)
    assert not verify_standard_webhook(BODY, "id-1", str(NOW), signature, SECRET, now=NOW + skew)


@pytest.mark.parametrize("skew", [0, 300, -300, 120])
def test_a_timestamp_inside_the_tolerance_is_accepted(skew: int) -> None:
    signature = standard_webhook_signature("id-1", NOW, BODY, SECRET)
    assert verify_standard_webhook(BODY, "id-1", str(NOW), signature, SECRET, now=NOW + skew)


def test_the_tolerance_can_be_narrowed() -> None:
    signature = standard_webhook_signature("id-1", NOW, BODY, SECRET)
    assert not verify_standard_webhook(BODY, "id-1", str(NOW), signature, SECRET, tolerance_seconds=10, now=NOW + 11)


def test_one_of_several_signatures_is_enough() -> None:
    good = standard_webhook_signature("id-1", NOW, BODY, SECRET)
    old_secret = standard_webhook_signature("id-1", NOW, BODY, "previous-secret")
    assert verify_standard_webhook(BODY, "id-1", str(NOW), f"{old_secret} {good}", SECRET, now=NOW)
    assert verify_standard_webhook(BODY, "id-1", str(NOW), f"{good} {old_secret}", SECRET, now=NOW)
    assert verify_standard_webhook(BODY, "id-1", str(NOW), f"v1a,c29tZXRoaW5n {good}", SECRET, now=NOW)
    assert not verify_standard_webhook(BODY, "id-1", str(NOW), f"{old_secret} v1,AAAA", SECRET, now=NOW)


GOOD = standard_webhook_signature("id-1", NOW, BODY, SECRET)


@pytest.mark.parametrize(("msg_id", "timestamp", "signature"), [
    (None, str(NOW), GOOD),
    ("", str(NOW), GOOD),
    ("id-1", None, GOOD),
    ("id-1", "", GOOD),
    ("id-1", "yesterday", GOOD),
    ("id-1", f"{NOW}.0", GOOD),
    ("id-1", str(NOW), None),
    ("id-1", str(NOW), ""),
    ("id-1", str(NOW), GOOD[3:]),  # the signature without its "v1," version prefix
])
def test_missing_or_malformed_standard_headers_fail(msg_id: str | None, timestamp: str | None,
                                                    signature: str | None) -> None:
    assert verify_standard_webhook(BODY, "id-1", str(NOW), GOOD, SECRET, now=NOW)
    assert not verify_standard_webhook(BODY, msg_id, timestamp, signature, SECRET, now=NOW)


def test_signed_headers_carry_both_verifiable_signatures() -> None:
    headers = signed_headers(BODY, SECRET, "mag-20260102103000-abcd1234", timestamp=NOW)
    assert set(headers) == {SIGNATURE_HEADER, "webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "mag-20260102103000-abcd1234"
    assert headers["webhook-timestamp"] == str(NOW)
    assert verify_signature(BODY, headers[SIGNATURE_HEADER], SECRET)
    assert verify_standard_webhook(BODY, headers["webhook-id"], headers["webhook-timestamp"],
                                   headers["webhook-signature"], SECRET, now=NOW)
