"""Reorganisations of the source chain, made with anvil on a real devnet (1 s blocks, 2 confirmations).

anvil 1.7.1, checked by experiment: ``anvil_reorg(depth, [[raw_tx, block_offset], ...])``
replaces the last ``depth`` blocks by as many new blocks (same height) holding the given
transactions; the transactions of the replaced blocks are dropped, not put back in the pool.
(``anvil_rollback(depth)`` and ``evm_snapshot``/``evm_revert`` also drop them, but lower the head.)

(a) A TokenRouter lock in a block that is replaced before it has its 2 confirmations is never
    relayed and never attested; the lock that took its place (the same message-layer nonce,
    another recipient) and a later lock are relayed normally.
(b) A reorg deeper than the finality rule (blocks the operators accepted as final replaced)
    halts every operator's follower of that chain: evidence ``reorg-below-finality`` kept and
    shown by ``relayer status``, ``reorg.below_finality`` logged as an alarm; the message of the
    orphaned history, still undelivered (the destination layer was paused), is not delivered
    afterwards; the other route keeps working.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import chain, events, now_iso, operator_status, processed, set_layer_paused, wait_for
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.messaging import message_sent_logs
from adapters.evm.source import decode_locator
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import transfer

pytestmark = pytest.mark.slow
ROUTER = Contract.load("TokenRouter")
MILLI = 10**15


def evm(root: Path, name: str) -> SyncEvm:
    return SyncEvm(chain(root, name)["rpc"])


def delivered(root: Path, src: str, dst: str, nonce: int) -> bool:
    return processed(root, src, dst, nonce)


def wrapped_native(root: Path, on: str, owner: str) -> int:
    c = chain(root, on)
    return int(SyncEvm(c["rpc"]).call(c["wrapped_native"], "WrappedToken", "balanceOf", owner))


def signed_lock(root: Path, key: str, nonce: int, recipient: str, amount: int) -> str:
    """A signed TokenRouter ``lockNative`` on alpha for ``recipient`` on beta at account nonce ``nonce`` (raw hex)."""
    alpha = chain(root, "alpha")
    data = ROUTER.encode_call("lockNative", chain(root, "beta")["chain_id"], recipient, 0)
    signed = Account.sign_transaction({
        "type": 2, "chainId": alpha["chain_id"], "nonce": nonce, "to": alpha["token_router"], "value": amount,
        "data": data, "gas": 400_000, "maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9}, key)
    return "0x" + bytes(signed.raw_transaction).hex()


def block(e: SyncEvm, number: int) -> dict[str, Any]:
    return dict(e.rpc("eth_getBlockByNumber", hex(number), False))


def lock_nonce(root: Path, receipt: dict[str, Any]) -> int:
    """The nonce of the envelope alpha's message layer sent in ``receipt``."""
    ((_, envelope),) = message_sent_logs(receipt, chain(root, "alpha")["message_layer"])
    return envelope.nonce


