"""Gas of the delivery paths on anvil: one mint with its proof, and a batch of 32.

    python bench/contract_gas.py

Deploys the bridge pair of ``tests/contracts/bridge_env.py`` on two automining anvil nodes
(chain ids 1001 -> 1002), then measures the header update and ``mint`` of single locks and a
``deliverBatch`` of 32 locks mined into one source block (one header). Gas includes the 21000
base and calldata. Writes ``bench/results/contract-gas.json`` (and ``.md``, rendered from it).
``tests/contracts/test_contract_gas.py`` runs the same measurement and checks generous bounds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for extra in (BENCH.parent, BENCH, BENCH.parent / "tests" / "contracts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bridge_env import BRIDGE, CHAIN_A, DEPLOYER, USER, USER_KEY, BridgePair, bridge_pair, fresh_address  # noqa: E402

BATCH = 32
TARGETS = {"mint_single_gas": 120_000, "deliver_batch_32_per_message_gas": 60_000}


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
    if len({r["blockNumber"] for r in receipts}) != 1:
        raise RuntimeError("the locks did not land in one block")
    if not all(int(r["status"], 16) == 1 for r in receipts):
        raise RuntimeError("a lock reverted")
    return receipts


def measure(pair: BridgePair) -> dict[str, Any]:
    """The figures, measured on ``pair`` (a fresh one: the first mint ever is part of them)."""
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
    if len(delivered) != BATCH:
        raise RuntimeError(f"the batch delivered {len(delivered)} of {BATCH}")
    return {
        "mint_single_gas": mint_gas,
        "mint_single_existing_recipient_gas": mint_repeat,
        "mint_first_ever_gas": mint_first,
        "deliver_batch_32_total_gas": gas(batch),
        "deliver_batch_32_per_message_gas": round(gas(batch) / BATCH),
        "header_update_2_of_3_gas": header_gas,
        "header_update_first_ever_gas": header_first,
        "proof_nodes_in_batch_block": sorted({len(p[2]) for p in proofs}),
        "notes": ("anvil automine, chain ids 1001->1002; mint_single = fresh recipient, wrapped supply and "
                  "delivered-bitmap word already non-zero; batch = 32 lockNative to distinct fresh "
                  "recipients in one block, one header; gas includes the 21000 base and calldata"),
    }


ROWS = (("mint_single_gas", "one mint with its proof (fresh recipient)"),
        ("mint_single_existing_recipient_gas", "one mint, recipient already holding the wrapped asset"),
        ("mint_first_ever_gas", "the first mint ever (fresh supply and bitmap word)"),
        ("deliver_batch_32_total_gas", "deliverBatch of 32 messages of one block, in all"),
        ("deliver_batch_32_per_message_gas", "deliverBatch of 32, per message"),
        ("header_update_2_of_3_gas", "committee header update, 2 of 3 signatures"),
        ("header_update_first_ever_gas", "the first header update ever"))


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# Contract gas: the delivery paths", "", doc["notes"] + ".", "",
             "| path | gas | target | ratio |", "|---|---:|---:|---:|"]
    for key, label in ROWS:
        target = TARGETS.get(key)
        ratio = f"{doc[key] / target:.2f}" if target else ""
        lines.append(f"| {label} | {doc[key]:,} | {f'{target:,}' if target else ''} | {ratio} |")
    nodes = ", ".join(map(str, doc["proof_nodes_in_batch_block"]))
    lines += ["", f"Receipt proof nodes per message in the batch block: {nodes}.", ""]
    return "\n".join(lines)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [("destination gas, one mint with its proof", f"{doc['mint_single_gas']:,}", "120,000 (aim)",
             f"{doc['mint_single_gas'] / 120_000:.2f}"),
            ("destination gas per message, batch of 32", f"{doc['deliver_batch_32_per_message_gas']:,}",
             "60,000 (aim)", f"{doc['deliver_batch_32_per_message_gas'] / 60_000:.2f}")]


def main() -> None:
    from common import start, write_result

    started = start()
    with bridge_pair() as pair:
        figures = measure(pair)
    write_result("contract-gas", "contract-gas", figures, started)


if __name__ == "__main__":
    main()
