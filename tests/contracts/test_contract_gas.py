"""Gas of the delivery paths, measured on anvil and written to bench/results/contract-gas.json.

Prints the figures; asserts only generous upper bounds (the targets are <=120k for one mint with
its proof and <=60k per message in a batch of 32).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_env import BRIDGE, CHAIN_A, DEPLOYER, USER, USER_KEY, BridgePair, bridge_pair, fresh_address

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "contract-gas.json"
BATCH = 32


@pytest.fixture(scope="module")
def pair() -> Iterator[BridgePair]:
    with bridge_pair() as p:
        yield p


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def _mint_gas(pair: BridgePair, recipient: str) -> tuple[int, int]:
    """(header update gas, mint gas) for one lock to ``recipient``."""
    receipt = pair.lock_native(pair.a, 10**18, recipient)
    header = pair.accept(pair.a, int(receipt["blockNumber"], 16))
    return gas(header), gas(pair.deliver(pair.b, "mint", pair.proof(pair.a, receipt)))


def _locks_in_one_block(pair: BridgePair, count: int) -> list[dict[str, Any]]:
    """``count`` lockNative transactions mined into one block, each to a fresh recipient."""
    evm = pair.a.evm
    evm.rpc("evm_setAutomine", False)
    try:
        start = evm.nonce(USER)
        data = [BRIDGE.encode_call("lockNative", pair.b.chain_id, fresh_address(f"batch-{i}")) for i in range(count)]
        hashes = [evm.send_transaction(USER_KEY, pair.a.bridge, d, value=10**15 + i, gas=80_000, nonce=start + i)
                  for i, d in enumerate(data)]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setAutomine", True)
    receipts = [evm.wait_receipt(h, 10) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the locks did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts)
    return receipts


def test_delivery_gas(pair: BridgePair) -> None:
    # first mint ever: fresh wrapped supply, bitmap word and recipient balance
    header_first, mint_first = _mint_gas(pair, fresh_address("gas-first"))
    # representative single mint: a recipient without balance, existing supply and bitmap word
    header_gas, mint_gas = _mint_gas(pair, fresh_address("gas-single"))
    _, mint_repeat = _mint_gas(pair, fresh_address("gas-single"))

    receipts = _locks_in_one_block(pair, BATCH)
    number = int(receipts[0]["blockNumber"], 16)
    block_receipts = pair.a.evm.rpc("eth_getBlockReceipts", hex(number))
    proofs = [pair.proof(pair.a, r, receipts=block_receipts) for r in receipts]
    pair.accept(pair.a, number)
    batch = pair.b.evm.transact(DEPLOYER, pair.b.bridge, "Bridge", "deliverBatch", CHAIN_A, b"", proofs)
    delivered = [e for e in map(BRIDGE.decode_log, batch["logs"]) if e and e[0] == "Delivered"]
    assert len(delivered) == BATCH
    per_message = gas(batch) / BATCH

    figures = {
        "mint_single_gas": mint_gas,
        "mint_single_existing_recipient_gas": mint_repeat,
        "mint_first_ever_gas": mint_first,
        "deliver_batch_32_total_gas": gas(batch),
        "deliver_batch_32_per_message_gas": round(per_message),
        "header_update_2_of_3_gas": header_gas,
        "header_update_first_ever_gas": header_first,
        "proof_nodes_in_batch_block": sorted({len(p[2]) for p in proofs}),
        "notes": ("anvil automine, chain ids 1001->1002; mint_single = fresh recipient, wrapped supply and "
                  "delivered-bitmap word already non-zero; batch = 32 lockNative to distinct fresh "
                  "recipients in one block, one header; gas includes the 21000 base and calldata"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print("\ncontract gas:", json.dumps(figures, indent=2, sort_keys=True))
    assert mint_gas <= 150_000
    assert per_message <= 80_000
    assert header_gas <= 150_000
