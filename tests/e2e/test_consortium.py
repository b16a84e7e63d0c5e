"""The consortium end to end: three real operator processes, two real anvil chains.

One devnet per module. The scenarios run in order on it: two of three operators
deliver alone; a crash (SIGKILL) and restart in the middle of 20 transfers loses nothing
and delivers nothing twice; every operator ends up knowing which messages a peer delivered.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import outcome_of, processed_logs
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow
UNIT = 10**18
TOKEN = Contract.load("WrappedToken")


def deployment(root: Path) -> dict[str, Any]:
    return network.load_deployment(root)


def send_all(root: Path, plan: list[tuple[str, str, str, str]], recipient: str,
             between: Any = None) -> list[TransferResult]:
    """Run transfers from the three devnet users in parallel; ``between(i)`` runs after transfer i."""
    results: list[TransferResult] = []
    lanes = [plan[i::3] for i in range(3)]

    def lane(index: int) -> list[TransferResult]:
        return [transfer(root, s, d, a, Decimal(x), recipient=recipient, user_index=index)
                for s, d, a, x in lanes[index]]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(lane, i) for i in range(3)]
        if between:
            between()
        for f in futures:
            results += f.result()
    return results


def wait_delivered(root: Path, results: list[TransferResult], timeout: float = 150.0) -> None:
    """Every message of ``results`` executed on its destination layer (outcome delivered)."""
    deadline = time.monotonic() + timeout
    pending = list(results)
    while pending and time.monotonic() < deadline:
        pending = [r for r in pending if outcome_of(root, r.source, r.destination, r.nonce) != 1]
        time.sleep(0.5)
    assert not pending, f"{len(pending)} messages not delivered within {timeout} s: {[r.message_id for r in pending]}"


def delivered_events(root: Path, chain: str) -> Counter[str]:
    """How many ``MessageProcessed`` logs ``chain``'s message layer emitted per message id."""
    return Counter(lg["topics"][1] for lg in processed_logs(root, chain))


def token_balance(root: Path, chain: str, token_key: str, owner: str) -> int:
    c = deployment(root)["chains"][chain]
    return int(SyncEvm(c["rpc"]).call(c[token_key], "WrappedToken", "balanceOf", owner))


def operator_status(root: Path, index: int) -> dict[str, Any]:
    config = deployment(root)["operators"][index - 1]["config"]
    out = subprocess.run([sys.executable, "-m", "relayer", "status", "--config", config, "--json"],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def settled(root: Path, index: int) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for route in operator_status(root, index)["routes"]:
        totals.update(route["messages"])
    return dict(totals)


def test_two_of_three_deliver_while_one_operator_is_down(devnet: Path) -> None:
    network.stop_operator(devnet, 3)
    recipient = Account.create().address
    plan = [("alpha", "beta", "native", "0.5"), ("alpha", "beta", "token", "3"),
            ("beta", "alpha", "native", "0.25"), ("alpha", "beta", "native", "1"),
            ("beta", "alpha", "token", "2"), ("alpha", "beta", "token", "4")]
    results = send_all(devnet, plan, recipient)
    wait_delivered(devnet, results)
    assert token_balance(devnet, "beta", "wrapped_native", recipient) == int(Decimal("1.5") * UNIT)
    assert token_balance(devnet, "beta", "wrapped_token", recipient) == 7 * UNIT
    assert token_balance(devnet, "alpha", "wrapped_native", recipient) == UNIT // 4
    assert token_balance(devnet, "alpha", "wrapped_token", recipient) == 2 * UNIT
    network.start_operator(devnet, 3)
    network.wait_healthy(devnet, [3], report=lambda line: None)


def test_sigkill_and_restart_mid_way_loses_nothing_and_delivers_nothing_twice(devnet: Path) -> None:
    recipient = Account.create().address
    plan = [("alpha", "beta", "native", "0.1"), ("beta", "alpha", "native", "0.2"),
            ("alpha", "beta", "token", "1"), ("beta", "alpha", "token", "1.5")] * 5

    def crash_and_restart() -> None:
        time.sleep(6)
        network.stop_operator(devnet, 1, sig=signal.SIGKILL)
        time.sleep(6)
        network.start_operator(devnet, 1)

    results = send_all(devnet, plan, recipient, between=crash_and_restart)
    assert len(results) == 20
    network.wait_healthy(devnet, [1], report=lambda line: None)
    wait_delivered(devnet, results)
    assert token_balance(devnet, "beta", "wrapped_native", recipient) == int(Decimal("0.5") * UNIT)
    assert token_balance(devnet, "beta", "wrapped_token", recipient) == 5 * UNIT
    assert token_balance(devnet, "alpha", "wrapped_native", recipient) == 1 * UNIT
    assert token_balance(devnet, "alpha", "wrapped_token", recipient) == int(Decimal("7.5") * UNIT)
    for chain in ("alpha", "beta"):
        twice = {mid: n for mid, n in delivered_events(devnet, chain).items() if n > 1}
        assert not twice, f"delivered more than once on {chain}: {twice}"


def test_every_operator_recognises_what_peers_delivered(devnet: Path) -> None:
    total = sum(delivered_events(devnet, chain).total() for chain in ("alpha", "beta"))
    deadline = time.monotonic() + 60
    while True:
        states = [settled(devnet, i) for i in (1, 2, 3)]
        done = all(s.get(state, 0) == 0 for s in states for state in ("final", "submitted", "included"))
        if done or time.monotonic() > deadline:
            break
        time.sleep(1)
    for index, s in enumerate(states, start=1):
        assert s.get("failed", 0) == 0, f"operator-{index} reports failures: {s}"
        assert s.get("final", 0) == 0 and s.get("submitted", 0) == 0, f"operator-{index} not settled: {s}"
        assert s.get("confirmed", 0) + s.get("delivered-by-peer", 0) == total, (index, s, total)
    assert sum(s.get("confirmed", 0) for s in states) == total
    assert sum(1 for s in states if s.get("delivered-by-peer", 0) > 0) >= 2
