#!/usr/bin/env bash
# Install what `make demo`, `make test` and `make airflow` need and is missing:
# Debian packages (build tools, MySQL client headers, MariaDB only when no server is
# reachable, Chromium for the browser tests, docker-compose to validate the Compose file),
# a virtualenv with the pinned packages, and an
# AIRFLOW_HOME inside the checkout with its metadata database migrated.
# Usage: scripts/bootstrap.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
want_browser=0
[ "${1:-}" = "--browser" ] && want_browser=1

say() { printf 'ragsync: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------
missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if command -v dpkg-query >/dev/null 2>&1; then
  for p in pkg-config default-libmysqlclient-dev gcc; do have_pkg "$p" || missing+=("$p"); done
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  inc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -f "$inc/Python.h" ] || missing+=(python3-dev)
  server_answers() { "$PYTHON" - <<'PY' 2>/dev/null
import socket
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", 3306)); print("yes")
except OSError:
    pass
PY
  }
  url=${RAGSYNC_MYSQL_URL:-}
  if { [ -z "$url" ] && [ -z "$(server_answers)" ]; } || [ "$url" = "private" ]; then
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  fi
  if [ "$want_browser" = 1 ]; then
    have_pkg chromium || missing+=(chromium)
    have_pkg chromium-driver || missing+=(chromium-driver)
    # docker-compose.yaml is validated with `docker-compose config`, which needs no engine
    { command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; } \
      || missing+=(docker-compose)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # the Debian package starts a server we do not need; the project starts its own
    if printf '%s\n' "${missing[@]}" | grep -qx mariadb-server; then
      (command -v service >/dev/null && $SUDO service mariadb stop >/dev/null 2>&1) || true
    fi
  fi
else
  say "not a Debian/Ubuntu system: make sure pkg-config, the MySQL client headers and a C compiler are installed"
fi

# --- virtualenv with the pinned packages ------------------------------------------------
stamp_want=$(cat requirements.txt constraints.txt pyproject.toml dev/pyproject.toml | sha256sum | cut -c1-16)
stamp_file=.venv/.ragsync-stamp
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ]; then
  say "creating the virtualenv .venv with the pinned packages (about 2 minutes the first time)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt -c constraints.txt
  .venv/bin/pip install -q --no-deps -e . -e ./dev
  echo "$stamp_want" > "$stamp_file"
fi

# --- Airflow home inside the checkout ------------------------------------------------------
export AIRFLOW_HOME="$ROOT/.airflow"
mkdir -p "$AIRFLOW_HOME"
if [ ! -f "$AIRFLOW_HOME/.migrated" ]; then
  say "initialising Airflow's metadata database in .airflow/"
  AIRFLOW__CORE__LOAD_EXAMPLES=False .venv/bin/airflow db migrate >/dev/null
  touch "$AIRFLOW_HOME/.migrated"
fi
