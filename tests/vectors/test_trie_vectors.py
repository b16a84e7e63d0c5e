"""ethereum/tests TrieTests with trie.HexaryTrie, and receipt proofs built/verified on tries."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from adapters.evm.proof import ReceiptProof, build_receipt_proof, build_receipt_proofs, verify_receipt_proof, walk_proof
from light_clients.evm.receipts import encode_receipt, receipts_root
from relayer.errors import ProofError

TRIE_TESTS = Path("ethereum-tests/TrieTests")
FILES = {  # file -> (secure, expected number of cases)
    "trietest.json": (False, 5),
    "trieanyorder.json": (False, 7),
    "trietest_secureTrie.json": (True, 3),
    "trieanyorder_secureTrie.json": (True, 7),
    "hex_encoded_securetrie_test.json": (True, 3),
}


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


def _pairs(case_in: Any) -> list[tuple[bytes, bytes | None]]:
    items = case_in.items() if isinstance(case_in, dict) else case_in
    return [(_bytes(k), None if v is None else _bytes(v)) for k, v in items]


def _build(pairs: list[tuple[bytes, bytes | None]], secure: bool) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in pairs:
        key = keccak(key) if secure else key
        if value:
            trie.set(key, value)
        else:
            trie.delete(key)
    return trie


def _cases(vectors: Path) -> list[tuple[str, str, dict[str, Any], bool]]:
    cases = []
    for name, (secure, count) in FILES.items():
        data = json.loads((vectors / TRIE_TESTS / name).read_text())
        assert len(data) == count, name
        cases += [(name, case_name, case, secure) for case_name, case in data.items()]
    return cases


def test_all_trie_roots(vectors: Path) -> None:
    cases = _cases(vectors)
    assert len(cases) == 25
    for file, name, case, secure in cases:
        root = _build(_pairs(case["in"]), secure).root_hash
        assert "0x" + root.hex() == case["root"], f"{file}:{name}"


def test_every_present_key_proves_with_the_strict_walk(vectors: Path) -> None:
    """Generic proofs (with inline nodes) from the vector tries walk like the on-chain verifier."""
    from adapters.evm.proof import _hashed_nodes

    walked = 0
    for _, name, case, secure in _cases(vectors):
        pairs = _pairs(case["in"])
        trie = _build(pairs, secure)
        for key in {keccak(k) if secure else k for k, _ in pairs}:
            if trie.exists(key):
                nodes = tuple(_hashed_nodes(trie.get_proof(key)))
                assert walk_proof(trie.root_hash, key, nodes) == trie.get(key), name
                walked += 1
    assert walked > 40


# --------------------------------------------------------------------------- receipt proofs


def synthetic_receipts(count: int) -> list[dict[str, Any]]:
    """Receipts of every type and outcome; >128 of them so keys of 1 and 2 bytes both occur."""
    receipts = []
    for i in range(count):
        logs = [{"address": "0x" + f"{i:040x}", "topics": ["0x" + f"{i:064x}"], "data": "0x" + "ab" * (i % 5)}]
        receipts.append(
            {
                "transactionIndex": hex(i),
                "type": hex(i % 5),
                "status": hex(i % 2),
                "cumulativeGasUsed": hex(21000 * (i + 1)),
                "logsBloom": "0x" + "00" * 256,
                "logs": logs if i % 3 else [],
            }
        )
    return receipts


def test_receipt_proof_round_trip() -> None:
    receipts = synthetic_receipts(140)
    root = receipts_root(receipts)
    proofs = build_receipt_proofs(receipts, range(140))
    for index, proof in proofs.items():
        assert proof.key == rlp.encode(index)
        assert proof.value == encode_receipt(receipts[index])
        assert keccak(proof.nodes[0]) == root
        assert all(len(node) >= 32 for node in proof.nodes)
        assert verify_receipt_proof(root, proof) == proof.value
        assert HexaryTrie.get_from_proof(root, proof.key, [rlp.decode(n) for n in proof.nodes]) == proof.value


def test_single_receipt_block_proof_is_just_the_root_leaf() -> None:
    receipts = synthetic_receipts(1)
    proof = build_receipt_proof(receipts, 0)
    assert len(proof.nodes) == 1
    assert verify_receipt_proof(receipts_root(receipts), proof) == encode_receipt(receipts[0])


_RECEIPTS = synthetic_receipts(40)
_PROOF_AND_ROOT = build_receipt_proof(_RECEIPTS, 17), receipts_root(_RECEIPTS)


@pytest.fixture
def proof_and_root() -> tuple[ReceiptProof, bytes]:
    return _PROOF_AND_ROOT


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: replace(p, nodes=p.nodes[:-1]), id="missing-leaf"),
        pytest.param(lambda p: replace(p, nodes=p.nodes + p.nodes[-1:]), id="extra-node"),
        pytest.param(lambda p: replace(p, nodes=()), id="empty"),
        pytest.param(lambda p: replace(p, nodes=(p.nodes[0], _flip(p.nodes[1], 40), *p.nodes[2:])), id="altered-node"),
        pytest.param(lambda p: replace(p, value=_flip(p.value, 5)), id="altered-value"),
        pytest.param(lambda p: replace(p, key=rlp.encode(18), tx_index=18), id="other-key"),
        pytest.param(lambda p: replace(p, key=rlp.encode(18)), id="key-not-index"),
        pytest.param(lambda p: replace(p, key=rlp.encode(99), tx_index=99), id="absent-key"),
    ],
)
def test_tampered_proofs_are_rejected(proof_and_root: tuple[ReceiptProof, bytes], tamper: Any) -> None:
    proof, root = proof_and_root
    assert len(proof.nodes) >= 2
    with pytest.raises(ProofError):
        verify_receipt_proof(root, tamper(proof))


def test_wrong_root_is_rejected(proof_and_root: tuple[ReceiptProof, bytes]) -> None:
    proof, root = proof_and_root
    with pytest.raises(ProofError):
        verify_receipt_proof(_flip(root, 0), proof)


def test_missing_index_cannot_be_proven() -> None:
    with pytest.raises(ProofError):
        build_receipt_proof(synthetic_receipts(3), 3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=4), st.integers(0, 3))
def test_random_nodes_only_raise_proof_errors(nodes: list[bytes], first_is_root: int) -> None:
    """Garbage nodes (the first one hashed as the root half the time) never escape as other errors."""
    root = keccak(nodes[0]) if nodes and first_is_root % 2 else b"\x00" * 32
    proof = ReceiptProof(key=rlp.encode(1), nodes=tuple(nodes), value=b"x", tx_index=1)
    with pytest.raises(ProofError):
        verify_receipt_proof(root, proof)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_real_proofs_only_raise_proof_errors(data: st.DataObject) -> None:
    proof, root = _PROOF_AND_ROOT
    which = data.draw(st.integers(0, len(proof.nodes) - 1))
    node = bytearray(proof.nodes[which])
    at = data.draw(st.integers(0, len(node) - 1))
    node[at] ^= data.draw(st.integers(1, 255))
    nodes = proof.nodes[:which] + (bytes(node),) + proof.nodes[which + 1 :]
    with pytest.raises(ProofError):
        verify_receipt_proof(root, replace(proof, nodes=nodes))
