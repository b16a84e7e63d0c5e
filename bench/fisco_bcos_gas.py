"""Destination gas of a FISCO BCOS 3.x source on an EVM chain: the real receipt of block 60 proven
under its header, with the header accepted either by the committee or by the sealers' own seals.

    python bench/fisco_bcos_gas.py

Needs the public vectors (``$RELAYER_VECTORS`` or ``../shared/vectors``). Starts one automining
anvil node and deploys ``CommitteeLightClient`` (2-of-3, like the example configuration),
``FiscoBcosSealCheck`` (block 60's four sealers, equal weights) and ``FiscoBcosReceiptVerifier``.
Every figure is the ``gasUsed`` of one transaction (21000 base and calldata included; the verifier's
view functions are sent as transactions to be measured):

- the committee's ``updateHeader`` for block 60 (after one warm-up header, as in steady state);
- ``FiscoBcosSealCheck.updateHeader`` for block 60: its hash recomputed from the fields and its real
  secp256k1 seals checked against the sealers' node ids, with all four seals and with the quorum three;
- ``verifyReceipt`` of block 60's real receipt with its real 30-word proof (9 levels);
- ``verifyMessage`` of a synthetic MessageSent receipt (one log, a 5-byte body) at depth 9 (a block
  of 512 receipts), the message layer's per-message verification cost;
- ``MessageLayer.deliverBatch`` of one such message (depth 9, to a recording handler) with the
  committee header update of its block in the same transaction (a fresh layer's first delivery:
  the figure includes first writes of the replay guard and the handler's own storage).

Writes ``bench/results/fisco-bcos-gas.json`` and ``bench/results/fisco-bcos-gas.md``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import eth_abi  # noqa: E402
from eth_utils import keccak  # noqa: E402

from adapters.evm import committee as cm  # noqa: E402
from adapters.evm.abi import Contract  # noqa: E402
from adapters.evm.messaging import Envelope, address_word  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil  # noqa: E402
from relayer_fisco_bcos import evm_proof as ep  # noqa: E402

DEPLOYER = ANVIL_KEYS[0]
DEST_CHAIN, FISCO_CHAIN = 1002, 20_200
KEYS = sorted(("0x" + keccak(text=f"bench-fisco-committee-{i}").hex() for i in range(3)),
              key=lambda k: int(cm.signer_address(k), 16))
THRESHOLD = 2
VECTOR = Path("fisco-bcos") / "bcos3_secp_block60_proofs.json"
MESSAGE_SENT = keccak(text="MessageSent(bytes32,bytes)")
ENVELOPE = "(uint8,uint8,uint64,uint64,bytes32,bytes32,uint64,bytes32,bytes32,uint64,uint64,uint8,bytes)"
SOURCE_LAYER = bytes.fromhex("5e" * 20)


def vectors() -> Path:
    named = os.environ.get("RELAYER_VECTORS")
    path = Path(named) if named else REPO.parent / "shared" / "vectors"
    if not (path / VECTOR).is_file():
        print(f"fisco_bcos_gas: {path / VECTOR} not found (set RELAYER_VECTORS to the public vectors)",
              file=sys.stderr)
        raise SystemExit(2)
    return path


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def calldata_gas(contract: str, fn: str, *args: Any) -> int:
    data = Contract.load(contract).encode_call(fn, *args)
    return sum(4 if b == 0 else 16 for b in data)


def committee_update(evm: SyncEvm, lc: str, number: int, block_hash: bytes, root: bytes) -> tuple[int, int]:
    """(gas, calldata gas) of the committee's updateHeader with THRESHOLD signatures."""
    domain = cm.committee_domain_separator(evm.chain_id, lc)
    digest = cm.header_digest(domain, FISCO_CHAIN, number, block_hash, root, 0)
    packed = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:THRESHOLD]])
    args = (number, block_hash, root, packed)
    return (gas(evm.transact(DEPLOYER, lc, "CommitteeLightClient", "updateHeader", *args)),
            calldata_gas("CommitteeLightClient", "updateHeader", *args))


def message_receipt(number: int = 61, body: bytes | None = None,
                    message_id: bytes | None = None) -> tuple[dict[str, Any], list[bytes], bytes]:
    """A synthetic MessageSent receipt at position 300 of a 512-receipt block: (receipt, proof, root)."""
    if body is None:
        body = eth_abi.encode([ENVELOPE], [(1, 0, 1, FISCO_CHAIN, bytes(12) + SOURCE_LAYER, keccak(text="sender"),
                                            DEST_CHAIN, keccak(text="layer"), keccak(text="recipient"), 200_000, 0,
                                            1, b"hello")])
    receipt = {"version": 1, "gasUsed": "48213", "contractAddress": "", "status": 0, "output": "0x",
               "effectiveGasPrice": "1000000000", "blockNumber": number,
               "logEntries": [{"address": SOURCE_LAYER.hex(), "topics": ["0x" + MESSAGE_SENT.hex(),
                                                                          "0x" + (message_id or keccak(body)).hex()],
                               "data": "0x" + eth_abi.encode(["bytes"], [body]).hex()}]}
    leaves = [keccak(text=f"receipt {i}") for i in range(512)]
    leaves[300] = ep.receipt_hash(receipt)
    root, proof = ep.merkle_root_and_proof(leaves, 300)
    return receipt, proof, root


