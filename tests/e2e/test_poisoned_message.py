"""One bad message never holds up the others, on a real devnet (two anvil chains, three operators).

In one source block ten good burns (``TokenRouter.burn`` on beta) sit beside one whose native
release the recipient on alpha refuses. Alpha's message layer processes all eleven: the ten are
delivered, and the poisoned one is recorded ``failed`` with the handler's revert data
(``NativeTransferFailed``) in a transaction that delivered good ones too. The relayer's job is
then done: it does not retry the poisoned message (no refused attempt, nothing set aside, no
failure metric); the failure acknowledgement the layer sent back is carried to beta, where the
router re-mints the burned tokens to the sender. `relayer status` (``not_executed``, the route's
outcome counts), `relayer messages show` and the log say what happened. (A delivery the
destination refuses as a whole, retried by the route's policy and set aside, is
``test_operator_commands.py`` (b).)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import chain, events, now_iso, operator_status, outcome_of, wait_for
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.anvil import ANVIL_KEYS
from relayer.devnet.send import processed_event
from relayer.devnet.transfer import sent_envelope, transfer

pytestmark = pytest.mark.slow
ROUTER = Contract.load("TokenRouter")
GOOD = 10
POISONED = GOOD // 2  # its index among the eleven burns
TIMEOUT = 150


def burns_in_one_block(evm: SyncEvm, key: str, router: str, wrapped: str,
                       recipients: list[str], amounts: list[int]) -> list[dict[str, Any]]:
    """Burns of ``wrapped`` for each recipient, all mined in one block of the interval-mining devnet chain."""
    sender = Account.from_key(key).address
    evm.rpc("evm_setIntervalMining", 0)
    evm.rpc("evm_setAutomine", False)
    try:
        start = evm.nonce(sender)
        hashes = [evm.send_transaction(key, router, ROUTER.encode_call("burn", wrapped, r, a, 0), gas=400_000,
                                       nonce=start + i) for i, (r, a) in enumerate(zip(recipients, amounts))]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setIntervalMining", 1)
    receipts = [evm.wait_receipt(h, 20) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the burns did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts)
    return receipts


def refunds(evm: SyncEvm, router: str, msg_id: str) -> list[dict[str, Any]]:
    """The router's ``Refunded`` events of transfer ``msg_id``, decoded."""
    logs = evm.rpc("eth_getLogs", {"address": router, "fromBlock": "0x0", "toBlock": "latest",
                                   "topics": ["0x" + ROUTER.event_topic("Refunded").hex(), msg_id]})
    out = []
    for log in logs:
        decoded = ROUTER.decode_log(log)
        assert decoded is not None
        out.append(decoded[1])
    return out


def show(root: Path, index: int, msg_id: str) -> dict[str, Any]:
    """`relayer messages show ID --json` of operator ``index``."""
    config = network.load_deployment(root)["operators"][index - 1]["config"]
    out = subprocess.run([sys.executable, "-m", "relayer", "messages", "show", msg_id, "--config", config, "--json"],
                         capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout))


