"""The sync running in Airflow: every DAG through ``dag.test()`` against MariaDB and the reference receiver."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync.magento.context import MagentoContext
from ragsync.pipeline.capture import capture
from ragsync.pipeline.sync import SyncService, make_reader
from ragsync.settings import parse_settings
from ragsync.state.migrations import upgrade
from ragsync_dev.demo.airflow_env import connection_environment, variable_environment
from ragsync_dev.demo.shop import ShopSummary, build_demo_database, manifest

ROOT = Path(__file__).resolve().parents[2]
KNOWN = manifest()
STORES = {"default": KNOWN.stores["default"], "fr": KNOWN.stores["fr"], "outlet": KNOWN.stores["outlet"]}
CONFIG = {"enabled": True, "environment": "development"}


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


class Stack:
    """A shop, the pipeline's database, the receiver and the Airflow environment pointing at them."""

    def __init__(self, dagbag: Any, magento: Database, state: Database, summary: ShopSummary, receiver: Any,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.dagbag, self.magento, self.state, self.summary, self.receiver = dagbag, magento, state, summary, receiver
        self.monkeypatch = monkeypatch
        env = connection_environment(magento.params, state.params, receiver.url, secret=RECEIVER_SECRET,
                                      tenant=RECEIVER_TENANT)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        self.configure(CONFIG)

    def configure(self, config: dict[str, Any]) -> None:
        """Set the ragsync_config Variable."""
        for key, value in variable_environment(config).items():
            self.monkeypatch.setenv(key, value)

    def run(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Run one DAG with dag.test() and return the run's state."""
        if dag_id == "ragsync_resync" and conf is not None:
            # dag.test() in one process keeps an earlier run's conf in the DAG's params: give every key
            conf = {"type": "product", "ids": [], "skus": [], "store": None, "force": False, "dry_run": False,
                    **conf}
        run = self.dagbag.dags[dag_id].test(run_conf=conf or None)
        return str(run.state).rsplit(".", 1)[-1]

    def service(self) -> SyncService:
        """Return the sync use-cases on this stack (for setting up state without a DAG run)."""
        upgrade(self.state)
        return SyncService(self.magento, self.state, parse_settings(CONFIG))

    def queue(self) -> list[dict[str, Any]]:
        """Return the queue rows."""
        return self.state.query_dicts(
            "SELECT entity_type, entity_id, store_id, action, status, source FROM rag_sync_queue ORDER BY id")

    def attribute(self, code: str) -> int:
        """Return a product attribute id by code."""
        return int(self.magento.scalar(
            "SELECT attribute_id FROM eav_attribute WHERE entity_type_id = 4 AND attribute_code = %s", (code,)))

    def touch(self, product_id: int) -> None:
        """Bump a product's updated_at as a save in Magento's admin does."""
        self.magento.execute("UPDATE catalog_product_entity SET updated_at = UTC_TIMESTAMP() WHERE entity_id = %s",
                             (product_id,))


@pytest.fixture
def stack(dagbag: Any, db_factory: Callable[..., Database], receiver: Any,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    magento = db_factory("dagshop")
    summary = build_demo_database(magento, products=50, now=datetime.utcnow().replace(microsecond=0))
    state = db_factory("dagstate")
    yield Stack(dagbag, magento, state, summary, receiver, monkeypatch)


def _live(receiver: Any) -> dict[str, dict[int, int]]:
    summary = receiver.summary()["documents"]
    return {t: {int(s): n for s, n in per.items()} for t, per in summary.items()}


def test_every_dag_runs_and_the_receiver_holds_the_shop(stack: Stack) -> None:
    for dag_id in ("ragsync_full_product_sync", "ragsync_full_cms_sync", "ragsync_full_category_sync",
                   "ragsync_promotion_sync", "ragsync_process_queue"):
        assert stack.run(dag_id) == "success", dag_id
    live = _live(stack.receiver)
    visible = stack.summary.store_products
    assert live["product"] == {STORES[code]: visible[code]["visible"] for code in STORES}
    # golden counts of the deterministic demo shop (see docs/demo-shop.md for what each store has)
    assert live["category"] == {STORES["default"]: 33, STORES["fr"]: 32, STORES["outlet"]: 8}
    assert live["cms_page"] == {STORES["default"]: 9, STORES["fr"]: 9, STORES["outlet"]: 9}
    assert live["cms_block"] == {STORES["default"]: 5, STORES["fr"]: 5, STORES["outlet"]: 5}
    assert live["promotion"] == {STORES["default"]: 4, STORES["fr"]: 4, STORES["outlet"]: 4}
    assert {r["status"] for r in stack.queue()} == {"sent"}

    # a few full documents: what arrived is exactly what the readers build, signed and unchanged
    ctx = MagentoContext(stack.magento)
    settings = parse_settings(CONFIG)
    for entity_type, entity_id in (("product", KNOWN.products["simple_with_overrides"]),
                                   ("product", KNOWN.products["configurable"]),
                                   ("cms_page", KNOWN.cms_pages["faq"]),
                                   ("category", KNOWN.categories_by_level[2][0])):
        built = make_reader(entity_type, ctx, settings, None, None).read([entity_id]).documents
        assert any(doc.action == "save" for doc in built)
        for doc in built:
            held = stack.receiver.document(entity_type, str(entity_id), doc.store_id)
            if doc.action == "delete":
                assert held is None, "an entity that never belonged to a store view is never sent there"
                continue
            assert held is not None and held["hash"] == doc.hash
            assert held["data"] == json.loads(json.dumps(doc.data))
    fr_name = stack.magento.scalar(
        "SELECT value FROM catalog_product_entity_varchar WHERE entity_id = %s AND store_id = %s AND attribute_id = %s",
        (KNOWN.products["simple_with_overrides"], STORES["fr"], stack.attribute("name")))
    held_fr = stack.receiver.document("product", str(KNOWN.products["simple_with_overrides"]), STORES["fr"])
    assert held_fr["data"]["name"] == fr_name and held_fr["data"]["store_code"] == "fr"

    # the housekeeping DAGs run too
    for dag_id in ("ragsync_cleanup_queue", "ragsync_reset_stuck_items"):
        assert stack.run(dag_id) == "success", dag_id
    assert stack.run("ragsync_queue_admin", {"action": "test_connection"}) == "success"
    assert stack.receiver.deliveries()[-1]["kind"] == "ping"
    assert stack.state.scalar("SELECT COUNT(*) FROM rag_sync_log WHERE event = 'connection_test'") >= 1


def test_changes_reach_the_receiver_through_the_queue_dag_alone(stack: Stack) -> None:
    service = stack.service()
    for entity_type in ("product", "category", "cms_page", "cms_block", "promotion"):
        service.sync(entity_type)
    assert stack.run("ragsync_process_queue") == "success"
    before = len(stack.receiver.items())

    # an unchanged catalog sends nothing
    assert stack.run("ragsync_process_queue") == "success"
    assert len(stack.receiver.items()) == before

    changed = KNOWN.products["simple_with_overrides"]
    removed = KNOWN.products["special_current"]
    disabled = KNOWN.products["plain_description"]
    stack.magento.execute(
        "UPDATE catalog_product_entity_varchar SET value = 'Renamed Backpack' WHERE entity_id = %s AND store_id = 0"
        " AND attribute_id = %s", (changed, stack.attribute("name")))
    stack.touch(changed)
    stack.magento.execute("DELETE FROM catalog_product_entity WHERE entity_id = %s", (removed,))
    stack.magento.execute(
        "INSERT INTO catalog_product_entity_int (attribute_id, store_id, entity_id, value) VALUES (%s, 0, %s, 2)"
        " ON DUPLICATE KEY UPDATE value = 2", (stack.attribute("status"), disabled))
    stack.magento.execute("DELETE FROM catalog_product_entity_int WHERE entity_id = %s AND attribute_id = %s"
                          " AND store_id <> 0", (disabled, stack.attribute("status")))
    stack.touch(disabled)

    assert stack.run("ragsync_process_queue") == "success"
    new = stack.receiver.items()[before:]
    got = {(i["type"], i["id"], i["action"]) for i in new}
    assert ("product", str(changed), "save") in got
    assert ("product", str(removed), "delete") in got
    assert ("product", str(disabled), "delete") in got
    assert {i["id"] for i in new} == {str(changed), str(removed), str(disabled)}
    default_doc = stack.receiver.document("product", str(changed), STORES["default"])
    assert default_doc["data"]["name"] == "Renamed Backpack"
    assert stack.receiver.document("product", str(removed), STORES["default"])["action"] == "delete"
    assert stack.receiver.document("product", str(disabled), STORES["default"])["action"] == "delete"


def test_full_sync_that_would_delete_half_the_products_stops_and_deletes_nothing(stack: Stack) -> None:
    service = stack.service()
    service.sync("product")
    assert stack.run("ragsync_process_queue") == "success"
    live_before = stack.state.scalar(
        "SELECT COUNT(*) FROM rag_sync_ledger WHERE entity_type = 'product' AND is_tombstone = 0")
    ids = [r[0] for r in stack.magento.query("SELECT entity_id FROM catalog_product_entity ORDER BY entity_id")]
    stack.magento.execute("SET SESSION foreign_key_checks = 1")
    half = ids[: len(ids) // 2]
    stack.magento.execute(
        f"DELETE FROM catalog_product_entity WHERE entity_id IN ({', '.join(['%s'] * len(half))})", half)

    assert stack.run("ragsync_full_product_sync") == "failed"
    assert stack.state.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE action = 'delete'") == 0
    run = stack.state.query_dicts("SELECT status, message FROM rag_sync_run ORDER BY id DESC LIMIT 1")[0]
    assert run["status"] == "aborted"
    assert "would delete" in run["message"] and "max_delete_fraction" in run["message"]
    assert stack.state.scalar(
        "SELECT COUNT(*) FROM rag_sync_ledger WHERE entity_type = 'product' AND is_tombstone = 0") == live_before


def test_manual_run_with_ids_and_a_store_delivers_exactly_those(stack: Stack) -> None:
    # a steady state: change capture is up to date and the backend has what it found, so the queue
    # DAG delivers only what the manual run queued (forced: the backend has these versions already)
    service = stack.service()
    capture(service)
    while claim := service.queue.claim_due(1000, 60):
        service.queue.settle_sent(claim, "baseline", 200)
    first, second = KNOWN.products["simple_with_overrides"], KNOWN.products["configurable"]
    sku = stack.magento.scalar("SELECT sku FROM catalog_product_entity WHERE entity_id = %s", (second,))
    assert stack.run("ragsync_resync", {"ids": [first], "skus": [sku], "store": "fr", "force": True}) == "success"
    assert {(r["entity_id"], r["store_id"], r["source"]) for r in stack.queue() if r["status"] == "pending"} == {
        (str(first), STORES["fr"], "manual"), (str(second), STORES["fr"], "manual")}
    assert stack.run("ragsync_process_queue") == "success"
    assert {(i["type"], i["id"], i["store_id"]) for i in stack.receiver.items()} == {
        ("product", str(first), STORES["fr"]), ("product", str(second), STORES["fr"])}


def test_bad_params_fail_the_run_before_any_work(stack: Stack) -> None:
    upgrade(stack.state)
    # a typo or a resync sent to a scheduled full sync must never start the full sync with its deletes
    assert stack.run("ragsync_full_product_sync", {"ids": [KNOWN.products["configurable"]]}) == "failed"
    assert stack.run("ragsync_resync", {"id": [1]}) == "failed"
    for conf in ({"type": "category", "ids": [1], "store": "nope"}, {"type": "promotion", "ids": ["cart-x"]},
                 {"skus": ["NO-SUCH-SKU"]}, {"type": "product"}, {"type": "category", "skus": ["x"]}):
        assert stack.run("ragsync_resync", conf) == "failed", conf
    assert stack.state.scalar("SELECT COUNT(*) FROM rag_sync_run") == 0
    assert stack.state.scalar("SELECT COUNT(*) FROM rag_sync_queue") == 0


def test_resync_refusals_say_what_is_wrong(stack: Stack) -> None:
    from ragsync.errors import ConfigError
    from ragsync.pipeline.scope import refuse_unknown_params, resync_from_params

    with pytest.raises(ConfigError, match="ragsync_full_product_sync takes no params, got 'ids'.*ragsync_resync"):
        refuse_unknown_params("ragsync_full_product_sync", {"ids": [1]}, ())
    with pytest.raises(ConfigError, match=r"unknown param 'id'; allowed params: type, ids, skus"):
        resync_from_params({"id": [1]}, stack.magento)
    with pytest.raises(ConfigError, match=r"unknown store 'nope': active store views are default \(id 1\)"):
        resync_from_params({"ids": [1], "store": "nope"}, stack.magento)
    with pytest.raises(ConfigError, match="no product with SKU NO-SUCH-SKU"):
        resync_from_params({"skus": ["NO-SUCH-SKU"]}, stack.magento)
    with pytest.raises(ConfigError, match="invalid product id 'abc'"):
        resync_from_params({"ids": ["abc"]}, stack.magento)
    with pytest.raises(ConfigError, match="needs ids or skus"):
        resync_from_params({"ids": [], "skus": []}, stack.magento)
    configurable = KNOWN.products["configurable"]
    sku = stack.magento.scalar("SELECT sku FROM catalog_product_entity WHERE entity_id = %s", (configurable,))
    wanted = resync_from_params({"skus": [sku.lower()], "ids": [configurable]}, stack.magento)
    assert wanted.ids == [configurable] and wanted.entity_type == "product"


def test_disabled_switch_skips_every_task_and_dry_run_queues_nothing(stack: Stack) -> None:
    stack.configure({"enabled": False})
    assert stack.run("ragsync_process_queue") in ("success", "skipped")
    assert stack.receiver.request_count == 0
    assert stack.state.scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
        " AND table_name = 'rag_sync_queue'") == 0, "a skipped run does no work, not even migrations"

    stack.configure(CONFIG)
    assert stack.run("ragsync_resync", {"dry_run": True, "type": "cms_page", "ids": [1, 2]}) == "success"
    assert stack.state.scalar("SELECT COUNT(*) FROM rag_sync_queue") == 0


def test_a_full_sync_of_several_chunks_reads_in_worker_processes_and_queues_every_document(
    db_factory: Callable[..., Database], receiver: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    magento = db_factory("dagshop2100")
    summary = build_demo_database(magento, products=2100, now=datetime.utcnow().replace(microsecond=0))
    # a DagBag of its own: dag.test() in one process leaves an earlier run's conf in the shared tasks' params
    stack = Stack(DagBag(dag_folder=str(ROOT / "dags")), magento, db_factory("dagstate2100"), summary, receiver, monkeypatch)
    caplog.set_level("INFO", logger="ragsync")
    assert stack.run("ragsync_full_product_sync") == "success"
    assert "reading product chunks in 2 worker processes" in caplog.text

    # what was queued is exactly what one process builds: every save, by id, store view and hash
    reader = make_reader("product", MagentoContext(magento), parse_settings(CONFIG), None, None)
    built = {(d.id, d.store_id, d.hash) for b in reader.read_all(workers=1) for d in b.documents
             if d.action == "save"}
    queued = {(r[0], int(r[1]), r[2]) for r in stack.state.query(
        "SELECT entity_id, store_id, content_hash FROM rag_sync_queue WHERE entity_type = 'product'"
        " AND action = 'save'")}
    assert queued == built
    assert len(built) == sum(summary.store_products[code]["visible"] for code in STORES)
