"""Measure how long a product saved in Magento takes to reach the RAG backend through a live Airflow.

Run ``.venv/bin/python bench/latency.py [--products 300] [--repeats 2] [--target 120] [--keep]``.

Nothing is mocked and the clock is real:

* a throwaway demo shop (``ragsync_bench_latency_magento``, Magento's table layout, ``--products``
  products) and a ragsync database (``ragsync_bench_latency``) on the MySQL server the demo uses
  (``RAGSYNC_MYSQL_URL``, else 127.0.0.1:3306 as root, else a private MariaDB started for the run);
* the reference receiver on a free loopback port, which stamps each document with its arrival time;
* ``airflow standalone`` (scheduler, DAG processor, API server, triggerer; LocalExecutor, SQLite
  metadata) in a temporary ``AIRFLOW_HOME`` on the project's ``dags/`` and ``plugins/``, with the
  connections and the ``ragsync_config`` Variable as ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``
  variables and only ``ragsync_process_queue`` (every minute: migrate, capture, deliver) unpaused.

It waits for the first scheduled run to load the shop into the receiver, then ``--repeats`` times
saves a product as Magento's admin does (its name in ``catalog_product_entity_varchar`` for store 0
and ``catalog_product_entity.updated_at`` = UTC now), and measures the time from the save's commit to
the arrival of that product's document with the new name. Progress goes to stderr; the figures go to
stdout, the last line one JSON object. The exit code is 1 when a latency is over ``--target`` seconds
(or the document never arrived), 2 when the stack did not come up. Airflow's processes are always
stopped (their process group); the databases are dropped and the Airflow home (its ``airflow.log``,
task logs and the receiver's SQLite file) removed, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dev"))

from ragsync.db import Database, DbParams
from ragsync.state.migrations import upgrade
from ragsync_dev.demo.airflow_env import (
    DEMO_SECRET,
    DEMO_TENANT,
    connection_environment,
    variable_environment,
)
from ragsync_dev.demo.mysql_server import mysql_server
from ragsync_dev.demo.run import DEMO_CONFIG, airflow_environment
from ragsync_dev.demo.shop import build_demo_database
from ragsync_dev.demo.standalone import with_interpreter_on_path
from ragsync_dev.receiver.server import ReferenceReceiver

ROOT = Path(__file__).resolve().parent.parent
MAGENTO_DB = "ragsync_bench_latency_magento"
STATE_DB = "ragsync_bench_latency"
DAG_ID = "ragsync_process_queue"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"


def say(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"latency: {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not readable)"


class StackError(RuntimeError):
    """The live stack (Airflow, the first run) did not come up; the message says what and shows logs."""


# -- Airflow ------------------------------------------------------------------------------------------

@dataclass
class LiveAirflow:
    """``airflow standalone`` in its own process group, on a temporary AIRFLOW_HOME."""

    home: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    earlier_runs: frozenset[str] = frozenset()  # runs in the metadata database before the start (none expected)

    def run(self, *args: str, timeout: float = 300) -> None:
        """Run one ``airflow`` CLI command to completion (output appended to the log); raise on failure."""
        with self.log_path.open("ab") as out:
            out.write(f"\n$ airflow {' '.join(args)}\n".encode())
            out.flush()
            code = subprocess.call([str(AIRFLOW_BIN), *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                   timeout=timeout)
        if code != 0:
            raise StackError(f"airflow {' '.join(args)} exited {code}; end of {self.log_path}:\n{_tail(self.log_path)}")

    def start(self) -> None:
        """Start ``airflow standalone`` as the leader of a new process group."""
        self.earlier_runs = frozenset(r["run_id"] for r in self.dag_runs())
        with self.log_path.open("ab") as out:
            out.write(b"\n$ airflow standalone\n")
            self.process = subprocess.Popen([str(AIRFLOW_BIN), "standalone"], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def alive(self) -> bool:
        """Return whether the standalone process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the whole process group (scheduler, API server, task runners...), SIGKILL what is left."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.process.poll()  # reap the leader so the group can empty
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                continue
            break
        self.process.wait(timeout=10)
        self.process = None

    def dag_runs(self) -> list[dict[str, Any]]:
        """Return the DAG's runs from the metadata database (read directly, oldest first)."""
        try:
            with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=5) as conn:
                conn.row_factory = sqlite3.Row
                rows = conn.execute("SELECT run_id, state, run_type, queued_at, start_date, end_date FROM dag_run"
                                    " WHERE dag_id = ? ORDER BY id", (DAG_ID,)).fetchall()
        except sqlite3.Error:
            return []  # locked for a moment, or not there yet
        return [dict(r) for r in rows]

    def task_log_tails(self, lines: int = 25) -> str:
        """Return the ends of the newest task logs (for a failure message)."""
        logs = sorted((self.home / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-4:]
        return "\n".join(f"--- {p.relative_to(self.home)}\n{_tail(p, lines)}" for p in logs) or "(no task logs)"


def airflow_env(home: Path, port: int, magento: DbParams, state: DbParams, receiver_url: str) -> dict[str, str]:
    """Return the environment of every Airflow process: this home, the checkout's dags and plugins, the demo connections.

    Every port is a free one, so the bench runs beside ``make airflow`` (8080, 8793, 8794).
    """
    base = {k: v for k, v in airflow_environment().items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env = with_interpreter_on_path(base)
    api = f"http://127.0.0.1:{port}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only DAG_ID is unpaused
        # the task runners reach the execution API of this API server, not one on :8080
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),  # the scheduler's log server
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        # one secret for every component: the scheduler signs the task tokens the API server checks
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
    })
    env.update(connection_environment(magento, state, receiver_url))
    env.update(variable_environment(DEMO_CONFIG))
    return env


