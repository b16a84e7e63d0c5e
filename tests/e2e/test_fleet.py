"""Fleet mode end to end: operator-1 of a committee devnet runs as two processes sharing one
PostgreSQL store (a real server, tests/pg_server.py), next to operators 2 and 3 on SQLite.

The scenarios run in order on one devnet: the process holding beta's submitter lease is killed
with SIGKILL during a burst and the other takes over, delivering the rest exactly once with no
gap in operator-1's nonces on beta; then the holder is paused (SIGSTOP) past its lease and resumed,
and never signs a transaction with its stale lease.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from devnet_helpers import wait_for
from eth_account import Account
from pg_server import PgServer
from test_consortium import delivered_events, send_all, wait_delivered

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.anvil import free_port

pytestmark = pytest.mark.slow
TTL = 4.0
LEASE = "submitter:beta"


class Fleet:
    """Operator-1's two processes: ``a`` (the devnet's own, operator-1.log) and ``b``."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        op = network.load_deployment(root)["operators"][0]
        self.config_a = Path(op["config"])
        self.config_b = self.config_a.with_name("operator-1b.toml")
        self.address = op["address"]
        self.b: subprocess.Popen[bytes] | None = None

    def configure(self) -> None:
        text = self.config_a.read_text() + f'\n[store]\nurl = "{self.url}"\nlease_ttl = {TTL}\n'
        self.config_a.write_text(text)
        self.config_b.write_text(re.sub(r'^api_listen = ".*"$', f'api_listen = "127.0.0.1:{free_port()}"', text,
                                        flags=re.M))

    def start_b(self) -> None:
        log = open(self.root / "logs" / "operator-1b.log", "ab")  # noqa: SIM115 - the child keeps it
        self.b = subprocess.Popen([sys.executable, "-m", "relayer", "run", "--config", str(self.config_b)],
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        log.close()

    def start_a(self) -> None:
        network.start_operator(self.root, 1)

    def pids(self) -> dict[int, str]:
        out = {network.load_deployment(self.root)["operators"][0]["pid"]: "operator-1"}
        if self.b is not None:
            out[self.b.pid] = "operator-1b"
        return out

    def holder(self) -> dict[str, Any] | None:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT holder, pid, token, expires_at FROM leases WHERE name = %s",
                               (LEASE,)).fetchone()
        return None if row is None else {"holder": row[0], "pid": row[1], "token": row[2], "expires_at": row[3]}

    def journal(self) -> list[tuple[int, str]]:
        with psycopg.connect(self.url) as conn:
            return [(r[0], r[1]) for r in conn.execute("SELECT nonce, state FROM txs WHERE chain = 'beta' "
                                                       "ORDER BY nonce, created_at")]

    def log_events(self, name: str, event: str) -> list[dict[str, Any]]:
        path = self.root / "logs" / f"{name}.log"
        return [json.loads(line) for line in path.read_text().splitlines()
                if line.startswith("{") and f'"{event}"' in line and json.loads(line)["event"] == event]

    def stop(self) -> None:
        if self.b is not None and self.b.poll() is None:
            os.killpg(self.b.pid, signal.SIGCONT)
            self.b.terminate()
            try:
                self.b.wait(20)
            except subprocess.TimeoutExpired:
                self.b.kill()
                self.b.wait()


@pytest.fixture(scope="module")
def fleet(devnet: Path, pg_server: PgServer) -> Iterator[Fleet]:
    f = Fleet(devnet, pg_server.create_database("fleet"))
    network.stop_operator(devnet, 1)
    f.configure()
    f.start_a()
    network.wait_healthy(devnet, [1], report=lambda line: None)
    f.start_b()
    try:
        yield f
    finally:
        f.stop()


def took_over_after(fleet: Fleet, name: str, since: float) -> float:
    """Seconds from ``since`` (Unix time) to process ``name``'s first lease.acquired of the beta submitter
    after it (reported, not asserted: tests check behaviour, not speed)."""
    stamps = [datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
              for e in fleet.log_events(name, "lease.acquired") if e.get("lease") == LEASE]
    return min(t for t in stamps if t >= since) - since


def no_nonce_gap(fleet: Fleet) -> None:
    """Operator-1's journal on beta holds every nonce from its first to its last, each mined once, and
    the chain's count of its transactions is one past the last."""
    journal = fleet.journal()
    nonces = sorted({n for n, _ in journal})
    assert nonces == list(range(nonces[0], nonces[-1] + 1)), journal
    mined = [n for n, state in journal if state in ("mined", "confirmed")]
    assert sorted(mined) == nonces, journal
    rpc = network.load_deployment(fleet.root)["chains"]["beta"]["rpc"]
    assert int(SyncEvm(rpc).rpc("eth_getTransactionCount", fleet.address, "latest"), 16) == nonces[-1] + 1


