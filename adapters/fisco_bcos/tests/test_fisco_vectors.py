"""Every recorded FISCO BCOS vector verifies: header hashes by the 3.x rule (the 3.0.0-rc file only by
its legacy rule, its own documented case), every signature against its sealer, the weighted quorum,
the transaction roots, the receipt and transaction hashes and the binary Merkle proofs of block 60."""

from __future__ import annotations

from pathlib import Path

import pytest
from fisco_vectors import BCOS3_FILES, LEGACY_FILE, header_of, load

from relayer_fisco_bcos.contents import TransactionVersionError, receipt_hash, transaction_hash
from relayer_fisco_bcos.hashing import Crypto, keccak256
from relayer_fisco_bcos.header import (
    decode_header,
    encode_header,
    header_hash,
    legacy_rc_hash,
    parse_header,
)
from relayer_fisco_bcos.merkle import merkle_root, verify_proof
from relayer_fisco_bcos.quorum import quorum
from relayer_fisco_bcos.seals import judge_seals

#: (file, signers of the quorum) as section 8 of the vectors' README states them
EXPECTED_SIGNERS = {"bcos3_secp_block60_proofs.json": 4, "bcos3_secp_block72_single_tx.json": 3,
                    "bcos3_secp_block9_51tx.json": 2}


def test_every_file_of_the_folder_is_covered(fisco_dir: Path) -> None:
    assert sorted(p.name for p in fisco_dir.glob("*.json")) == sorted((*BCOS3_FILES, LEGACY_FILE))


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_header_hash_and_seals_of_real_blocks(fisco_dir: Path, name: str) -> None:
    obj = header_of(load(fisco_dir, name))
    header = parse_header(obj)
    hash_ = header_hash(header, keccak256)
    assert "0x" + hash_.hex() == obj["hash"]
    seals = judge_seals(header, hash_, Crypto.SECP256K1)
    assert seals.sealed, seals.problem
    assert len(seals.signers) == EXPECTED_SIGNERS[name] == len(obj["signatureList"])
    assert seals.signers == tuple(header.sealer_list[s.sealer_index] for s in header.signatures)
    assert seals.signed_weight >= seals.quorum == quorum(header.consensus_weights)
    assert decode_header(encode_header(header)) == header


def test_legacy_rc_header_hashes_only_by_the_legacy_rule(fisco_dir: Path) -> None:
    obj = load(fisco_dir, LEGACY_FILE)["header"]
    header = parse_header(obj)
    assert header.version == 4
    assert header_hash(header, keccak256).hex() != obj["hash"][2:]
    legacy = legacy_rc_hash(header, keccak256)
    assert "0x" + legacy.hex() == obj["hash"]
    seals = judge_seals(header, legacy, Crypto.SECP256K1)
    assert seals.sealed and len(seals.signers) == 2  # its signatures sign the legacy hash


def test_quorum_is_t_minus_floor_t_minus_one_thirds() -> None:
    assert [quorum([1] * n) for n in range(1, 8)] == [1, 2, 3, 3, 4, 5, 5]
    assert quorum([1, 1, 1, 1]) == 3 and quorum([1, 1]) == 2 and quorum([3, 1, 1, 1]) == 5


@pytest.mark.parametrize("name", ["bcos3_secp_block9_51tx.json", "bcos3_secp_block72_single_tx.json"])
def test_txs_root_rebuilds_from_the_transaction_hashes(fisco_dir: Path, name: str) -> None:
    obj = header_of(load(fisco_dir, name))
    leaves = [bytes.fromhex(t[2:]) for t in obj["transactions"]]
    assert "0x" + merkle_root(leaves, keccak256).hex() == obj["txsRoot"]


@pytest.mark.parametrize(("name", "key"), [("bcos3_secp_block60_proofs.json", "receipt"),
                                           ("bcos3_secp_block72_single_tx.json", "receipt"),
                                           ("bcos3_secp_block9_51tx.json", "receipt_with_logs")])
def test_receipt_hashes_recompute(fisco_dir: Path, name: str, key: str) -> None:
    receipt = load(fisco_dir, name)[key]
    assert "0x" + receipt_hash(receipt, keccak256).hex() == receipt["hash"]


@pytest.mark.parametrize("name", ["bcos3_secp_block60_proofs.json", "bcos3_secp_block72_single_tx.json"])
def test_transaction_hashes_recompute(fisco_dir: Path, name: str) -> None:
    transaction = load(fisco_dir, name)["transaction"]
    assert "0x" + transaction_hash(transaction, keccak256).hex() == transaction["hash"]
    transaction["version"] = 1
    with pytest.raises(TransactionVersionError):
        transaction_hash(transaction, keccak256)


def test_single_receipt_block_root_is_the_receipt_hash(fisco_dir: Path) -> None:
    vector = load(fisco_dir, "bcos3_secp_block72_single_tx.json")
    leaf = receipt_hash(vector["receipt"], keccak256)
    root = bytes.fromhex(vector["header"]["receiptsRoot"][2:])
    assert merkle_root([leaf], keccak256) == root
    verify_proof(leaf, [leaf.hex()], root, keccak256)


def test_block60_receipt_and_transaction_proofs_verify(fisco_dir: Path) -> None:
    vector = load(fisco_dir, "bcos3_secp_block60_proofs.json")
    header = vector["header"]
    receipt, transaction = vector["receipt"], vector["transaction"]
    verify_proof(receipt_hash(receipt, keccak256), receipt["txReceiptProof"],
                 bytes.fromhex(header["receiptsRoot"][2:]), keccak256)
    verify_proof(transaction_hash(transaction, keccak256), transaction["txProof"],
                 bytes.fromhex(header["txsRoot"][2:]), keccak256)
    assert receipt["txProof"] == transaction["txProof"]


def test_receipt_addresses_hash_as_stored_whatever_the_json_shows(fisco_dir: Path) -> None:
    receipt = load(fisco_dir, "bcos3_secp_block9_51tx.json")["receipt_with_logs"]
    log = receipt["logEntries"][0]
    shown = dict(receipt, logEntries=[dict(log, address="0x" + log["address"].upper())])
    assert receipt_hash(shown, keccak256) == receipt_hash(receipt, keccak256)
    assert "0x" + receipt_hash(receipt, keccak256).hex() == receipt["hash"]
