#!/usr/bin/env bash
# The test command behind `make test`: lint, types, then the whole suite against the server
# in RAGSYNC_MYSQL_URL (set by ragsync_dev.demo.mysql_server).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
echo "== ruff"; .venv/bin/ruff check plugins dags tests bench dev
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
echo "make test: finished in $(( $(date +%s) - start )) s"