# -- Magento --------------------------------------------------------------------------------------------

def name_attribute(magento: Database) -> int:
    """Return the product ``name`` attribute id."""
    return int(magento.scalar(f"SELECT attribute_id FROM {magento.table('eav_attribute')}"
                              " WHERE entity_type_id = 4 AND attribute_code = 'name'"))


def candidates(magento: Database, receiver: ReferenceReceiver, count: int) -> list[tuple[int, int, str]]:
    """Return ``count`` (product id, store id, name) whose document the receiver holds and whose name has no store override."""
    t = magento.table
    attr = name_attribute(magento)
    overridden = {int(r[0]) for r in magento.query(
        f"SELECT DISTINCT entity_id FROM {t('catalog_product_entity_varchar')} WHERE attribute_id = %s AND store_id <> 0",
        (attr,))}
    names = dict(magento.query(
        f"SELECT entity_id, value FROM {t('catalog_product_entity_varchar')} WHERE attribute_id = %s AND store_id = 0",
        (attr,)))
    picked: dict[int, tuple[int, int, str]] = {}
    for doc in receiver.documents("product"):
        pid = int(doc["id"])
        if doc["action"] != "save" or pid in overridden or pid in picked or pid not in names:
            continue
        if (doc.get("data") or {}).get("name") == names[pid]:
            picked[pid] = (pid, int(doc["store_id"]), str(names[pid]))
    chosen = random.Random(7).sample(sorted(picked.values()), min(count, len(picked)))
    if len(chosen) < count:
        raise StackError(f"only {len(chosen)} products without store-view names are in the receiver; need {count}")
    return chosen


def save_product(magento: Database, product_id: int, name: str) -> float:
    """Save a product as Magento's admin does (name for store 0, updated_at = UTC now); return the commit time."""
    t = magento.table
    with magento.transaction() as tx:
        tx.execute(f"INSERT INTO {t('catalog_product_entity_varchar')} (attribute_id, store_id, entity_id, value)"
                   " VALUES (%s, 0, %s, %s) ON DUPLICATE KEY UPDATE value = VALUES(value)",
                   (name_attribute(magento), product_id, name))
        tx.execute(f"UPDATE {t('catalog_product_entity')} SET updated_at = UTC_TIMESTAMP() WHERE entity_id = %s",
                   (product_id,))
    return time.time()


# -- waiting ----------------------------------------------------------------------------------------------

def _arrival(document: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(document["received_at"]).rstrip("Z")).replace(tzinfo=UTC).timestamp()


