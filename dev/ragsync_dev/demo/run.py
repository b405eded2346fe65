"""``make demo``: load a demo shop, sync it through the real DAGs to a local receiver, show what arrived.

Steps: generate the demo shop into ``ragsync_demo_magento`` (Magento's real table layout),
apply ragsync's migrations to ``ragsync_demo``, start the reference receiver, run every sync DAG
and the queue DAG with Airflow's ``dag.test()`` (each in its own process, its log in ``.run/``),
print what the receiver holds per type and store view; then change a product name in one store
view, delete a CMS page and expire a cart rule, run the queue DAG again and print what changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ragsync.db import Database, DbParams
from ragsync_dev.demo.airflow_env import (
    DEMO_SECRET,
    DEMO_TENANT,
    connection_environment,
    variable_environment,
)
from ragsync_dev.demo.mysql_server import DEFAULT_URL, ENV_URL

ROOT = Path(__file__).resolve().parents[3]
RUN_DIR = ROOT / ".run"
MAGENTO_DB = "ragsync_demo_magento"
STATE_DB = "ragsync_demo"
SYNC_DAGS = ("ragsync_full_product_sync", "ragsync_full_cms_sync", "ragsync_full_category_sync",
             "ragsync_promotion_sync")
DEMO_CONFIG: dict[str, Any] = {"enabled": True, "environment": "development"}


def say(message: str) -> None:
    """Print one line of the demo's story."""
    print(f"ragsync demo: {message}", flush=True)


