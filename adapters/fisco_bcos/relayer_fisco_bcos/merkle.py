"""The binary Merkle tree FISCO BCOS 3.x commits transactions and receipts with (``txsRoot``,
``receiptsRoot``), and its proofs.

Tree: a level's nodes are taken in groups of two (the last group may hold one); the parent of a
group is H(concatenation of the group), also for a group of one; levels repeat until one node is
left. A single leaf is its own root (nothing hashed); no leaves: 32 zero bytes.

Proof (``txProof``, ``txReceiptProof``): a flat list of 0x-less hex words; each level starts with a
count word (uint32 big-endian in the first 4 bytes of a 32-byte word) followed by that many hashes,
the group the current node is in (itself included); hash the group, go up, compare the last node
with the root. The proof does not bind the leaf's position within its group.
"""

from __future__ import annotations

from collections.abc import Sequence

from relayer_fisco_bcos.hashing import Hasher

WIDTH = 2


class MerkleProofError(ValueError):
    """A proof that is malformed or does not lead to the root (the message says where)."""


def merkle_root(leaves: Sequence[bytes], hasher: Hasher) -> bytes:
    """The root over ``leaves`` (32-byte hashes, in block order)."""
    if not leaves:
        return bytes(32)
    level = list(leaves)
    if len(level) == 1:
        return level[0]
    while len(level) > 1:
        level = [hasher(b"".join(level[i:i + WIDTH])) for i in range(0, len(level), WIDTH)]
    return level[0]


def parse_proof(words: Sequence[str]) -> list[list[bytes]]:
    """The groups of a proof as the node serves it. Raises MerkleProofError naming the word at fault."""
    groups: list[list[bytes]] = []
    position = 0
    while position < len(words):
        count_word = _word(words, position)
        if any(count_word[4:]):
            raise MerkleProofError(f"proof word {position} should be a count (uint32 then zeros)")
        count = int.from_bytes(count_word[:4], "big")
        if not 1 <= count <= WIDTH:
            raise MerkleProofError(f"proof word {position} counts {count} hashes, not 1..{WIDTH}")
        if position + count >= len(words):
            raise MerkleProofError(f"proof ends inside the group counted at word {position}")
        groups.append([_word(words, position + 1 + i) for i in range(count)])
        position += 1 + count
    return groups


def verify_proof(leaf: bytes, words: Sequence[str], root: bytes, hasher: Hasher) -> None:
    """Return when ``words`` leads from ``leaf`` to ``root``; a single-leaf block's proof is ``[leaf]``
    (or empty) with root == leaf. Raises MerkleProofError saying which level failed."""
    if len(words) == 1 or not words:
        if words and _word(words, 0) != leaf:
            raise MerkleProofError("the single-leaf proof is not the leaf")
        if leaf != root:
            raise MerkleProofError("the leaf is not the root of a single-leaf block")
        return
    current = leaf
    for level, group in enumerate(parse_proof(words)):
        if current not in group:
            raise MerkleProofError(f"level {level}: the group does not hold the node below it")
        current = hasher(b"".join(group))
    if current != root:
        raise MerkleProofError("the proof leads to another root")


def _word(words: Sequence[str], position: int) -> bytes:
    text = words[position]
    if not isinstance(text, str):
        raise MerkleProofError(f"proof word {position} is not a string")
    try:
        data = bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    except ValueError as exc:
        raise MerkleProofError(f"proof word {position} is not hex") from exc
    if len(data) != 32:
        raise MerkleProofError(f"proof word {position} is {len(data)} bytes, not 32")
    return data


__all__ = ["MerkleProofError", "merkle_root", "parse_proof", "verify_proof"]
