"""The demo-loader of docker-compose.yaml, run with its exact command line against MariaDB.

The command and environment are read from docker-compose.yaml; only the MySQL URLs change: the
``mysql`` service and its credentials become the test server, and the ``magento`` and ``ragsync``
schemas (which docker/mysql-init.sql creates empty) become fresh databases of this run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragsync.db import Database, DbParams
from ragsync.state.migrations import current_version
from ragsync_dev.demo.schema import create_magento_schema
from ragsync_dev.demo.shop import main as shop_main

ROOT = Path(__file__).resolve().parents[2]
MYSQL_URL = re.compile(r"mysql://[^\s'\"]+")


def _loader() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text("utf-8"))["services"]["demo-loader"]


class Loader:
    """The demo-loader's command line, pointed at two fresh databases of the test server."""

    def __init__(self, server: DbParams, magento: Database, ragsync: Database) -> None:
        self.magento, self.ragsync = magento, ragsync
        self.targets = {"magento": magento.params.database, "ragsync": ragsync.params.database}
        self.server = server
        service = _loader()
        command = service["command"]
        assert isinstance(command, list) and command[:2] == ["bash", "-c"] and len(command) == 3, command
        self.command = ["bash", "-c", self._rewrite(command[2])]
        self.products = int(re.search(r"--products (\d+)", command[2]).group(1))  # type: ignore[union-attr]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
        # `python` and `ragsync` of the command are this virtualenv's
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        for name, value in service["environment"].items():
            if name.startswith("AIRFLOW_CONN_") and str(value).startswith("mysql://"):
                self.env[name] = self._rewrite(str(value))

    def _rewrite(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            params = DbParams.from_url(match.group(0))
            assert params.host == "mysql" and params.database in self.targets, match.group(0)
            return self.server.with_database(self.targets[params.database]).url()

        return MYSQL_URL.sub(swap, text)

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command, capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=300)


def snapshot(db: Database) -> dict[str, Any]:
    """Return every table's row count and checksum, and the newest product updated_at."""
    tables = sorted(row[0] for row in db.query("SHOW TABLES"))
    state: dict[str, Any] = {table: db.scalar(f"SELECT COUNT(*) FROM `{table}`") for table in tables}
    if tables:
        state["checksums"] = db.query("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
    if "catalog_product_entity" in tables:
        state["max_updated_at"] = db.scalar("SELECT MAX(updated_at) FROM catalog_product_entity")
    return state


@pytest.fixture
def loader(server_params: DbParams, db_factory) -> Loader:
    return Loader(server_params, db_factory("cmp_magento"), db_factory("cmp_ragsync"))


def test_the_loader_command_is_the_idempotent_one() -> None:
    script = _loader()["command"][2]
    assert "python -m ragsync_dev.demo.shop " in script and " --create --if-missing" in script
    assert "--replace" not in script
    assert script.endswith("&& ragsync db upgrade")
    assert _loader()["restart"] == "no"


def test_first_up_loads_the_shop_and_every_later_up_leaves_it_alone(loader: Loader) -> None:
    assert snapshot(loader.magento) == {} and current_version(loader.ragsync) == 0

    first = loader.run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"demo shop: {loader.products:,} products" in first.stdout
    assert loader.magento.scalar("SELECT COUNT(*) FROM catalog_product_entity") == loader.products
    assert loader.magento.scalar("SELECT COUNT(*) FROM store") == 4
    assert current_version(loader.ragsync) > 0
    shop, state = snapshot(loader.magento), snapshot(loader.ragsync)

    for _ in range(2):
        again = loader.run()
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already holds the demo shop" in again.stdout and "left alone" in again.stdout
        assert "up to date" in again.stdout  # ragsync db upgrade ran and had nothing to apply
        assert snapshot(loader.magento) == shop
        assert snapshot(loader.ragsync) == state


def test_the_loader_creates_the_magento_schema_when_it_does_not_exist(loader: Loader, server_params) -> None:
    name = f"{loader.magento.params.database}_new"
    loader.targets["magento"] = name
    loader.command[2] = loader._rewrite(_loader()["command"][2])
    admin = Database(server_params.with_database(""))
    try:
        result = loader.run()
        assert result.returncode == 0, result.stdout + result.stderr
        created = Database(server_params.with_database(name))
        try:
            assert created.scalar("SELECT COUNT(*) FROM catalog_product_entity") == loader.products
        finally:
            created.close()
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_the_loader_refuses_magento_tables_that_are_not_a_complete_demo_shop(loader: Loader) -> None:
    create_magento_schema(loader.magento)  # the tables of an interrupted load, no products
    before = snapshot(loader.magento)

    result = loader.run()
    assert result.returncode != 0
    assert "not a complete demo shop" in result.stderr and "no products" in result.stderr
    assert snapshot(loader.magento) == before
    assert current_version(loader.ragsync) == 0  # `&& ragsync db upgrade` did not run


def test_the_loader_refuses_a_shop_that_lost_rows(loader: Loader) -> None:
    assert loader.run().returncode == 0
    loader.magento.execute("DELETE FROM salesrule WHERE rule_id = 7")
    result = loader.run()
    assert result.returncode == 2
    assert "salesrule" in result.stderr and "not a complete demo shop" in result.stderr


def test_if_missing_needs_create_and_excludes_replace(capsys) -> None:
    url = "mysql://root@127.0.0.1:3306/unused"
    for argv in (["--url", url, "--if-missing"], ["--url", url, "--create", "--replace", "--if-missing"]):
        with pytest.raises(SystemExit) as exit_info:
            shop_main(argv)
        assert exit_info.value.code == 2
    assert "--if-missing needs --create" in capsys.readouterr().err
