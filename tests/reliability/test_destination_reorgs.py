"""Reorganisations of the destination chain, made with ``anvil_reorg`` on beta of a real devnet
(1 s blocks, ``confirmations = 2`` on both chains, so a delivery is final 2 blocks deep).

Each test stops beta's mining, lets the designated operator sign its delivery, mines exactly one
block holding it and waits until the two peers saw the message delivered (they step aside, as
they would on a live chain). While beta stands still the delivery is only ``included``: no
``message.confirmed`` yet. Then the block is replaced:

(a) by an empty one: the delivery is gone from the chain. The operator notices at depth
    (``tx.reorged``), sends the same signed transaction again at the same nonce, and confirms the
    message once it is 2 blocks deep on the new branch: delivered once, confirmed once, the nonce
    sequence intact (a later transfer goes through).
(b) by one that holds the same delivery again (what a node does that puts the dropped
    transaction back into its pool): nothing is sent again; the message is confirmed from its
    receipt on the new branch.
(c) by an empty one while the same operator's next delivery (the next nonce) waits in the pool:
    that one cannot be mined before the dropped nonce, so the operator sends the dropped
    transaction again from its journal; both messages arrive once, the nonce sequence has no gap.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import chain, events, now_iso, processed_logs, wait_for
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow
MILLI = 10**15
DEPTH = network.CONFIRMATIONS


def beta(root: Path) -> SyncEvm:
    return SyncEvm(chain(root, "beta")["rpc"])


def rows(root: Path, operator: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of one operator's state database (read-only; the daemon keeps writing)."""
    path = root / "state" / operator / "relayer.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def state_of(root: Path, operator: str, message_id: str) -> str:
    return str(rows(root, operator, "SELECT state FROM messages WHERE id=?", message_id)[0][0])


def delivered_logs(root: Path, message_id: str) -> list[dict[str, Any]]:
    """beta's message layer's MessageProcessed logs of ``message_id`` (on the current branch)."""
    return processed_logs(root, "beta", message_id)


def wrapped_native(root: Path, owner: str) -> int:
    b = chain(root, "beta")
    return int(beta(root).call(b["wrapped_native"], "WrappedToken", "balanceOf", owner))


def confirmed_lines(root: Path, message_id: str, since: str) -> list[dict[str, Any]]:
    return [e for e in events(root, "message.confirmed", since) if e["message_id"] == message_id]


def include_one_delivery(root: Path, since: str, recipient: str) -> tuple[TransferResult, dict[str, Any], str]:
    """With beta's mining stopped: a lock to beta, its delivery signed and mined in one block, the
    peers stepped aside. Returns the transfer, the ``tx.signed`` line and the block's hash."""
    evm = beta(root)
    result = transfer(root, "alpha", "beta", "native", "0.009", recipient=recipient)
    signed = wait_for(lambda: events(root, "tx.signed", since), 40, "a delivery transaction")[0]
    wait_for(lambda: evm.rpc("eth_getTransactionByHash", signed["tx"]), 10, "the delivery in beta's pool")
    evm.rpc("evm_mine")
    receipt = evm.wait_receipt(signed["tx"], timeout=10)
    assert int(receipt["status"], 16) == 1
    wait_for(lambda: [e for e in events(root, "tx.mined", since) if e["tx"] == signed["tx"]], 20,
             "the delivering operator to see its transaction mined")
    peers = {"operator-1", "operator-2", "operator-3"} - {signed["operator"]}
    wait_for(lambda: peers <= {e["operator"] for e in events(root, "message.delivered_by_peer", since)
                               if e["message_id"] == result.message_id},
             40, "both peers to see the message delivered")
    # beta stands still one block after the delivery: included, not final, not confirmed
    assert state_of(root, signed["operator"], result.message_id) == "included"
    assert not confirmed_lines(root, result.message_id, since)
    return result, signed, receipt["blockHash"]


@pytest.fixture
def stopped_beta(devnet: Path) -> Any:
    evm = beta(devnet)
    evm.rpc("evm_setIntervalMining", 0)
    evm.rpc("evm_setAutomine", False)
    try:
        yield devnet
    finally:
        evm.rpc("evm_setIntervalMining", 1)


