# ragsync: `make demo` runs the main job, `make test` runs the tests. Each installs what is
# missing first (scripts/bootstrap.sh). See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
WITH_MYSQL := $(PY) -m ragsync_dev.demo.mysql_server run --

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False

.PHONY: demo test lint unit bench bench-latency airflow bootstrap clean wheel

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@$(WITH_MYSQL) $(PY) -m ragsync_dev.demo.run

test:
	@scripts/bootstrap.sh --browser
	@$(WITH_MYSQL) scripts/run-tests.sh $(PYTEST_ARGS)

unit: bootstrap
	@$(PY) -m pytest -q -m "not mysql" $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check plugins dags tests bench dev
	@$(VENV)/bin/mypy

bench: bootstrap
	@$(WITH_MYSQL) $(PY) bench/extract.py --products 100000 --keep
	@$(WITH_MYSQL) $(PY) bench/sync.py --products 100000
	@$(WITH_MYSQL) $(PY) bench/deliver.py

# a product saved in Magento, through a live `airflow standalone` (real clock), to a local receiver
bench-latency: bootstrap
	@$(WITH_MYSQL) $(PY) bench/latency.py $(LATENCY_ARGS)

wheel: bootstrap
	@rm -rf dist && $(VENV)/bin/pip wheel -q --no-deps -w dist . && ls dist/*.whl

airflow: bootstrap
	@$(WITH_MYSQL) scripts/airflow-standalone.sh

clean:
	rm -rf .airflow .mysql .run .pytest_cache .ruff_cache .mypy_cache dist build
