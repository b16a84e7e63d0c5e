"""The family's proof of one transaction in a block (version 1): the parts both proof versions share
(:mod:`relayer_litecoin.source` for deposits, :mod:`relayer_litecoin.acks` for releases)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from relayer.errors import ProofError
from relayer_litecoin.header import HEADER_SIZE

PROOF_VERSION = 1
INDEX_BITS = 20
HEIGHT_BYTES = 8


@dataclass(frozen=True)
class ParsedProof:
    """A proof's parts (see the module's docstring)."""

    header: bytes
    index: int
    branch: tuple[bytes, ...]
    tx: bytes

    def encode(self) -> bytes:
        return (bytes([PROOF_VERSION]) + self.header + struct.pack(">IB", self.index, len(self.branch))
                + b"".join(self.branch) + self.tx)

    @classmethod
    def decode(cls, data: bytes) -> ParsedProof:
        """Raises ProofError when ``data`` is not a proof of this layout."""
        if len(data) < 1 + HEADER_SIZE + 5 or data[0] != PROOF_VERSION:
            raise ProofError("not a version 1 Litecoin proof")
        index, count = struct.unpack(">IB", data[1 + HEADER_SIZE:6 + HEADER_SIZE])
        start = 6 + HEADER_SIZE
        branch = tuple(data[start + 32 * i:start + 32 * (i + 1)] for i in range(count))
        tx = data[start + 32 * count:]
        if len(tx) <= 64:  # a 64-byte "transaction" could be an inner merkle node
            raise ProofError("the proof's transaction is too short")
        return cls(data[1:1 + HEADER_SIZE], index, branch, tx)


__all__ = ["HEIGHT_BYTES", "INDEX_BITS", "PROOF_VERSION", "ParsedProof"]