def test_a_delivery_a_reorg_dropped_is_delivered_again_once(stopped_beta: Path) -> None:
    root, evm, recipient, since = stopped_beta, beta(stopped_beta), Account.create().address, now_iso()
    result, signed, mined_in = include_one_delivery(root, since, recipient)
    operator = signed["operator"]
    evm.rpc("anvil_reorg", 1, [])
    assert evm.rpc("eth_getTransactionReceipt", signed["tx"]) is None
    assert not delivered_logs(root, result.message_id)
    evm.rpc("evm_setIntervalMining", 1)

    line = wait_for(lambda: confirmed_lines(root, result.message_id, since), 60, "the message confirmed")[0]
    reorged = [e for e in events(root, "tx.reorged", since) if e["tx"] == signed["tx"]]
    assert [e["operator"] for e in reorged] == [operator]
    assert line["operator"] == operator and line["destination_tx"] == signed["tx"]  # the same signed bytes
    receipt = evm.rpc("eth_getTransactionReceipt", signed["tx"])
    assert receipt["blockHash"] != mined_in and int(receipt["blockNumber"], 16) == line["block"]
    assert evm.block_number() >= line["block"] + DEPTH
    logs = delivered_logs(root, result.message_id)
    assert [lg["transactionHash"] for lg in logs] == [signed["tx"]]
    assert wrapped_native(root, recipient) == 9 * MILLI
    assert state_of(root, operator, result.message_id) == "confirmed"
    assert not [e for e in events(root, "tx.signed", since) if e["tx"] != signed["tx"]], "a second delivery"
    # no nonce skipped or used twice: the next delivery goes through
    later = Account.create().address
    transfer(root, "alpha", "beta", "native", "0.004", recipient=later, wait=True, timeout=60)
    assert wrapped_native(root, later) == 4 * MILLI
    assert len(confirmed_lines(root, result.message_id, since)) == 1


def test_b_a_delivery_mined_again_on_the_new_branch_is_not_sent_again(stopped_beta: Path) -> None:
    root, evm, recipient, since = stopped_beta, beta(stopped_beta), Account.create().address, now_iso()
    result, signed, mined_in = include_one_delivery(root, since, recipient)
    raw = rows(root, signed["operator"], "SELECT raw FROM txs WHERE hash=?", signed["tx"])[0][0]
    evm.rpc("anvil_reorg", 1, [[raw, 0]])
    receipt = evm.rpc("eth_getTransactionReceipt", signed["tx"])
    assert receipt is not None and receipt["blockHash"] != mined_in
    evm.rpc("evm_setIntervalMining", 1)

    line = wait_for(lambda: confirmed_lines(root, result.message_id, since), 60, "the message confirmed")[0]
    assert line["destination_tx"] == signed["tx"] and line["block"] == int(receipt["blockNumber"], 16)
    assert not [e for e in events(root, "tx.reorged", since) if e["tx"] == signed["tx"]]
    assert [e["tx"] for e in events(root, "tx.signed", since)] == [signed["tx"]]
    assert len(delivered_logs(root, result.message_id)) == 1
    assert wrapped_native(root, recipient) == 9 * MILLI


def lock_for_the_same_operator(root: Path, first: TransferResult) -> tuple[TransferResult, str]:
    """A lock (and its recipient) in an alpha block with the same designated operator as ``first``
    (turns go by block number modulo the 3 operators): sent right after the block before such a
    block. A lock that misses its block goes to another recipient, so the one returned gets only
    its own."""
    alpha = SyncEvm(chain(root, "alpha")["rpc"])
    for _ in range(3):
        target = alpha.block_number() + 2
        target += (first.source_block - target) % 3
        wait_for(lambda before=target - 1: alpha.block_number() >= before, 10, f"alpha block {target - 1}")
        recipient = Account.create().address
        result = transfer(root, "alpha", "beta", "native", "0.006", recipient=recipient)
        if result.source_block % 3 == first.source_block % 3:
            return result, recipient
    raise AssertionError("could not place a lock in a block of the same operator's turn")


def test_c_a_later_nonce_waiting_behind_the_dropped_one_gets_it_sent_again(stopped_beta: Path) -> None:
    root, evm, since = stopped_beta, beta(stopped_beta), now_iso()
    first_recipient = Account.create().address
    first, signed, _ = include_one_delivery(root, since, first_recipient)
    operator = signed["operator"]
    second, second_recipient = lock_for_the_same_operator(root, first)
    following = wait_for(lambda: [e for e in events(root, "tx.signed", since)
                                  if e["operator"] == operator and e["nonce"] == signed["nonce"] + 1],
                         30, "the same operator's next delivery")[0]
    wait_for(lambda: evm.rpc("eth_getTransactionByHash", following["tx"]), 10, "the next delivery in the pool")
    evm.rpc("anvil_reorg", 1, [])
    assert evm.rpc("eth_getTransactionReceipt", signed["tx"]) is None
    evm.rpc("evm_setIntervalMining", 1)

    line = wait_for(lambda: confirmed_lines(root, first.message_id, since), 90, "the first message confirmed")[0]
    assert line["destination_tx"] == signed["tx"] and line["operator"] == operator
    assert [e["operator"] for e in events(root, "tx.reorged", since) if e["tx"] == signed["tx"]][:1] == [operator]
    wait_for(lambda: delivered_logs(root, second.message_id), 60, "the second message delivered")
    assert len(delivered_logs(root, first.message_id)) == 1 and len(delivered_logs(root, second.message_id)) == 1
    assert wrapped_native(root, first_recipient) == 9 * MILLI
    assert wrapped_native(root, second_recipient) == 6 * MILLI
    # the operator's nonces on beta: none skipped (everything it sent is mined, nothing waits in the pool)
    address = next(op["address"] for op in network.load_deployment(root)["operators"] if op["name"] == operator)
    wait_for(lambda: evm.rpc("eth_getTransactionCount", address, "latest")
             == evm.rpc("eth_getTransactionCount", address, "pending"), 30, "the operator's pool to drain")
