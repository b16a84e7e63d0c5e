"""The operators' Litecoin keys (relayer.contract.Signer) and their keystore.

A keystore is a JSON file holding one secp256k1 secret encrypted with AES-256-GCM under a key derived
from the operator's password by scrypt (N=2**15, r=8, p=1 by default), with the public key in clear so
the custody script can be derived without the password::

    {"version": 1, "family": "litecoin", "public_key": "02...", "kdf": {"name": "scrypt", "salt": HEX,
     "n": 32768, "r": 8, "p": 1}, "cipher": {"name": "aes-256-gcm", "nonce": HEX, "tag": HEX},
     "ciphertext": HEX}

The secret is never logged, returned or put in an exception's text; ``repr`` of a signer shows its
address only."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from Crypto.Cipher import AES
from embit import ec, script

from relayer.contract import KeyType
from relayer_litecoin.network import REGTEST, Network

VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1


class KeystoreError(ValueError):
    """A keystore that cannot be read or opened (``str()`` names the file and why, never the secret)."""


class LitecoinSigner:
    """One operator's Litecoin key. ``address``: its P2WPKH address on ``net``; ``public_key``: the 33
    compressed bytes the custody script is built from."""

    key_type = KeyType.SECP256K1

    def __init__(self, secret: bytes, net: Network) -> None:
        try:
            self._key = ec.PrivateKey(secret)
        except Exception as exc:  # embit's ECError; the secret stays out of the message
            raise ValueError("not a secp256k1 secret key") from exc
        self.public_key: bytes = bytes(self._key.get_public_key().sec())
        self.address: str = str(script.p2wpkh(self._key.get_public_key()).address(net.embit))

    def __repr__(self) -> str:
        return f"LitecoinSigner(address={self.address!r})"

    def sign_digest(self, digest: bytes) -> bytes:
        """A DER-encoded ECDSA signature (low s, as Litecoin's standardness requires) over a 32-byte digest:
        what a witness carries, without the sighash byte. Raises ValueError for a digest of another size."""
        if len(digest) != 32:
            raise ValueError(f"a digest has 32 bytes, got {len(digest)}")
        return bytes(self._key.sign(digest).serialize())

    def verify(self, digest: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (DER) over ``digest`` is this key's. Raises nothing."""
        try:
            return bool(self._key.get_public_key().verify(ec.Signature.parse(signature), digest))
        except Exception:  # noqa: BLE001 - embit raises its own types for malformed DER: not a signature
            return False


def _kdf(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)


def write_keystore(path: Path, secret: bytes, password: bytes, *, n: int = SCRYPT_N) -> bytes:
    """Encrypt ``secret`` under ``password`` into a new file ``path`` (mode 0600; an existing file is not
    replaced) and return the public key. Raises KeystoreError (file exists), ValueError (not a secret)."""
    public = LitecoinSigner(secret, REGTEST).public_key  # the network only names the address
    salt, nonce = os.urandom(16), os.urandom(12)
    cipher = AES.new(_kdf(password, salt, n, SCRYPT_R, SCRYPT_P), AES.MODE_GCM, nonce=nonce)
    ciphertext, tag = cipher.encrypt_and_digest(secret)
    document = {"version": VERSION, "family": "litecoin", "public_key": public.hex(),
                "kdf": {"name": "scrypt", "salt": salt.hex(), "n": n, "r": SCRYPT_R, "p": SCRYPT_P},
                "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex(), "tag": tag.hex()},
                "ciphertext": ciphertext.hex()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeystoreError(f"{path}: exists; not replaced") from exc
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=1)
    return public


def read_public_key(path: Path) -> bytes:
    """The public key a keystore holds in clear. Raises KeystoreError."""
    return bytes.fromhex(_document(path)["public_key"])


def load_signer(path: Path, password: bytes, net: Network) -> LitecoinSigner:
    """The signer of the keystore at ``path``. Raises KeystoreError (unreadable, wrong password, or a key
    that is not the public key written beside it)."""
    doc = _document(path)
    try:
        kdf, cipher = doc["kdf"], doc["cipher"]
        key = _kdf(password, bytes.fromhex(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        aes = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(cipher["nonce"]))
        secret = aes.decrypt_and_verify(bytes.fromhex(doc["ciphertext"]), bytes.fromhex(cipher["tag"]))
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"{path}: not a Litecoin keystore (missing {exc})") from exc
    except ValueError as exc:
        raise KeystoreError(f"{path}: wrong password or damaged keystore") from exc
    signer = LitecoinSigner(secret, net)
    if signer.public_key.hex() != doc["public_key"]:
        raise KeystoreError(f"{path}: the key is not the public key written beside it")
    return signer


def _document(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"{path}: cannot read a keystore: {type(exc).__name__}") from exc
    if not isinstance(doc, dict) or doc.get("version") != VERSION or doc.get("family") != "litecoin":
        raise KeystoreError(f"{path}: not a version {VERSION} Litecoin keystore")
    return doc

__all__ = ["KeystoreError", "LitecoinSigner", "load_signer", "read_public_key", "write_keystore"]
