"""Operations against a real devnet: systemd's notify protocol on a real datagram socket,
the HTTP API (/health, /ready, /metrics, /v1/status), and a SIGTERM during delivery."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import outcome_of
from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow


def op(root: Path, index: int) -> dict[str, Any]:
    return network.load_deployment(root)["operators"][index - 1]


def metrics(api: str) -> dict[str, float]:
    text = httpx.get(f"{api}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
            out[key] = sample.value
    return out


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(name + "{"))


def wait_delivered(root: Path, results: list[TransferResult], timeout: float = 120.0) -> None:
    """Every message of ``results`` executed on its destination layer (outcome delivered)."""
    deadline = time.monotonic() + timeout
    pending = list(results)
    while pending and time.monotonic() < deadline:
        pending = [r for r in pending if outcome_of(root, r.source, r.destination, r.nonce) != 1]
        time.sleep(0.5)
    assert not pending


def test_api_answers_and_metrics_move_during_transfers(devnet: Path) -> None:
    api = op(devnet, 1)["api"]
    assert httpx.get(f"{api}/health").status_code == 200
    assert httpx.get(f"{api}/ready").json() == {"ready": True}
    deadline = time.monotonic() + 15
    while total(metrics(api), "relayer_light_client_height") == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    before = metrics(api)
    for name in ("relayer_chain_head", "relayer_chain_final_head", "relayer_light_client_height",
                 "relayer_rpc_requests_total", "relayer_rpc_latency_seconds_count", "relayer_wallet_balance_wei",
                 "relayer_service_up"):
        assert total(before, name) > 0, name
    recipient = Account.create().address
    results = [transfer(devnet, "alpha", "beta", "native", "0.1", recipient=recipient, user_index=i) for i in range(3)]
    wait_delivered(devnet, results)
    time.sleep(6)  # one gauge refresh tick
    after_all = [metrics(op(devnet, i)["api"]) for i in (1, 2, 3)]
    after = after_all[0]
    assert total(after, "relayer_chain_head") > total(before, "relayer_chain_head")
    assert total(after, "relayer_rpc_requests_total") > total(before, "relayer_rpc_requests_total")
    settled = sum(total(m, "relayer_messages_delivered_total") + total(m, "relayer_messages_delivered_by_peer_total")
                  for m in after_all)
    assert settled >= 3 * 3 - 3  # every operator settles every message (delivered or by a peer)
    assert sum(total(m, "relayer_messages_delivered_total") for m in after_all) >= 3
    assert sum(total(m, "relayer_gas_spent_total") for m in after_all) > 0
    assert "relayer_route_backlog{route=alpha->beta}" in after
    status = httpx.get(f"{api}/v1/status").json()
    assert {r["route"] for r in status["routes"]} == {"alpha->beta", "beta->alpha"}
    cli = subprocess.run([sys.executable, "-m", "relayer", "status", "--config", op(devnet, 1)["config"], "--json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout)["routes"][0]["route"] == status["routes"][0]["route"]


def test_log_level_changes_at_run_time(devnet: Path) -> None:
    api = op(devnet, 2)["api"]
    assert httpx.post(f"{api}/v1/log-level", json={"level": "debug"}).json() == {"level": "debug"}
    assert httpx.post(f"{api}/v1/log-level", json={"level": "loud"}).status_code == 400
    assert httpx.post(f"{api}/v1/log-level", json={"level": "info"}).status_code == 200


def notify_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.5)
    return sock


def read_notifications(sock: socket.socket, seconds: float) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out += sock.recv(4096).decode().split("\n")
        except TimeoutError:
            pass
    return out


def read_notifications_until(sock: socket.socket, wanted: str, seconds: float) -> list[str]:
    """Notifications until ``wanted`` arrives (included) or ``seconds`` pass."""
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and wanted not in out:
        try:
            out += sock.recv(4096).decode().split("\n")
        except TimeoutError:
            pass
    return out


def test_notify_protocol_and_watchdog_stops_when_a_route_stalls(devnet: Path, tmp_path: Path) -> None:
    network.stop_operator(devnet, 3)
    sock = notify_socket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "4000000"}
    config = op(devnet, 3)["config"]
    log = open(tmp_path / "operator-3.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "relayer", "run", "--config", config], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=devnet)
    try:
        # Start-up takes longer on a loaded machine: the window for the watchdog pings opens at
        # READY, not at the start of the process.
        seen = read_notifications_until(sock, "READY=1", 30)
        seen += read_notifications(sock, 6)
        assert "READY=1" in seen, seen
        ready = seen.index("READY=1")
        assert not any(line == "WATCHDOG=1" for line in seen[:ready]), seen
        assert any(line.startswith("STATUS=") for line in seen[ready:])
        assert seen.count("WATCHDOG=1") >= 2, seen
        anvil = network.load_deployment(devnet)["nodes"]["beta"]
        os.kill(anvil["pid"], signal.SIGSTOP)  # beta hangs: both of its routes stall
        try:
            read_notifications(sock, 7)  # let the stall be noticed (bound: WatchdogSec)
            stalled = read_notifications(sock, 8)
        finally:
            os.kill(anvil["pid"], signal.SIGCONT)
        assert "WATCHDOG=1" not in stalled, stalled
        assert any("stalled" in line for line in stalled if line.startswith("STATUS=")), stalled
        recovered = read_notifications(sock, 15)
        assert "WATCHDOG=1" in recovered, recovered
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        tail = read_notifications(sock, 1)
        assert "STOPPING=1" in tail, tail
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        sock.close()
        network.start_operator(devnet, 3)
        network.wait_healthy(devnet, [3], report=lambda line: None)


def test_sigterm_during_delivery_loses_nothing_and_leaves_nothing_half_sent(devnet: Path) -> None:
    recipient = Account.create().address
    log_path = Path(devnet) / "logs" / "operator-1.log"
    seen = len(log_path.read_text())
    results = [transfer(devnet, "beta", "alpha", "native", "0.2", recipient=recipient, user_index=i % 3)
               for i in range(6)]
    deadline = time.monotonic() + 30  # operator-1 signs a delivery of these (or its peers deliver them all)
    while time.monotonic() < deadline and '"event": "tx.signed"' not in log_path.read_text()[seen:]:
        time.sleep(0.1)
    network.stop_operator(devnet, 1, sig=signal.SIGTERM, timeout=25)
    state = Path(op(devnet, 1)["config"]).parent / "state" / "operator-1" / "relayer.db"
    with sqlite3.connect(state) as db:
        half_sent = db.execute("SELECT hash FROM txs WHERE state='signed'").fetchall()
    assert not half_sent
    assert '"event": "daemon.drained"' in log_path.read_text()
    network.start_operator(devnet, 1)
    network.wait_healthy(devnet, [1], report=lambda line: None)
    wait_delivered(devnet, results)
    alpha = network.load_deployment(devnet)["chains"]["alpha"]
    assert SyncEvm(alpha["rpc"]).call(alpha["wrapped_native"], "WrappedToken", "balanceOf", recipient) \
        == 6 * 2 * 10**17
