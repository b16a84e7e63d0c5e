"""Gas of message delivery on anvil, recorded (printed), not asserted: one message with its
light-client update in one transaction, and per message in batches of 8 and 32 from a source
block of 50 receipts, after a first delivery (steady state: the layer's per-delivery slots are
no longer zero). Checks only that every message was delivered. Run with ``-s`` to see."""

from __future__ import annotations

from typing import Any

from msg_env import DEPLOYER, MessagePair, message_pair

from adapters.evm.messaging import OUTCOME_DELIVERED

BLOCK_RECEIPTS = 50
EMPTY_GAS_LIMIT = 50_000


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def measured(pair: MessagePair, proofs: list[bytes], update: bytes) -> int:
    """Gas of one deliverBatch of ``proofs`` (after ``update``), on a snapshot that is then dropped."""
    evm = pair.b.evm
    snapshot = evm.rpc("evm_snapshot")
    try:
        receipt = pair.deliver(pair.b, proofs, update)
        outcomes = [p["outcome"] for p in pair.processed(pair.b, receipt)]
        assert outcomes == [OUTCOME_DELIVERED] * len(proofs)
        return gas(receipt)
    finally:
        assert evm.rpc("evm_revert", snapshot)


def first_delivery(pair: MessagePair, empty: str) -> int:
    """Deliver one message so that the layer's per-delivery slots are no longer zero (steady state
    for what follows); its gas, header already accepted."""
    receipt = pair.send(pair.a, empty, b"", gas_limit=EMPTY_GAS_LIMIT)
    delivered = pair.relay(pair.a, receipt)
    assert [p["outcome"] for p in pair.processed(pair.b, delivered)] == [OUTCOME_DELIVERED]
    return gas(delivered)


def test_record_delivery_gas() -> None:
    figures: dict[str, int] = {}
    with message_pair() as pair:
        empty = pair.b.evm.deploy(DEPLOYER, "MsgEmpty")
        figures["first_ever_delivery_header_accepted"] = first_delivery(pair, empty)
        single = pair.send(pair.a, empty, b"", gas_limit=EMPTY_GAS_LIMIT)
        number = int(single["blockNumber"], 16)
        update = pair.update_payload(pair.a, number)
        figures["single_with_update_2_of_3"] = measured(pair, [pair.proof(pair.a, single)], update)
        pair.accept(pair.a, number)
        figures["single_header_already_accepted"] = measured(pair, [pair.proof(pair.a, single)], b"")

        sends = [{"recipient": empty, "body": i.to_bytes(4, "big"), "gas_limit": EMPTY_GAS_LIMIT}
                 for i in range(BLOCK_RECEIPTS)]
        receipts = pair.send_in_one_block(pair.a, sends, gas=200_000)
        block = int(receipts[0]["blockNumber"], 16)
        all_receipts = pair.a.evm.rpc("eth_getBlockReceipts", hex(block))
        assert len(all_receipts) == BLOCK_RECEIPTS
        proofs = [pair.proof(pair.a, r, receipts=all_receipts) for r in receipts]
        update = pair.update_payload(pair.a, block)
        for size in (1, 8, 32):
            total = measured(pair, proofs[:size], update)
            figures[f"block50_batch{size}_with_update_total"] = total
            figures[f"block50_batch{size}_with_update_per_message"] = total // size
        figures["block50_proof_nodes"] = len(pair.proof_parts(pair.a, receipts[-1], receipts=all_receipts)[2])
        figures["block50_proof_bytes_last"] = len(proofs[-1])
    print("\nmessage layer gas:", figures)
    assert figures["single_with_update_2_of_3"] > figures["single_header_already_accepted"]
