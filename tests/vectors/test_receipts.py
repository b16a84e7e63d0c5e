"""Receipt encoding, receipts roots, logs blooms and proofs against real chain data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from trie import HexaryTrie
from vector_io import execution_apis_dirs, io_result, raw_headers

from adapters.evm.proof import build_receipt_proof, build_receipt_proofs, verify_receipt_proof
from light_clients.evm.header import Header, decode_header, header_from_fixture, header_from_rpc
from light_clients.evm.receipts import (
    bloom_of,
    check_logs_bloom,
    check_receipts,
    encode_receipt,
    logs_bloom,
    receipts_root,
)
from relayer.errors import RpcAnswerError, VerificationError

HELIOS_RPC = Path("helios/tests/testdata/rpc")
HELIOS_VERIFIABLE = Path("helios/tests/testdata/verifiable_api")
EMPTY_TRIE_ROOT = HexaryTrie.BLANK_NODE_HASH


def _chain_headers(folder: Path) -> dict[int, Header]:
    genesis = header_from_rpc(io_result(folder / "eth_getBlockByNumber/get-genesis.io"))
    headers = {h.number: h for h in map(decode_header, raw_headers(folder / "chain.rlp"))}
    return headers | {0: genesis}


def _block_receipt_sets(vectors: Path) -> list[tuple[str, Header, list[dict[str, Any]]]]:
    """Every non-null eth_getBlockReceipts answer, with its block's header from the same chain.rlp."""
    sets = []
    for folder in execution_apis_dirs(vectors):
        headers = _chain_headers(folder)
        for path in sorted((folder / "eth_getBlockReceipts").glob("*.io")):
            receipts = io_result(path)
            if receipts is None:
                continue
            number = int(receipts[0]["blockNumber"], 16) if receipts else 0
            sets.append((f"{folder.parent.name}/{path.name}", headers[number], receipts))
    return sets


@pytest.fixture(scope="module")
def helios(vectors: Path) -> tuple[Header, list[dict[str, Any]]]:
    block = json.loads((vectors / HELIOS_RPC / "block.json").read_text())
    return header_from_rpc(block), json.loads((vectors / HELIOS_RPC / "receipts.json").read_text())


# --------------------------------------------------------------------------- roots


def test_execution_apis_block_receipts_match_headers(vectors: Path) -> None:
    sets = _block_receipt_sets(vectors)
    types, outcomes = set(), set()
    for name, header, receipts in sets:
        check_receipts(header, receipts)
        assert receipts_root(receipts) == header.receipts_root, name
        types |= {r["type"] for r in receipts}
        outcomes |= {"root" if "root" in r else "status" for r in receipts}
    assert types == {"0x0", "0x1", "0x2", "0x3", "0x4"}
    assert outcomes == {"root", "status"}
    assert len(sets) >= 10


def test_empty_block_has_the_empty_trie_root(vectors: Path) -> None:
    header = _chain_headers(execution_apis_dirs(vectors)[0])[0]
    assert receipts_root([]) == EMPTY_TRIE_ROOT == header.receipts_root
    check_receipts(header, [])


def test_single_receipts_encode_as_debug_raw_receipts(vectors: Path) -> None:
    folder = execution_apis_dirs(vectors)[0]
    raw = [bytes.fromhex(r[2:]) for r in io_result(folder / "debug_getRawReceipts/get-block-n.io")]
    trie = HexaryTrie({})
    for index, encoded in enumerate(raw):
        trie.set(rlp.encode(index), encoded)
    assert trie.root_hash == _chain_headers(folder)[3].receipts_root
    singles = [io_result(p) for p in sorted((folder / "eth_getTransactionReceipt").glob("*.io"))]
    block3 = [r for r in singles if r and r["blockNumber"] == "0x3"]
    assert block3 and all(encode_receipt(r) == raw[int(r["transactionIndex"], 16)] for r in block3)


def test_typed_single_receipts_carry_their_type_byte(vectors: Path) -> None:
    folder = execution_apis_dirs(vectors)[0] / "eth_getTransactionReceipt"
    for file, type_byte in [("get-access-list.io", 1), ("get-dynamic-fee.io", 2), ("get-blob-tx.io", 3),
                            ("get-setcode-tx.io", 4)]:
        encoded = encode_receipt(io_result(folder / file))
        assert encoded[0] == type_byte and encoded[1] >= 0xF7, file


def test_helios_mainnet_receipts_root(helios: tuple[Header, list[dict[str, Any]]]) -> None:
    header, receipts = helios
    assert len(receipts) == 202
    assert receipts_root(receipts) == header.receipts_root
    check_receipts(header, receipts)


# --------------------------------------------------------------------------- bloom


def test_each_receipt_bloom_is_the_bloom_of_its_logs(helios: tuple[Header, list[dict[str, Any]]]) -> None:
    header, receipts = helios
    for receipt in receipts:
        assert logs_bloom([receipt]).hex() == receipt["logsBloom"][2:]
    assert logs_bloom(receipts) == header.logs_bloom


def _without_log(receipts: list[dict[str, Any]], index: int, log: int) -> list[dict[str, Any]]:
    hiding = copy.deepcopy(receipts)
    del hiding[index]["logs"][log]
    return hiding


