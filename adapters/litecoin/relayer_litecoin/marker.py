"""The OP_RETURN a custody spend carries: what it is for, so that it is made once only.

Layout, version 1 (36 bytes; a deposit's payload starts ``"rl"``, a custody spend's ``"rr"``)::

    magic    2 bytes  b"rr"
    version  1 byte   0x01
    kind     1 byte   0x01 a release (the id is the message id of the burn on the EVM side)
                      0x02 a return (the id is the txid, display order, of a refused deposit)
    id       32 bytes

Version 2 (44 bytes, releases only): ``b"rr" 0x02 0x01 || origin chain id (8, big-endian) || message id
(32)``: the chain the burn was made on, where the release is proven back as the burn's acknowledgement
(LitecoinDepositVerifier's release proof). Releases are made with version 2, returns with version 1. A
marker is the same marker whatever its version (``origin`` is not compared): the custody's history finds a
release of an id in either form.

Before a custody spend is built, the chain and the mempool are searched for one carrying the same
marker; the operators sign only one set of inputs per marker (see :mod:`relayer_litecoin.journal`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from embit.transaction import Transaction

from relayer_litecoin.deposits import op_return_data, spends_custody

MAGIC = b"rr"
VERSION = 1
SIZE = 36
VERSION_ORIGIN = 2  # a release naming its burn's origin chain
SIZE_ORIGIN = 44
OP_RETURN = 0x6A


class Kind(IntEnum):
    """What a custody spend is for."""

    RELEASE = 1
    RETURN = 2


@dataclass(frozen=True)
class Marker:
    """A custody spend's purpose: ``kind`` and the 32-byte ``id`` it is for; ``origin``: the chain id of the
    burn a release is for (encoded as version 2; None: version 1). Equality and hash ignore ``origin``."""

    kind: Kind
    id: bytes
    origin: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.id) != 32:
            raise ValueError(f"a marker's id has 32 bytes, got {len(self.id)}")
        if self.origin is not None and (self.kind is not Kind.RELEASE or not 0 < self.origin < 1 << 64):
            raise ValueError("only a release names an origin chain, an id of 1..2**64-1")

    def encode(self) -> bytes:
        """The bytes of the OP_RETURN's push (36, or 44 with an origin)."""
        if self.origin is not None:
            return MAGIC + bytes([VERSION_ORIGIN, self.kind]) + self.origin.to_bytes(8, "big") + self.id
        return MAGIC + bytes([VERSION, self.kind]) + self.id

    def script(self) -> bytes:
        """The OP_RETURN output script carrying it."""
        data = self.encode()
        return bytes([OP_RETURN, len(data)]) + data

    def __str__(self) -> str:
        return f"{self.kind.name.lower()}:0x{self.id.hex()}"


def decode(data: bytes) -> Marker | None:
    """The marker in an OP_RETURN's data; None when the data is not one (another magic, version, kind or
    size; a version 2 marker that is no release or names origin 0). Raises nothing."""
    if not data.startswith(MAGIC) or len(data) < 4:
        return None
    if len(data) == SIZE and data[2] == VERSION and data[3] in (1, 2):
        return Marker(Kind(data[3]), data[4:])
    if len(data) == SIZE_ORIGIN and data[2] == VERSION_ORIGIN and data[3] == Kind.RELEASE:
        origin = int.from_bytes(data[4:12], "big")
        return Marker(Kind.RELEASE, data[12:], origin) if origin else None
    return None


def markers_of(tx: Transaction) -> list[Marker]:
    """Every marker among ``tx``'s OP_RETURN outputs. Raises nothing."""
    found = []
    for out in tx.vout:
        data = op_return_data(bytes(out.script_pubkey.data))
        if data is not None and (marker := decode(data)) is not None:
            found.append(marker)
    return found


__all__ = ["Kind", "MAGIC", "Marker", "decode", "markers_of", "spends_custody"]
