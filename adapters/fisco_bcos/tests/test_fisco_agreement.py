"""The light client's hashes and proofs and ``evm_proof`` (the calldata the EVM-side FISCO BCOS
contracts check) agree: one header hash, one receipt leaf and one Merkle tree on every recorded
vector and on generated trees of 1 to 17 leaves, so what the relayer verified off-chain is what the
destination verifies on-chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from fisco_vectors import BCOS3_FILES, header_of, load

from relayer_fisco_bcos import evm_proof
from relayer_fisco_bcos.contents import receipt_hash
from relayer_fisco_bcos.hashing import keccak256
from relayer_fisco_bcos.header import header_hash, parse_header
from relayer_fisco_bcos.merkle import merkle_root, verify_proof

RECEIPT_KEYS = {"bcos3_secp_block60_proofs.json": "receipt", "bcos3_secp_block72_single_tx.json": "receipt",
                "bcos3_secp_block9_51tx.json": "receipt_with_logs"}


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_header_and_receipt_hashes_agree(fisco_dir: Path, name: str) -> None:
    vector = load(fisco_dir, name)
    header = header_of(vector)
    assert evm_proof.header_hash(header) == header_hash(parse_header(header), keccak256)
    receipt = vector[RECEIPT_KEYS[name]]
    assert evm_proof.receipt_hash(receipt) == receipt_hash(receipt, keccak256)


def test_block60_proof_walks_alike(fisco_dir: Path) -> None:
    receipt = load(fisco_dir, "bcos3_secp_block60_proofs.json")["receipt"]
    root, _ = evm_proof.walk_proof(evm_proof.receipt_hash(receipt), evm_proof.merkle_proof(receipt))
    verify_proof(receipt_hash(receipt, keccak256), receipt["txReceiptProof"], root, keccak256)


@pytest.mark.parametrize("count", list(range(1, 18)))
def test_generated_trees_agree(count: int) -> None:
    leaves = [keccak256(bytes([count, i])) for i in range(count)]
    for index in range(count):
        root, proof = evm_proof.merkle_root_and_proof(leaves, index)
        assert root == merkle_root(leaves, keccak256)
        verify_proof(leaves[index], [word.hex() for word in proof], root, keccak256)
        assert evm_proof.walk_proof(leaves[index], proof) == (root, index)
