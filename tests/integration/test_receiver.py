"""The reference receiver over real HTTP on loopback: verification, storage, injected failures, control, CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT, post_signed, signed_request_headers
from fixtures.tls import self_signed
from ragsync.delivery.hook import RagWebhookHook
from ragsync.documents.model import Document
from ragsync_dev.receiver import ReferenceReceiver

CONTROL = {"X-Control-Token": RECEIVER_SECRET}


def item(entity_id: str = "1", store_id: int = 1, entity_type: str = "product", action: str = "save",
         **data: Any) -> dict[str, Any]:
    """Return one document in the seed's item form, hashed as the pipeline hashes it."""
    if action == "delete":
        document = Document.delete(entity_type, entity_id, store_id)
    else:
        document = Document(entity_type, entity_id, store_id, "save", {"name": f"Item {entity_id}", **data})
    return document.item()


def batch(*items: dict[str, Any], batch_id: str | None = None) -> dict[str, Any]:
    """Return the seed's batch form around ``items``."""
    return {"type": "batch", "batch_id": batch_id or f"mag-{datetime.now(UTC):%Y%m%d%H%M%S}-{os.urandom(4).hex()}",
            "timestamp": "2026-01-02T10:30:00Z", "items": list(items)}


def assert_nothing_stored(receiver: ReferenceReceiver) -> None:
    assert receiver.items() == []
    assert receiver.documents() == []


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """Yield a requests session (keep-alive), closed afterwards."""
    with requests.Session() as s:
        yield s


# -- verification ---------------------------------------------------------------------------------


def test_a_wrong_signature_gets_401_and_stores_nothing(receiver: ReferenceReceiver) -> None:
    response = post_signed(receiver.url, item(), headers={"X-Magento-Webhook-Signature": "sha256=" + "0" * 64})
    assert response.status_code == 401
    assert "X-Magento-Webhook-Signature" in response.json()["error"]
    assert_nothing_stored(receiver)
    [delivery] = receiver.deliveries()
    assert delivery["status"] == 401
    assert delivery["kind"] == "unknown"


def test_a_body_changed_after_signing_gets_401(receiver: ReferenceReceiver) -> None:
    body = json.dumps(item()).encode()
    headers = signed_request_headers(body)
    response = requests.post(receiver.url, data=body.replace(b"Item 1", b"Item 2"), headers=headers, timeout=10)
    assert response.status_code == 401
    assert "does not match the body" in response.json()["error"]
    assert_nothing_stored(receiver)


def test_a_missing_signature_gets_401(receiver: ReferenceReceiver) -> None:
    response = post_signed(receiver.url, item(), headers={"X-Magento-Webhook-Signature": None})
    assert response.status_code == 401
    assert response.json() == {"error": "missing X-Magento-Webhook-Signature"}
    assert_nothing_stored(receiver)


@pytest.mark.parametrize(("tenant", "message"), [
    ("tenant-other", "X-Tenant-ID does not match"),
    (None, "missing X-Tenant-ID"),
])
def test_a_wrong_or_missing_tenant_gets_401(receiver: ReferenceReceiver, tenant: str | None, message: str) -> None:
    response = post_signed(receiver.url, item(), tenant=tenant)
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert_nothing_stored(receiver)
    assert [d["status"] for d in receiver.deliveries()] == [401]


def test_a_bad_standard_webhook_signature_gets_401(receiver: ReferenceReceiver) -> None:
    other = signed_request_headers(b"{}", "mag-other")["webhook-signature"]
    response = post_signed(receiver.url, item(), headers={"webhook-signature": other})
    assert response.status_code == 401
    assert response.json() == {"error": "webhook-signature does not match"}
    assert_nothing_stored(receiver)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_standard_webhook_header_gets_401(receiver: ReferenceReceiver, missing: str) -> None:
    response = post_signed(receiver.url, item(), headers={missing: None})
    assert response.status_code == 401
    assert missing in response.json()["error"]
    assert_nothing_stored(receiver)


