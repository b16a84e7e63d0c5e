"""The FISCO BCOS 3.x JSON-RPC adapter on recorded data (no FISCO BCOS node runs here): requests carry
the group and node, the recorded results (wrapped as responses carry them) parse into headers the
light client verifies, transaction lists that rebuild txsRoot, receipts and transactions whose proofs
verify; error answers and malformed results are refused with what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fisco_vectors import BCOS3_FILES, header_of, load

from relayer.contract import CandidateHeader
from relayer.errors import ProofError, RpcAnswerError
from relayer_fisco_bcos import rpc
from relayer_fisco_bcos.client import FiscoBcosLightClient
from relayer_fisco_bcos.hashing import Crypto, keccak256
from relayer_fisco_bcos.merkle import merkle_root
from relayer_fisco_bcos.proofs import verify_receipt, verify_transaction
from relayer_fisco_bcos.seals import SealerSet


def response(result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def test_requests_carry_group_and_node() -> None:
    at = rpc.Endpoint("group0", "node0")
    assert rpc.block_by_number_request(at, 60)["params"] == ["group0", "node0", 60, False, True]
    assert rpc.block_by_number_request(at, 60, only_header=True)["method"] == "getBlockByNumber"
    assert rpc.block_by_number_request(at, 60, only_header=True)["params"][3] is True
    assert rpc.block_by_hash_request(at, "0xab")["params"] == ["group0", "node0", "0xab", False, True]
    assert rpc.receipt_request(at, "0xcd")["params"] == ["group0", "node0", "0xcd", True]
    assert rpc.transaction_request(rpc.Endpoint(), "0xcd")["params"] == ["group0", "", "0xcd", True]
    assert rpc.block_number_request(at) | {"id": 0} == {"jsonrpc": "2.0", "id": 0, "method": "getBlockNumber",
                                                         "params": ["group0", "node0"]}
    assert rpc.sealer_list_request(at)["method"] == "getSealerList"
    first, second = rpc.block_number_request(at), rpc.block_number_request(at)
    assert first["id"] != second["id"]


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_recorded_blocks_parse_and_verify(fisco_dir: Path, name: str) -> None:
    obj = header_of(load(fisco_dir, name))
    block = rpc.parse_block(response(obj))
    assert block is not None and block.header.number == obj["number"]
    client = FiscoBcosLightClient("fisco", 1, Crypto.SECP256K1, SealerSet.of(block.header))
    verified = client.check_header(CandidateHeader(block.header.number, block.header.claimed_hash, b"", block.header))
    assert "0x" + verified.hash.hex() == obj["hash"]
    if block.transactions:
        assert merkle_root(block.transaction_hashes, keccak256) == block.header.txs_root


def test_recorded_receipts_and_transactions_prove_against_the_header(fisco_dir: Path) -> None:
    vector = load(fisco_dir, "bcos3_secp_block60_proofs.json")
    header = rpc.parse_block(response(vector["header"]))
    receipt = rpc.parse_object(response(vector["receipt"]), "getTransactionReceipt")
    transaction = rpc.parse_object(response(vector["transaction"]), "getTransaction")
    assert header is not None and receipt is not None and transaction is not None
    assert verify_receipt(receipt, header.header.receipts_root, keccak256).hex() == receipt["hash"][2:]
    assert verify_transaction(transaction, header.header.txs_root, keccak256).hex() == transaction["hash"][2:]
    with pytest.raises(ProofError, match="receipt proof: the proof leads to another root"):
        verify_receipt(receipt, header.header.txs_root, keccak256)
    with pytest.raises(ProofError, match="is not the claimed"):
        verify_receipt(dict(receipt, hash="0x" + "00" * 32), header.header.receipts_root, keccak256)
    with pytest.raises(ProofError, match="no proof"):
        verify_receipt({k: v for k, v in receipt.items() if k != "txReceiptProof"}, header.header.receipts_root,
                       keccak256)
    with pytest.raises(ProofError, match="transaction: transaction version 1 is not supported"):
        verify_transaction(dict(transaction, version=1), header.header.txs_root, keccak256)


def test_single_transaction_block_proves_with_its_leaf(fisco_dir: Path) -> None:
    vector = load(fisco_dir, "bcos3_secp_block72_single_tx.json")
    root = bytes.fromhex(vector["header"]["receiptsRoot"][2:])
    receipt = dict(vector["receipt"], txReceiptProof=[vector["receipt"]["hash"][2:]])
    assert verify_receipt(receipt, root, keccak256) == root


def test_answers_that_are_refused() -> None:
    with pytest.raises(RpcAnswerError, match="getBlockByNumber: the node answered error -32602: bad group"):
        rpc.parse_block({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad group"}})
    with pytest.raises(RpcAnswerError, match="no result"):
        rpc.parse_block({"jsonrpc": "2.0", "id": 1})
    assert rpc.parse_block(response(None)) is None
    with pytest.raises(RpcAnswerError, match="getBlockByNumber: parentInfo must be a list"):
        rpc.parse_block(response({"number": 1}))
    with pytest.raises(RpcAnswerError, match="not a block number"):
        rpc.parse_block_number(response("sixty"))
    assert rpc.parse_block_number(response(60)) == 60 and rpc.parse_block_number(response("0x3c")) == 60
    with pytest.raises(RpcAnswerError, match="not a JSON-RPC response"):
        rpc.result_of([], "getBlockNumber")


def test_sealer_list(fisco_dir: Path) -> None:
    nodes = header_of(load(fisco_dir, "bcos3_secp_block60_proofs.json"))["sealerList"]
    sealers = rpc.parse_sealer_list(response([{"nodeID": n[2:], "weight": 1} for n in nodes]))
    assert sealers.node_ids == tuple(bytes.fromhex(n[2:]) for n in nodes) and sealers.quorum == 3
    assert rpc.parse_sealer_list(response(nodes)).weights == (1, 1, 1, 1)
    with pytest.raises(RpcAnswerError, match="entry 0 is not a node id"):
        rpc.parse_sealer_list(response([{"nodeID": "0x12", "weight": 1}]))
