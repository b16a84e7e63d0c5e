"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a cluster made
with ``initdb`` in a temporary folder, started on a free loopback port and removed afterwards.

initdb and postgres refuse to run as root (CI runs as root): then both run as the ``postgres``
system user the Debian package creates (through ``runuser``), in a folder that user owns. Nothing
is skipped: without the binaries or that user the fixture fails saying what to install.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from relayer.devnet.anvil import free_port

SUPERUSER = "relayer"


class PgUnavailable(RuntimeError):
    """The server cannot be made on this machine; str() says what to install."""


def pg_bin() -> Path:
    """The folder of initdb and postgres: Debian's /usr/lib/postgresql/VERSION/bin (the newest), or
    PATH's. Raises PgUnavailable."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PgUnavailable("PostgreSQL's initdb is not installed: run make setup as root, or apt-get install postgresql")


@dataclass
class PgServer:
    """A running cluster: ``url(dbname)`` connects as its superuser over TCP on 127.0.0.1:``port``."""

    root: Path
    port: int
    bin: Path
    run_as: list[str]
    process: subprocess.Popen[bytes] | None = None
    databases: int = field(default=0)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "relayer") -> str:
        """A new empty database; returns its URL."""
        self.databases += 1
        name = f"{prefix}_{self.databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def start(self, timeout: float = 30.0) -> None:
        """Start postgres and wait until it accepts connections. Raises PgUnavailable."""
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the child keeps it open
        command = [*self.run_as, str(self.bin / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                   "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                   "-c", "max_connections=200"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = (self.root / "server.log").read_text(errors="replace")[-2000:]
                    raise PgUnavailable(f"postgres did not start on port {self.port}: {tail}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are disconnected); SIGKILL after 20 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def start_pg_server() -> PgServer:
    """initdb a cluster in a new temporary folder and start it. Raises PgUnavailable."""
    bin_dir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="relayer-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            raise PgUnavailable("running as root and there is no 'postgres' system user for the test server "
                                "(initdb refuses root): apt-get install postgresql creates it") from None
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PgServer(root, free_port(), bin_dir, run_as)
    done = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER,
                           "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PgUnavailable(f"initdb failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
    server.start()
    return server


def remove_pg_server(server: PgServer) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


def pg_server_session() -> Iterator[PgServer]:
    """The body of the session fixture: one server for the test session, removed at its end."""
    try:
        server = start_pg_server()
    except PgUnavailable as exc:
        import pytest
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        remove_pg_server(server)