@pytest.mark.parametrize("age", [310, -310, 3600])  # clear of the 300 s tolerance by more than 1 s of rounding
def test_a_stale_or_future_timestamp_gets_401(receiver: ReferenceReceiver, age: int) -> None:
    body = json.dumps(item()).encode()
    headers = signed_request_headers(body, "mag-replayed", timestamp=int(time.time()) - age)
    response = requests.post(receiver.url, data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert "tolerance" in response.json()["error"]
    assert_nothing_stored(receiver)


def test_several_standard_webhook_signatures_one_valid_is_accepted(receiver: ReferenceReceiver) -> None:
    body = json.dumps(item()).encode()
    headers = signed_request_headers(body, "mag-rotating")
    old = signed_request_headers(body, "mag-rotating", secret="previous-secret",
                                 timestamp=int(headers["webhook-timestamp"]))["webhook-signature"]
    headers["webhook-signature"] = f"{old} {headers['webhook-signature']}"
    assert requests.post(receiver.url, data=body, headers=headers, timeout=10).status_code == 200


def test_a_receiver_without_tenant_does_not_check_it(tmp_path: Path) -> None:
    with ReferenceReceiver(RECEIVER_SECRET, db_path=tmp_path / "r.sqlite") as open_receiver:
        assert post_signed(open_receiver.url, item(), tenant=None).status_code == 200


def test_the_log_names_the_request_but_never_the_signature_or_body(
        receiver: ReferenceReceiver, caplog: pytest.LogCaptureFixture) -> None:
    payload = batch(item("1", secret_note="do-not-log-me"), item("2"), batch_id="mag-20260102103000-0badc0de")
    body = json.dumps(payload).encode()
    headers = signed_request_headers(body)
    with caplog.at_level(logging.INFO, logger="ragsync_dev.receiver"):
        assert requests.post(receiver.url, data=body, headers=headers, timeout=10).status_code == 200
        requests.post(receiver.url, data=body, headers={**headers, "X-Tenant-ID": "x"}, timeout=10)
    assert "200 kind=batch items=2 batch_id=mag-20260102103000-0badc0de" in caplog.text
    assert "401" in caplog.text
    for secret_part in (headers["X-Magento-Webhook-Signature"][7:], headers["webhook-signature"][3:],
                        "do-not-log-me", RECEIVER_SECRET):
        assert secret_part not in caplog.text


# -- accepted forms and storage -------------------------------------------------------------------


def test_the_single_form_is_accepted_and_stored(receiver: ReferenceReceiver) -> None:
    single = item("123", 1, sku="SKU-123")
    response = post_signed(receiver.url, single, msg_id="mag-20260102103000-00000001")
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}
    document = receiver.document("product", "123", 1)
    assert document is not None
    assert document["action"] == "save"
    assert document["hash"] == single["hash"]
    assert document["data"] == single["data"]
    assert [(i["type"], i["id"], i["store_id"], i["action"], i["hash"]) for i in receiver.items()] == [
        ("product", "123", 1, "save", single["hash"])]
    [delivery] = receiver.deliveries()
    assert delivery["kind"] == "single"
    assert delivery["status"] == 200
    assert delivery["item_count"] == 1
    assert delivery["webhook_id"] == "mag-20260102103000-00000001"
    assert delivery["body_bytes"] == len(json.dumps(single, separators=(",", ":")).encode())
    assert delivery["headers"]["X-Tenant-ID"] == RECEIVER_TENANT
    assert delivery["headers"]["User-Agent"] == "Magento-RagSync/1.0"
    assert not any("signature" in name.lower() for name in delivery["headers"])


