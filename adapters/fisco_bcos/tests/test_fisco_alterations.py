"""Every one-byte alteration of a recorded FISCO BCOS header field, signature or proof element is
refused, each with a reason that names what failed."""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy as clone
from pathlib import Path
from typing import Any

import pytest
from fisco_vectors import BCOS3_FILES, header_of, load

from relayer.contract import CandidateHeader
from relayer.errors import VerificationError
from relayer_fisco_bcos.client import FiscoBcosLightClient
from relayer_fisco_bcos.contents import ContentsFormatError, receipt_hash, transaction_hash
from relayer_fisco_bcos.hashing import Crypto, keccak256
from relayer_fisco_bcos.header import parse_header
from relayer_fisco_bcos.merkle import MerkleProofError, verify_proof
from relayer_fisco_bcos.seals import SealerSet

HEX_FIELDS = ("txsRoot", "receiptsRoot", "stateRoot")
INT_FIELDS = ("version", "number", "timestamp", "sealer")


def flip(text: str, position: int, mask: int = 0x01) -> str:
    """``text`` (0x-hex or bare hex) with byte ``position`` XORed with ``mask``."""
    prefix = "0x" if text.startswith("0x") else ""
    data = bytearray.fromhex(text.removeprefix("0x"))
    data[position] ^= mask
    return prefix + data.hex()


