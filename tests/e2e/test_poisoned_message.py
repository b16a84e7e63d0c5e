"""One bad message never holds up the others, on a real devnet (two anvil chains, three operators).

In one source block ten good burns sit beside one whose native release the recipient refuses. The
ten arrive (in the same delivery transaction that sets the poisoned one aside on-chain with
``MessageFailed``); the poisoned one is retried by the route's policy and ends ``failed`` with a
reason naming the cause, visible in `relayer status`, the metrics and the log.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from devnet_helpers import chain, events, now_iso, operator_status, retry_quickly, wait_for
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.anvil import ANVIL_KEYS
from relayer.devnet.transfer import message_id, transfer

pytestmark = pytest.mark.slow
BRIDGE = Contract.load("Bridge")
GOOD = 10
MAX_ATTEMPTS = 3


def burns_in_one_block(evm: SyncEvm, key: str, bridge: str, wrapped: str,
                       recipients: list[str], amounts: list[int]) -> list[dict[str, Any]]:
    """Burns of ``wrapped`` for each recipient, all mined in one block of the interval-mining devnet chain."""
    sender = Account.from_key(key).address
    evm.rpc("evm_setIntervalMining", 0)
    evm.rpc("evm_setAutomine", False)
    try:
        start = evm.nonce(sender)
        hashes = [evm.send_transaction(key, bridge, BRIDGE.encode_call("burn", wrapped, r, a), gas=200_000,
                                       nonce=start + i) for i, (r, a) in enumerate(zip(recipients, amounts))]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setIntervalMining", 1)
    receipts = [evm.wait_receipt(h, 20) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the burns did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts)
    return receipts


def bridge_logs(evm: SyncEvm, bridge: str, name: str) -> list[dict[str, Any]]:
    topic = "0x" + BRIDGE.event_topic(name).hex()
    return list(evm.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest", "address": bridge, "topics": [topic]}))


def set_aside(root: Path, mid: str) -> list[dict[str, Any]]:
    """The poisoned message as each operator's `relayer status --json` lists it, once it is failed."""
    found = []
    for index in (1, 2, 3):
        found += [m for m in operator_status(root, index).get("set_aside", [])
                  if m["message_id"] == mid and m["state"] == "failed"]
    return found


def test_poisoned_message_beside_ten_good_ones(devnet: Path) -> None:
    retry_quickly(devnet, MAX_ATTEMPTS)
    alpha, beta = chain(devnet, "alpha"), chain(devnet, "beta")
    a, b = SyncEvm(alpha["rpc"]), SyncEvm(beta["rpc"])
    funded = transfer(devnet, "alpha", "beta", "native", "1", wait=True, timeout=120, user_index=0)
    assert funded.destination_tx is not None
    refuser = a.deploy(ANVIL_KEYS[0], "RefusingRecipient")
    recipients = [Account.create().address for _ in range(GOOD)]
    recipients.insert(GOOD // 2, refuser)
    amounts = [10**16 + i for i in range(GOOD + 1)]
    since = now_iso()
    receipts = burns_in_one_block(b, network.load_deployment(devnet)["users"][0]["key"], beta["bridge"],
                                  beta["wrapped_native"], recipients, amounts)
    nonces = [BRIDGE.decode_log(next(lg for lg in r["logs"] if lg["address"].lower() == beta["bridge"].lower()))[1]
              ["nonce"] for r in receipts]
    poisoned = message_id(beta["chain_id"], beta["bridge"], nonces[GOOD // 2])

    def arrived() -> bool:
        return all(a.call(alpha["bridge"], "Bridge", "isDelivered", beta["chain_id"], n)
                   for i, n in enumerate(nonces) if i != GOOD // 2)

    wait_for(arrived, 120, "the ten good messages")
    for recipient, amount in zip(recipients, amounts):
        if recipient != refuser:
            assert a.balance(recipient) == amount
    assert not a.call(alpha["bridge"], "Bridge", "isDelivered", beta["chain_id"], nonces[GOOD // 2])
    assert a.balance(refuser) == 0

    # set aside on-chain in the very transaction that delivered the others
    failed_logs = [lg for lg in bridge_logs(a, alpha["bridge"], "MessageFailed") if lg["topics"][1].lower() == poisoned]
    assert failed_logs, "no MessageFailed for the poisoned message"
    delivering = {lg["transactionHash"] for lg in bridge_logs(a, alpha["bridge"], "Delivered")}
    assert failed_logs[0]["transactionHash"] in delivering
    cause = f"NativeTransferFailed({refuser}, {amounts[GOOD // 2]})"

    # retried by policy, then failed with the cause as its reason
    listed = wait_for(lambda: set_aside(devnet, poisoned), 150, "the poisoned message to end failed")
    assert all(m["reason"] == cause and m["attempts"] == MAX_ATTEMPTS for m in listed), listed
    attempts = [e for e in events(devnet, "message.attempt_failed", since) if e["message_id"] == poisoned]
    assert {e["reason"] for e in attempts} == {cause}
    assert any(e["state"] == "failed" for e in attempts) and any(e["state"] == "final" for e in attempts)
    operator = next(e["operator"] for e in attempts if e["state"] == "failed")
    api = network.load_deployment(devnet)["operators"][int(operator.rsplit("-", 1)[1]) - 1]["api"]
    metrics = httpx.get(f"{api}/metrics", timeout=5).text
    counted = re.search(r'relayer_messages_failed_total\{reason="NativeTransferFailed",route="beta->alpha"\} (\S+)',
                        metrics) or re.search(
        r'relayer_messages_failed_total\{route="beta->alpha",reason="NativeTransferFailed"\} (\S+)', metrics)
    assert counted and float(counted.group(1)) >= MAX_ATTEMPTS, metrics
    # nothing else of the block is left open or failed at any operator
    for index in (1, 2, 3):
        others = [m for m in operator_status(devnet, index).get("set_aside", []) if m["message_id"] != poisoned]
        assert not others, (index, others)