def test_the_batch_form_is_accepted_and_stored(receiver: ReferenceReceiver) -> None:
    payload = batch(item("1"), item("2"), item("10", 2, "category"), item("faq", 0, "cms_page"),
                    item("cart-5", 1, "promotion"), item("footer", 1, "cms_block"),
                    batch_id="mag-20260102103000-abcd1234")
    response = post_signed(receiver.url, payload, msg_id="mag-20260102103000-abcd1234")
    assert response.status_code == 200
    assert response.json() == {"accepted": 6}
    assert [(i["type"], i["id"], i["batch_id"]) for i in receiver.items()] == [
        ("product", "1", "mag-20260102103000-abcd1234"), ("product", "2", "mag-20260102103000-abcd1234"),
        ("category", "10", "mag-20260102103000-abcd1234"), ("cms_page", "faq", "mag-20260102103000-abcd1234"),
        ("promotion", "cart-5", "mag-20260102103000-abcd1234"), ("cms_block", "footer", "mag-20260102103000-abcd1234"),
    ]
    [delivery] = receiver.deliveries()
    assert (delivery["kind"], delivery["item_count"], delivery["batch_id"]) == ("batch", 6, "mag-20260102103000-abcd1234")
    assert receiver.summary() == {
        "documents": {"category": {2: 1}, "cms_block": {1: 1}, "cms_page": {0: 1}, "product": {1: 2},
                      "promotion": {1: 1}},
        "deliveries": 1, "items": 6,
    }
    assert [d["id"] for d in receiver.documents("product", 1)] == ["1", "2"]
    assert receiver.documents("product", 2) == []


def test_any_non_control_path_is_a_webhook_path(receiver: ReferenceReceiver) -> None:
    response = post_signed(receiver.url + "api/webhooks/magento", item())
    assert response.status_code == 200
    assert receiver.deliveries()[0]["path"] == "/api/webhooks/magento"


def test_the_latest_document_wins_and_a_delete_leaves_a_tombstone(
        receiver: ReferenceReceiver, session: requests.Session) -> None:
    first = item("7", 1, price=10)
    second = item("7", 1, price=12)
    other_store = item("7", 2, price=11)
    assert post_signed(receiver.url, batch(first, other_store), session).status_code == 200
    assert post_signed(receiver.url, second, session).status_code == 200
    document = receiver.document("product", "7", 1)
    assert document is not None
    assert (document["data"]["price"], document["hash"]) == (12, second["hash"])

    delete = item("7", 1, action="delete")
    assert delete["data"] is None
    assert post_signed(receiver.url, delete, session).json() == {"accepted": 1}
    tombstone = receiver.document("product", "7", 1)
    assert tombstone is not None
    assert (tombstone["action"], tombstone["data"], tombstone["hash"]) == ("delete", None, delete["hash"])
    kept = receiver.document("product", "7", 2)
    assert kept is not None and kept["data"]["price"] == 11
    assert receiver.summary()["documents"] == {"product": {2: 1}}
    assert [(d["store_id"], d["action"]) for d in receiver.documents("product")] == [(1, "delete"), (2, "save")]
    assert len(receiver.items()) == 4
    assert receiver.document("product", "8", 1) is None

    # Within one batch, the later item for a key wins too; a save after a delete revives it.
    third = item("7", 1, price=13)
    assert post_signed(receiver.url, batch(item("7", 1, action="delete"), third), session).status_code == 200
    revived = receiver.document("product", "7", 1)
    assert revived is not None and (revived["action"], revived["data"]["price"]) == ("save", 13)


def test_a_ping_is_answered_and_recorded(receiver: ReferenceReceiver) -> None:
    response = post_signed(receiver.url, {"type": "ping", "timestamp": "2026-01-02T10:30:00Z"}, msg_id="ping-1")
    assert response.status_code == 200
    assert response.json() == {"accepted": 0}
    [delivery] = receiver.deliveries()
    assert (delivery["kind"], delivery["item_count"], delivery["status"]) == ("ping", 0, 200)
    assert_nothing_stored(receiver)


def test_a_redelivered_webhook_id_is_accepted_and_flagged(receiver: ReferenceReceiver) -> None:
    payload = batch(item("1"), item("2"), batch_id="mag-20260102103000-feedbeef")
    first = post_signed(receiver.url, payload, msg_id="mag-20260102103000-feedbeef")
    again = post_signed(receiver.url, payload, msg_id="mag-20260102103000-feedbeef")
    assert first.json() == {"accepted": 2}
    assert again.json() == {"accepted": 2, "duplicate": True}
    assert [d["duplicate"] for d in receiver.deliveries()] == [False, True]
    assert len(receiver.documents()) == 2


def test_malformed_json_gets_400(receiver: ReferenceReceiver) -> None:
    response = post_signed(receiver.url, b'{"type": "product", "id": ')
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("malformed JSON")
    assert_nothing_stored(receiver)
    assert [(d["status"], d["kind"]) for d in receiver.deliveries()] == [(400, "unknown")]


