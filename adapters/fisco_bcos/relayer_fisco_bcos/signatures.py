"""Sealer signatures of a FISCO BCOS 3.x header: each ``signatureList`` entry signs the raw 32-byte
header hash; ``sealerIndex`` points into the header's ``sealerList``.

* secp256k1 chains: 65 bytes r||s||v (v 0 or 1); the public key recovered from it (coincurve,
  libsecp256k1) must equal the sealer's node id (64 bytes x||y).
* SM chains: SM2 with the standard user id over the hash as the message; r||s (64 bytes), or
  r||s||public key (128 bytes, as FISCO BCOS 3.x writes it), whose key part must then be the
  sealer's node id.
"""

from __future__ import annotations

from coincurve import PublicKey

from relayer_fisco_bcos import sm2
from relayer_fisco_bcos.hashing import Crypto


class SignatureError(ValueError):
    """A signature that is not the sealer's over the hash (the message says why)."""


def recover_secp256k1(digest: bytes, signature: bytes) -> bytes:
    """The 64-byte public key (x||y) that made the 65-byte r||s||v ``signature`` over ``digest``.
    Raises SignatureError for a malformed signature or one nothing recovers from."""
    if len(signature) != 65:
        raise SignatureError(f"a secp256k1 signature is 65 bytes (r||s||v), not {len(signature)}")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise SignatureError(f"recovery id v={signature[64]} is not 0 or 1")
    try:
        key = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except Exception as exc:  # noqa: BLE001 - coincurve raises ValueError or its own errors for bad r/s
        raise SignatureError(f"no public key recovers from it ({exc})") from exc
    return key.format(compressed=False)[1:]


def check_signature(crypto: Crypto, node_id: bytes, digest: bytes, signature: bytes) -> None:
    """Return when ``signature`` is sealer ``node_id``'s over ``digest`` on a chain of ``crypto``.
    Raises SignatureError saying why not."""
    if crypto is Crypto.SECP256K1:
        recovered = recover_secp256k1(digest, signature)
        if recovered != node_id:
            raise SignatureError(f"it recovers to 0x{recovered.hex()[:16]}..., not the sealer's node id")
        return
    if len(signature) == 128:
        if signature[64:] != node_id:
            raise SignatureError("its public key part is not the sealer's node id")
        signature = signature[:64]
    if len(signature) != 64:
        raise SignatureError(f"an SM2 signature is 64 bytes (r||s) or 128 (r||s||key), not {len(signature)}")
    if not sm2.verify(node_id, digest, signature):
        raise SignatureError("the SM2 signature does not verify against the sealer's node id")


__all__ = ["SignatureError", "check_signature", "recover_secp256k1"]
