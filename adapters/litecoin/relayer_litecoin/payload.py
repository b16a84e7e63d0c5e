"""The deposit's OP_RETURN payload: where a deposit goes (compact, versioned; at most 44 bytes of the 80
an OP_RETURN may carry under Litecoin Core's standardness rules).

Layout, version 1::

    magic    2 bytes  b"rl"
    version  1 byte   0x01
    chain    8 bytes  the destination chain id, big-endian
    length   1 byte   n, 1..32
    recipient n bytes the recipient on the destination (20 bytes for an EVM address), as written

Anything else (another magic: not a relayer deposit; another version, length or size) is refused by
:func:`decode` with a reason, so a malformed deposit can be reported and kept in custody."""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"rl"
VERSION = 1
MAX_RECIPIENT = 32


class PayloadError(ValueError):
    """The OP_RETURN is a relayer payload that cannot be read (``str()`` says why)."""


@dataclass(frozen=True)
class DepositPayload:
    """Where a deposit goes: the destination chain's id and the recipient's bytes there."""

    dst_chain_id: int
    recipient: bytes

    def encode(self) -> bytes:
        """The payload's bytes. Raises PayloadError for a chain id or recipient out of range."""
        if not 0 <= self.dst_chain_id < 1 << 64:
            raise PayloadError(f"destination chain id {self.dst_chain_id} does not fit 8 bytes")
        if not 1 <= len(self.recipient) <= MAX_RECIPIENT:
            raise PayloadError(f"recipient of {len(self.recipient)} bytes; 1..{MAX_RECIPIENT} allowed")
        return MAGIC + struct.pack(">BQB", VERSION, self.dst_chain_id, len(self.recipient)) + self.recipient


def is_relayer_payload(data: bytes) -> bool:
    """Whether ``data`` claims to be a relayer deposit payload (starts with the magic)."""
    return data.startswith(MAGIC)


def decode(data: bytes) -> DepositPayload:
    """The payload in ``data``. Raises PayloadError naming what is wrong."""
    if not is_relayer_payload(data):
        raise PayloadError("no relayer payload (magic 'rl' missing)")
    if len(data) < 12:
        raise PayloadError(f"payload of {len(data)} bytes is too short")
    version, chain, length = struct.unpack(">BQB", data[2:12])
    if version != VERSION:
        raise PayloadError(f"payload version {version} is not {VERSION}")
    if not 1 <= length <= MAX_RECIPIENT or len(data) != 12 + length:
        raise PayloadError(f"recipient length {length} does not match the payload's {len(data) - 12} bytes")
    return DepositPayload(chain, data[12:])


__all__ = ["MAGIC", "VERSION", "DepositPayload", "PayloadError", "decode", "is_relayer_payload"]
