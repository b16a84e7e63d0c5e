"""Gas of the message layer's delivery paths on anvil, for token transfers, against generous bounds.

One ``TokenRouter.lockNative`` delivered with its committee header update in the same transaction
(as the relayer sends it), and a ``deliverBatch`` of 32 locks mined into one source block (one
update), each minting the wrapped coin to a fresh recipient, in steady state (the router, the
wrapped token and the replay guard have served one delivery before). Asserts only upper bounds
that catch a regression: the figures (about 182,000 and 85,000 per message on anvil's default
hardfork) are above the aims of 120,000 for one message with its proof and 40,000 per message in a
batch of 32. ``make bench`` records the figures (``bench/gas_vs_hyperlane.py``), never a test; run
with ``-s`` to see them.
"""

from __future__ import annotations

from typing import Any

from apps_env import ROUTER, USER, USER_KEY, AppPair, app_pair, fresh_address

from adapters.evm.messaging import OUTCOME_DELIVERED

BATCH = 32
AMOUNT = 10**15


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def locks_in_one_block(pair: AppPair, count: int) -> list[dict[str, Any]]:
    """``count`` lockNative transactions of A's router mined into one block, each to a fresh recipient."""
    evm, router = pair.a.evm, pair.router(pair.a)
    evm.rpc("evm_setAutomine", False)
    try:
        start = evm.nonce(USER)
        hashes = [evm.send_transaction(USER_KEY, router, ROUTER.encode_call(
            "lockNative", pair.b.chain_id, fresh_address(f"batch-{i}"), 0), value=AMOUNT + i, gas=200_000,
            nonce=start + i) for i in range(count)]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setAutomine", True)
    receipts = [evm.wait_receipt(h, 10) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the locks did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts), "a lock reverted"
    return receipts


def delivered_all(pair: AppPair, receipt: dict[str, Any], count: int) -> int:
    """Gas of the delivery ``receipt``, after checking it delivered ``count`` messages."""
    assert [e["outcome"] for e in pair.m.processed(pair.b, receipt)] == [OUTCOME_DELIVERED] * count
    return gas(receipt)


def test_delivery_gas_of_token_transfers() -> None:
    with app_pair() as pair:
        m, a, b = pair.m, pair.a, pair.b
        delivered_all(pair, pair.relay(a, pair.lock_native(a, AMOUNT, fresh_address("warm-up"))), 1)
        single = delivered_all(pair, pair.relay(a, pair.lock_native(a, AMOUNT, fresh_address("single"))), 1)
        receipts = locks_in_one_block(pair, BATCH)
        number = int(receipts[0]["blockNumber"], 16)
        block = a.evm.rpc("eth_getBlockReceipts", hex(number))
        proofs = [m.proof(a, r, receipts=block) for r in receipts]
        batch = delivered_all(pair, m.deliver(b, proofs, m.update_payload(a, number)), BATCH)
    print(f"\nmint with its 2-of-3 update: {single:,}; batch of {BATCH} with its update: {batch:,} "
          f"({batch // BATCH:,} per message)")
    assert single <= 260_000
    assert batch / BATCH <= 100_000
