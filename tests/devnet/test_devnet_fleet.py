"""``relayer devnet up --fleet 2 --store postgresql`` end to end, through the real commands as
subprocesses: a PostgreSQL server made by the devnet, operator-1 as two processes on its database;
the holder of beta's submitter lease killed with SIGKILL, later transfers delivered exactly once by
the other process, which ``relayer status --json`` then names; ``devnet down`` stops everything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import processed_logs, wait_for
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.devnet.network import load_deployment
from relayer.devnet.postgres import server_alive
from relayer.devnet.processes import process_alive

pytestmark = pytest.mark.slow
LEASE = "submitter:beta"


def relayer(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fleet") / "dn"
    up = relayer("devnet", "up", "--dir", str(root), "--operators", "1", "--threshold", "1",
                 "--fleet", "2", "--store", "postgresql", "--detach")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        assert "store:      PostgreSQL at 127.0.0.1:" in up.stdout and "operator_1" in up.stdout, up.stdout
        yield root
    finally:
        relayer("devnet", "down", "--dir", str(root), timeout=120)  # also removes a cluster made outside root


def fleet_pids(root: Path) -> dict[int, str]:
    op = load_deployment(root)["operators"][0]
    return {op["pid"]: op["name"], **{extra["pid"]: extra["name"] for extra in op["fleet"]}}


def lease_holder(root: Path) -> dict[str, Any]:
    status = relayer("status", "--config", str(root / "operator-1.toml"), "--json", timeout=60)
    assert status.returncode == 0, status.stderr
    leases = {row["lease"]: row for row in json.loads(status.stdout)["leases"]}
    holder: dict[str, Any] = leases.get(LEASE, {})
    return holder


def send(root: Path, recipient: str) -> dict[str, Any]:
    done = relayer("transfer", "--devnet", str(root), "--from", "alpha", "--to", "beta", "--asset", "token",
                   "--amount", "1", "--recipient", recipient, "--wait", "--json", "--timeout", "90")
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["outcome"] == "delivered", result
    return result


def delivered(root: Path) -> Counter[str]:
    """How many MessageProcessed beta's message layer emitted per message id."""
    return Counter(lg["topics"][1] for lg in processed_logs(root, "beta"))


def wrapped_balance(root: Path, owner: str) -> int:
    beta = load_deployment(root)["chains"]["beta"]
    return int(SyncEvm(beta["rpc"]).call(beta["wrapped_token"], "WrappedToken", "balanceOf", owner))


def test_the_lease_holder_killed_and_the_other_process_delivers_exactly_once(devnet: Path) -> None:
    recipient = Account.create().address
    first = send(devnet, recipient)
    holder = wait_for(lambda: lease_holder(devnet).get("pid"), 30, f"a holder of {LEASE}")
    pids = fleet_pids(devnet)
    assert set(pids.values()) == {"operator-1", "operator-1-2"} and holder in pids
    os.kill(holder, signal.SIGKILL)
    later = [send(devnet, recipient) for _ in range(3)]
    ids = [r["message_id"] for r in [first, *later]]
    counts = delivered(devnet)
    assert all(counts[mid] == 1 for mid in ids), {mid: counts[mid] for mid in ids}
    assert wrapped_balance(devnet, recipient) == 4 * 10**18
    survivor = next(pid for pid in pids if pid != holder)
    after = wait_for(lambda: (row := lease_holder(devnet)) and row.get("pid") == survivor and row, 30,
                     f"{pids[survivor]} named as the holder of {LEASE}")
    assert after["live"] and after["token"] > 1, after


def test_devnet_down_stops_every_process_and_the_server(devnet: Path) -> None:
    data = load_deployment(devnet)
    postgres = data["postgres"]["pid"]
    assert server_alive(postgres)
    cluster = (devnet / "postgres").resolve()
    down = relayer("devnet", "down", "--dir", str(devnet), "--json", timeout=120)
    assert down.returncode == 0 and json.loads(down.stdout)["stopped"], down.stderr
    assert not server_alive(postgres)
    if not cluster.is_relative_to(devnet.resolve()):  # made outside DIR: down leaves nothing there
        assert not cluster.exists(), cluster
    for pid in [*fleet_pids(devnet), *(node["pid"] for node in data["nodes"].values())]:
        assert not process_alive(pid), pid


def test_a_fleet_on_sqlite_is_a_usage_error(tmp_path: Path) -> None:
    done = relayer("devnet", "up", "--dir", str(tmp_path / "dn"), "--fleet", "2", "--detach", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--fleet 2 needs --store postgresql" in done.stderr, done.stderr
    assert not (tmp_path / "dn").exists()
