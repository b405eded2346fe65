"""Find a MySQL/MariaDB server for the demo, the tests and the benchmarks, or start a private one.

Order: ``RAGSYNC_MYSQL_URL`` if set (``private`` forces the private server); else a server on
127.0.0.1:3306 if one answers as root without a password; else a private MariaDB with its own
datadir and socket under ``.mysql/`` in the checkout, on a free port, stopped afterwards.

``python -m ragsync_dev.demo.mysql_server run -- CMD ...`` runs CMD with ``RAGSYNC_MYSQL_URL`` set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_URL = "RAGSYNC_MYSQL_URL"
DEFAULT_URL = "mysql://root@127.0.0.1:3306/"


def _answers(url: str, timeout: float = 3.0) -> bool:
    import MySQLdb

    from ragsync.db import DbParams

    params = DbParams.from_url(url)
    kwargs = {"host": params.host, "port": params.port, "user": params.user, "passwd": params.password,
              "connect_timeout": int(max(1, timeout))}
    if params.unix_socket:
        kwargs["unix_socket"] = params.unix_socket
    try:
        MySQLdb.connect(**kwargs).close()
        return True
    except MySQLdb.Error:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _find(binary: str, *alternatives: str) -> str:
    for name in (binary, *alternatives):
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if path:
            return path
    raise SystemExit(
        f"{binary} not found: install MariaDB (apt-get install mariadb-server) or set {ENV_URL} "
        "to a reachable server, e.g. mysql://root@127.0.0.1:3306/"
    )


@contextmanager
def private_server(base: Path) -> Iterator[str]:
    """Start a throwaway MariaDB under ``base`` and yield its URL; stop and remove it afterwards."""
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="mariadb-", dir=base))
    datadir, sock, port = root / "data", root / "mysqld.sock", _free_port()
    install = _find("mariadb-install-db", "mysql_install_db")
    server = _find("mariadbd", "mysqld")
    subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}", "--user=root", "--auth-root-authentication-method=normal",
         "--skip-test-db", "--skip-name-resolve"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    log_file = root / "error.log"
    proc = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", "--user=root", f"--pid-file={root / 'mysqld.pid'}",
         f"--log-error={log_file}", "--skip-name-resolve", "--innodb-buffer-pool-size=512M",
         "--innodb-flush-log-at-trx-commit=2", "--max-connections=300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"mysql://root@127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while not _answers(url, timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                detail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                raise SystemExit(f"private MariaDB did not start:\n{detail}")
            time.sleep(0.3)
        print(f"ragsync: started a private MariaDB on 127.0.0.1:{port} (datadir {datadir})", file=sys.stderr)
        yield url
    finally:
        stop_server(proc)
        shutil.rmtree(root, ignore_errors=True)
        print("ragsync: stopped the private MariaDB", file=sys.stderr)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process: SIGTERM, then SIGKILL when it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def mysql_server(project_dir: Path | None = None) -> Iterator[str]:
    """Yield the URL of a usable server (see the module docstring for the order)."""
    wanted = os.environ.get(ENV_URL, "").strip()
    if wanted and wanted != "private":
        if not _answers(wanted):
            raise SystemExit(f"{ENV_URL} is set but the server does not answer; check the URL")
        yield wanted
        return
    if not wanted and _answers(DEFAULT_URL, timeout=2):
        yield DEFAULT_URL
        return
    base = (project_dir or Path.cwd()) / ".mysql"
    with private_server(base) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    """Run a command with ``RAGSYNC_MYSQL_URL`` pointing at a usable server."""
    parser = argparse.ArgumentParser(prog="python -m ragsync_dev.demo.mysql_server")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a command with RAGSYNC_MYSQL_URL set")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("url", help="print the URL that would be used (no private server)")
    args = parser.parse_args(argv)
    if args.command == "url":
        print(os.environ.get(ENV_URL) or DEFAULT_URL)
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("run needs a command")
    with mysql_server() as url:
        env = dict(os.environ, **{ENV_URL: url})
        return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
