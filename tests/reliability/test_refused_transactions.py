"""Refused delivery transactions on a real devnet end, they are never waited for without end.

Every operator reaches beta through one JSON-RPC proxy (``relayer.devnet.proxy``), its only
endpoint for beta.

(a) The proxy answers ``eth_sendRawTransaction`` the way a Besu node with account permissioning
    does (``REJECTION``), words the sender does not know: each operator that tries gives its
    transaction up at once (``tx.abandoned``, an alarm with an action; the
    ``relayer_transactions_abandoned_total`` metric), the message is ``failed`` with the node's
    words as its reason, and once the node takes transactions again the next message is
    delivered (the refused nonce was not skipped).
(b) beta's base fee is held at 1000 gwei (``anvil_setNextBlockBaseFeePerGas`` before every
    block), above the operators' fee cap of 500 gwei: anvil refuses every delivery ("max fee per
    gas less than block base fee"). Each operator retries at the cap for three rounds of
    ``replace_after``, then gives up the same way, the node's words in the reason; after the
    spike the next message is delivered.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import chain, events, now_iso, processed, quiet, restart, use_rpcs, wait_for
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.proxy import REJECTION, ProxyHandle, set_fault, start_proxy, stop_proxy
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow
OPERATORS = (1, 2, 3)
SPIKE = 1000 * 10**9  # wei per gas, twice the default fee cap (fees.max_fee_gwei = 500)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ProxyHandle]]:
    root = tmp_path_factory.mktemp("refusenet")
    network.up(root, report=quiet)
    proxy: ProxyHandle | None = None
    try:
        proxy = start_proxy(chain(root, "beta")["rpc"], log_path=root / "logs" / "proxy-beta.log")
        for index in OPERATORS:
            use_rpcs(root, index, "beta", [proxy.url])
        restart(root, list(OPERATORS))
        yield root, proxy
    finally:
        network.down(root, report=quiet)
        if proxy is not None:
            stop_proxy(proxy)


def message_row(root: Path, index: int, message_id: str) -> tuple[str, str | None] | None:
    path = root / "state" / f"operator-{index}" / "relayer.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT state, reason FROM messages WHERE id=?", (message_id,)).fetchone()
        return None if row is None else (str(row[0]), row[1])
    finally:
        db.close()


def delivered(root: Path, r: TransferResult) -> bool:
    """beta's message layer processed the transfer's message (any outcome)."""
    return processed(root, "alpha", "beta", r.nonce)


def abandoned_metric(root: Path, index: int) -> float:
    api = network.load_deployment(root)["operators"][index - 1]["api"]
    for line in httpx.get(f"{api}/metrics", timeout=10).text.splitlines():
        if line.startswith('relayer_transactions_abandoned_total{chain="beta"}'):
            return float(line.split()[-1])
    return 0.0


def abandoned_by_everyone(root: Path, result: TransferResult, since: str) -> list[dict[str, Any]]:
    """The ``tx.abandoned`` lines of this message's transactions, once every operator gave up."""
    signed = {e["tx"]: e["operator"] for e in events(root, "tx.signed", since)}
    mine = [e for e in events(root, "tx.abandoned", since) if e["tx"] in signed]
    states = [message_row(root, i, result.message_id) for i in OPERATORS]
    everyone = {e["operator"] for e in mine} == {f"operator-{i}" for i in OPERATORS}
    return mine if everyone and all(s is not None and s[0] == "failed" for s in states) else []


def check_given_up(root: Path, result: TransferResult, since: str, words: str, timeout: float) -> None:
    lines = wait_for(lambda: abandoned_by_everyone(root, result, since), timeout,
                     "every operator to give the delivery up")
    for line in lines:
        assert line["alarm"] is True and line["level"] == "error" and line["action"], line
        assert words in line["reason"], line
    for index in OPERATORS:
        state, reason = message_row(root, index, result.message_id) or ("", None)
        assert state == "failed" and reason is not None and words in reason, (index, state, reason)
        assert abandoned_metric(root, index) >= 1, f"operator-{index} did not count the abandoned transaction"
    failed = [e for e in events(root, "message.attempt_failed", since) if e["message_id"] == result.message_id]
    assert {e["operator"] for e in failed} == {f"operator-{i}" for i in OPERATORS}
    assert all(e["state"] == "failed" and words in e["reason"] for e in failed), failed
    assert not delivered(root, result)


def test_a_refusal_the_sender_does_not_know_fails_the_message_with_the_nodes_words(
        devnet: tuple[Path, ProxyHandle]) -> None:
    root, proxy = devnet
    since = now_iso()
    set_fault(proxy, "reject", methods=["eth_sendRawTransaction"])
    try:
        result = transfer(root, "alpha", "beta", "native", "0.003", recipient=Account.create().address)
        check_given_up(root, result, since, REJECTION["message"], timeout=60)
    finally:
        set_fault(proxy, "none")
    later = transfer(root, "alpha", "beta", "native", "0.002", recipient=Account.create().address,
                     wait=True, timeout=60)
    assert delivered(root, later) and not delivered(root, result)


def test_b_a_refusal_that_persists_at_the_fee_cap_fails_the_message(devnet: tuple[Path, ProxyHandle]) -> None:
    root, _ = devnet
    beta = SyncEvm(chain(root, "beta")["rpc"])
    stop = threading.Event()

    def hold_the_spike() -> None:
        with SyncEvm(chain(root, "beta")["rpc"]) as evm:
            while not stop.is_set():
                evm.rpc("anvil_setNextBlockBaseFeePerGas", hex(SPIKE))
                stop.wait(0.1)

    since = now_iso()
    spike = threading.Thread(target=hold_the_spike, daemon=True)
    spike.start()
    try:
        wait_for(lambda: int(beta.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16) == SPIKE,
                 10, "beta's base fee at the spike")
        result = transfer(root, "alpha", "beta", "native", "0.005", recipient=Account.create().address)
        check_given_up(root, result, since, "max fee per gas less than block base fee", timeout=120)
        capped = [e for e in events(root, "tx.fee_capped", since)]
        assert capped, "no operator tried again at the fee cap"
        for line in events(root, "tx.abandoned", since):
            assert "at the fee cap of 500000000000 wei per gas" in line["reason"], line
    finally:
        stop.set()
        spike.join(timeout=5)
        beta.rpc("anvil_setNextBlockBaseFeePerGas", hex(10**9))
    later = transfer(root, "alpha", "beta", "native", "0.002", recipient=Account.create().address,
                     wait=True, timeout=60)
    assert delivered(root, later) and not delivered(root, result)
