#!/usr/bin/env bash
# `make airflow`: Airflow standalone on this checkout's dags/ and plugins/ with demo connections.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m ragsync_dev.demo.standalone
