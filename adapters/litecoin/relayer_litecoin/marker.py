"""The OP_RETURN a custody spend carries: what it is for, so that it is made once only.

Layout, version 1 (36 bytes; a deposit's payload starts ``"rl"``, a custody spend's ``"rr"``)::

    magic    2 bytes  b"rr"
    version  1 byte   0x01
    kind     1 byte   0x01 a release (the id is the message id of the burn on the EVM side)
                      0x02 a return (the id is the txid, display order, of a refused deposit)
    id       32 bytes

Before a custody spend is built, the chain and the mempool are searched for one carrying the same
marker; the operators sign only one set of inputs per marker (see :mod:`relayer_litecoin.journal`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from embit.transaction import Transaction

from relayer_litecoin.deposits import op_return_data, spends_custody

MAGIC = b"rr"
VERSION = 1
SIZE = 36
OP_RETURN = 0x6A


class Kind(IntEnum):
    """What a custody spend is for."""

    RELEASE = 1
    RETURN = 2


@dataclass(frozen=True)
class Marker:
    """A custody spend's purpose: ``kind`` and the 32-byte ``id`` it is for."""

    kind: Kind
    id: bytes

    def __post_init__(self) -> None:
        if len(self.id) != 32:
            raise ValueError(f"a marker's id has 32 bytes, got {len(self.id)}")

    def encode(self) -> bytes:
        """The 36 bytes of the OP_RETURN's push."""
        return MAGIC + bytes([VERSION, self.kind]) + self.id

    def script(self) -> bytes:
        """The OP_RETURN output script carrying it."""
        return bytes([OP_RETURN, SIZE]) + self.encode()

    def __str__(self) -> str:
        return f"{self.kind.name.lower()}:0x{self.id.hex()}"


def decode(data: bytes) -> Marker | None:
    """The marker in an OP_RETURN's data; None when the data is not one (another magic, version, kind or
    size). Raises nothing."""
    if len(data) != SIZE or not data.startswith(MAGIC) or data[2] != VERSION or data[3] not in (1, 2):
        return None
    return Marker(Kind(data[3]), data[4:])


def markers_of(tx: Transaction) -> list[Marker]:
    """Every marker among ``tx``'s OP_RETURN outputs. Raises nothing."""
    found = []
    for out in tx.vout:
        data = op_return_data(bytes(out.script_pubkey.data))
        if data is not None and (marker := decode(data)) is not None:
            found.append(marker)
    return found


__all__ = ["Kind", "MAGIC", "Marker", "decode", "markers_of", "spends_custody"]
