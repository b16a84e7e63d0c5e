"""Shared fixtures: the public test vectors and real anvil nodes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PgServer, pg_server_session

from relayer.devnet import network
from relayer.devnet.anvil import AnvilNode, start_anvil, stop_anvil

REPO_ROOT = Path(__file__).resolve().parents[1]


def _vectors_dir() -> Path | None:
    named = os.environ.get("RELAYER_VECTORS")
    if named:
        path = Path(named)
        if not path.is_dir():
            raise pytest.UsageError(f"RELAYER_VECTORS names {named!r}, which is not a folder")
        return path.resolve()
    default = REPO_ROOT.parent / "shared" / "vectors"
    return default if default.is_dir() else None


VECTORS = _vectors_dir()


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The shared public test vectors; skips when neither RELAYER_VECTORS nor ../shared/vectors exists
    (the only skip of the suite), and fails instead under CI=true, where they must be present."""
    if VECTORS is None:
        message = "public test vectors not found: set RELAYER_VECTORS or place them at ../shared/vectors"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)", pytrace=False)
        pytest.skip(message)
    return VECTORS


@pytest.fixture
def anvil() -> Iterator[AnvilNode]:
    """A fresh automining anvil node on a free port (chain id 31337), torn down afterwards."""
    node = start_anvil(31337, block_time=None)
    try:
        yield node
    finally:
        stop_anvil(node)


@pytest.fixture(scope="module")
def anvil_module() -> Iterator[AnvilNode]:
    """One automining anvil node shared by a test module."""
    node = start_anvil(31337, block_time=None)
    try:
        yield node
    finally:
        stop_anvil(node)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A committee devnet (anvil chains alpha and beta, 1 s blocks, 3 operators) shared by one
    test module and torn down after it. Modules that need another setup define their own."""
    root = tmp_path_factory.mktemp("devnet")
    network.up(root, report=lambda line: None)
    try:
        yield root
    finally:
        network.down(root, report=lambda line: None)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server (tests/pg_server.py) for the session; fails saying what to install
    when Debian's postgresql is missing."""
    yield from pg_server_session()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new empty database on the session's PostgreSQL server."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store test keeps its state: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "relayer.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()
