"""The installed ``ragsync`` command, run as a subprocess against MariaDB and the reference receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.receiver import RECEIVER_SECRET, RECEIVER_TENANT
from ragsync.db import Database
from ragsync_dev.demo.airflow_env import connection_environment, variable_environment
from ragsync_dev.demo.shop import build_demo_database, manifest

RAGSYNC = str(Path(sys.executable).parent / "ragsync")
KNOWN = manifest()
FR = KNOWN.stores["fr"]
CONFIG = {"enabled": True, "environment": "development", "queue": {"max_retries": 0}}


class Cli:
    """Run ``ragsync`` with the connections of one test stack."""

    def __init__(self, magento: Database, state: Database, receiver: Any) -> None:
        self.magento, self.state, self.receiver = magento, state, receiver
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
        self.env.update(connection_environment(magento.params, state.params, receiver.url, secret=RECEIVER_SECRET,
                                               tenant=RECEIVER_TENANT))
        self.env.update(variable_environment(CONFIG))

    def __call__(self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
                 ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RAGSYNC, *args], capture_output=True, text=True, env=env or self.env,
                              input=stdin, timeout=120)

    def queue(self) -> list[tuple[str, str, int, str, str]]:
        """Return (type, id, store, action, status) of every queue row."""
        return [tuple(r) for r in self.state.query(  # type: ignore[misc]
            "SELECT entity_type, entity_id, store_id, action, status FROM rag_sync_queue ORDER BY id")]


@pytest.fixture
def cli(db_factory: Callable[..., Database], receiver: Any) -> Cli:
    magento = db_factory("clishop")
    build_demo_database(magento, products=50, now=datetime.utcnow().replace(microsecond=0))
    return Cli(magento, db_factory("clistate"), receiver)


def _table(stdout: str, title: str) -> dict[str, list[str]]:
    """Parse one plain-output table into {first column: other columns}."""
    lines = stdout.splitlines()
    start = lines.index(f"# {title}")
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2:]:
        if not line or line.startswith("#") or "\t" not in line:
            break
        first, *rest = line.split("\t")
        rows[first] = rest
    return rows


def test_db_upgrade_and_uninstall(cli: Cli) -> None:
    first = cli("db", "upgrade")
    assert first.returncode == 0 and "001_initial" in first.stdout
    again = cli("db", "upgrade")
    assert again.returncode == 0 and "up to date" in again.stdout
    refused = cli("db", "uninstall")
    assert refused.returncode == 4 and "--force" in refused.stderr
    assert cli.state.scalar("SELECT COUNT(*) FROM rag_sync_queue") == 0
    dropped = cli("db", "uninstall", "--force")
    assert dropped.returncode == 0
    assert not [r for r in cli.state.query("SHOW TABLES") if r[0].startswith("rag_sync_")]


def test_sync_commands_and_their_options(cli: Cli) -> None:
    dry = cli("sync", "products", "--ids", f"{KNOWN.products['simple_with_overrides']}", "--store", "fr",
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    documents = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    assert [(d["type"], d["id"], d["store_id"], d["action"]) for d in documents] == [
        ("product", str(KNOWN.products["simple_with_overrides"]), FR, "save")]
    assert cli.queue() == []

    ids = f"{KNOWN.products['simple_with_overrides']},{KNOWN.products['configurable']}"
    manual = cli("sync", "products", "--ids", ids, "--store", "fr")
    assert manual.returncode == 0, manual.stderr
    assert cli.queue() == [("product", str(KNOWN.products["simple_with_overrides"]), FR, "save", "pending"),
                           ("product", str(KNOWN.products["configurable"]), FR, "save", "pending")]
    assert _table(manual.stdout, "sync")["product"][3] == "2"  # queued

    assert cli("sync", "products").returncode == 0
    assert cli("sync", "cms", "--type", "pages").returncode == 0
    types = {r[0] for r in cli.queue()}
    assert types == {"product", "cms_page"}
    assert cli("sync", "cms", "--type", "blocks", "--store", "outlet").returncode == 0
    assert {r[2] for r in cli.queue() if r[0] == "cms_block"} == {KNOWN.stores["outlet"]}
    category = KNOWN.categories_by_level[2][0]
    assert cli("sync", "categories", "--ids", str(category)).returncode == 0
    assert {r[1] for r in cli.queue() if r[0] == "category"} == {str(category)}
    assert cli("sync", "promotions", "--type", "catalog").returncode == 0
    assert {r[1].split("-")[0] for r in cli.queue() if r[0] == "promotion"} == {"catalog"}
    assert cli("sync", "promotions", "--type", "cart", "--force").returncode == 0
    assert {r[1].split("-")[0] for r in cli.queue() if r[0] == "promotion"} == {"catalog", "cart"}
    assert cli("sync", "cms", "--force", "--ids", str(KNOWN.cms_pages["faq"])).returncode == 0


def test_bad_input_exits_non_zero_with_a_clear_message_and_changes_nothing(cli: Cli) -> None:
    assert cli("sync", "products", "--ids", str(KNOWN.products["configurable"])).returncode == 0
    before = cli.queue()
    cases = [
        (("sync", "products", "--ids", "1,abc"), 2, "invalid product id 'abc'"),
        (("sync", "products", "--ids", "1,,2"), 2, "comma-separated list"),
        (("sync", "products", "--store", "nope"), 2, "unknown store 'nope': active store views are default (id 1)"),
        (("sync", "promotions", "--ids", "x"), 2, "invalid promotion id"),
        (("queue", "clear", "--status", "bogus"), 2, "invalid choice: 'bogus'"),
        (("queue", "retry", "--status", "sent"), 2, "invalid choice: 'sent'"),
        (("explain", "product", "abc"), 2, "invalid product id 'abc'"),
        (("explain", "product", "1", "--store", "nope"), 2, "unknown store 'nope'"),
        (("sync", "products", "--skus", "NO-SUCH-SKU"), 2, "no product with SKU NO-SUCH-SKU"),
        (("queue", "cleanup", "--days", "-1"), 2, "must be 0 (every sent item) or more, got -1"),
        (("queue", "process", "--budget", "-5"), 2, "must be more than 0 and at most 86400 seconds"),
    ]
    for args, code, message in cases:
        result = cli(*args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert cli.queue() == before

    no_conn = {k: v for k, v in cli.env.items() if k != "AIRFLOW_CONN_MAGENTO_DB"}
    missing = cli("sync", "products", env=no_conn)
    assert missing.returncode == 3 and "'magento_db' is not defined" in missing.stderr
    bad_settings = dict(cli.env, AIRFLOW_VAR_RAGSYNC_CONFIG=json.dumps({"enabled": True, "queue": {"batch_size": 0}}))
    invalid = cli("queue", "status", env=bad_settings)
    assert invalid.returncode == 3 and "queue.batch_size must be at least 1" in invalid.stderr
    disabled = cli("sync", "products", env=dict(cli.env, AIRFLOW_VAR_RAGSYNC_CONFIG='{"enabled": false}'))
    assert disabled.returncode == 3 and "ragsync is disabled" in disabled.stderr
    no_folder = dict(cli.env, AIRFLOW_VAR_RAGSYNC_CONFIG=json.dumps({"enabled": True,
                                                                    "log_file": "/nonexistent-dir/ragsync.log"}))
    unopened = cli("queue", "status", env=no_folder)
    assert unopened.returncode == 3 and "log_file '/nonexistent-dir/ragsync.log' cannot be opened" in unopened.stderr
    magento = json.loads(cli.env["AIRFLOW_CONN_MAGENTO_DB"])
    magento["extra"] = {**magento.get("extra", {}), "table_prefix": "m2_"}
    prefixed = cli("sync", "products", "--ids", "1", env=dict(cli.env, AIRFLOW_CONN_MAGENTO_DB=json.dumps(magento)))
    assert prefixed.returncode == 3, prefixed.stderr
    assert "m2_" in prefixed.stderr and "table_prefix" in prefixed.stderr and "Traceback" not in prefixed.stderr
    assert cli.queue() == before


def test_queue_commands_and_test_connection(cli: Cli) -> None:
    ok = cli("test", "connection")
    assert ok.returncode == 0 and "connection OK" in ok.stdout
    cli.receiver.set_down(True)
    down = cli("test", "connection")
    assert down.returncode == 1 and "connection FAILED" in down.stdout
    cli.receiver.set_down(False)

    poison = str(KNOWN.products["configurable"])
    cli.receiver.poison(("product", poison))
    assert cli("sync", "products", "--store", "default").returncode == 0
    pending = len(cli.queue())
    status = cli("queue", "status")
    assert status.returncode == 0
    assert _table(status.stdout, "queue")["pending"] == [str(pending)]

    processed = cli("queue", "process")
    assert processed.returncode == 1, "a dead item makes the run exit 1"
    rows = cli.queue()
    assert {r[4] for r in rows if r[1] != poison} == {"sent"}
    assert [r[4] for r in rows if r[1] == poison] == ["dead"]
    assert len({i["id"] for i in cli.receiver.items()}) == pending - 1

    cli.receiver.reset()
    retried = cli("queue", "retry", "--status", "dead")
    assert retried.returncode == 0 and "put back to pending: 1" in retried.stdout
    assert cli("queue", "process").returncode == 0
    assert {r[4] for r in cli.queue()} == {"sent"}

    explained = cli("explain", "product", poison, "--store", "default", "--document")
    assert explained.returncode == 0
    assert "in sync: the backend has this exact version" in explained.stdout
    assert f'"id": "{poison}"' in explained.stdout

    refused = cli("queue", "clear", "--status", "sent")
    assert refused.returncode == 4 and "--force" in refused.stderr
    declined = cli("queue", "clear", "--status", "sent", stdin="n\n")
    assert declined.returncode == 4
    assert len(cli.queue()) == pending
    cleared = cli("queue", "clear", "--status", "sent", "--force")
    assert cleared.returncode == 0 and f"deleted {pending} sent items" in cleared.stdout
    assert cli.queue() == []
    assert cli("queue", "reset-stuck").returncode == 0
    assert cli("queue", "cleanup", "--days", "1").returncode == 0
    events = {r[0] for r in cli.state.query("SELECT event FROM rag_sync_log")}
    assert {"manual_retry", "manual_clear", "connection_test", "batch_sent", "item_dead"} <= events
    users = {r[0] for r in cli.state.query("SELECT username FROM rag_sync_log WHERE event = 'manual_clear'")}
    assert all(u and u.startswith("cli") for u in users)


def test_log_file_and_debug_apply_to_the_command(cli: Cli, tmp_path: Path) -> None:
    log_file = tmp_path / "ragsync.log"
    env = dict(cli.env, AIRFLOW_VAR_RAGSYNC_CONFIG=json.dumps({**CONFIG, "log_file": str(log_file)}))
    quiet = cli("sync", "products", "--ids", str(KNOWN.products["configurable"]), env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO ragsync" in log_file.read_text() and "product manual sync" in log_file.read_text()
    assert "INFO" not in quiet.stderr, "without -v or debug the terminal only shows warnings"
    debug = dict(cli.env, AIRFLOW_VAR_RAGSYNC_CONFIG=json.dumps({**CONFIG, "debug": True}))
    verbose = cli("sync", "products", "--ids", str(KNOWN.products["configurable"]), "--force", env=debug)
    assert verbose.returncode == 0 and "ragsync.pipeline.sync" in verbose.stderr


def test_capture_once_from_a_shell(cli: Cli) -> None:
    assert cli("db", "upgrade").returncode == 0
    first = cli("capture")
    assert first.returncode == 0, first.stderr
    assert int(_table(first.stdout, "capture")["product"][1]) > 0  # queued: everything, the first time
    assert "changelogs read: none" in first.stdout
    again = _table(cli("capture").stdout, "capture")
    assert all(row[1] == "0" for row in again.values()), again  # nothing changed: nothing queued
    # stock sold out through an order: only cataloginventory_stock_item changes
    product = KNOWN.products["plain_description"]
    cli.magento.execute("UPDATE cataloginventory_stock_item SET qty = 0, is_in_stock = 0 WHERE product_id = %s",
                        (product,))
    cli.state.execute("DELETE FROM rag_sync_queue")  # so that the queue shows what this capture adds
    changed = cli("capture", "--types", "product")
    assert changed.returncode == 0, changed.stderr
    assert list(_table(changed.stdout, "capture")) == ["product"]
    assert "fingerprint product" in _table(changed.stdout, "changes by source")
    assert {r[1] for r in cli.queue()} == {str(product)}
    refused = cli("capture", "--types", "product,widgets")
    assert refused.returncode == 2 and "unknown entity type widgets" in refused.stderr