def state_rows(root: Path, index: int, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of operator ``index``'s state database (read-only; the daemon keeps writing)."""
    path = root / "state" / f"operator-{index}" / "relayer.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_a_lock_orphaned_before_it_is_final_is_never_relayed(devnet: Path) -> None:
    alpha = evm(devnet, "alpha")
    user = network.load_deployment(devnet)["users"][0]
    orphan, replacement, later = (Account.create().address for _ in range(3))
    since = now_iso()
    alpha.rpc("evm_setIntervalMining", 0)  # blocks only when this test mines them
    try:
        account_nonce = alpha.nonce(user["address"])
        orphan_tx = alpha.send_raw(bytes.fromhex(signed_lock(devnet, user["key"], account_nonce, orphan,
                                                             3 * MILLI)[2:]))
        alpha.rpc("evm_mine")
        receipt = alpha.wait_receipt(orphan_tx, timeout=10)
        number, orphan_nonce = int(receipt["blockNumber"], 16), lock_nonce(devnet, receipt)
        orphan_block = receipt["blockHash"]
        alpha.rpc("evm_mine")  # one confirmation of the two the operators wait for
        time.sleep(2.0)  # the operators poll every 0.5 s: they see the head, nothing final to relay
        assert not [e for e in events(devnet, "message.final", since) if e.get("tx") == orphan_tx]
        # the same sender's same account nonce: the orphaned transaction can never come back
        alpha.rpc("anvil_reorg", 2, [[signed_lock(devnet, user["key"], account_nonce, replacement, 5 * MILLI), 0]])
        assert alpha.rpc("eth_getTransactionReceipt", orphan_tx) is None
        new_block = block(alpha, number)
        assert new_block["hash"] != orphan_block and len(new_block["transactions"]) == 1
        assert alpha.block_number() == number + 1
    finally:
        alpha.rpc("evm_setIntervalMining", 1)
    replacement_receipt = alpha.wait_receipt(new_block["transactions"][0], timeout=10)
    assert lock_nonce(devnet, replacement_receipt) == orphan_nonce  # the layer's nonce was taken again
    wait_for(lambda: wrapped_native(devnet, "beta", replacement) == 5 * MILLI, 60, "the replacement lock")
    assert delivered(devnet, "alpha", "beta", orphan_nonce)  # ... by the replacement lock
    after = transfer(devnet, "alpha", "beta", "native", "0.007", recipient=later, wait=True, timeout=60)
    assert wrapped_native(devnet, "beta", later) == 7 * MILLI and after.nonce == orphan_nonce + 1

    assert wrapped_native(devnet, "beta", orphan) == 0
    finals = events(devnet, "message.final", since)
    assert not [e for e in finals if e.get("tx") == orphan_tx], "a relayer took the orphaned lock as final"
    assert {e["operator"] for e in finals if e.get("tx") == replacement_receipt["transactionHash"]} == \
        {"operator-1", "operator-2", "operator-3"}
    for index in (1, 2, 3):
        # an attestation is kept as its policy's record (schema 3); the committee's names the block by block_hash
        assert not state_rows(devnet, index, "SELECT number FROM attestations WHERE "
                              "lower(json_extract(record, '$.block_hash'))=?", orphan_block.lower()), \
            f"operator-{index} attested the orphaned block"
        assert not state_rows(devnet, index, "SELECT number FROM headers WHERE lower(hash)=?", orphan_block.lower())
        attested = state_rows(devnet, index, "SELECT json_extract(record, '$.block_hash') FROM attestations "
                              "WHERE src_chain_id=? AND number=?", chain(devnet, "alpha")["chain_id"], number)
        assert [h.lower() for (h,) in attested] == [new_block["hash"].lower()]
        messages = [loc for (loc,) in state_rows(devnet, index, "SELECT locator FROM messages")
                    if decode_locator(bytes(loc))[0].lower() == orphan_tx.lower()]
        assert not messages


def test_b_reorg_deeper_than_finality_halts_the_route_with_evidence(devnet: Path) -> None:
    alpha = evm(devnet, "alpha")
    orphan = Account.create().address
    since = now_iso()
    set_layer_paused(devnet, "beta", True)  # the lock stays undelivered
    try:
        lock = transfer(devnet, "alpha", "beta", "native", "0.011", recipient=orphan)
        wait_for(lambda: {e["operator"] for e in events(devnet, "message.final", since)
                          if e.get("tx") == lock.source_tx} == {"operator-1", "operator-2", "operator-3"},
                 30, "every operator to take the lock as final")
        wait_for(lambda: events(devnet, "message.attempt_failed", since), 30, "a refused delivery attempt")
        alpha.rpc("evm_setIntervalMining", 0)
        try:
            head = alpha.block_number()
            depth = head - lock.source_block + 1  # the lock's block and every block after it
            assert depth > network.CONFIRMATIONS
            final_hashes = {n: block(alpha, n)["hash"] for n in range(lock.source_block, head - 1)}
            alpha.rpc("anvil_reorg", depth, [])
            assert alpha.rpc("eth_getTransactionReceipt", lock.source_tx) is None
            assert all(block(alpha, n)["hash"] != h for n, h in final_hashes.items())
        finally:
            alpha.rpc("evm_setIntervalMining", 1)

        def halted_everywhere() -> list[dict[str, Any]] | None:
            docs = [operator_status(devnet, i) for i in (1, 2, 3)]
            ok = all(d["chains"]["alpha"].get("halted") and
                     any(e["kind"] == "reorg-below-finality" and e["chain"] == "alpha" for e in d["evidence"])
                     for d in docs)
            return docs if ok else None

        docs = wait_for(halted_everywhere, 45, "every operator to halt the alpha follower with evidence")
        for doc in docs:
            assert "reorg-below-finality" in doc["chains"]["alpha"]["halted"]
            assert doc["services"]["follower:alpha"]["state"] == "halted"
            assert doc["services"]["follower:beta"]["state"] == "running"
            assert not doc["chains"]["beta"].get("halted")
        alarms = events(devnet, "reorg.below_finality", since)
        assert {a["operator"] for a in alarms} == {"operator-1", "operator-2", "operator-3"}
        assert all(a["alarm"] is True and a["chain"] == "alpha" and a["level"] == "error" for a in alarms)
        assert all(a["accepted_hash"] != a["parent_hash"] for a in alarms)
    finally:
        set_layer_paused(devnet, "beta", False)
    unpaused = time.monotonic()

    # the other route keeps working
    back = Account.create().address
    result = transfer(devnet, "beta", "alpha", "native", "0.013", recipient=back, wait=True, timeout=60)
    assert wrapped_native(devnet, "alpha", back) == 13 * MILLI and result.destination_tx
    # the orphaned lock was final for every operator and its header attested; the refused attempts
    # come back after their backoff (2, 4, 8, 16 s): none may deliver it now that the chain is halted
    time.sleep(max(0.0, 25.0 - (time.monotonic() - unpaused)))
    assert not delivered(devnet, "alpha", "beta", lock.nonce)
    assert wrapped_native(devnet, "beta", orphan) == 0
    assert not [e for e in events(devnet, "message.confirmed", since) if e.get("source_tx") == lock.source_tx]
