"""MerklePatricia.sol against the ethereum/tests TrieTests vectors, on a real anvil node.

Each case's trie is rebuilt with the ``trie`` package and must reach the vector's root; then a
proof of every remaining key is checked by ``MPTHarness.verify`` (one JSON-RPC batch per case),
and tampered proofs must revert with ``InvalidProof()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak
from trie import HexaryTrie

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer.errors import ContractRevert

FILES = {
    "trietest.json": False,
    "trieanyorder.json": False,
    "trietest_secureTrie.json": True,
    "trieanyorder_secureTrie.json": True,
    "hex_encoded_securetrie_test.json": True,
}
HARNESS = Contract.load("MPTHarness")


def _bytes(text: str | None) -> bytes:
    if text is None:
        return b""
    return bytes.fromhex(text[2:]) if text.startswith("0x") else text.encode()


def _vectors_dir() -> Path | None:
    """Same lookup as the ``vectors`` fixture (parametrization happens before fixtures exist)."""
    named = os.environ.get("RELAYER_VECTORS")
    path = Path(named) if named else Path(__file__).resolve().parents[3] / "shared" / "vectors"
    return path if path.is_dir() else None


def _cases() -> Iterator[Any]:
    vectors = _vectors_dir()
    if vectors is None:
        return
    for name, secure in FILES.items():
        cases = json.loads((vectors / "ethereum-tests" / "TrieTests" / name).read_text())
        for case, body in sorted(cases.items()):
            yield pytest.param(name, secure, body, id=f"{name[:-5]}:{case}")


def _build(body: dict[str, Any], secure: bool) -> tuple[HexaryTrie, dict[bytes, bytes]]:
    pairs = body["in"].items() if isinstance(body["in"], dict) else body["in"]
    trie = HexaryTrie({})
    expected: dict[bytes, bytes] = {}
    for raw_key, raw_value in pairs:
        key = keccak(_bytes(raw_key)) if secure else _bytes(raw_key)
        value = _bytes(raw_value)
        if value:
            trie[key] = value
            expected[key] = value
        else:
            del trie[key]
            expected.pop(key, None)
    return trie, expected


def hashed_nodes(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """The root and every hash-referenced node of the path (inline nodes stay in their parent)."""
    encoded = [rlp.encode(node) for node in trie.get_proof(key)]
    return [node for depth, node in enumerate(encoded) if depth == 0 or len(node) >= 32]


@pytest.fixture(scope="module")
def harness(anvil_module: AnvilNode) -> Iterator[tuple[SyncEvm, str]]:
    with SyncEvm(anvil_module.url) as evm:
        yield evm, evm.deploy(ANVIL_KEYS[0], "MPTHarness")


def _call(evm: SyncEvm, to: str, root: bytes, key: bytes, nodes: list[bytes]) -> bytes:
    return bytes(evm.call(to, "MPTHarness", "verify", root, key, nodes))


def _assert_invalid(evm: SyncEvm, to: str, root: bytes, key: bytes, nodes: list[bytes], what: str) -> None:
    with pytest.raises(ContractRevert) as info:
        _call(evm, to, root, key, nodes)
    assert info.value.reason == "InvalidProof()", what


@pytest.mark.parametrize(("file", "secure", "body"), list(_cases()))
def test_trie_vector(vectors: Path, harness: tuple[SyncEvm, str], file: str, secure: bool,
                     body: dict[str, Any]) -> None:
    evm, address = harness
    trie, expected = _build(body, secure)
    root = trie.root_hash
    assert "0x" + root.hex() == body["root"]
    proofs = {key: hashed_nodes(trie, key) for key in sorted(expected)}
    calls = [("eth_call", [{"to": address, "data": "0x" + HARNESS.encode_call("verify", root, key, nodes).hex()},
                           "latest"]) for key, nodes in proofs.items()]
    results = evm.batch(calls)
    for (key, _), result in zip(proofs.items(), results):
        assert HARNESS.decode_result("verify", bytes.fromhex(result[2:])) == expected[key], key.hex()
    _check_tampering(evm, address, root, proofs)


def _check_tampering(evm: SyncEvm, address: str, root: bytes, proofs: dict[bytes, list[bytes]]) -> None:
    if not proofs:  # everything was deleted: the empty trie proves nothing
        assert root == HexaryTrie({}).root_hash
        _assert_invalid(evm, address, root, b"\x01", [rlp.encode(b"")], "empty trie")
        return
    key, nodes = next(iter(proofs.items()))
    last = nodes[-1]
    flipped = last[:-1] + bytes([last[-1] ^ 1])
    _assert_invalid(evm, address, root, key, nodes[:-1] + [flipped], "tampered node")
    _assert_invalid(evm, address, root, key + b"\x00", nodes, "longer key")
    _assert_invalid(evm, address, root, key, nodes + [nodes[-1]], "extra node")
    _assert_invalid(evm, address, keccak(b"other root"), key, nodes, "wrong root")
    if len(nodes) > 1:
        _assert_invalid(evm, address, root, key, nodes[:-1], "truncated proof")
    absent = bytes([key[0] ^ 0xFF]) + key[1:] if key else b"\x01"
    if absent not in proofs:
        _assert_invalid(evm, address, root, absent, nodes, "absent key")
    for other in list(proofs)[1:2]:
        if proofs[other] != nodes:
            _assert_invalid(evm, address, root, other, nodes, "another key's proof")


def test_value_in_branch_node(harness: tuple[SyncEvm, str]) -> None:
    """A key that is a prefix of another key keeps its value in the branch's 17th slot."""
    evm, address = harness
    trie = HexaryTrie({})
    values = {b"\x12": b"short" * 8, b"\x12\x34": b"long" * 10, b"\x12\x35": b"x" * 40}
    for k, v in values.items():
        trie[k] = v
    for k, v in values.items():
        assert _call(evm, address, trie.root_hash, k, hashed_nodes(trie, k)) == v
    _assert_invalid(evm, address, trie.root_hash, b"\x12\x36", hashed_nodes(trie, b"\x12\x34"), "empty slot")


def test_empty_key_and_empty_proof(harness: tuple[SyncEvm, str]) -> None:
    evm, address = harness
    trie = HexaryTrie({})
    trie[b"\x01"] = b"one"
    _assert_invalid(evm, address, trie.root_hash, b"\x01", [], "no nodes")
    _assert_invalid(evm, address, trie.root_hash, b"", hashed_nodes(trie, b"\x01"), "empty key")