def test_the_holder_killed_mid_burst_is_replaced_and_nothing_is_delivered_twice(fleet: Fleet) -> None:
    first = wait_for(fleet.holder, 60, "a holder of the beta submitter lease")
    assert first["pid"] in fleet.pids()
    recipient = Account.create().address
    plan = [("alpha", "beta", "native", "0.1"), ("alpha", "beta", "token", "1")] * 9
    killed: dict[str, Any] = {}

    def kill_the_holder() -> None:
        time.sleep(5)
        holder = fleet.holder()
        assert holder is not None
        killed.update(holder, at=time.time())
        os.kill(holder["pid"], signal.SIGKILL)

    results = send_all(fleet.root, plan, recipient, between=kill_the_holder)
    wait_delivered(fleet.root, results, timeout=180)
    twice = {mid: n for mid, n in delivered_events(fleet.root, "beta").items() if n > 1}
    assert not twice, f"delivered more than once on beta: {twice}"
    after = wait_for(lambda: (h := fleet.holder()) and h["pid"] != killed["pid"] and h, 3 * TTL, "a new holder")
    assert after["token"] > killed["token"] and after["pid"] in fleet.pids()
    survivor = fleet.pids()[after["pid"]]
    assert fleet.log_events(survivor, "lease.taken_over"), "the survivor did not log lease.taken_over"
    print(f"takeover after SIGKILL: {took_over_after(fleet, survivor, killed['at']):.2f} s (lease_ttl {TTL} s)")
    assert fleet.log_events(survivor, "tx.recovering") or fleet.log_events(survivor, "lease.acquired")
    wait_for(lambda: all(s in ("mined", "confirmed") for _, s in fleet.journal()), 60, "a settled journal")
    no_nonce_gap(fleet)
    status = subprocess.run([sys.executable, "-m", "relayer", "status", "--config", str(fleet.config_a), "--json"],
                            capture_output=True, text=True, timeout=60, check=False)
    leases = {row["lease"]: row for row in json.loads(status.stdout)["leases"]}
    assert leases[LEASE]["pid"] == after["pid"] and leases[LEASE]["token"] == after["token"], leases


def test_a_holder_paused_past_its_lease_never_signs_with_it(fleet: Fleet) -> None:
    if fleet.b is not None and fleet.b.poll() is not None:
        fleet.start_b()
    else:
        network.start_operator(fleet.root, 1)  # the devnet's own process was the one killed
    holder = wait_for(fleet.holder, 30, "a holder")
    paused = holder["pid"]
    name = fleet.pids()[paused]
    standby = next(n for p, n in fleet.pids().items() if p != paused)
    wait_for(lambda: fleet.log_events(standby, "lease.standby"), 60, "the other process standing by")
    signed_before = len(fleet.log_events(name, "tx.signed"))
    paused_at = time.time()
    os.kill(paused, signal.SIGSTOP)
    try:
        recipient = Account.create().address
        results = send_all(fleet.root, [("alpha", "beta", "native", "0.1")] * 6, recipient)
        wait_for(lambda: (h := fleet.holder()) and h["pid"] != paused, 4 * TTL, "a takeover from the paused holder")
        wait_delivered(fleet.root, results, timeout=180)
    finally:
        os.kill(paused, signal.SIGCONT)
    print(f"takeover after SIGSTOP: {took_over_after(fleet, standby, paused_at):.2f} s (lease_ttl {TTL} s)")
    wait_for(lambda: fleet.log_events(name, "lease.lost") or fleet.log_events(name, "lease.self_fenced"),
             30, "the resumed process noticing it lost the lease")
    time.sleep(3)
    assert len(fleet.log_events(name, "tx.signed")) == signed_before, "the paused process signed with a stale lease"
    twice = {mid: n for mid, n in delivered_events(fleet.root, "beta").items() if n > 1}
    assert not twice, f"delivered more than once on beta: {twice}"
    wait_for(lambda: all(s in ("mined", "confirmed") for _, s in fleet.journal()), 60, "a settled journal")
    no_nonce_gap(fleet)


def test_a_postgresql_restart_mid_run_pauses_the_fleet_and_loses_nothing(fleet: Fleet, pg_server: PgServer) -> None:
    for name, pid in (("operator-1", network.load_deployment(fleet.root)["operators"][0]["pid"]),
                      ("operator-1b", fleet.b.pid if fleet.b else None)):
        if pid is None or not network.process_alive(pid, "relayer"):
            if name == "operator-1b":
                fleet.start_b()
            else:
                network.start_operator(fleet.root, 1)
    wait_for(fleet.holder, 30, "a holder")
    recipient = Account.create().address

    def restart_the_database() -> None:
        time.sleep(3)
        pg_server.stop()
        time.sleep(3)
        pg_server.start()

    results = send_all(fleet.root, [("alpha", "beta", "native", "0.1"), ("alpha", "beta", "token", "1")] * 6,
                       recipient, between=restart_the_database)
    wait_delivered(fleet.root, results, timeout=180)
    pids = [network.load_deployment(fleet.root)["operators"][0]["pid"], fleet.b.pid if fleet.b else 0]
    assert all(network.process_alive(pid, "relayer") for pid in pids), "a fleet process stopped"
    twice = {mid: n for mid, n in delivered_events(fleet.root, "beta").items() if n > 1}
    assert not twice, f"delivered more than once on beta: {twice}"
    wait_for(lambda: all(s in ("mined", "confirmed") for _, s in fleet.journal()), 60, "a settled journal")
    no_nonce_gap(fleet)
