"""SM2 signatures (GB/T 32918) the way FISCO BCOS and ChainMaker use them: the signer's ``Z_A``
with the standard user id ``1234567812345678``, ``e = SM3(Z_A || message)``, a raw ``r || s``
signature of 64 bytes.

The curve arithmetic is GmSSL's (``gmssl-pyx``, a C extension wrapping GmSSL 3.x, which signs with
the operating system's random numbers); this module computes ``Z_A`` and ``e`` itself (with
OpenSSL's SM3, checked against the standard's worked example) and converts between the raw form and
the DER form GmSSL takes.
"""

from __future__ import annotations

from typing import cast

import gmssl_pyx
from Crypto.Util.asn1 import DerSequence

from relayer_fisco_bcos.hashing import sm3

DEFAULT_USER_ID = b"1234567812345678"
#: sm2p256v1 (GB/T 32918.5): a, b, G and the order n
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def za(public_key: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """``Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` of a 64-byte public key x||y.
    Raises ValueError for a key of another size or a user id longer than 8191 bytes."""
    if len(public_key) != 64:
        raise ValueError(f"an SM2 public key is 64 bytes (x||y), not {len(public_key)}")
    if len(user_id) * 8 > 0xFFFF:
        raise ValueError("SM2 user id too long")
    curve = b"".join(value.to_bytes(32, "big") for value in (A, B, GX, GY))
    return sm3((len(user_id) * 8).to_bytes(2, "big") + user_id + curve + public_key)


def message_digest(public_key: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """``e = SM3(Z_A || message)``, what an SM2 signature signs. Raises ValueError like ``za``."""
    return sm3(za(public_key, user_id) + message)


def generate_key() -> tuple[bytes, bytes]:
    """A new key pair (32-byte private key, 64-byte public key x||y) from GmSSL's random numbers."""
    public_key, private_key = gmssl_pyx.sm2_key_generate()
    return bytes(private_key), bytes(public_key)


def check_key_pair(private_key: bytes, public_key: bytes) -> None:
    """Raise ValueError unless ``public_key`` belongs to ``private_key`` (gmssl-pyx computes no
    public key from a private one, so a key is kept as a pair and the pair is checked by a
    signature over a random message)."""
    if len(private_key) != 32 or not 0 < int.from_bytes(private_key, "big") < N - 1:
        raise ValueError("an SM2 private key is 32 bytes in [1, n-2]")
    probe = bytes(gmssl_pyx.rand_bytes(32))
    if not verify(public_key, probe, sign(private_key, public_key, probe)):
        raise ValueError("the SM2 public key does not belong to the private key")


def sign(private_key: bytes, public_key: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """The raw 64-byte SM2 signature r||s of ``message`` (``e`` with ``Z_A`` of ``user_id``), with a
    fresh random k from GmSSL. Raises ValueError for a bad key."""
    der = gmssl_pyx.sm2_sign_sm3_digest(private_key, message_digest(public_key, message, user_id))
    sequence = DerSequence()
    sequence.decode(bytes(der))
    r = cast(int, sequence[0])
    s = cast(int, sequence[1])  # DER INTEGERs decode to int
    return bytes(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify(public_key: bytes, message: bytes, signature: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
    """Whether the raw signature r||s (64 bytes) is ``public_key``'s over ``message``. Returns False
    for a signature or key of the wrong size or out of range; raises nothing."""
    if len(signature) != 64 or len(public_key) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    der = DerSequence([r, s]).encode()
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(public_key, message_digest(public_key, message, user_id), der))
    except Exception:  # noqa: BLE001 - GmSSL raises its own error types for a point off the curve
        return False


__all__ = ["DEFAULT_USER_ID", "N", "check_key_pair", "generate_key", "message_digest", "sign", "verify", "za"]
