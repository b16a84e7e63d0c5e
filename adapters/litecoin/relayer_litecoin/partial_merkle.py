"""litecoind's proof that transactions are in a block (``gettxoutproof``: a serialized CMerkleBlock, the
80-byte header and a partial merkle tree), read and checked here, never believed: the root is recomputed
from the hashes and flag bits as Litecoin Core's ``CPartialMerkleTree::ExtractMatches`` does, refusing
every malformed tree it refuses (unused hashes or bits, identical siblings: CVE-2012-2459)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from embit import compact

from relayer_litecoin.header import HEADER_SIZE, sha256d


class PartialTreeError(ValueError):
    """A proof that is malformed or proves nothing (``str()`` says why)."""


@dataclass(frozen=True)
class TxProof:
    """A parsed proof: the block header's 80 bytes, the merkle root its tree leads to (internal order) and
    the matched transactions' ids (internal order) with their positions in the block."""

    header: bytes
    root: bytes
    matches: dict[bytes, int]


def _height(total: int) -> int:
    height = 0
    while (total + (1 << height) - 1) >> height > 1:
        height += 1
    return height


def parse(raw: bytes) -> TxProof:
    """The proof in ``raw``. Raises PartialTreeError for any malformed tree."""
    stream = io.BytesIO(raw)
    header = stream.read(HEADER_SIZE)
    try:
        total = int.from_bytes(stream.read(4), "little")
        hashes = [stream.read(32) for _ in range(compact.read_from(stream))]
        flag_bytes = stream.read(compact.read_from(stream))
    except Exception as exc:  # embit's compact reader raises on a short stream
        raise PartialTreeError(f"proof does not parse: {exc}") from exc
    if len(header) != HEADER_SIZE or any(len(h) != 32 for h in hashes) or stream.read(1):
        raise PartialTreeError("proof has a short field or bytes left over")
    if total == 0 or len(hashes) > total or len(flag_bytes) * 8 < len(hashes):
        raise PartialTreeError(f"proof of {total} transactions with {len(hashes)} hashes is malformed")
    bits = [bool(flag_bytes[i // 8] >> (i % 8) & 1) for i in range(len(flag_bytes) * 8)]
    cursor = {"bit": 0, "hash": 0}
    matches: dict[bytes, int] = {}

    def width(height: int) -> int:
        return (total + (1 << height) - 1) >> height

    def walk(height: int, pos: int) -> bytes:
        if cursor["bit"] >= len(bits):
            raise PartialTreeError("proof runs out of flag bits")
        parent = bits[cursor["bit"]]
        cursor["bit"] += 1
        if height == 0 or not parent:
            if cursor["hash"] >= len(hashes):
                raise PartialTreeError("proof runs out of hashes")
            node = hashes[cursor["hash"]]
            cursor["hash"] += 1
            if height == 0 and parent:
                matches[node] = pos
            return node
        left = walk(height - 1, pos * 2)
        if pos * 2 + 1 < width(height - 1):
            right = walk(height - 1, pos * 2 + 1)
            if right == left:
                raise PartialTreeError("identical sibling hashes (CVE-2012-2459)")
        else:
            right = left
        return sha256d(left + right)

    root = walk(_height(total), 0)
    if cursor["hash"] != len(hashes) or (cursor["bit"] + 7) // 8 != len(flag_bytes):
        raise PartialTreeError("proof has unused hashes or flag bits")
    return TxProof(header, root, matches)


__all__ = ["PartialTreeError", "TxProof", "parse"]
