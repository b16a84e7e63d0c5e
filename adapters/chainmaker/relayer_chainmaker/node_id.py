"""Consensus node ids: libp2p peer ids (``Qm...``), base58 of a multihash of the node's public key.

ChainMaker derives a node's id from the public key of its TLS certificate (the p2p connection),
not from the signing certificate that endorses its votes, so a vote's ``voter`` cannot be derived
from the vote itself: it is checked against the configured consensus nodes (see :mod:`qc`).
"""

from __future__ import annotations

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_SHA2_256 = b"\x12\x20"  # multihash: sha2-256, 32 bytes


def parse_node_id(text: str) -> bytes:
    """The multihash of peer id ``text``. Raises ValueError saying what it is not (only sha2-256
    peer ids, ``Qm...``, are taken: those of ECDSA and SM2 keys)."""
    if not text or any(c not in _INDEX for c in text):
        raise ValueError("is not a base58 peer id (Qm...)")
    number = 0
    for c in text:
        number = number * 58 + _INDEX[c]
    zeros = len(text) - len(text.lstrip("1"))
    raw = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(raw) != 34 or not raw.startswith(_SHA2_256):
        raise ValueError("is not a sha2-256 peer id (Qm..., 46 characters)")
    return raw


def format_node_id(raw: bytes) -> str:
    """The base58 text of a multihash (the inverse of :func:`parse_node_id`)."""
    number = int.from_bytes(raw, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _ALPHABET[rest] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


__all__ = ["format_node_id", "parse_node_id"]