def wait_for_baseline(airflow: LiveAirflow, state: Database, receiver: ReferenceReceiver, timeout: float) -> dict[str, Any]:
    """Wait until a run of the queue DAG succeeded and the queue holds nothing open; return that run."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not airflow.alive():
            raise StackError(f"airflow standalone exited; end of {airflow.log_path}:\n{_tail(airflow.log_path)}")
        runs = [r for r in airflow.dag_runs() if r["run_id"] not in airflow.earlier_runs]
        failed = [r for r in runs if r["state"] == "failed"]
        if failed:
            raise StackError(f"{DAG_ID} run {failed[0]['run_id']} failed:\n{airflow.task_log_tails()}")
        done = [r for r in runs if r["state"] == "success"]
        open_rows = int(state.scalar("SELECT COUNT(*) FROM rag_sync_queue WHERE status IN ('pending', 'failed',"
                                     " 'processing')") or 0)
        products = sum(receiver.summary()["documents"].get("product", {}).values())
        now = f"runs {[r['state'] for r in runs]}, open queue rows {open_rows}, product documents received {products}"
        if now != last:
            say(now)
            last = now
        if done and open_rows == 0 and products:
            return done[0]
        time.sleep(2)
    raise StackError(f"no successful {DAG_ID} run with an empty queue within {timeout:.0f} s ({last});"
                     f"\n{airflow.task_log_tails()}\nend of {airflow.log_path}:\n{_tail(airflow.log_path)}")


def wait_for_document(airflow: LiveAirflow, receiver: ReferenceReceiver, product_id: int, store_id: int, name: str,
                      timeout: float) -> dict[str, Any] | None:
    """Poll the receiver until the product's document carries ``name``; return it, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = receiver.document("product", str(product_id), store_id)
        if doc and doc["action"] == "save" and (doc.get("data") or {}).get("name") == name:
            return doc
        if not airflow.alive():
            raise StackError(f"airflow standalone exited; end of {airflow.log_path}:\n{_tail(airflow.log_path)}")
        time.sleep(0.25)
    return None


def _run_at(runs: list[dict[str, Any]], moment: float) -> str:
    """Return the id of the run that was running at ``moment`` (Unix seconds), or '?'."""
    for run in runs:
        if not run["start_date"]:
            continue
        start = datetime.fromisoformat(str(run["start_date"])).replace(tzinfo=UTC).timestamp()
        end = (datetime.fromisoformat(str(run["end_date"])).replace(tzinfo=UTC).timestamp()
               if run["end_date"] else float("inf"))
        if start <= moment <= end + 1:
            return str(run["run_id"])
    return "?"


# -- the bench -----------------------------------------------------------------------------------------------

@contextmanager
def databases(server: DbParams, products: int, keep: bool) -> Iterator[tuple[Database, Database]]:
    """Create the shop and the ragsync database; drop them afterwards unless ``keep``."""
    with Database(server.with_database("")) as admin:
        for name in (MAGENTO_DB, STATE_DB):
            admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    magento, state = Database(server.with_database(MAGENTO_DB)), Database(server.with_database(STATE_DB))
    try:
        yield magento, state
    finally:
        magento.close()
        state.close()
        if keep:
            say(f"kept the databases {MAGENTO_DB} and {STATE_DB}")
        else:
            with Database(server.with_database("")) as admin:
                for name in (MAGENTO_DB, STATE_DB):
                    admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
            say("dropped the databases")


def prepare_home(home: Path, airflow: LiveAirflow) -> None:
    """Give the home a migrated metadata database, parse the DAGs into it and unpause only the queue DAG."""
    (home / "passwords.json").write_text(json.dumps({"admin": "admin"}))
    # A fresh database, not a copy of .airflow/airflow.db: that one holds the runs and pause states of
    # `make airflow` and of the tests' dag.test(), and may be written to while it is copied.
    airflow.run("db", "migrate")
    airflow.run("dags", "reserialize")
    airflow.run("dags", "unpause", DAG_ID)