def header_alterations(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was altered, the altered copy) for one byte of every hashed field of ``obj``."""
    def copy() -> dict[str, Any]:
        return clone(obj)

    for key in HEX_FIELDS:
        for position in range(32):
            altered = copy()
            altered[key] = flip(obj[key], position)
            yield f"{key}[{position}]", altered
    for key in INT_FIELDS:
        altered = copy()
        altered[key] = obj[key] ^ 1
        yield key, altered
    altered = copy()
    altered["gasUsed"] = obj["gasUsed"][:-1] + str((int(obj["gasUsed"][-1]) + 1) % 10)
    yield "gasUsed", altered
    for index, node in enumerate(obj["sealerList"]):
        for position in (0, 31, 63):
            altered = copy()
            altered["sealerList"][index] = flip(node, position)
            yield f"sealerList[{index}][{position}]", altered
    for index in range(len(obj["consensusWeights"])):
        altered = copy()
        altered["consensusWeights"][index] += 1
        yield f"consensusWeights[{index}]", altered
    for position in (0, 31):
        altered = copy()
        altered["parentInfo"][0]["blockHash"] = flip(obj["parentInfo"][0]["blockHash"], position)
        yield f"parentInfo.blockHash[{position}]", altered
    altered = copy()
    altered["parentInfo"][0]["blockNumber"] += 1
    yield "parentInfo.blockNumber", altered
    altered = copy()
    altered["extraData"] = "0x00"
    yield "extraData", altered


def client_for(obj: dict[str, Any]) -> FiscoBcosLightClient:
    return FiscoBcosLightClient("fisco", 1, Crypto.SECP256K1, SealerSet.of(parse_header(obj)))


def check(obj: dict[str, Any]) -> None:
    client_for(obj).check_header(CandidateHeader(obj["number"], None, b"", obj))


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_every_header_field_alteration_is_refused_by_the_hash(fisco_dir: Path, name: str) -> None:
    original = header_of(load(fisco_dir, name))
    trusted = client_for(original)
    trusted.check_header(CandidateHeader(original["number"], None, b"", original))
    count = 0
    for what, altered in header_alterations(original):
        with pytest.raises(VerificationError, match="is not the header's hash") as refused:
            trusted.check_header(CandidateHeader(altered["number"], None, b"", altered))
        assert f"block {altered['number']}" in refused.value.message, what
        count += 1
    assert count > 100


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_without_a_claimed_hash_the_signatures_bind_every_field(fisco_dir: Path, name: str) -> None:
    original = header_of(load(fisco_dir, name))
    del original["hash"]
    trusted = client_for(original)
    trusted.check_header(CandidateHeader(original["number"], None, b"", original))
    for what, altered in header_alterations(original):
        with pytest.raises(VerificationError, match=r"signatureList\[0\] \(sealer \d\): invalid signature"):
            trusted.check_header(CandidateHeader(altered["number"], None, b"", altered))
        del what


@pytest.mark.parametrize("name", BCOS3_FILES)
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_every_signature_byte_alteration_is_refused(fisco_dir: Path, name: str, mask: int) -> None:
    original = header_of(load(fisco_dir, name))
    trusted = client_for(original)
    for index, entry in enumerate(original["signatureList"]):
        for position in range(65):
            altered = clone(original)
            altered["signatureList"][index]["signature"] = flip(entry["signature"], position, mask)
            with pytest.raises(VerificationError, match=rf"signatureList\[{index}\] \(sealer {entry['sealerIndex']}\): "
                                                        r"invalid signature: (it recovers to|no public key recovers|"
                                                        r"recovery id)"):
                trusted.check_header(CandidateHeader(altered["number"], None, b"", altered))


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_sealer_index_alterations_are_refused(fisco_dir: Path, name: str) -> None:
    original = header_of(load(fisco_dir, name))
    trusted = client_for(original)
    for index, entry in enumerate(original["signatureList"]):
        for other in range(len(original["sealerList"]) + 1):
            if other == entry["sealerIndex"]:
                continue
            altered = clone(original)
            altered["signatureList"][index]["sealerIndex"] = other
            with pytest.raises(VerificationError,
                               match="not the sealer's node id|signed twice|outside sealerList"):
                trusted.check_header(CandidateHeader(altered["number"], None, b"", altered))


def proof_alterations(words: list[str]) -> Iterator[tuple[int, int, list[str]]]:
    for index, word in enumerate(words):
        for position in range(32):
            altered = list(words)
            altered[index] = flip(word, position)
            yield index, position, altered


@pytest.mark.parametrize(("kind", "proof_key", "root_key"), [("receipt", "txReceiptProof", "receiptsRoot"),
                                                             ("transaction", "txProof", "txsRoot")])
def test_every_proof_byte_alteration_is_refused(fisco_dir: Path, kind: str, proof_key: str, root_key: str) -> None:
    vector = load(fisco_dir, "bcos3_secp_block60_proofs.json")
    item = vector[kind]
    leaf = receipt_hash(item, keccak256) if kind == "receipt" else transaction_hash(item, keccak256)
    root = bytes.fromhex(vector["header"][root_key][2:])
    verify_proof(leaf, item[proof_key], root, keccak256)
    reasons = set()
    for index, position, altered in proof_alterations(item[proof_key]):
        with pytest.raises(MerkleProofError) as refused:
            verify_proof(leaf, altered, root, keccak256)
        reasons.add(str(refused.value).split(":")[0].split(" ")[0])
        assert str(refused.value), (index, position)
    assert {"proof", "level", "the"} <= reasons  # count words, groups and the root each refuse


def test_receipt_field_alterations_break_its_proof(fisco_dir: Path) -> None:
    vector = load(fisco_dir, "bcos3_secp_block60_proofs.json")
    receipt = vector["receipt"]
    root = bytes.fromhex(vector["header"]["receiptsRoot"][2:])
    changes: list[tuple[str, Any]] = [("gasUsed", "5894"), ("status", 1), ("output", "0x00"),
                                      ("contractAddress", "11" * 20), ("blockNumber", 61), ("version", 1)]
    for key, value in changes:
        altered = dict(receipt, **{key: value})
        if key == "version":
            altered["effectiveGasPrice"] = ""
        with pytest.raises(MerkleProofError, match="level 0: the group does not hold the node below it"):
            verify_proof(receipt_hash(altered, keccak256), receipt["txReceiptProof"], root, keccak256)


def test_block9_receipt_log_alterations_change_its_hash(fisco_dir: Path) -> None:
    receipt = load(fisco_dir, "bcos3_secp_block9_51tx.json")["receipt_with_logs"]
    original = receipt_hash(receipt, keccak256)
    log = receipt["logEntries"][0]
    for key, value in [("address", flip(log["address"], 0)), ("data", flip(log["data"], 31)),
                       ("topics", [flip(log["topics"][0], 5)])]:
        altered = dict(receipt, logEntries=[dict(log, **{key: value})])
        assert receipt_hash(altered, keccak256) != original, key


@pytest.mark.parametrize("name", BCOS3_FILES)
def test_every_claimed_hash_byte_alteration_is_refused(fisco_dir: Path, name: str) -> None:
    original = header_of(load(fisco_dir, name))
    trusted = client_for(original)
    for position in range(32):
        altered = clone(original)
        altered["hash"] = flip(original["hash"], position)
        with pytest.raises(VerificationError, match="is not the header's hash"):
            trusted.check_header(CandidateHeader(altered["number"], None, b"", altered))


def test_every_transaction_hash_alteration_of_block9_is_refused(fisco_dir: Path) -> None:
    original = load(fisco_dir, "bcos3_secp_block9_51tx.json")["header_with_tx_hashes"]
    trusted = client_for(original)
    trusted.check_header(CandidateHeader(original["number"], None, b"", original))
    for index, tx_hash in enumerate(original["transactions"]):
        for position in (0, 31):
            altered = clone(original)
            altered["transactions"][index] = flip(tx_hash, position)
            with pytest.raises(VerificationError, match="block 9: its 51 transactions do not rebuild txsRoot"):
                trusted.check_header(CandidateHeader(9, None, b"", altered))
    dropped = clone(original)
    dropped["transactions"].pop()
    with pytest.raises(VerificationError, match="its 50 transactions do not rebuild txsRoot"):
        trusted.check_header(CandidateHeader(9, None, b"", dropped))


def test_receipt_fields_keep_their_one_form(fisco_dir: Path) -> None:
    """Without field lengths, gasUsed "5893" + contractAddress "" and gasUsed "589" + contractAddress "3"
    would hash alike; the fixed-form fields are refused in any other form."""
    receipt = load(fisco_dir, "bcos3_secp_block60_proofs.json")["receipt"]
    assert receipt["gasUsed"] == "5893" and receipt["contractAddress"] == ""
    for key, value, words in [("gasUsed", "589", "contractAddress must be an address of 40 hex digits"),
                              ("gasUsed", "05893", "gasUsed must be a decimal number without leading zeros"),
                              ("gasUsed", "0x1705", "gasUsed must be a decimal number")]:
        altered = dict(receipt, **{key: value})
        if value == "589":
            altered["contractAddress"] = "3"
        with pytest.raises(ContentsFormatError, match=words):
            receipt_hash(altered, keccak256)


def test_output_bytes_stay_ambiguous_as_documented(fisco_dir: Path) -> None:
    """What the fixed forms cannot close: bytes of the output read as a log (or back). Both parses have
    the real receipt's hash; evm_proof.check_no_second_reading is the check against such a reading."""
    receipt = load(fisco_dir, "bcos3_secp_block9_51tx.json")["receipt_with_logs"]
    log = receipt["logEntries"][0]
    moved = (log["address"].encode() + bytes.fromhex(log["topics"][0][2:]) + bytes.fromhex(log["data"][2:]))
    reparsed = dict(receipt, output=receipt["output"] + moved.hex(), logEntries=[])
    assert receipt_hash(reparsed, keccak256) == receipt_hash(receipt, keccak256)