def measure(block60: dict[str, Any]) -> dict[str, Any]:
    node = start_anvil(DEST_CHAIN, block_time=None)
    try:
        with SyncEvm(node.url) as evm:
            result = _measure(evm, block60)
            result["method"] = f"{evm.rpc('web3_clientVersion')}, " + result["method"]
            return result
    finally:
        stop_anvil(node)


def _measure(evm: SyncEvm, block60: dict[str, Any]) -> dict[str, Any]:
    header, receipt = block60["header"], block60["receipt"]
    block_hash, root = bytes.fromhex(header["hash"][2:]), bytes.fromhex(header["receiptsRoot"][2:])
    lc = evm.deploy(DEPLOYER, "CommitteeLightClient", FISCO_CHAIN, [cm.signer_address(k) for k in KEYS], THRESHOLD)
    verifier = evm.deploy(DEPLOYER, "FiscoBcosReceiptVerifier")
    committee_update(evm, lc, 59, keccak(text="warm-up 59"), keccak(text="warm-up root"))  # warm-up
    committee_gas, committee_calldata = committee_update(evm, lc, 60, block_hash, root)

    tup, seals = ep.header_tuple(header), ep.seals(header)
    direct = {}
    for count in (4, 3):
        sc = evm.deploy(DEPLOYER, "FiscoBcosSealCheck", FISCO_CHAIN, tup[9], tup[11])
        chosen = seals[:count]
        direct[count] = (gas(evm.transact(DEPLOYER, sc, "FiscoBcosSealCheck", "updateHeader", tup, chosen)),
                         calldata_gas("FiscoBcosSealCheck", "updateHeader", tup, chosen))

    proof = ep.encode_receipt_proof(receipt)
    verify_gas = gas(evm.transact(DEPLOYER, verifier, "FiscoBcosReceiptVerifier", "verifyReceipt", lc, proof))
    verify_calldata = calldata_gas("FiscoBcosReceiptVerifier", "verifyReceipt", lc, proof)

    message, words, message_root = message_receipt()
    committee_update(evm, lc, 61, keccak(text="synthetic 61"), message_root)
    layer = bytes(12) + SOURCE_LAYER
    message_proof = ep.encode_message_proof(message, 0, words)
    message_gas = gas(evm.transact(DEPLOYER, verifier, "FiscoBcosReceiptVerifier", "verifyMessage", lc, layer,
                                   message_proof))
    deliver_gas, deliver_calldata = deliver_one(evm, lc, verifier)
    return {
        "deliver_batch_1_with_update_gas": deliver_gas,
        "deliver_batch_1_with_update_calldata_gas": deliver_calldata,
        "committee_update_gas": committee_gas,
        "committee_update_calldata_gas": committee_calldata,
        "committee": f"{THRESHOLD}-of-{len(KEYS)}",
        "seal_check_4_of_4_gas": direct[4][0],
        "seal_check_4_of_4_calldata_gas": direct[4][1],
        "seal_check_quorum_3_gas": direct[3][0],
        "seal_check_quorum_3_calldata_gas": direct[3][1],
        "verify_receipt_block60_gas": verify_gas,
        "verify_receipt_block60_calldata_gas": verify_calldata,
        "verify_receipt_block60_proof_words": len(ep.merkle_proof(receipt)),
        "verify_message_depth9_gas": message_gas,
        "verify_message_depth9_calldata_gas": calldata_gas("FiscoBcosReceiptVerifier", "verifyMessage", lc, layer,
                                                           message_proof),
        "method": (f"automine, destination chain id {DEST_CHAIN}; gasUsed of one transaction each (21000 base and "
                   "calldata included); committee update after one warm-up header; the seal check deployed "
                   "fresh per figure (block 60's header is its first); FISCO BCOS block 60 = the public vector "
                   f"{VECTOR.as_posix()} (secp256k1, 4 sealers of weight 1, quorum 3)"),
    }