def measure(args: argparse.Namespace, server: DbParams) -> dict[str, Any]:
    """Bring up the stack, measure ``args.repeats`` saves, tear everything down; return the figures."""
    figures: dict[str, Any] = {"products": args.products, "target_seconds": args.target, "latencies": []}
    with databases(server, args.products, args.keep) as (magento, state):
        shop = build_demo_database(magento, products=args.products, now=datetime.now(UTC).replace(tzinfo=None,
                                                                                                 microsecond=0))
        say(f"demo shop in {MAGENTO_DB}: {shop.describe()}")
        upgrade(state)
        home = Path(tempfile.mkdtemp(prefix="ragsync-latency-airflow-"))
        receiver = ReferenceReceiver(DEMO_SECRET, tenant_id=DEMO_TENANT, db_path=home / "receiver.sqlite").start()
        port = _free_port()
        env = airflow_env(home, port, magento.params, state.params, receiver.url)
        airflow = LiveAirflow(home, env, home / "airflow.log")
        try:
            say(f"receiver on {receiver.url}; AIRFLOW_HOME {home}; preparing the metadata database")
            started = time.monotonic()
            prepare_home(home, airflow)
            say(f"starting airflow standalone (API server on 127.0.0.1:{port}); log: {airflow.log_path}")
            airflow.start()
            first = wait_for_baseline(airflow, state, receiver, args.startup_timeout)
            figures["startup_seconds"] = round(time.monotonic() - started, 1)
            figures["baseline_products"] = sum(receiver.summary()["documents"].get("product", {}).values())
            say(f"first run {first['run_id']} done after {figures['startup_seconds']} s: "
                f"{figures['baseline_products']} product documents received")
            rng = random.Random(args.seed)
            for n, (pid, store_id, old_name) in enumerate(candidates(magento, receiver, args.repeats), start=1):
                if n > 1 and args.spread > 0:
                    pause = rng.uniform(0, args.spread)
                    say(f"waiting {pause:.1f} s so the next save falls elsewhere in the minute")
                    time.sleep(pause)
                new_name = f"{old_name} (latency {n} {secrets.token_hex(3)})"
                saved = save_product(magento, pid, new_name)
                say(f"saved product {pid} at {datetime.fromtimestamp(saved, UTC):%H:%M:%S.%f} UTC: {new_name!r}")
                doc = wait_for_document(airflow, receiver, pid, store_id, new_name, args.timeout)
                if doc is None:
                    print(f"save {n}: product {pid}: no document with the new name within {args.timeout:.0f} s"
                          f" (target < {args.target:.0f} s)", flush=True)
                    figures["latencies"].append(None)
                    continue
                latency = _arrival(doc) - saved
                run_id = _run_at(airflow.dag_runs(), _arrival(doc))
                figures["latencies"].append(round(latency, 1))
                print(f"save {n}: product save → receiver: {latency:.1f} s (target < {args.target:.0f} s);"
                      f" product {pid}, store {store_id}, delivered by run {run_id}", flush=True)
        finally:
            say("stopping Airflow (its process group)")
            airflow.stop()
            receiver.stop()
            if args.keep:
                say(f"kept {home}")
            else:
                shutil.rmtree(home, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=300, help="size of the demo shop (default 300)")
    parser.add_argument("--repeats", type=int, default=2, help="how many products to save and time (default 2)")
    parser.add_argument("--target", type=float, default=120.0, help="seconds a save may take to arrive (default 120)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for one save's document before counting it lost (default 300)")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="seconds for Airflow to start and the first run to load the receiver (default 600)")
    parser.add_argument("--spread", type=float, default=30.0,
                        help="wait a random 0..SPREAD seconds before each save after the first (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of those waits (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the Airflow home afterwards")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    wall = time.monotonic()
    try:
        with mysql_server(ROOT) as url:
            server = DbParams.from_url(url)
            say(f"MySQL server: {server.describe()}")
            figures = measure(args, server)
    except StackError as exc:
        print(f"latency: the live stack did not come up: {exc}", file=sys.stderr)
        return 2
    figures["wall_seconds"] = round(time.monotonic() - wall, 1)
    measured = [s for s in figures["latencies"] if s is not None]
    lost = len(figures["latencies"]) - len(measured)
    figures["max_seconds"] = max(measured) if measured else None
    ok = lost == 0 and all(s <= args.target for s in measured)
    figures["ok"] = ok
    worst = f"{figures['max_seconds']:.1f} s" if measured else "n/a"
    print(f"max: {worst} over {len(figures['latencies'])} saves ({lost} lost), target < {args.target:.0f} s: "
          f"{'OK' if ok else 'OVER'}; startup {figures['startup_seconds']} s, wall {figures['wall_seconds']} s")
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
