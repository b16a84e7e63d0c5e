"""What an operator does with a halt and with a failed message, on a real devnet (anvil chains
alpha and beta, 1 s blocks, 2 confirmations, 3 operators), through the command line only.

(a) A reorg of alpha deeper than its finality halts every operator's follower of alpha with
    evidence: ``relayer evidence list --json`` shows it and ``relayer_misbehaviour_detected``
    is 1; it stays halted across a restart; ``relayer evidence resolve`` rewinds alpha to the
    history the chain has now (the undelivered lock of the replaced blocks set aside, kept in
    the resolution) and the running daemons resume without a restart: the gauge drops to 0 and
    a new lock (by ``relayer transfer --user 2``) is delivered.
(b) A message whose delivery the destination refuses (alpha's message layer paused by its guardian:
    every deliverBatch reverts ``IsPaused()``; only the owner unpauses) until its attempts
    run out is ``failed``: ``relayer messages list --state failed`` and ``messages show`` give its
    source, proof and every refused attempt with the reason; nothing delivers it after unpausing
    until ``relayer messages retry --state failed`` puts it back in line, and then it arrives.

(b) first gives every route a short retry policy (4 attempts, 1 + 2 + 4 s of backoff) so the
    attempts run out within seconds; the backoff itself is the route's, not the test's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import (
    chain,
    events,
    now_iso,
    operator_status,
    outcome_of,
    restart,
    retry_quickly,
    set_layer_paused,
    wait_for,
)
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow
OPERATORS = (1, 2, 3)
ATTEMPTS = 4  # delivery attempts per message in (b)
MILLI = 10**15


def relayer(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == expect, (args, out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out


def config(root: Path, index: int) -> str:
    return str(network.load_deployment(root)["operators"][index - 1]["config"])


def as_json(root: Path, index: int, *args: str) -> Any:
    return json.loads(relayer(*args, "--config", config(root, index), "--json").stdout)


def gauge(root: Path, index: int, chain_name: str) -> float | None:
    api = network.load_deployment(root)["operators"][index - 1]["api"]
    text = httpx.get(f"{api}/metrics", timeout=5).text
    found = re.search(rf'^relayer_misbehaviour_detected\{{chain="{chain_name}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


def paused(root: Path, name: str, value: bool) -> None:
    """Pause (guardian) or unpause (owner) ``name``'s message layer: it refuses every delivery while paused."""
    set_layer_paused(root, name, value)


def processed(root: Path, r: TransferResult) -> bool:
    """The destination's message layer processed the transfer's message (any outcome)."""
    return outcome_of(root, r.source, r.destination, r.nonce) != 0


def delivered(root: Path, r: TransferResult) -> bool:
    """The destination's message layer executed the transfer's message (outcome delivered)."""
    return outcome_of(root, r.source, r.destination, r.nonce) == 1


def message_state(root: Path, index: int, message_id: str) -> str | None:
    """The message's state at operator ``index``, None while it does not know it."""
    found = [m for m in as_json(root, index, "messages", "list")["messages"] if m["id"] == message_id]
    return str(found[0]["state"]) if found else None


