"""The ``ragsync`` command: the seed's sync, queue and test commands, plus ``db`` and ``explain``.

It reads the same connections (``magento_db``, ``ragsync_db``, ``ragsync_webhook``) and the same
``ragsync_config`` Variable as the DAGs, through Airflow's secrets chain (a configured secrets
backend, ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables, Airflow's metadata database;
see :mod:`ragsync.airflow_secrets`). Tables and progress on a terminal, plain text when piped.

Exit codes: 0 done; 1 the operation ran but failed (a connection test failed, a delete limit
stopped a sync, items could not be delivered); 2 bad input (malformed ids, an unknown store,
status or option); 3 configuration or connection problem (missing connection, database
unreachable, invalid settings, ragsync disabled); 4 a destructive action was not confirmed.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsync.errors import (
    ConfigError,
    ConnectionNotConfiguredError,
    DatabaseError,
    RagSyncError,
    TransientError,
    UnknownStoreError,
    describe,
    mysql_errno,
)
from ragsync.vocabulary import (
    CLEARABLE_STATUSES,
    CMS_SCOPES,
    ENTITY_TYPES,
    OPEN_STATUSES,
    PROMOTION_KINDS,
    QUEUE_STATUSES,
    RETRYABLE_STATUSES,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_NOT_CONFIRMED = 0, 1, 2, 3, 4
SYNC_TYPES = {"products": "product", "categories": "category", "cms": "cms", "promotions": "promotion"}


def _sync_columns(dry_run: bool) -> list[tuple[str, str]]:
    """Return the ``(SyncResult.counts() key, column)`` pairs of ``ragsync sync``'s table (a dry run: what it would do)."""
    if not dry_run:
        return [("documents", "documents"), ("saves", "saves"), ("deletes", "deletes"), ("queued", "queued"),
                ("replaced", "replaced"), ("skipped", "skipped"), ("cancelled", "cancelled"),
                ("reconciled_deletes", "removed"), ("problems", "problems")]
    return [("documents", "documents"), ("saves", "saves"), ("deletes", "deletes"), ("queued", "would queue"),
            ("replaced", "would replace"), ("queued_deletes", "would delete"),
            ("skipped_unchanged", "skip: unchanged"), ("already_queued", "skip: already queued"),
            ("skipped_dead", "skip: dead"), ("skipped_absent_delete", "skip: absent delete"),
            ("skipped_older_read", "skip: older read"), ("cancelled", "would cancel (reverted)"),
            ("reconciled_deletes", "removed"), ("problems", "problems")]


class UsageError(RagSyncError):
    """The command line is wrong (exit code 2)."""


class NotConfirmed(RagSyncError):
    """A destructive action was not confirmed (exit code 4)."""


