"""The chain's hash function, chosen in its chain config (``crypto.hash``): SHA256, SHA3_256 or SM3.

SM3 comes from ``hashlib.new("sm3")`` (OpenSSL); where OpenSSL lacks it, choosing SM3 is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

HASH_TYPES = ("SHA256", "SHA3_256", "SM3")


def hasher(hash_type: str) -> Callable[[bytes], bytes]:
    """The digest function named ``hash_type`` (any case). Raises ValueError for a name not in
    HASH_TYPES or SM3 on a Python whose OpenSSL has no SM3."""
    name = hash_type.upper().replace("-", "_")
    if name == "SHA256":
        return lambda data: hashlib.sha256(data).digest()
    if name == "SHA3_256":
        return lambda data: hashlib.sha3_256(data).digest()
    if name == "SM3":
        try:
            hashlib.new("sm3")
        except ValueError as exc:
            raise ValueError("SM3 is not available from this Python's OpenSSL") from exc
        return lambda data: hashlib.new("sm3", data).digest()
    raise ValueError(f"hash type {hash_type!r} is not one of {', '.join(HASH_TYPES)}")


__all__ = ["HASH_TYPES", "hasher"]