def test_a_deep_reorg_halts_until_the_operators_resolve_it(devnet: Path) -> None:
    alpha = SyncEvm(chain(devnet, "alpha")["rpc"])
    since = now_iso()
    paused(devnet, "beta", True)  # the lock of the history that will be replaced stays undelivered
    try:
        orphan = transfer(devnet, "alpha", "beta", "native", "0.011", recipient=Account.create().address)
        wait_for(lambda: all(message_state(devnet, i, orphan.message_id) == "final" for i in OPERATORS), 30,
                 "every operator to take the lock as final")
        alpha.rpc("evm_setIntervalMining", 0)
        try:
            depth = alpha.block_number() - orphan.source_block + 1
            assert depth > network.CONFIRMATIONS
            alpha.rpc("anvil_reorg", depth, [])
            assert alpha.rpc("eth_getTransactionReceipt", orphan.source_tx) is None
        finally:
            alpha.rpc("evm_setIntervalMining", 1)

        def open_evidence() -> list[dict[str, Any]] | None:
            rows = [as_json(devnet, i, "evidence", "list", "--open")["evidence"] for i in OPERATORS]
            return rows if all(any(e["kind"] == "reorg-below-finality" and e["chain"] == "alpha" for e in r)
                               for r in rows) else None

        evidence = wait_for(open_evidence, 45, "every operator to keep evidence of the reorg")
        wait_for(lambda: all(gauge(devnet, i, "alpha") == 1 for i in OPERATORS), 15, "the gauge to be set")
        assert all(gauge(devnet, i, "beta") == 0 for i in OPERATORS)
    finally:
        paused(devnet, "beta", False)

    restart(devnet, list(OPERATORS))  # a halt survives a restart: no block is read before it is resolved
    for i in OPERATORS:
        doc = operator_status(devnet, i)
        assert doc["services"]["follower:alpha"]["state"] == "halted", doc["services"]
        assert "evidence" in doc["services"]["follower:alpha"]["error"]
        assert doc["chains"]["alpha"]["halted"] and gauge(devnet, i, "alpha") == 1
    [row] = [e for e in evidence[0] if e["kind"] == "reorg-below-finality"]
    shown = as_json(devnet, 1, "evidence", "show", str(row["id"]))
    assert shown["resolution"] is None and shown["detail"]["accepted_hash"] != shown["detail"]["parent_hash"]
    relayer("evidence", "resolve", "999", "--config", config(devnet, 1), "--reason", "x", expect=2)
    time.sleep(3)
    assert not processed(devnet, orphan)  # unpaused, but halted: the lock of the replaced history waits

    released = now_iso()
    for i, rows in zip(OPERATORS, evidence):
        for e in rows:
            out = as_json(devnet, i, "evidence", "resolve", str(e["id"]), "--by", "alice",
                          "--reason", "checked with the chain operators: alpha reorganised, follow its new history")
            resolution = out["resolution"]
            assert resolution["resolved_by"] == "alice" and "new history" in resolution["reason"]
            assert resolution["detail"]["rewound_to"] < orphan.source_block
            assert [m["id"] for m in resolution["detail"]["set_aside"]] == [orphan.message_id]
            assert out["still_open"] == []
    wait_for(lambda: {e["operator"] for e in events(devnet, "halt.released", released)} ==
             {f"operator-{i}" for i in OPERATORS}, 15, "every running daemon to release the halt")
    wait_for(lambda: all(gauge(devnet, i, "alpha") == 0 for i in OPERATORS), 15, "the gauge to clear")
    out = relayer("transfer", "--devnet", str(devnet), "--from", "alpha", "--to", "beta", "--asset", "native",
                  "--amount", "0.019", "--user", "2", "--wait", "--timeout", "90", "--json")
    after = json.loads(out.stdout)
    assert after["destination_tx"] and after["sender"] == network.load_deployment(devnet)["users"][2]["address"]
    assert after["outcome"] == "delivered"
    # the replaced lock's layer nonce (so its message id), taken again and delivered
    assert (after["nonce"], after["message_id"]) == (orphan.nonce, orphan.message_id)
    assert not [e for e in events(devnet, "message.confirmed", since) if e.get("source_tx") == orphan.source_tx]
    for i in OPERATORS:
        kept = as_json(devnet, i, "evidence", "list")["evidence"]
        assert kept and all(e["resolution"]["resolved_by"] == "alice" for e in kept)
        assert operator_status(devnet, i)["services"]["follower:alpha"]["state"] == "running"


def test_b_a_failed_message_is_shown_and_retried(devnet: Path) -> None:
    retry_quickly(devnet, ATTEMPTS)
    paused(devnet, "alpha", True)
    failing = transfer(devnet, "beta", "alpha", "native", "0.017", recipient=Account.create().address)
    mid = failing.message_id
    wait_for(lambda: all(message_state(devnet, i, mid) == "failed" for i in OPERATORS), 120,
             "every operator to give up on the refused message")
    listed = as_json(devnet, 1, "messages", "list", "--state", "failed", "--route", "beta->alpha")["messages"]
    assert [m["id"] for m in listed] == [mid]
    assert as_json(devnet, 1, "messages", "list", "--state", "failed", "--route", "alpha->beta")["messages"] == []
    life = as_json(devnet, 1, "messages", "show", mid)
    assert life["source"]["tx_hash"] == failing.source_tx and life["source"]["block"] == failing.source_block
    assert life["source"]["where"].startswith(f"tx {failing.source_tx} receipt ")  # the EVM family's words
    assert (life["kind"], life["app"], life["transfer"]) == ("message", "token-router", "lock")
    assert life["amount"] == str(17 * 10**15) and life["cost"] is None and life["outcome"] is None
    assert life["proof"]["header_verified"] and life["proof"]["commitment"].startswith("0x")
    assert len(life["proof"]["attestations"]) == 1
    refused = [a for a in life["attempts"] if a["outcome"] in ("refused", "failed")]
    assert len(refused) == ATTEMPTS and all(a["reason"] == "IsPaused()" for a in refused)
    assert life["attempts"][-1]["outcome"] == "failed" and life["destination"]["tx"] is None
    relayer("messages", "retry", mid, "--config", config(devnet, 1), "--route", "beta->alpha", expect=2)
    relayer("messages", "list", "--config", config(devnet, 1), "--route", "nowhere", expect=2)

    paused(devnet, "alpha", False)
    time.sleep(5)
    assert not processed(devnet, failing)  # a failed message is not retried by itself
    since = now_iso()
    assert as_json(devnet, 1, "messages", "retry", "--state", "failed") == {"retried": [mid]}
    wait_for(lambda: delivered(devnet, failing), 60, "delivery after the retry")
    wait_for(lambda: message_state(devnet, 1, mid) == "confirmed", 30, "operator-1 to confirm it")
    life = as_json(devnet, 1, "messages", "show", mid)
    assert [a["outcome"] for a in life["attempts"]][-1] == "retry-requested"
    assert (life["outcome"], life["ack"]) == ("delivered", "none")  # executed: no acknowledgement due (on-failure)
    assert life["destination"]["tx"] and any(t["state"] == "confirmed" for t in life["destination"]["transactions"])
    confirmed = [e["operator"] for e in events(devnet, "message.confirmed", since) if e["message_id"] == mid]
    assert confirmed == ["operator-1"]
    relayer("messages", "retry", mid, "--config", config(devnet, 1), expect=2)  # confirmed: nothing to retry
