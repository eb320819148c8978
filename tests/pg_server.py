"""Start a throw-away PostgreSQL server for the tests (and for the R tests through its command line).

The server runs as an unprivileged user (PostgreSQL refuses root): the current user, or ``postgres`` when the
tests run as root (CI does). Data lives in a fresh temporary folder and is removed on stop.

Command line: ``python tests/pg_server.py start`` prints ``URL PIDFILE-DIR``; ``... stop DIR`` stops it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_pg_bin(name: str) -> str | None:
    """Path of a PostgreSQL server binary: on the PATH, else Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    data_dir: Path
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/rcdm_test"

    def stop(self) -> None:
        _run_as(self.user, [find_pg_bin("pg_ctl"), "-D", str(self.data_dir / "data"), "-m", "immediate", "stop"],
                check=False)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _run_as(user: str, cmd: list, check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def start_server() -> PgServer:
    """initdb + pg_ctl start on a free loopback port; returns once the server accepts connections."""
    initdb, pg_ctl = find_pg_bin("initdb"), find_pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's 'postgresql' package")
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    base = Path(tempfile.mkdtemp(prefix="rcdm-pg-"))
    if os.geteuid() == 0:
        info = pwd.getpwnam(user)
        os.chown(base, info.pw_uid, info.pw_gid)
    data = base / "data"
    _run_as(user, [initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C", "-N"])
    port = _free_port()
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    res = _run_as(user, [pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "server.log"), "-w", "-t", "60",
                         "start"], check=False)
    if res.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {res.stderr}\n{log}")
    server = PgServer(base, port, user)
    _create_database(server)
    return server


def _create_database(server: PgServer) -> None:
    import psycopg

    deadline = time.time() + 30
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=server.port, user=server.user, dbname="postgres",
                                 autocommit=True) as conn:
                conn.execute("CREATE DATABASE rcdm_test")
            return
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        s = start_server()
        print(s.url, s.data_dir, s.user)
    elif sys.argv[1:2] == ["stop"] and len(sys.argv) == 4:
        PgServer(Path(sys.argv[2]), 0, sys.argv[3]).stop()
    else:
        sys.exit("usage: pg_server.py start | stop DATA_DIR USER")
