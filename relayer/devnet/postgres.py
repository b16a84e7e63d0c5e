"""A PostgreSQL server for the devnet and the tests: Debian's ``postgresql`` binaries, a cluster
made with ``initdb`` in a folder, started on a free loopback port.

initdb and postgres refuse to run as root: then both run as the ``postgres`` system user the
Debian package creates (through ``setpriv``, which execs, so the recorded pid is postgres's own),
in a folder that user owns. The server runs in its own session, so it outlives the command that
started it and is stopped by its pid (``stop_server``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from relayer.devnet.anvil import free_port
from relayer.devnet.processes import process_alive, terminate

SUPERUSER = "relayer"
MARKER = "postgres"


class PgUnavailable(RuntimeError):
    """The server cannot be made on this machine; str() says what to install or fix."""


class PgUnreachable(PgUnavailable):
    """Running as root, the ``postgres`` user cannot reach the cluster's folder (a parent is closed)."""


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
    """A cluster in ``root``: ``url(dbname)`` connects as its superuser over TCP on 127.0.0.1:``port``."""

    root: Path
    port: int
    bin: Path
    run_as: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    databases: int = field(default=0)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "relayer", name: str | None = None) -> str:
        """A new empty database (``name``, or ``prefix_N``); returns its URL."""
        if name is None:
            self.databases += 1
            name = f"{prefix}_{self.databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self, timeout: float = 30.0) -> None:
        """Start postgres in its own session and wait until it accepts connections.

        Raises PgUnavailable (with the tail of its log) when it exits or does not answer in time.
        """
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        command = [*self.run_as, str(self.bin / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                   "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                   "-c", "max_connections=200"]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise PgUnavailable(f"postgres did not start on port {self.port}: {tail}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are disconnected); SIGKILL after 20 s. Raises nothing."""
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


def _run_as(root: Path) -> list[str]:
    """The command prefix that runs initdb/postgres unprivileged ([] unless root); chowns ``root`` to
    the ``postgres`` user when root. Raises PgUnavailable without that user or when it cannot reach
    ``root``."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable("running as root and there is no 'postgres' system user for the PostgreSQL server "
                            "(initdb refuses root): apt-get install postgresql creates it") from None
    os.chown(root, user.pw_uid, user.pw_gid)
    run_as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    if subprocess.run([*run_as, "test", "-w", str(root)], check=False).returncode != 0:
        raise PgUnreachable(f"the 'postgres' user cannot write {root} (a folder on the way is closed to "
                            "other users): choose a folder under /tmp or open its parents (chmod o+x)")
    return run_as


def init_server(root: Path, log_path: Path | None = None) -> PgServer:
    """initdb a cluster in ``root/data`` (``root`` is created; it must not hold a cluster) on a free
    port, not started. Raises PgUnavailable."""
    bin_dir = pg_bin()
    root.mkdir(parents=True, exist_ok=True)
    run_as = _run_as(root)
    done = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER,
                           "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PgUnavailable(f"initdb failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
    return PgServer(root, free_port(), bin_dir, run_as, log_path or root / "server.log")


def stop_server(pid: int | None, timeout: float = 20.0) -> bool:
    """Stop a server started by ``PgServer.start`` in another process, by its pid (fast shutdown,
    SIGKILL after ``timeout``); True when it ran. Raises nothing."""
    return terminate(pid, MARKER, sig=signal.SIGINT, timeout=timeout)


def server_alive(pid: int | None) -> bool:
    return process_alive(pid, MARKER)


__all__ = ["SUPERUSER", "PgServer", "PgUnavailable", "PgUnreachable", "init_server", "pg_bin", "server_alive",
           "stop_server"]