@pytest.mark.parametrize(("payload", "message"), [
    ([item()], "JSON object"),
    ({"type": "order", "id": "1"}, '"type" must be one of'),
    ({"type": "batch", "batch_id": "mag-1", "items": []}, "non-empty \"items\""),
    ({"type": "batch", "items": [item()]}, '"batch_id"'),
    (batch(item(), {**item("2"), "id": 2}), 'items[1]: "id" must be a non-empty string'),
    (batch({**item(), "store_id": "1"}), '"store_id" must be an integer'),
    (batch({**item(), "action": "update"}), '"action" must be one of save, delete'),
    (batch({**item(), "data": None}), 'a save needs "data"'),
    (batch({**item(action="delete"), "data": {"name": "x"}}), 'a delete carries "data": null'),
    (batch({k: v for k, v in item(action="delete").items() if k != "data"}), '"data" is missing'),
    (batch({**item(), "hash": "abc"}), '"hash" must be a SHA-256'),
    (batch({**item(), "type": "batch"}), 'items[0]: "type" must be one of'),
    ({**item(), "timestamp": None}, '"timestamp"'),
    (b'{"type": "ping", "value": NaN}', "malformed JSON"),
    (b"\xff\xfe not utf-8", "malformed JSON"),
])
def test_a_body_that_is_neither_form_gets_400(receiver: ReferenceReceiver, payload: Any, message: str) -> None:
    response = post_signed(receiver.url, payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert_nothing_stored(receiver)


def test_keep_alive_reuses_one_connection(receiver: ReferenceReceiver, session: requests.Session) -> None:
    for n in range(5):
        assert post_signed(receiver.url, item(str(n)), session).status_code == 200
    assert post_signed(receiver.url, b"not json", session).status_code == 400
    assert post_signed(receiver.url, item("9"), session, tenant="wrong").status_code == 401
    pools = session.get_adapter(receiver.url).poolmanager.pools
    assert sum(pools[key].num_requests for key in pools.keys()) == 7
    assert sum(pools[key].num_connections for key in pools.keys()) == 1


def test_a_chunked_body_gets_411(receiver: ReferenceReceiver) -> None:
    body = json.dumps(item()).encode()
    response = requests.post(receiver.url, data=iter([body]), headers=signed_request_headers(body), timeout=10)
    assert response.status_code == 411
    assert_nothing_stored(receiver)


def test_a_body_over_the_limit_gets_413(tmp_path: Path) -> None:
    with ReferenceReceiver(RECEIVER_SECRET, RECEIVER_TENANT, tmp_path / "r.sqlite", max_body_bytes=1000) as small:
        response = post_signed(small.url, batch(*(item(str(n)) for n in range(20))))
        assert response.status_code == 413
        assert post_signed(small.url, item()).status_code == 200


def test_concurrent_senders_are_all_stored(receiver: ReferenceReceiver) -> None:
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            with requests.Session() as s:
                for n in range(10):
                    items = [item(f"{worker}-{n}-{k}", 1, content="x" * 2000) for k in range(50)]
                    assert post_signed(receiver.url, batch(*items), s).status_code == 200
        except BaseException as exc:  # noqa: B036 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert receiver.summary() == {"documents": {"product": {1: 2000}}, "deliveries": 40, "items": 2000}
    assert receiver.request_count == 40


# -- behaviour injection --------------------------------------------------------------------------


def test_fail_next_answers_exactly_n_requests_then_normal_again(
        receiver: ReferenceReceiver, session: requests.Session) -> None:
    receiver.fail_next(2, status=503, retry_after="120")
    answers = [post_signed(receiver.url, item(str(n)), session) for n in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "120"
    assert answers[0].json() == {"error": "injected 503"}
    assert "Retry-After" not in answers[2].headers
    assert [d["id"] for d in receiver.documents()] == ["2"]
    assert [d["status"] for d in receiver.deliveries()] == [503, 503, 200]
    assert receiver.deliveries()[0]["kind"] == "single"
    assert receiver.request_count == 3


@pytest.mark.parametrize("status", [500, 429, 410, 401, 422, 408, 301])
def test_fail_next_answers_any_status_and_stores_nothing(receiver: ReferenceReceiver, status: int) -> None:
    receiver.fail_next(status=status)
    response = post_signed(receiver.url, batch(item("1"), item("2")))
    assert response.status_code == status
    assert_nothing_stored(receiver)
    assert post_signed(receiver.url, item("3")).status_code == 200


def test_fail_next_rules_queue_in_order(receiver: ReferenceReceiver, session: requests.Session) -> None:
    receiver.fail_next(1, status=429, retry_after="3")
    receiver.fail_next(2, status=500)
    answers = [post_signed(receiver.url, item(), session) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 500, 500, 200]
    assert answers[0].headers["Retry-After"] == "3"


def test_fail_next_with_a_delay_answers_late(receiver: ReferenceReceiver) -> None:
    receiver.fail_next(status=500, delay=0.5)
    started = time.monotonic()
    assert post_signed(receiver.url, item()).status_code == 500
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert post_signed(receiver.url, item()).status_code == 200
    assert time.monotonic() - started < 0.5


def test_a_delay_longer_than_the_client_timeout_is_a_timeout(receiver: ReferenceReceiver) -> None:
    receiver.fail_next(status=503, delay=1.5)
    with pytest.raises(requests.Timeout):
        post_signed(receiver.url, item(), timeout=0.3)
    assert post_signed(receiver.url, item("2")).status_code == 200


def test_a_2xx_rule_only_delays_and_the_request_is_processed(receiver: ReferenceReceiver) -> None:
    receiver.fail_next(status=200, delay=0.3)
    started = time.monotonic()
    assert post_signed(receiver.url, item("5")).json() == {"accepted": 1}
    assert time.monotonic() - started >= 0.3
    assert receiver.document("product", "5", 1) is not None


def test_drop_closes_the_connection_without_an_answer(
        receiver: ReferenceReceiver, session: requests.Session) -> None:
    assert post_signed(receiver.url, item("1"), session).status_code == 200
    receiver.fail_next(drop=True)
    with pytest.raises(requests.ConnectionError):
        post_signed(receiver.url, item("2"), session)
    assert post_signed(receiver.url, item("3"), session).status_code == 200
    assert [d["id"] for d in receiver.documents()] == ["1", "3"]
    assert [d["status"] for d in receiver.deliveries()] == [200, 0, 200]
    assert receiver.deliveries()[1]["error"] == "connection dropped (injected)"
    assert receiver.request_count == 3


def test_poison_answers_422_only_for_requests_holding_the_item(
        receiver: ReferenceReceiver, session: requests.Session) -> None:
    receiver.poison(("product", "7"))
    poisoned = post_signed(receiver.url, batch(item("6"), item("7", 2), item("8")), session)
    assert poisoned.status_code == 422
    assert poisoned.headers["Content-Type"].startswith("text/plain")
    assert "poison item product 7" in poisoned.text
    assert "product 6" not in poisoned.text
    assert_nothing_stored(receiver)
    assert post_signed(receiver.url, batch(item("6"), item("8")), session).status_code == 200
    assert post_signed(receiver.url, item("7", 1), session).status_code == 422
    assert post_signed(receiver.url, item("7", 1, "category"), session).status_code == 200
    assert [d["id"] for d in receiver.documents("product")] == ["6", "8"]
    receiver.reset()
    assert post_signed(receiver.url, item("7", 1), session).status_code == 200


def test_poison_can_name_one_store(receiver: ReferenceReceiver) -> None:
    receiver.poison(("product", "7", 2), ("cms_page", "faq"))
    assert post_signed(receiver.url, item("7", 1)).status_code == 200
    response = post_signed(receiver.url, batch(item("7", 2), item("faq", 0, "cms_page")))
    assert response.status_code == 422
    assert "poison item product 7 store 2" in response.text
    assert "poison item cms_page faq store 0" in response.text


def test_down_answers_503_to_everything_until_cleared(receiver: ReferenceReceiver) -> None:
    receiver.set_down()
    assert post_signed(receiver.url, item()).status_code == 503
    assert post_signed(receiver.url, {"type": "ping"}).status_code == 503
    assert post_signed(receiver.url, item(), tenant="wrong").status_code == 503
    assert_nothing_stored(receiver)
    receiver.set_down(False)
    assert post_signed(receiver.url, item()).status_code == 200


def test_reset_clears_rules_but_keeps_data(receiver: ReferenceReceiver) -> None:
    assert post_signed(receiver.url, item("1")).status_code == 200
    receiver.fail_next(5)
    receiver.set_down()
    receiver.poison(("product", "1"))
    receiver.reset()
    assert post_signed(receiver.url, item("1")).status_code == 200
    assert len(receiver.items()) == 2


# -- HTTP control endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_control_endpoints_need_the_control_token(receiver: ReferenceReceiver, token: str | None) -> None:
    headers = {} if token is None else {"X-Control-Token": token}
    base = receiver.url
    answers = [
        requests.post(base + "_control", json={"down": True}, headers=headers, timeout=10),
        requests.get(base + "_summary", headers=headers, timeout=10),
        requests.get(base + "_documents?type=product", headers=headers, timeout=10),
        requests.get(base + "_deliveries", headers=headers, timeout=10),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert all("X-Control-Token" in a.json()["error"] for a in answers)
    assert post_signed(receiver.url, item()).status_code == 200  # "down" was not applied
    assert requests.get(base + "_health", timeout=10).json() == {"status": "ok"}


def test_control_endpoints_drive_the_receiver(receiver: ReferenceReceiver, session: requests.Session) -> None:
    base = receiver.url

    def control(command: dict[str, Any]) -> requests.Response:
        return session.post(base + "_control", json=command, headers=CONTROL, timeout=10)

    assert control({"fail_next": {"count": 2, "status": 503, "delay": 0, "retry_after": "120", "drop": False}}).json() \
        == {"ok": True}
    answers = [post_signed(base, item("1"), session) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[1].headers["Retry-After"] == "120"

    assert control({"poison": [["product", "7"]]}).status_code == 200
    assert post_signed(base, batch(item("6"), item("7")), session).status_code == 422
    assert control({"down": True}).status_code == 200
    assert post_signed(base, item("2"), session).status_code == 503
    assert control({"reset": True}).status_code == 200
    assert post_signed(base, batch(item("6"), item("7")), session).status_code == 200
    assert post_signed(base, item("3", 2, action="delete"), session).status_code == 200

    assert control({"fail_next": {"count": 1, "drop": True}}).status_code == 200
    with pytest.raises(requests.ConnectionError):
        post_signed(base, item("9"), session)

    summary = session.get(base + "_summary", headers=CONTROL, timeout=10).json()
    assert summary == {"documents": {"product": {"1": 3}}, "deliveries": 8, "items": 4}
    documents = session.get(base + "_documents", params={"type": "product", "store_id": 1}, headers=CONTROL,
                            timeout=10).json()["documents"]
    assert [(d["id"], d["action"]) for d in documents] == [("1", "save"), ("6", "save"), ("7", "save")]
    assert documents[0]["data"] == {"name": "Item 1"}
    store_2 = session.get(base + "_documents", params={"store_id": 2}, headers=CONTROL, timeout=10).json()
    assert [(d["id"], d["action"], d["data"]) for d in store_2["documents"]] == [("3", "delete", None)]
    deliveries = session.get(base + "_deliveries", headers=CONTROL, timeout=10).json()["deliveries"]
    assert [d["status"] for d in deliveries] == [503, 503, 200, 422, 503, 200, 200, 0]
    assert receiver.request_count == 8  # control calls are not webhook requests


@pytest.mark.parametrize("command", [
    {},
    {"explode": True},
    {"fail_next": {"count": 0}},
    {"fail_next": {"status": 1000}},
    {"fail_next": {"bogus": 1}},
    {"poison": "product 7"},
    {"poison": [["product"]]},
])
def test_a_bad_control_command_gets_400(receiver: ReferenceReceiver, command: dict[str, Any]) -> None:
    response = requests.post(receiver.url + "_control", json=command, headers=CONTROL, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]


def test_get_on_the_webhook_path_is_405(receiver: ReferenceReceiver) -> None:
    response = requests.get(receiver.url, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_stop_does_not_wait_for_idle_or_delayed_connections(tmp_path: Path) -> None:
    server = ReferenceReceiver(RECEIVER_SECRET, RECEIVER_TENANT, tmp_path / "r.sqlite").start()
    outcome: list[object] = []

    def send_delayed() -> None:
        try:
            outcome.append(post_signed(server.url, item("2"), timeout=40).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    with requests.Session() as idle:
        assert post_signed(server.url, item(), idle).status_code == 200  # leaves an idle keep-alive connection
        server.fail_next(status=503, delay=30)
        waiting = threading.Thread(target=send_delayed)
        waiting.start()
        time.sleep(0.3)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        waiting.join(10)
    assert not waiting.is_alive()
    assert outcome and outcome[0] != 200  # answered at once (503) or cut off, never stored


def test_a_temporary_database_is_removed_on_stop() -> None:
    server = ReferenceReceiver(RECEIVER_SECRET).start()
    path = server.db_path
    assert post_signed(server.url, item(), tenant=None).status_code == 200
    assert path.exists()
    server.stop()
    assert not path.exists()


# -- command line ---------------------------------------------------------------------------------


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSYNC_RECEIVER_")}
    env.update(extra)
    return env


def test_the_cli_refuses_to_start_without_the_secret(tmp_path: Path) -> None:
    for command in ([sys.executable, "-m", "ragsync_dev.receiver.server"],
                    [str(Path(sys.executable).with_name("ragsync-receiver"))]):
        done = subprocess.run([*command, "--port", "0", "--db", str(tmp_path / "r.sqlite")], env=_cli_env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "RAGSYNC_RECEIVER_SECRET is not set" in done.stderr
        assert "listening" not in done.stdout


def _start_cli(db: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m ragsync_dev.receiver.server`` on a free port; return the process and the URL it announced."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ragsync_dev.receiver.server", "--host", "127.0.0.1", "--port", "0", "--db", str(db),
         "--tenant", RECEIVER_TENANT, *options],
        env=_cli_env(RAGSYNC_RECEIVER_SECRET=RECEIVER_SECRET), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ragsync-receiver listening on "):
        process.terminate()
        raise AssertionError(f"the receiver did not start: {line!r} {process.communicate(timeout=30)[1]}")
    assert RECEIVER_SECRET not in line
    return process, line.split()[3]


def test_the_cli_serves_signed_requests(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    process, url = _start_cli(db)
    try:
        assert url.startswith("http://127.0.0.1:"), url
        payload = batch(item("1"), item("2", action="delete"), batch_id="mag-20260102103000-c11c11c1")
        response = post_signed(url, payload)
        assert response.status_code == 200
        assert response.json() == {"accepted": 2}
        assert post_signed(url, item("3"), tenant="other").status_code == 401
        summary = requests.get(url + "_summary", headers=CONTROL, timeout=10).json()
        assert summary == {"documents": {"product": {"1": 1}}, "deliveries": 2, "items": 2}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "POST / 200 kind=batch items=2 batch_id=mag-20260102103000-c11c11c1" in stderr
    assert "POST / 401 kind=unknown" in stderr
    assert RECEIVER_SECRET not in stderr
    assert "sha256=" not in stderr
    assert db.exists()


def test_the_cli_serves_https_with_a_certificate(tmp_path: Path) -> None:
    cert_path, key_path = self_signed(tmp_path)
    only_cert = subprocess.run(
        [sys.executable, "-m", "ragsync_dev.receiver.server", "--port", "0", "--tls-cert", str(cert_path)],
        env=_cli_env(RAGSYNC_RECEIVER_SECRET=RECEIVER_SECRET), capture_output=True, text=True, timeout=60)
    assert only_cert.returncode == 2 and "give both --tls-cert and --tls-key" in only_cert.stderr
    process, url = _start_cli(tmp_path / "tls.sqlite", "--tls-cert", str(cert_path), "--tls-key", str(key_path))
    try:
        assert url.startswith("https://127.0.0.1:"), url
        hook = RagWebhookHook.from_values(url, RECEIVER_SECRET, RECEIVER_TENANT, timeout=10, verify=str(cert_path))
        ok, message = hook.test_connection()
        assert ok, message
    finally:
        process.terminate()
        process.communicate(timeout=30)
