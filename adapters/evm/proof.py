"""Receipt inclusion proofs: built from a block's RPC receipts, verified locally.

A proof is the list of RLP-encoded Merkle-Patricia nodes from the receipts root down to
the leaf holding the receipt, exactly as the on-chain ``MerklePatricia`` library walks it:
every node in the list hashes to the reference in its parent; children shorter than 32
bytes are embedded in their parent and are *not* listed separately.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak
from trie import HexaryTrie
from trie.exceptions import BadTrieProof, InvalidNode

from light_clients.evm.receipts import RpcReceipt, encode_receipt, receipt_key, receipts_trie
from relayer.errors import ProofError

HASH_BYTES = 32


@dataclass(frozen=True)
class ReceiptProof:
    """Inclusion proof of one receipt: ``key`` = rlp(tx_index), ``nodes`` root→leaf, ``value`` = receipt encoding."""

    key: bytes
    nodes: tuple[bytes, ...]
    value: bytes
    tx_index: int


def build_receipt_proof(receipts: Sequence[RpcReceipt], tx_index: int) -> ReceiptProof:
    """Proof for the receipt at ``tx_index``; raises ProofError if there is none, RpcAnswerError if malformed."""
    return build_receipt_proofs(receipts, [tx_index])[tx_index]


def build_receipt_proofs(receipts: Sequence[RpcReceipt], tx_indices: Iterable[int]) -> dict[int, ReceiptProof]:
    """Proofs for several receipts of one block, building the trie once.

    Raises ProofError when an index has no receipt, RpcAnswerError when a receipt is malformed.
    """
    trie = receipts_trie(receipts)
    return {index: _prove(trie, index) for index in tx_indices}


def _prove(trie: HexaryTrie, tx_index: int) -> ReceiptProof:
    key = receipt_key(tx_index)
    value = trie.get(key)
    if not value:
        raise ProofError("no receipt at this transaction index", tx_index=tx_index)
    nodes = tuple(_hashed_nodes(trie.get_proof(key)))
    return ReceiptProof(key=key, nodes=nodes, value=bytes(value), tx_index=tx_index)


def _hashed_nodes(decoded: Sequence[Any]) -> Iterator[bytes]:
    """The root and every node referenced by hash; ``get_proof`` also lists inline nodes."""
    for depth, node in enumerate(decoded):
        encoded = rlp.encode(node)
        if depth == 0 or len(encoded) >= HASH_BYTES:
            yield encoded


# --------------------------------------------------------------------------- verification


def verify_receipt_proof(root: bytes, proof: ReceiptProof) -> bytes:
    """Walk ``proof`` from ``root`` exactly as the on-chain verifier does; return the receipt encoding.

    Raises ProofError when a node does not hash to its reference, the path does not end
    at a leaf for ``key``, nodes are left over, the value differs from ``proof.value``,
    or the trie library's own verifier disagrees.
    """
    if proof.key != receipt_key(proof.tx_index):
        raise ProofError("proof key is not rlp(tx_index)", tx_index=proof.tx_index)
    value = walk_proof(root, proof.key, proof.nodes)
    if value != proof.value:
        raise ProofError("proven value differs from the proof's receipt", tx_index=proof.tx_index)
    _library_check(root, proof)
    return value


def _library_check(root: bytes, proof: ReceiptProof) -> None:
    try:
        value = HexaryTrie.get_from_proof(root, proof.key, [rlp.decode(node) for node in proof.nodes])
    except (BadTrieProof, InvalidNode, rlp.exceptions.RLPException, KeyError, ValueError, RecursionError) as exc:
        raise ProofError("the trie library rejects the proof", tx_index=proof.tx_index) from exc
    if value != proof.value:
        raise ProofError("the trie library proves another value", tx_index=proof.tx_index)


def receipt_logs(encoded: bytes) -> list[dict[str, Any]]:
    """The logs of an encoded receipt (legacy RLP, or EIP-2718: a type byte then RLP) in JSON-RPC's form
    (``address``, ``topics``, ``data`` as 0x-hex). Raises ValueError or rlp's DecodingError when it is no receipt."""
    body = encoded[1:] if encoded and encoded[0] < 0x80 else encoded
    fields = rlp.decode(body, strict=True)
    if not isinstance(fields, list) or len(fields) != 4 or not isinstance(fields[3], list):
        raise ValueError("a receipt is a list of 4 fields ending with its logs")
    out = []
    for lg in fields[3]:
        if not isinstance(lg, list) or len(lg) != 3 or not isinstance(lg[1], list):
            raise ValueError("a log is [address, topics, data]")
        address, topics, data = lg
        if not isinstance(address, bytes) or not isinstance(data, bytes) or \
                not all(isinstance(t, bytes) for t in topics):
            raise ValueError("a log's fields are byte strings")
        out.append({"address": "0x" + address.hex(), "topics": ["0x" + t.hex() for t in topics],
                    "data": "0x" + data.hex()})
    return out


