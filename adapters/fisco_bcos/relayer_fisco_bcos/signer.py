"""An SM2 operator key as the contract's ``Signer`` (``KeyType.SM2``), for chains that sign with SM2
(FISCO BCOS and ChainMaker in national-crypto mode).

``sign_digest`` signs a 32-byte digest as the message of an SM2 signature with the standard user id
(``e = SM3(Z_A || digest)``, the way FISCO BCOS signs a block or transaction hash) and returns the
raw 64-byte r||s. ``address`` is the FISCO BCOS account address of the key on an SM chain: the last
20 bytes of SM3 of the 64-byte public key, 0x-hex. The private key never leaves the object (its
``repr`` shows the address only).
"""

from __future__ import annotations

from relayer.contract import KeyType
from relayer_fisco_bcos import sm2
from relayer_fisco_bcos.hashing import sm3


class Sm2Signer:
    """``relayer.contract.Signer`` over an SM2 key pair."""

    key_type = KeyType.SM2

    def __init__(self, private_key: bytes, public_key: bytes) -> None:
        """Raises ValueError when the pair does not belong together."""
        sm2.check_key_pair(private_key, public_key)
        self.__private_key = private_key
        self.public_key = public_key
        self.address = "0x" + sm3(public_key)[12:].hex()

    @classmethod
    def generate(cls) -> Sm2Signer:
        """A signer over a new key pair from GmSSL's random numbers."""
        return cls(*sm2.generate_key())

    def sign_digest(self, digest: bytes) -> bytes:
        """The raw SM2 signature r||s (64 bytes) of a 32-byte digest. Raises ValueError for a digest of
        another size."""
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, not {len(digest)}")
        return sm2.sign(self.__private_key, self.public_key, digest)

    def __repr__(self) -> str:
        return f"Sm2Signer(address={self.address})"


__all__ = ["Sm2Signer"]