def test_hidden_log_changes_the_bloom_unless_its_bits_are_shared(helios: tuple[Header, list[dict[str, Any]]]) -> None:
    """A bloom is lossy: hiding a log is only visible when no other log sets the same bits."""
    header, receipts = helios
    positions = [(i, j) for i, r in enumerate(receipts) for j in range(len(r["logs"]))][::15]  # 463 logs: sample
    caught = 0
    for i, j in positions:
        hiding = _without_log(receipts, i, j)
        if logs_bloom(hiding) != header.logs_bloom:
            with pytest.raises(VerificationError, match="logsBloom"):
                check_logs_bloom(header, hiding)
            caught += 1
    assert 0 < caught < len(positions)


def test_bloom_of_nothing_is_zero() -> None:
    assert bloom_of([]) == bytes(256)


def test_wrong_receipt_trie_is_caught_by_the_bloom(vectors: Path) -> None:
    """ethereum/tests' INVALID_RECEIPTS_ROOT block claims the empty receipts root but has logs."""
    path = vectors / "ethereum-tests/BlockchainTests/InvalidBlocks/bcInvalidHeaderTest/wrongReceiptTrie.json"
    test = next(iter(json.loads(path.read_text()).values()))
    header = header_from_fixture(test["blocks"][0]["rlp_decoded"]["blockHeader"])
    assert header.receipts_root == EMPTY_TRIE_ROOT and header.gas_used > 0
    assert receipts_root([]) == header.receipts_root  # the root alone would accept "no receipts"
    with pytest.raises(VerificationError, match="logsBloom"):
        check_receipts(header, [])


# --------------------------------------------------------------------------- proofs


def test_helios_receipt_proof_for_tx_39(vectors: Path, helios: tuple[Header, list[dict[str, Any]]]) -> None:
    header, receipts = helios
    upstream = json.loads((vectors / HELIOS_VERIFIABLE / "receipt.json").read_text())
    proof = build_receipt_proof(receipts, 39)
    assert ["0x" + node.hex() for node in proof.nodes] == upstream["receiptProof"]
    assert proof.value == encode_receipt(upstream["receipt"])
    assert verify_receipt_proof(header.receipts_root, proof) == proof.value


def test_helios_log_proofs(vectors: Path, helios: tuple[Header, list[dict[str, Any]]]) -> None:
    header, receipts = helios
    upstream = json.loads((vectors / HELIOS_VERIFIABLE / "logs.json").read_text())["receiptProofs"]
    by_hash = {r["transactionHash"]: int(r["transactionIndex"], 16) for r in receipts}
    proofs = build_receipt_proofs(receipts, [by_hash[tx] for tx in upstream])
    for tx, entry in upstream.items():
        proof = proofs[by_hash[tx]]
        assert ["0x" + node.hex() for node in proof.nodes] == entry["receiptProof"]
        verify_receipt_proof(header.receipts_root, proof)


def test_every_helios_receipt_proves(helios: tuple[Header, list[dict[str, Any]]]) -> None:
    header, receipts = helios
    for index, proof in build_receipt_proofs(receipts, range(len(receipts))).items():
        assert verify_receipt_proof(header.receipts_root, proof) == encode_receipt(receipts[index])


# --------------------------------------------------------------------------- tampering


def _tamper_gas(receipts: list[dict[str, Any]]) -> None:
    receipts[7]["cumulativeGasUsed"] = hex(int(receipts[7]["cumulativeGasUsed"], 16) + 1)


def _tamper_status(receipts: list[dict[str, Any]]) -> None:
    receipts[3]["status"] = "0x0" if receipts[3]["status"] == "0x1" else "0x1"


def _tamper_data(receipts: list[dict[str, Any]]) -> None:
    log = next(log for r in receipts for log in r["logs"] if log["data"] != "0x")
    log["data"] = log["data"][:-2] + ("00" if log["data"][-2:] != "00" else "01")


def _tamper_type(receipts: list[dict[str, Any]]) -> None:
    receipts[0]["type"] = "0x2" if receipts[0]["type"] == "0x0" else "0x0"


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_gas,
        _tamper_status,
        _tamper_data,
        _tamper_type,
        pytest.param(lambda rs: rs.pop(), id="dropped-last"),
        pytest.param(lambda rs: rs.append(copy.deepcopy(rs[-1]) | {"transactionIndex": hex(len(rs))}), id="extra"),
        pytest.param(lambda rs: rs.insert(0, rs.pop(1)), id="swapped"),
        pytest.param(lambda rs: rs[5].update(transactionIndex="0x6"), id="bad-index"),
        pytest.param(lambda rs: rs[5].update(blockNumber="0x1"), id="other-block"),
    ],
)
def test_altered_receipts_are_rejected(helios: tuple[Header, list[dict[str, Any]]], tamper: Any) -> None:
    header, receipts = helios
    altered = copy.deepcopy(receipts)
    tamper(altered)
    with pytest.raises(VerificationError) as caught:
        check_receipts(header, altered, check_bloom=False)
    assert f"block={header.number}" in str(caught.value)


@pytest.mark.parametrize(
    "change",
    [
        {"logsBloom": "0x00"},
        {"status": "0x2"},
        {"status": None},
        {"cumulativeGasUsed": "0xg"},
        {"logs": None},
        {"logs": [{"address": "0x00", "topics": [], "data": "0x"}]},
        {"type": "0x80"},
    ],
)
def test_malformed_receipts_are_rpc_answer_errors(helios: tuple[Header, list[dict[str, Any]]], change: dict) -> None:
    receipt = helios[1][39] | change
    with pytest.raises(RpcAnswerError, match="0x14e8d38/tx 0x27"):
        encode_receipt(receipt)
