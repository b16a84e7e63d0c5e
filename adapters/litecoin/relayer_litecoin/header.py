"""Litecoin's 80-byte block header: its sha256d id, its scrypt proof-of-work hash, the target in
nBits and the work a header represents.

Hashes are kept as the RPC prints them (big-endian, ``display`` order); the 80 bytes on the wire hold
them reversed. Nothing here trusts a node: every value is computed from the 80 bytes."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property

HEADER_SIZE = 80


def sha256d(data: bytes) -> bytes:
    """SHA-256 of SHA-256 (internal byte order)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def scrypt_pow(raw: bytes) -> bytes:
    """Litecoin's proof-of-work hash of a serialized header: scrypt(N=1024, r=1, p=1, 32 bytes) with
    the header as both password and salt (internal byte order)."""
    return hashlib.scrypt(raw, salt=raw, n=1024, r=1, p=1, dklen=32)


def bits_to_target(bits: int) -> int:
    """The target a compact nBits encodes. Raises ValueError for a negative or overflowing one
    (which no valid header carries)."""
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    if bits & 0x00800000 and mantissa:
        raise ValueError(f"negative target in nBits {bits:#010x}")
    target = mantissa >> 8 * (3 - exponent) if exponent <= 3 else mantissa << 8 * (exponent - 3)
    if target >= 1 << 256:
        raise ValueError(f"target of nBits {bits:#010x} overflows 256 bits")
    return target


def target_to_bits(target: int) -> int:
    """The compact nBits of ``target`` (``arith_uint256::GetCompact``: rounds down to 3 bytes)."""
    size = (target.bit_length() + 7) // 8
    mantissa = target << 8 * (3 - size) if size <= 3 else target >> 8 * (size - 3)
    if mantissa & 0x00800000:
        mantissa >>= 8
        size += 1
    return size << 24 | mantissa


def work_of(bits: int) -> int:
    """The expected number of hashes for a header of ``bits`` (``GetBlockProof``): 2**256 / (target+1)."""
    target = bits_to_target(bits)
    return (1 << 256) // (target + 1) if target else 0


@dataclass(frozen=True)
class Header:
    """One block header. ``prev_hash`` and ``merkle_root`` in display order (as the RPC prints them)."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        """The header of 80 serialized bytes. Raises ValueError for another size."""
        if len(raw) != HEADER_SIZE:
            raise ValueError(f"a Litecoin header has 80 bytes, got {len(raw)}")
        version, prev, merkle, time, bits, nonce = struct.unpack("<i32s32sIII", raw)
        return cls(version, prev[::-1], merkle[::-1], time, bits, nonce)

    def serialize(self) -> bytes:
        """The 80 bytes the hashes are taken over."""
        return struct.pack("<i32s32sIII", self.version, self.prev_hash[::-1], self.merkle_root[::-1],
                           self.time, self.bits, self.nonce)

    @cached_property
    def hash(self) -> bytes:
        """The block id: sha256d of the 80 bytes, display order (computed once per header)."""
        return sha256d(self.serialize())[::-1]

    @cached_property
    def pow_hash(self) -> int:
        """The scrypt proof-of-work hash as the number compared with the target (computed once)."""
        return int.from_bytes(scrypt_pow(self.serialize()), "little")

    @property
    def target(self) -> int:
        """The target in nBits. Raises ValueError for an invalid nBits."""
        return bits_to_target(self.bits)

    @property
    def work(self) -> int:
        """The work this header adds to its chain."""
        return work_of(self.bits)


__all__ = ["HEADER_SIZE", "Header", "bits_to_target", "scrypt_pow", "sha256d", "target_to_bits", "work_of"]
