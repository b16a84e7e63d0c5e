"""A throwaway PostgreSQL server for the tests, made by the devnet's tooling
(``relayer.devnet.postgres``: Debian's binaries, ``initdb`` in a temporary folder, a free loopback
port, the ``postgres`` system user when root) and removed afterwards. Nothing is skipped: without
the binaries or that user the fixture fails saying what to install.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from relayer.devnet.postgres import SUPERUSER, PgServer, PgUnavailable, init_server, pg_bin

__all__ = ["SUPERUSER", "PgServer", "PgUnavailable", "pg_bin", "pg_server_session", "remove_pg_server",
           "start_pg_server"]


def start_pg_server() -> PgServer:
    """initdb a cluster in a new temporary folder and start it. Raises PgUnavailable."""
    root = Path(tempfile.mkdtemp(prefix="relayer-pg-"))
    try:
        server = init_server(root)
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
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