def deliver_one(evm: SyncEvm, lc: str, verifier: str) -> tuple[int, int]:
    """(gas, calldata gas) of deliverBatch of one FISCO message (depth 9) with its header update."""
    owner = cm.signer_address(DEPLOYER)
    layer = evm.deploy(DEPLOYER, "MessageLayer", owner, 5_000_000)
    evm.transact(DEPLOYER, layer, "MessageLayer", "setRemote", FISCO_CHAIN, bytes(12) + SOURCE_LAYER, lc, verifier)
    recorder = evm.deploy(DEPLOYER, "MsgRecorder", layer)
    envelope = Envelope(nonce=1, source_chain=FISCO_CHAIN, source_layer=bytes(12) + SOURCE_LAYER,
                        sender=keccak(text="sender"), destination_chain=evm.chain_id,
                        destination_layer=address_word(layer), recipient=address_word(recorder), gas_limit=200_000,
                        body=b"hello")
    number = 62
    receipt, words, leaves_root = message_receipt(number, envelope.encode(), envelope.id)
    block_hash = keccak(text="synthetic 62")
    domain = cm.committee_domain_separator(evm.chain_id, lc)
    digest = cm.header_digest(domain, FISCO_CHAIN, number, block_hash, leaves_root, 0)
    update = cm.encode_committee_update(number, block_hash, leaves_root, cm.pack_signatures(
        [(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:THRESHOLD]]))
    args = (FISCO_CHAIN, update, [ep.encode_message_proof(receipt, 0, words)])
    used = gas(evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", *args))
    if evm.call(recorder, "MsgRecorder", "count") != 1:
        raise RuntimeError("the FISCO BCOS message was not delivered")
    return used, calldata_gas("MessageLayer", "deliverBatch", *args)


def markdown(doc: dict[str, Any]) -> str:
    committee = doc["committee_update_gas"]
    rows = [
        (f"committee header update, {doc['committee']} EIP-712 signatures", committee,
         doc["committee_update_calldata_gas"]),
        ("sealers' seals checked on-chain: header hash recomputed + 4 of 4 secp256k1 seals",
         doc["seal_check_4_of_4_gas"], doc["seal_check_4_of_4_calldata_gas"]),
        ("sealers' seals checked on-chain: header hash recomputed + quorum 3 of 4",
         doc["seal_check_quorum_3_gas"], doc["seal_check_quorum_3_calldata_gas"]),
        (f"verifyReceipt: block 60's real receipt, {doc['verify_receipt_block60_proof_words']}-word proof",
         doc["verify_receipt_block60_gas"], doc["verify_receipt_block60_calldata_gas"]),
        ("verifyMessage: a MessageSent receipt at depth 9 (512 receipts)", doc["verify_message_depth9_gas"],
         doc["verify_message_depth9_calldata_gas"]),
        ("MessageLayer.deliverBatch of that message with its committee header update, one transaction (the "
         "first delivery of a fresh layer; its handler, MsgRecorder, stores the message in 7 new slots)",
         doc["deliver_batch_1_with_update_gas"], doc["deliver_batch_1_with_update_calldata_gas"]),
    ]
    lines = ["# FISCO BCOS on an EVM destination: header acceptance and receipt proofs", "",
             "`python bench/fisco_bcos_gas.py`; " + doc["method"] + ".", "",
             "| step | gas | of which calldata | ÷ committee update |", "|---|---:|---:|---:|"]
    for label, value, calldata in rows:
        lines.append(f"| {label} | {value:,} | {calldata:,} | {value / committee:.2f} |")
    total = committee + doc["verify_receipt_block60_gas"]
    lines += ["",
              f"Block 60's real receipt proven with its header accepted by the committee: **{total:,} gas** "
              f"({committee:,} + {doc['verify_receipt_block60_gas']:,}); with the header accepted by the sealers' "
              f"own seals instead: **{doc['seal_check_4_of_4_gas'] + doc['verify_receipt_block60_gas']:,} gas**.",
              "",
              "The direct check follows no sealer-set change (its set is fixed at deployment) and exists for "
              "secp256k1 chains only: an SM2-sealed header has no EVM precompile, so SM chains go through the "
              "committee, whose members check the SM2 seals off-chain.", ""]
    return "\n".join(lines)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    committee, verify = doc["committee_update_gas"], doc["verify_receipt_block60_gas"]
    direct = doc["seal_check_4_of_4_gas"]
    return [(f"FISCO BCOS block 60's real receipt on an EVM chain: committee {doc['committee']} update + proof",
             f"{committee:,} + {verify:,}", "", ""),
            ("FISCO BCOS block 60 by its 4 secp256k1 seals on-chain (vs the committee update)", f"{direct:,}",
             f"{committee:,}", f"{direct / committee:.2f}")]


def main() -> None:
    from common import start, write_result

    block60 = json.loads((vectors() / VECTOR).read_text())
    started = start()
    write_result("fisco-bcos-gas", "fisco-bcos-gas", measure(block60), started)


if __name__ == "__main__":
    main()
