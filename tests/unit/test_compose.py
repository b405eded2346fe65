"""docker-compose.yaml is a valid Compose file that builds the project's image and really starts.

The structure is read with PyYAML (anchors and ``<<`` merges resolved); validity and variable
interpolation are checked with a Compose client when one is installed. The demo loader's
command itself runs in tests/integration/test_compose_loader.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
IMAGE = "ragsync-airflow:local"
# the long-running Airflow components and the command that starts each
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
ALL_SERVICES = {*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "mysql", "receiver", "demo-loader"}


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    # an empty env file: a developer's .env (AIRFLOW_UID=...) must not change what is checked
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "empty.env"
        env_file.write_text("")
        return subprocess.run([*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", *args],
                              capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text("utf-8"))["services"]


def _image_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("image") == IMAGE}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Return container path -> source of the service's short-syntax volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_mode = volume.split(":")
        mounts[target] = source
    return mounts


def _dockerfile_instructions() -> list[str]:
    """Return the Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [re.sub(r"\s+", " ", i).strip() for i in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if i.strip()]


# --- validity (needs a Compose client) -------------------------------------------------------

def test_compose_config_is_valid_and_names_every_service() -> None:
    out = _config("--services")
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == ALL_SERVICES
    full = _config()
    assert full.returncode == 0, full.stderr
    assert "/opt/airflow/dags" in full.stdout and "/opt/airflow/logs" in full.stdout
    assert "/opt/airflow/plugins" not in full.stdout


def test_airflow_uid_defaults_to_50000_and_can_be_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_UID"}
    for uid, expected in ((None, "50000:0"), ("4321", "4321:0")):
        if uid is not None:
            env["AIRFLOW_UID"] = uid
        out = _config(env=env)
        assert out.returncode == 0, out.stderr
        resolved = yaml.safe_load(out.stdout)["services"]
        for name in (*AIRFLOW_SERVICES, "demo-loader", "receiver"):
            assert resolved[name]["user"] == expected, name
        assert resolved["airflow-init"]["user"] == "0:0"
        init_script = " ".join(resolved["airflow-init"]["command"])
        assert f'chown -R "{expected}" /opt/airflow/logs' in init_script


# --- structure -----------------------------------------------------------------------------

def test_every_airflow_service_runs_its_component_with_a_healthcheck(services) -> None:
    assert {n for n in services if n.startswith("airflow-")} == {*AIRFLOW_SERVICES, "airflow-init"}
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert service["command"] == command, name
        assert service["restart"] == "always", name
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in service["healthcheck"], (name, key)
    health = {name: " ".join(services[name]["healthcheck"]["test"][1:]) for name in AIRFLOW_SERVICES}
    assert health["airflow-apiserver"] == "curl --fail http://localhost:8080/api/v2/version"
    assert health["airflow-scheduler"] == "curl --fail http://localhost:8974/health"
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for name, job in (("airflow-dag-processor", "DagProcessorJob"), ("airflow-triggerer", "TriggererJob")):
        assert health[name] == f'airflow jobs check --job-type {job} --hostname "$${{HOSTNAME}}"'
    assert 'inspect ping -d "celery@$${HOSTNAME}"' in health["airflow-worker"]
    assert services["receiver"]["healthcheck"]["test"][-1] == "http://localhost:8765/_health"


def test_no_container_installs_packages_when_it_starts(services) -> None:
    for name, service in services.items():
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in service.get("environment", {}), name
        assert "pip install" not in str(service.get("command", "")), name
        assert "PYTHONPATH" not in service.get("environment", {}), name


def test_every_airflow_container_runs_the_image_built_from_the_project(services) -> None:
    built = _image_services(services)
    assert set(built) == {*AIRFLOW_SERVICES, "airflow-init", "demo-loader", "receiver"}
    for name, service in built.items():
        assert service["build"] == ".", name
    for name in ("postgres", "redis", "mysql"):
        assert "build" not in services[name] and not services[name]["image"].startswith("apache/airflow")


def test_the_dockerfile_installs_the_project_with_the_constraints() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == "FROM apache/airflow:3.3.2-python3.11"
    assert "USER airflow" in instructions  # the image refuses pip as root
    pip = [i for i in instructions if i.startswith("RUN pip install")]
    assert len(pip) == 1, instructions
    words = pip[0].split()
    assert "--no-cache-dir" in words and '"apache-airflow==${AIRFLOW_VERSION}"' in words
    assert words[words.index("-c") + 1].endswith("constraints.txt")
    assert "/opt/ragsync" in words and "/opt/ragsync/dev" in words
    ignored = set((ROOT / ".dockerignore").read_text("utf-8").split())
    assert {".git", ".venv", ".airflow", ".mysql", "**/build", "**/*.egg-info", "logs"} <= ignored


def test_dags_and_logs_are_mounted_and_plugins_are_not(services) -> None:
    for name in AIRFLOW_SERVICES:
        service = services[name]
        mounts = _mounts(service)
        assert mounts.get("/opt/airflow/dags") == "./dags", name
        assert service["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags", name
        assert mounts.get("/opt/airflow/logs") == "./logs", name
        assert "/opt/airflow/plugins" not in mounts, name
    init = services["airflow-init"]
    assert init["user"] == "0:0" and init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert 'chown -R "${AIRFLOW_UID:-50000}:0" /opt/airflow/logs' in init["command"][-1]
    assert all(services[name]["user"] == "${AIRFLOW_UID:-50000}:0" for name in AIRFLOW_SERVICES)


def test_airflow_waits_for_its_database_and_the_worker_for_the_demo_shop(services) -> None:
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    worker = services["airflow-worker"]["depends_on"]
    assert worker["demo-loader"]["condition"] == "service_completed_successfully"
    assert worker["receiver"]["condition"] == "service_healthy"
    assert services["demo-loader"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert services["demo-loader"]["restart"] == "no" and services["airflow-init"]["restart"] == "no"


def test_connections_match_the_users_mysql_init_creates(services) -> None:
    init_sql = (ROOT / "docker" / "mysql-init.sql").read_text("utf-8")
    root_password = services["mysql"]["environment"]["MYSQL_ROOT_PASSWORD"]
    assert f"mysql://root:{root_password}@mysql:3306/magento" in services["demo-loader"]["command"][-1]
    for name in (*AIRFLOW_SERVICES, "demo-loader"):
        env = services[name]["environment"]
        assert {"AIRFLOW_CONN_MAGENTO_DB", "AIRFLOW_CONN_RAGSYNC_DB", "AIRFLOW_CONN_RAGSYNC_WEBHOOK",
                "AIRFLOW_VAR_RAGSYNC_CONFIG"} <= set(env), name
    env = services["airflow-worker"]["environment"]
    for conn, database in (("AIRFLOW_CONN_MAGENTO_DB", "magento"), ("AIRFLOW_CONN_RAGSYNC_DB", "ragsync")):
        user, password = re.match(r"mysql://([^:]+):([^@]+)@mysql:3306/(\w+)$", env[conn]).group(1, 2)  # type: ignore[union-attr]
        assert f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';" in init_sql
        assert f"CREATE DATABASE IF NOT EXISTS {database} " in init_sql
        assert f"ON {database}.* TO '{user}'@'%';" in init_sql
    secret = services["receiver"]["environment"]["RAGSYNC_RECEIVER_SECRET"]
    assert f'"password": "{secret}"' in env["AIRFLOW_CONN_RAGSYNC_WEBHOOK"]