def test_poisoned_message_beside_ten_good_ones(devnet: Path) -> None:
    alpha, beta = chain(devnet, "alpha"), chain(devnet, "beta")
    a, b = SyncEvm(alpha["rpc"]), SyncEvm(beta["rpc"])
    user = network.load_deployment(devnet)["users"][0]
    funded = transfer(devnet, "alpha", "beta", "native", "1", wait=True, timeout=120, user_index=0)
    assert funded.outcome == "delivered"
    refuser = a.deploy(ANVIL_KEYS[0], "RefusingRecipient")
    recipients = [Account.create().address for _ in range(GOOD)]
    recipients.insert(POISONED, refuser)
    amounts = [10**16 + i for i in range(GOOD + 1)]
    held = b.call(beta["wrapped_native"], "WrappedToken", "balanceOf", user["address"])
    since = now_iso()
    receipts = burns_in_one_block(b, user["key"], beta["token_router"], beta["wrapped_native"], recipients, amounts)
    envelopes = [sent_envelope(r, beta["message_layer"]) for r in receipts]
    ids = ["0x" + e.id.hex() for e in envelopes]
    poisoned = ids[POISONED]
    assert b.call(beta["wrapped_native"], "WrappedToken", "balanceOf", user["address"]) == held - sum(amounts)

    def processed() -> bool:
        return all(outcome_of(devnet, "beta", "alpha", e.nonce) != 0 for e in envelopes)

    wait_for(processed, TIMEOUT, "alpha's layer to process the eleven messages")
    outcomes = [outcome_of(devnet, "beta", "alpha", e.nonce) for e in envelopes]
    assert outcomes == [2 if i == POISONED else 1 for i in range(GOOD + 1)], outcomes  # 1 delivered, 2 failed
    for recipient, amount in zip(recipients, amounts):
        if recipient != refuser:
            assert a.balance(recipient) == amount
    assert a.balance(refuser) == 0

    # recorded failed with the handler's revert data, in a transaction that delivered good ones too
    events_of = {mid: processed_event(a, alpha["message_layer"], mid) for mid in ids}
    failed = events_of[poisoned]
    assert failed is not None and failed.outcome == "failed"
    cause = f"NativeTransferFailed({refuser}, {amounts[POISONED]})"
    assert failed.reason == cause, failed
    delivering = {e.tx for mid, e in events_of.items() if mid != poisoned and e is not None}
    assert failed.tx in delivering, (failed.tx, delivering)

    # the failure acknowledgement reaches beta's router, which re-mints the burn to the sender
    refund = wait_for(lambda: refunds(b, beta["token_router"], poisoned), TIMEOUT, "the refund on beta")
    assert len(refund) == 1
    assert (refund[0]["sender"], refund[0]["asset"], refund[0]["amount"]) == \
        (user["address"], beta["wrapped_native"], amounts[POISONED])
    assert (refund[0]["outcome"], "0x" + refund[0]["reason"].hex()) == (2, failed.result)
    assert b.call(beta["wrapped_native"], "WrappedToken", "balanceOf", user["address"]) == \
        held - sum(amounts) + amounts[POISONED]

    # the operator that delivered it shows the outcome and the acknowledgement's arrival
    def shown_by() -> int | None:
        for index in (1, 2, 3):
            listed = [m for m in operator_status(devnet, index).get("not_executed", []) if m["message_id"] == poisoned]
            if listed and listed[0]["ack"] == "delivered":
                assert (listed[0]["route"], listed[0]["outcome"], listed[0]["result"]) == \
                    ("beta->alpha", "failed", failed.result), listed
                return index
        return None

    index = wait_for(shown_by, 60, "relayer status to list the poisoned message with its acknowledgement delivered")
    life = show(devnet, index, poisoned)
    assert (life["outcome"], life["outcome_result"], life["ack"]) == ("failed", failed.result, "delivered")
    assert life["state"] in ("included", "confirmed") and life["destination"]["tx"] == failed.tx
    assert (life["app"], life["transfer"], life["to"], life["amount"]) == \
        ("token-router", "burn", refuser, str(amounts[POISONED]))
    assert not [t for t in life["attempts"] if t["outcome"] in ("refused", "failed")], life["attempts"]
    not_executed = [e for e in events(devnet, "message.not_executed", since) if e["message_id"] == poisoned]
    assert {(e["operator"], e["outcome"], e["result"], e["acknowledged"]) for e in not_executed} == \
        {(f"operator-{index}", "failed", failed.result, True)}, not_executed

    # not retried and nothing set aside: the relayer's job was done when the layer processed it
    assert not [e for e in events(devnet, "message.attempt_failed", since) if e["message_id"] in ids]
    outcome_totals: Counter[str] = Counter()
    for i in (1, 2, 3):
        doc = operator_status(devnet, i)
        assert not [m for m in doc.get("set_aside", []) if m["message_id"] in ids], (i, doc["set_aside"])
        [route] = [r for r in doc["routes"] if r["route"] == "beta->alpha"]
        outcome_totals.update(route["outcomes"])
        api = network.load_deployment(devnet)["operators"][i - 1]["api"]
        metrics = httpx.get(f"{api}/metrics", timeout=5).text
        assert not re.search(r'relayer_messages_failed_total\{[^}]*route="beta->alpha"', metrics), metrics
    assert (outcome_totals["delivered"], outcome_totals["failed"]) == (GOOD, 1), outcome_totals