class Output:
    """Print tables and messages: rich on a terminal, plain tab-separated text when piped."""

    def __init__(self, stream: Any = None, plain: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self._console: Any = None
        if not self.plain:
            from rich.console import Console

            self._console = Console(file=self.stream)

    def line(self, text: str) -> None:
        """Print one line."""
        if self._console is not None:
            self._console.print(text, highlight=False, markup=False)
        else:
            print(text, file=self.stream)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print a table (plain: a header line and tab-separated rows)."""
        if self._console is not None:
            from rich.table import Table

            table = Table(title=title)
            for column in columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*("" if v is None else str(v) for v in row))
            self._console.print(table)
            return
        print(f"# {title}", file=self.stream)
        print("\t".join(columns), file=self.stream)
        for row in rows:
            print("\t".join("" if v is None else str(v) for v in row), file=self.stream)

    def progress(self, description: str) -> Any:
        """Return a context manager with ``advance(n)`` that shows progress on a terminal only."""
        return _Progress(self._console, description)


class _Progress:
    def __init__(self, console: Any, description: str) -> None:
        self.console, self.description = console, description
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.console is not None:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      TextColumn("{task.completed} documents"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=None)
        return self

    def advance(self, amount: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400 seconds, got {text}")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (every sent item) or more, got {value}")
    return value


def _parse_ids(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return _parse_list(text, "--ids")


def _parse_list(text: str, option: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        example = "12,57,90" if option == "--ids" else "MH01-XS-Black,24-MB01"
        raise UsageError(f"{option} {text!r}: give a comma-separated list such as {example}")
    return parts


class App:
    """The command implementations, sharing settings and connections opened on first use."""

    def __init__(self, out: Output, verbose: bool = False) -> None:
        from ragsync.pipeline.tasks import configure_logging
        from ragsync.settings import load_settings

        self.out = out
        self.settings = load_settings()
        configure_logging(self.settings)  # debug and log_file apply to the command as to the tasks
        _log_to_stderr(logging.DEBUG if self.settings.debug else logging.INFO if verbose else logging.WARNING)
        self._magento: Any = None
        self._ragsync: Any = None

    @property
    def magento(self) -> Any:
        """Return Magento's database."""
        if self._magento is None:
            from ragsync.db import MAGENTO_CONN_ID, Database

            self._magento = Database.from_conn_id(MAGENTO_CONN_ID)
        return self._magento

    @property
    def ragsync(self) -> Any:
        """Return the pipeline's database, migrated."""
        if self._ragsync is None:
            from ragsync.db import RAGSYNC_CONN_ID, Database
            from ragsync.state.migrations import upgrade

            self._ragsync = Database.from_conn_id(RAGSYNC_CONN_ID)
            upgrade(self._ragsync)
        return self._ragsync

    def hook(self) -> Any:
        """Return the webhook hook of the ``ragsync_webhook`` connection."""
        from ragsync.delivery.hook import RagWebhookHook

        return RagWebhookHook(environment=self.settings.environment)

    def require_enabled(self) -> None:
        """Refuse to sync or deliver while the master switch is off."""
        if not self.settings.enabled:
            raise ConfigError('ragsync is disabled: set "enabled": true in the ragsync_config Variable '
                              "(AIRFLOW_VAR_RAGSYNC_CONFIG) to sync or deliver")

    def close(self) -> None:
        """Close open connections."""
        for db in (self._magento, self._ragsync):
            if db is not None:
                db.close()

    # --- sync ---------------------------------------------------------------------------
    def sync(self, args: argparse.Namespace) -> int:
        """Run ``ragsync sync <type>``."""
        from ragsync.pipeline.scope import entity_ids, skus_to_ids, types_for, with_promotion_type
        from ragsync.pipeline.sync import SyncService

        self.require_enabled()
        kind = SYNC_TYPES[args.what]
        subtype = getattr(args, "type", None)  # cms: pages or blocks; promotions: cart or catalog
        raw_ids = _parse_ids(args.ids)
        ids_by_type: dict[str, Any] = {}
        try:
            types = types_for(kind, subtype)
            settings = with_promotion_type(self.settings, subtype) if kind == "promotion" else self.settings
            if getattr(args, "skus", None):
                raw_ids = (raw_ids or []) + [str(i) for i in skus_to_ids(self.magento, _parse_list(args.skus, "--skus"))]
            for entity_type in types:
                ids_by_type[entity_type] = entity_ids(entity_type, raw_ids, subtype)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        stores = [args.store] if getattr(args, "store", None) else None
        service = SyncService(self.magento, self.ragsync, settings)
        if stores:
            service.stores(stores)  # an unknown store fails here, before any work
        rows = []
        limits: list[str] = []
        status = EXIT_OK
        for entity_type in types:
            with self.out.progress(f"syncing {entity_type}") as progress:
                result = service.sync(entity_type, ids=ids_by_type[entity_type], stores=stores,
                                      force=args.force, dry_run=args.dry_run)
                progress.advance(result.documents)
            if args.dry_run:
                for doc in result.dry_run_documents:  # each with "would": what a real run would do with it
                    self.out.line(json.dumps(doc, ensure_ascii=False, sort_keys=True))
                if result.delete_limit:
                    limits.append(result.delete_limit)
            for problem in result.problems:
                self.out.line(f"problem: {problem}")
            counts = result.counts()
            rows.append([entity_type, *(counts[key] for key, _label in _sync_columns(args.dry_run))])
        columns = ["type", *(label for _key, label in _sync_columns(args.dry_run))]
        if args.dry_run:
            # what a real run would do, as the queue and the ledger decide it now; nothing was written
            self.out.table("sync (dry run: nothing written; what a real run would do)", columns, rows)
            for limit in limits:
                self.out.line(f"a real run would stop at the delete limit: {limit}")
        else:
            self.out.table("sync", columns, rows)
        return status

    # --- capture ------------------------------------------------------------------------
    def capture(self, args: argparse.Namespace) -> int:
        """Run ``ragsync capture``: what the queue DAG's capture task does, once."""
        from ragsync.pipeline.capture import capture
        from ragsync.pipeline.sync import SyncService

        self.require_enabled()
        types = [SYNC_TYPES[t] if t in SYNC_TYPES else t for t in _parse_list(args.types, "--types")] \
            if args.types else None
        if types is not None:
            unknown = [t for t in types if t not in ENTITY_TYPES]
            if unknown:
                raise UsageError(f"unknown entity type {', '.join(unknown)}; allowed: {', '.join(ENTITY_TYPES)}")
        service = SyncService(self.magento, self.ragsync, self.settings)
        with self.out.progress("capturing changes") as progress:
            outcome = capture(service, types)
            progress.advance(sum(r.documents for r in outcome.results.values()))
        for result in outcome.results.values():
            for problem in result.problems:
                self.out.line(f"problem: {problem}")
        self.out.table("capture", ["type", "documents", "queued", "replaced", "skipped", "cancelled", "removed",
                                   "problems"],
                       [[t, c["documents"], c["queued"], c["replaced"], c["skipped"], c["cancelled"],
                         c["reconciled_deletes"], c["problems"]]
                        for t, c in ((t, r.counts()) for t, r in outcome.results.items())])
        self.out.table("changes by source", ["source", "keys"], sorted(outcome.sources.items()))
        self.out.line("changelogs read: " + (", ".join(outcome.changelogs) or "none (no indexer in "
                                              "\"Update by Schedule\" mode)"))
        self.out.line(f"tables fingerprinted: {len(outcome.fingerprinted_tables)}")
        return EXIT_OK

    # --- queue --------------------------------------------------------------------------
    def queue_status(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue status``."""
        from ragsync.state.breaker import endpoint_rows
        from ragsync.state.ledger import Ledger
        from ragsync.state.queue_view import QueueView

        view = QueueView(self.ragsync)
        counts = view.counts_by_status()
        self.out.table("queue", ["status", "items"], [[s, counts.get(s, 0)] for s in QUEUE_STATUSES])
        by_type = view.counts_by_type_and_status()
        if by_type:
            self.out.table("queue by type", ["type", "status", "items"], by_type)
        ledger = Ledger(self.ragsync)
        self.out.table("documents live in the backend", ["type", "documents"],
                       [[t, ledger.live_count(t)] for t in ENTITY_TYPES])
        breakers = endpoint_rows(self.ragsync)
        for row in breakers:
            self.out.line(f"circuit breaker for {row['endpoint']}: {row['state']} "
                          f"({row['consecutive_failures']} consecutive failures"
                          + (f", open until {row['open_until']} UTC" if row["state"] == "open" else "") + ")"
                          + (f"; paused by the backend until {row['paused_until']} UTC" if row["paused_until"]
                             and row["paused_until"] > datetime.now(UTC).replace(tzinfo=None) else ""))
        if not breakers:
            self.out.line("circuit breaker: closed (no delivery yet)")
        return EXIT_OK

    def queue_process(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue process``."""
        from ragsync.pipeline.deliver import deliver

        self.require_enabled()
        result = deliver(self.ragsync, self.hook(), self.settings, time_budget_seconds=args.budget)
        data = result.as_dict()
        self.out.table("delivery", ["measure", "value"], [[k, v] for k, v in data.items()])
        return EXIT_FAILED if data.get("failed") or data.get("dead") else EXIT_OK

    def queue_retry(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue retry``."""
        from ragsync.pipeline.maintenance import retry_items

        statuses = (args.status,) if args.status else ("failed", "dead")
        result = retry_items(self.ragsync, statuses, username=_user())
        self.out.line(f"put back to pending: {result['retried']}"
                      + (f" ({result['superseded']} superseded by newer versions)" if result["superseded"] else ""))
        return EXIT_OK

    def queue_clear(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue clear``."""
        from ragsync.pipeline.maintenance import clear

        if not args.force:
            if not sys.stdin.isatty():
                raise NotConfirmed(f"refusing to clear {args.status} items without confirmation: add --force")
            answer = input(f"Delete every queue item with status {args.status}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise NotConfirmed("not confirmed; nothing was deleted")
        result = clear(self.ragsync, args.status, username=_user())
        self.out.line(f"deleted {result['deleted']} {args.status} items")
        return EXIT_OK

    def queue_reset_stuck(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue reset-stuck``."""
        from ragsync.pipeline.maintenance import reset_stuck

        result = reset_stuck(self.ragsync, self.settings)
        self.out.line(f"returned to pending: {result['reset']}"
                      + (f" ({result['superseded']} superseded by newer versions)" if result["superseded"] else ""))
        return EXIT_OK

    def queue_cleanup(self, args: argparse.Namespace) -> int:
        """Run ``ragsync queue cleanup``."""
        from ragsync.pipeline.maintenance import cleanup_sent

        result = cleanup_sent(self.ragsync, self.settings, days=args.days)
        self.out.line(f"deleted sent items older than {result['days']:g} days: {int(result['deleted'])}")
        return EXIT_OK

    # --- test / db / explain ------------------------------------------------------------
    def test_connection(self, args: argparse.Namespace) -> int:
        """Run ``ragsync test connection``."""
        from ragsync.pipeline.maintenance import test_connection

        hook = self.hook()
        _ = hook.config  # a missing or broken connection is a configuration error (exit 3), not a failed test
        result = test_connection(self.ragsync, hook, username=_user())
        ok, message = bool(result["ok"]), result["message"]
        self.out.line(("connection OK: " if ok else "connection FAILED: ") + str(message))
        return EXIT_OK if ok else EXIT_FAILED

    def db(self, args: argparse.Namespace) -> int:
        """Run ``ragsync db upgrade|uninstall``."""
        from ragsync.db import RAGSYNC_CONN_ID, Database
        from ragsync.state.migrations import current_version, uninstall, upgrade

        db = Database.from_conn_id(RAGSYNC_CONN_ID)
        try:
            if args.action == "upgrade":
                applied = upgrade(db)
                names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied) or "nothing (up to date)"
                self.out.line(f"applied: {names}; schema version {current_version(db)}")
                return EXIT_OK
            if not args.force:
                if not sys.stdin.isatty():
                    raise NotConfirmed("refusing to drop the ragsync tables without confirmation: add --force")
                if input("Drop every ragsync table (queue, ledger, log)? [y/N] ").strip().lower() not in ("y", "yes"):
                    raise NotConfirmed("not confirmed; nothing was dropped")
            for statement in uninstall(db):
                self.out.line(statement)
            return EXIT_OK
        finally:
            db.close()

    def dags(self, args: argparse.Namespace) -> int:
        """Run ``ragsync dags path|install DIR``: where the DAG files are, or copy them into a DAGs folder."""
        return dags_command(args, self.out)

    def explain(self, args: argparse.Namespace) -> int:
        """Run ``ragsync explain <type> <id>``: the document, its ledger and queue state, and why."""
        from ragsync.magento.context import MagentoContext
        from ragsync.pipeline.sync import make_reader, parse_ids
        from ragsync.state.ledger import Ledger
        from ragsync.state.queue_view import QueueView

        entity_type = {"product": "product", "category": "category", "page": "cms_page", "cms_page": "cms_page",
                       "block": "cms_block", "cms_block": "cms_block", "promotion": "promotion"}[args.type]
        try:
            ids = parse_ids(entity_type, [args.id])
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        assert ids is not None
        ctx = MagentoContext(self.magento)
        views = ctx.select_stores([args.store] if args.store else list(self.settings.stores))
        reader = make_reader(entity_type, ctx, self.settings, views, None)
        batch = reader.read(ids)
        exists = bool(reader.existing_ids(ids))
        self.out.line(f"{entity_type} {ids[0]}: {'exists in Magento' if exists else 'NOT FOUND in Magento'}")
        for problem in batch.problems:
            self.out.line(f"problem: {problem}")
        ledger, queue = Ledger(self.ragsync), QueueView(self.ragsync)
        for doc in batch.documents:
            history = ledger.history(doc.key)
            rows = queue.entity_rows(doc.key, limit=5)
            view = next(v for v in views if v.store_id == doc.store_id)
            self.out.line("")
            self.out.line(f"store view {view.code} (id {view.store_id}): {_why(doc, history, rows)}")
            if args.document and doc.data is not None:
                self.out.line(json.dumps(doc.item(), ensure_ascii=False, indent=2, sort_keys=True))
            if rows:
                self.out.table(f"queue rows for store {view.code}", ["id", "status", "action", "hash", "attempts",
                                                                     "next attempt", "http", "error"],
                               [[r["id"], r["status"], r["action"], r["content_hash"][:12], r["attempts"],
                                 r["next_attempt_at"], r["last_http_status"], (r["last_error"] or "")[:60]]
                                for r in rows])
        return EXIT_OK


def _why(doc: Any, ledger: dict[str, Any] | None, rows: list[dict[str, Any]]) -> str:
    open_rows = [r for r in rows if r["status"] in (*OPEN_STATUSES, "processing")]
    if doc.action == "delete":
        state = "not published in this store view (missing, disabled, not visible, inactive, outside its dates " \
                "or not assigned to the store's website, or filtered out by ragsync_config)"
        if ledger and ledger["delivered_hash"] and not ledger["is_tombstone"]:
            return state + "; the backend still has it: the next sync queues a delete"
        return state + "; the backend does not have it, so nothing is sent"
    if open_rows:
        r = open_rows[0]
        return f"queued: row {r['id']} is {r['status']} (attempts {r['attempts']})"
    if ledger and ledger["delivered_hash"] == doc.hash and not ledger["is_tombstone"]:
        return f"in sync: the backend has this exact version (hash {doc.hash[:12]}, delivered {ledger['delivered_at']})"
    if ledger and ledger["failed_status"] == "dead" and ledger["failed_hash"] == doc.hash:
        return ("dead: this version was rejected or ran out of retries "
                f"({(ledger['failed_error'] or '')[:120]}); fix it in Magento or run `ragsync queue retry --status dead`")
    if ledger and ledger["delivered_hash"]:
        return "changed since the last delivery: the next sync or capture queues it"
    return "never delivered: the next sync or capture queues it"


def _log_to_stderr(level: int) -> None:
    """Send log lines to stderr only, at ``level``: results go to stdout, which scripts read.

    Importing Airflow's core configures logging with a handler on stdout; it is replaced here, after
    that import, by one stderr handler. ragsync's own logger keeps INFO for ``log_file``.
    """
    import airflow.settings  # noqa: F401 - configures logging on import; do it now, then override

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)


def dags_folder() -> Path:
    """Return the folder of the DAG files shipped in the installed package (``ragsync.dags``)."""
    import ragsync.dags

    return Path(ragsync.dags.__file__).resolve().parent


def dags_command(args: argparse.Namespace, out: Output) -> int:
    """Print the installed DAG folder, or copy its DAG files into ``args.directory``."""
    source = dags_folder()
    if args.action == "path":
        out.line(str(source))
        return EXIT_OK
    target = Path(args.directory).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a folder: give your Airflow DAGs folder (`airflow config get-value "
                         "core dags_folder`)")
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.glob("ragsync_*.py"))
    clashes = [t for t in (target / p.name for p in files) if t.exists() and t.read_bytes() != (source / t.name).read_bytes()]
    if clashes and not args.force:
        raise NotConfirmed(f"{len(clashes)} DAG files in {target} differ from this version "
                           f"({', '.join(c.name for c in clashes)}): add --force to overwrite them")
    for path in files:
        shutil.copyfile(path, target / path.name)
    out.line(f"copied {len(files)} DAG files to {target}")
    return EXIT_OK


def _user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``ragsync`` command."""
    parser = argparse.ArgumentParser(prog="ragsync", description="Keep a RAG backend in step with a Magento 2 store.",
                                     epilog="Exit codes: 0 ok, 1 failed, 2 bad input, 3 configuration, "
                                            "4 not confirmed.")
    parser.add_argument("--plain", action="store_true", help="plain text output even on a terminal")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="sync entities to the queue")
    sync_sub = sync.add_subparsers(dest="what", required=True)
    for name in SYNC_TYPES:
        p = sync_sub.add_parser(name, help=f"sync {name}")
        p.add_argument("--ids", help="comma-separated entity ids (exactly those; no reconcile)")
        if name == "products":
            p.add_argument("--skus", help="comma-separated SKUs (exactly those products; no reconcile)")
        if name != "promotions":
            p.add_argument("--store", help="store view code or id")
        if name == "cms":
            p.add_argument("--type", choices=[k for k in CMS_SCOPES if k != "all"], help="only pages or only blocks")
        if name == "promotions":
            p.add_argument("--type", choices=list(PROMOTION_KINDS), help="only cart or only catalog rules")
        p.add_argument("--force", action="store_true", help="queue even when the backend has this version")
        p.add_argument("--dry-run", action="store_true",
                       help="build and print the documents with what a real run would do with each (queue, "
                            "replace, skip and why, cancel, delete), and the counts; write nothing")
        p.set_defaults(handler="sync")

    p = sub.add_parser("capture", help="queue what changed in Magento since the last capture, once",
                       description="Do once what the capture task of ragsync_process_queue does every minute: "
                                   "read Magento's changelogs, updated_at and fingerprints, follow what each "
                                   "change reaches, and queue the documents that differ from the backend's.")
    p.add_argument("--types", help="comma-separated entity types (default: every enabled one), "
                                   f"of {', '.join(ENTITY_TYPES)}")
    p.set_defaults(handler="capture")

    queue = sub.add_parser("queue", help="operate the queue")
    queue_sub = queue.add_subparsers(dest="action", required=True)
    p = queue_sub.add_parser("process", help="deliver due items now")
    p.add_argument("--budget", type=_positive_seconds, default=300.0,
                   help="stop after this many seconds (default 300)")
    p.set_defaults(handler="queue_process")
    queue_sub.add_parser("status", help="counts per status, breaker state").set_defaults(handler="queue_status")
    p = queue_sub.add_parser("retry", help="put failed/dead items back to pending")
    p.add_argument("--status", choices=list(RETRYABLE_STATUSES), help="only this status (default both)")
    p.set_defaults(handler="queue_retry")
    p = queue_sub.add_parser("clear", help="delete items by status")
    p.add_argument("--status", required=True, choices=[*CLEARABLE_STATUSES, "all"])
    p.add_argument("--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler="queue_clear")
    queue_sub.add_parser("reset-stuck", help="return expired processing items to pending").set_defaults(
        handler="queue_reset_stuck")
    p = queue_sub.add_parser("cleanup", help="delete old sent items")
    p.add_argument("--days", type=_days, help="keep this many days; 0 = every sent item (default queue.cleanup_days)")
    p.set_defaults(handler="queue_cleanup")

    test = sub.add_parser("test", help="checks")
    test_sub = test.add_subparsers(dest="what", required=True)
    test_sub.add_parser("connection", help="POST a signed ping to the backend").set_defaults(handler="test_connection")

    db = sub.add_parser("db", help="the ragsync tables")
    db.add_argument("action", choices=["upgrade", "uninstall"])
    db.add_argument("--force", action="store_true", help="uninstall without confirmation")
    db.set_defaults(handler="db")

    dags = sub.add_parser("dags", help="the DAG files of the installed package")
    dags_sub = dags.add_subparsers(dest="action", required=True)
    dags_sub.add_parser("path", help="print the folder that holds them (set [core] dags_folder to it)").set_defaults(
        handler="dags")
    p = dags_sub.add_parser("install", help="copy them into a DAGs folder")
    p.add_argument("directory", help="your Airflow DAGs folder")
    p.add_argument("--force", action="store_true", help="overwrite DAG files of another version")
    p.set_defaults(handler="dags")

    explain = sub.add_parser("explain", help="show an entity's document, ledger and queue state, and why")
    explain.add_argument("type", choices=["product", "category", "page", "cms_page", "block", "cms_block",
                                          "promotion"])
    explain.add_argument("id", help="entity id (promotions: cart-3 or catalog-2)")
    explain.add_argument("--store", help="store view code or id")
    explain.add_argument("--document", action="store_true", help="print the whole document")
    explain.set_defaults(handler="explain")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ragsync`` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    out = Output(plain=True if args.plain else None)
    app: App | None = None
    try:
        if args.handler == "dags":  # needs neither Airflow's connections nor the Variable
            return dags_command(args, out)
        app = App(out, verbose=args.verbose)
        return int(getattr(app, args.handler)(args))
    except UsageError as exc:
        print(f"ragsync: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnknownStoreError as exc:
        print(f"ragsync: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotConfirmed as exc:
        print(f"ragsync: {exc}", file=sys.stderr)
        return EXIT_NOT_CONFIRMED
    except (ConnectionNotConfiguredError, DatabaseError, ConfigError) as exc:
        print(f"ragsync: configuration error: {describe(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except TransientError as exc:
        print(f"ragsync: unavailable, try again: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RagSyncError as exc:
        print(f"ragsync: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if mysql_errno(exc) is None:
            raise
        print(f"ragsync: database error: {describe(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        if app is not None:
            app.close()


if __name__ == "__main__":
    sys.exit(main())
