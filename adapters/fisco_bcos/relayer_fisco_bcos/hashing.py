"""The two hash functions of FISCO BCOS 3.x chains: keccak256 (``ecdsa-secp256k1+keccak256``
chains) and SM3 (national-crypto chains, ``sm2+sm3``).

keccak256 is pycryptodome's; SM3 is OpenSSL's through ``hashlib.new("sm3")`` (checked against the
GB/T 32905 digests in the tests), so neither is a hand-made implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import Enum

from Crypto.Hash import keccak

Hasher = Callable[[bytes], bytes]


class Crypto(str, Enum):
    """A chain's crypto suite (``crypto`` in the light client's options): hash and signature."""

    SECP256K1 = "secp256k1"  # keccak256 hashes, secp256k1 signatures (65 bytes r||s||v)
    SM = "sm"  # SM3 hashes, SM2 signatures (user id 1234567812345678)

    @classmethod
    def parse(cls, text: str) -> Crypto:
        """The suite named ``text`` (also the vectors' spellings ``ecdsa-secp256k1+keccak256``,
        ``sm2+sm3``). Raises ValueError naming the choices."""
        spelled = text.strip().lower()
        if spelled in ("secp256k1", "ecdsa", "ecdsa-secp256k1+keccak256", "keccak256"):
            return cls.SECP256K1
        if spelled in ("sm", "sm2", "sm3", "sm2+sm3", "gm"):
            return cls.SM
        raise ValueError(f"unknown crypto {text!r} (secp256k1 or sm)")

    @property
    def hasher(self) -> Hasher:
        return keccak256 if self is Crypto.SECP256K1 else sm3


def keccak256(data: bytes) -> bytes:
    """keccak256 (the pre-standard Keccak Ethereum and FISCO BCOS use) of ``data``."""
    return keccak.new(digest_bits=256, data=data).digest()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data`` through OpenSSL. Raises ValueError when the OpenSSL Python is
    linked against offers no SM3."""
    return hashlib.new("sm3", data).digest()


__all__ = ["Crypto", "Hasher", "keccak256", "sm3"]
