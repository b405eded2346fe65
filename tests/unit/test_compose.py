"""docker-compose.yaml is a valid Compose file with the services the deployment needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid_and_complete() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    out = subprocess.run([*command, "-f", str(ROOT / "docker-compose.yaml"), "config", "--services"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    services = set(out.stdout.split())
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
            "airflow-worker", "postgres", "redis", "mysql", "receiver", "demo-loader"} <= services
    full = subprocess.run([*command, "-f", str(ROOT / "docker-compose.yaml"), "config"],
                          capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "/opt/airflow/dags" in full and "/opt/airflow/plugins" in full
    assert "AIRFLOW_CONN_MAGENTO_DB" in full and "AIRFLOW_CONN_RAGSYNC_WEBHOOK" in full