def walk_proof(root: bytes, key: bytes, nodes: Sequence[bytes]) -> bytes:
    """The value at ``key`` under ``root`` given the hashed nodes root→leaf; raises ProofError."""
    if not nodes:
        raise ProofError("empty proof")
    walker = _Walk(key, nodes)
    node = walker.load(root)
    while True:
        child = walker.step(node)
        if isinstance(child, _Found):
            walker.finish()
            return child.value
        node = _shape(child, walker.used) if isinstance(child, list) else walker.load(child)


@dataclass(frozen=True)
class _Found:
    value: bytes


class _Walk:
    """State of one proof walk: the key nibbles left and the proof nodes not yet used."""

    def __init__(self, key: bytes, nodes: Sequence[bytes]) -> None:
        self.nibbles = [n for byte in key for n in (byte >> 4, byte & 15)]
        self.nodes = list(nodes)
        self.used = 0

    def load(self, reference: object) -> list[Any]:
        """The next proof node, which must hash to ``reference``."""
        if not isinstance(reference, bytes) or len(reference) != HASH_BYTES:
            raise ProofError("path leads to an empty or malformed child", depth=self.used)
        if self.used >= len(self.nodes):
            raise ProofError("proof ends before the leaf", depth=self.used)
        encoded = self.nodes[self.used]
        if keccak(encoded) != reference:
            raise ProofError("proof node does not hash to its parent's reference", depth=self.used)
        self.used += 1
        return _shape(_decode_node(encoded, self.used - 1), self.used - 1)

    def step(self, node: list[Any]) -> _Found | list[Any] | bytes:
        """Consume the key part ``node`` covers; return the child reference or the value."""
        if len(node) == 17:
            return self._branch(node)
        path, is_leaf = _hex_prefix(node[0], self.used)
        if self.nibbles[: len(path)] != path or (is_leaf and len(path) != len(self.nibbles)):
            raise ProofError("key is not in the trie (path diverges)", depth=self.used)
        self.nibbles = self.nibbles[len(path) :]
        return _Found(_value(node[1], self.used)) if is_leaf else node[1]

    def _branch(self, node: list[Any]) -> _Found | list[Any] | bytes:
        if not self.nibbles:
            return _Found(_value(node[16], self.used))
        child = node[self.nibbles.pop(0)]
        if child == b"":
            raise ProofError("key is not in the trie (empty branch slot)", depth=self.used)
        return child  # type: ignore[no-any-return]

    def finish(self) -> None:
        if self.used != len(self.nodes):
            raise ProofError("proof has nodes after the leaf", extra=len(self.nodes) - self.used)


def _decode_node(encoded: bytes, depth: int) -> Any:
    try:
        return rlp.decode(encoded, strict=True)
    except (rlp.exceptions.RLPException, RecursionError) as exc:
        raise ProofError("proof node is not valid RLP", depth=depth) from exc


def _shape(node: Any, depth: int) -> list[Any]:
    """``node`` if it is a branch (17 items) or a leaf/extension (2 items); raises ProofError."""
    if not isinstance(node, list) or len(node) not in (2, 17):
        raise ProofError("proof node is neither a branch nor a leaf/extension", depth=depth)
    return node


def _hex_prefix(path: object, depth: int) -> tuple[list[int], bool]:
    """Decode a hex-prefix path into (nibbles, is_leaf)."""
    if not isinstance(path, bytes) or not path or path[0] >> 4 > 3:
        raise ProofError("malformed hex-prefix path", depth=depth)
    flag = path[0] >> 4
    nibbles = [n for byte in path[1:] for n in (byte >> 4, byte & 15)]
    if flag & 1:
        nibbles.insert(0, path[0] & 15)
    return nibbles, flag >= 2


def _value(value: object, depth: int) -> bytes:
    if not isinstance(value, bytes) or not value:
        raise ProofError("key is not in the trie (no value)", depth=depth)
    return value


def proof_as_hex(proof: ReceiptProof) -> dict[str, Any]:
    """JSON-friendly form of a proof (for logs, the store and the attestation API)."""
    return {
        "txIndex": proof.tx_index,
        "key": "0x" + proof.key.hex(),
        "nodes": ["0x" + node.hex() for node in proof.nodes],
        "value": "0x" + proof.value.hex(),
    }


__all__ = [
    "ReceiptProof",
    "build_receipt_proof",
    "build_receipt_proofs",
    "encode_receipt",
    "proof_as_hex",
    "verify_receipt_proof",
    "walk_proof",
]