def airflow_environment() -> dict[str, str]:
    """Return this process's environment with the checkout's Airflow settings as defaults."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


def run_dag(dag_id: str, env: dict[str, str], conf: dict[str, Any] | None = None) -> float:
    """Run one DAG with ``dag.test()`` in a child process; return its wall time; fail loudly on failure."""
    RUN_DIR.mkdir(exist_ok=True)
    log_path = RUN_DIR / f"{dag_id}.log"
    started = time.monotonic()
    with log_path.open("w") as log_file:
        code = subprocess.call([sys.executable, "-m", "ragsync_dev.demo.run", "--dag", dag_id, "--conf",
                                json.dumps(conf or {})], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit(f"{dag_id} failed (exit {code}); last lines of {log_path}:\n" + "\n".join(tail))
    say(f"  {dag_id}: success in {elapsed:.1f} s (log: {log_path.relative_to(ROOT)})")
    return elapsed


def _dag_test(dag_id: str, conf: dict[str, Any]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        print(bag.import_errors)
        return 2
    run = bag.dags[dag_id].test(run_conf=conf or None)
    state = str(getattr(run, "state", ""))
    print(f"DAG RUN STATE: {state}")
    return 0 if state.endswith("success") else 1


def print_holdings(receiver: Any, magento: Database) -> None:
    """Print, per type and store view, how many live documents the receiver holds."""
    stores = dict(magento.query(f"SELECT store_id, code FROM {magento.table('store')}"))
    summary = receiver.summary()
    print(f"  {'type':<11} {'store view':<12} documents")
    for entity_type in ("product", "category", "cms_page", "cms_block", "promotion"):
        per_store = summary.get("documents", {}).get(entity_type, {})
        for store_id in sorted(per_store, key=int):
            print(f"  {entity_type:<11} {stores.get(int(store_id), store_id):<12} {per_store[store_id]}")
    print(f"  deliveries received: {summary.get('deliveries')}, items received: {summary.get('items')}")


def make_changes(magento: Database, now: datetime) -> dict[str, Any]:
    """Change a product name in one store view, delete a CMS page and expire a cart rule."""
    from ragsync_dev.demo.shop import manifest

    known = manifest()
    t = magento.table
    product_id = known.products["simple_with_overrides"]
    fr = known.stores["fr"]
    name_attr = magento.scalar(
        f"SELECT attribute_id FROM {t('eav_attribute')} WHERE entity_type_id = 4 AND attribute_code = 'name'")
    magento.execute(
        f"INSERT INTO {t('catalog_product_entity_varchar')} (attribute_id, store_id, entity_id, value)"
        " VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)",
        (name_attr, fr, product_id, "Sac à dos Édition Démo"))
    magento.execute(f"UPDATE {t('catalog_product_entity')} SET updated_at = %s WHERE entity_id = %s",
                    (now, product_id))
    page_id = known.cms_pages["about-us"]
    magento.execute(f"DELETE FROM {t('cms_page')} WHERE page_id = %s", (page_id,))
    rule_id = known.cart_rules["cart_no_coupon"]
    magento.execute(f"UPDATE {t('salesrule')} SET to_date = %s WHERE rule_id = %s",
                    ((now - timedelta(days=2)).date(), rule_id))
    return {"product": product_id, "store": fr, "cms_page": page_id, "cart_rule": rule_id}


def main(argv: list[str] | None = None) -> int:
    """Run the demo end to end (or, with --dag, one dag.test() inside a child process)."""
    parser = argparse.ArgumentParser(prog="python -m ragsync_dev.demo.run")
    parser.add_argument("--dag", help=argparse.SUPPRESS)
    parser.add_argument("--conf", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--products", type=int, default=50, help="size of the demo shop (default 50)")
    args = parser.parse_args(argv)
    if args.dag:
        return _dag_test(args.dag, json.loads(args.conf))

    from ragsync.state.migrations import upgrade
    from ragsync_dev.demo.shop import build_demo_database
    from ragsync_dev.receiver.server import ReferenceReceiver

    started = time.monotonic()
    server = DbParams.from_url(os.environ.get(ENV_URL) or DEFAULT_URL)
    admin = Database(server.with_database(""))
    for name in (MAGENTO_DB, STATE_DB):
        admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    magento = Database(server.with_database(MAGENTO_DB))
    state = Database(server.with_database(STATE_DB))
    say(f"MySQL server: {server.describe()}")
    summary = build_demo_database(magento, products=args.products)
    say(f"loaded the demo shop into {MAGENTO_DB}: {summary.describe()}")
    applied = upgrade(state)
    say(f"applied ragsync migrations to {STATE_DB}: {', '.join(f'{m.version:03d}_{m.name}' for m in applied)}")

    RUN_DIR.mkdir(exist_ok=True)
    receiver_db = RUN_DIR / "receiver.sqlite"
    receiver_db.unlink(missing_ok=True)
    with ReferenceReceiver(DEMO_SECRET, tenant_id=DEMO_TENANT, db_path=receiver_db).start() as receiver:
        say(f"reference receiver listening on {receiver.url} (verifies both signatures and the tenant)")
        env = airflow_environment()
        env.update(connection_environment(magento.params, state.params, receiver.url))
        env.update(variable_environment(DEMO_CONFIG))
        say("running the sync DAGs and the queue DAG with dag.test():")
        for dag_id in SYNC_DAGS:
            run_dag(dag_id, env)
        run_dag("ragsync_process_queue", env)
        say("the receiver now holds (live documents per type and store view):")
        print_holdings(receiver, magento)
        queue = dict(state.query("SELECT status, COUNT(*) FROM rag_sync_queue GROUP BY status"))
        say(f"queue: {queue}")

        before = len(receiver.items())
        changed = make_changes(magento, datetime.utcnow())
        say(f"changed in Magento: product {changed['product']} renamed in store {changed['store']}, "
            f"CMS page {changed['cms_page']} deleted, cart rule {changed['cart_rule']} expired")
        run_dag("ragsync_process_queue", env)
        new_items = receiver.items()[before:]
        say(f"what the queue DAG delivered after the changes ({len(new_items)} items):")
        for item in new_items:
            doc = receiver.document(item["type"], item["id"], item["store_id"]) or {}
            name = (doc.get("data") or {}).get("name") or (doc.get("data") or {}).get("title") or ""
            print(f"  {item['action']:<6} {item['type']:<10} id {item['id']:<12} store {item['store_id']}  {name}")
    say(f"finished in {time.monotonic() - started:.0f} s")
    magento.close()
    state.close()
    admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
