"""EIP-712 signing for ``CommitteeLightClient``: header and rotation digests, signatures, packing.

The digests match the contract exactly:
domain ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`` with
name ``RelayerCommitteeLightClient``, version ``1``, chainId = the destination chain, verifyingContract =
the light client; ``Header(uint64 sourceChainId,uint256 number,bytes32 blockHash,bytes32 receiptsRoot,uint64 epoch)``
and ``Rotation(uint64 epoch,address[] members,uint8 threshold)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import eth_abi
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import keccak, to_checksum_address

from relayer.contract import KeyType
from relayer.errors import VerificationError

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
HEADER_TYPEHASH = keccak(
    text="Header(uint64 sourceChainId,uint256 number,bytes32 blockHash,bytes32 receiptsRoot,uint64 epoch)")
ROTATION_TYPEHASH = keccak(text="Rotation(uint64 epoch,address[] members,uint8 threshold)")
NAME = "RelayerCommitteeLightClient"
VERSION = "1"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER = SECP256K1_N // 2  # the contract refuses s above this (a malleable duplicate)
SIGNATURE_BYTES = 65


def committee_domain_separator(dest_chain_id: int, light_client_address: str) -> bytes:
    """The EIP-712 domain separator of the light client at ``light_client_address`` on ``dest_chain_id``."""
    return keccak(eth_abi.encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [DOMAIN_TYPEHASH, keccak(text=NAME), keccak(text=VERSION), dest_chain_id,
         to_checksum_address(light_client_address)]))


def header_digest(domain_separator: bytes, source_chain_id: int, number: int, block_hash: bytes,
                  receipts_root: bytes, epoch: int) -> bytes:
    """The 32-byte digest committee members sign to attest a source-chain header."""
    struct_hash = keccak(eth_abi.encode(
        ["bytes32", "uint64", "uint256", "bytes32", "bytes32", "uint64"],
        [HEADER_TYPEHASH, source_chain_id, number, bytes(block_hash), bytes(receipts_root), epoch]))
    return _typed(domain_separator, struct_hash)


def rotation_digest(domain_separator: bytes, new_epoch: int, members: Sequence[str], threshold: int) -> bytes:
    """The digest the current committee signs to install ``members``/``threshold`` as epoch ``new_epoch``."""
    members_hash = keccak(b"".join(bytes(12) + bytes.fromhex(to_checksum_address(m)[2:]) for m in members))
    struct_hash = keccak(eth_abi.encode(["bytes32", "uint64", "bytes32", "uint8"],
                                        [ROTATION_TYPEHASH, new_epoch, members_hash, threshold]))
    return _typed(domain_separator, struct_hash)


def sign_digest(key_hex: str, digest: bytes) -> bytes:
    """65-byte ``r‖s‖v`` signature of ``digest`` with low ``s`` and ``v`` in {27, 28}."""
    if len(digest) != 32:
        raise VerificationError("a digest is 32 bytes", length=len(digest))
    sig = keys.PrivateKey(_key_bytes(key_hex)).sign_msg_hash(bytes(digest))
    r, s, v = int(sig.r), int(sig.s), int(sig.v)
    if s > SECP256K1_N // 2:
        s, v = SECP256K1_N - s, v ^ 1
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])


def canonical_signature(signature: bytes) -> bytes | None:
    """``signature`` (65 bytes ``r‖s‖v``) in the one form ``CommitteeLightClient`` accepts: low ``s``
    and ``v`` in {27, 28}; the same signer over the same digest. A high ``s`` becomes ``n - s`` with
    the recovery bit flipped, ``v`` 0/1 becomes 27/28. None when it cannot be a signature at all
    (wrong length, ``r`` or ``s`` zero or not below the curve order, ``v`` not 0, 1, 27 or 28)."""
    if len(signature) != SIGNATURE_BYTES:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N) or v not in (0, 1, 27, 28):
        return None
    parity = v - 27 if v >= 27 else v
    if s > HALF_ORDER:
        s, parity = SECP256K1_N - s, parity ^ 1
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + parity])


def contract_signer(digest: bytes, signature: bytes) -> str | None:
    """The signer ``CommitteeLightClient`` recovers from ``signature`` over ``digest`` (checksummed),
    or None where the contract reverts ``InvalidSignature`` (high ``s``, ``v`` not 27/28, no signer)."""
    if len(signature) != SIGNATURE_BYTES or canonical_signature(signature) != bytes(signature):
        return None
    try:
        sig = keys.Signature(signature_bytes=bytes(signature[:64]) + bytes([signature[64] - 27]))
        return sig.recover_public_key_from_msg_hash(bytes(digest)).to_checksum_address()
    except (BadSignature, ValidationError, ValueError):
        return None


def signer_address(key_hex: str) -> str:
    """Checksummed address of a private key."""
    return keys.PrivateKey(_key_bytes(key_hex)).public_key.to_checksum_address()


def pack_signatures(signed: Iterable[tuple[str, bytes]]) -> bytes:
    """Concatenate ``(signer address, 65-byte signature)`` pairs ascending by address, as the contract
    requires. Raises VerificationError on a duplicate signer or a signature of the wrong size."""
    ordered = sorted(((int(addr, 16), sig) for addr, sig in signed), key=lambda item: item[0])
    out = bytearray()
    previous = -1
    for addr, sig in ordered:
        if addr == previous:
            raise VerificationError("duplicate signer", signer=hex(addr))
        if len(sig) != SIGNATURE_BYTES:
            raise VerificationError("a signature is 65 bytes", length=len(sig))
        out += sig
        previous = addr
    return bytes(out)


def encode_committee_update(number: int, block_hash: bytes, receipts_root: bytes, signatures: bytes) -> bytes:
    """``submitUpdate`` payload: abi.encode(uint256 number, bytes32 blockHash, bytes32 receiptsRoot,
    bytes signatures)."""
    return eth_abi.encode(["uint256", "bytes32", "bytes32", "bytes"],
                          [number, bytes(block_hash), bytes(receipts_root), bytes(signatures)])


def _typed(domain_separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + bytes(domain_separator) + struct_hash)


def _key_bytes(key_hex: str) -> bytes:
    text = key_hex[2:] if key_hex.startswith("0x") else key_hex
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise VerificationError("private key is not hex") from exc
    if len(key) != 32:
        raise VerificationError("a private key is 32 bytes", length=len(key))
    return key


class KeySigner:
    """An operator's secp256k1 key as the contract's ``Signer``: low-s ``r‖s‖v`` signatures, v 27/28.
    Never logs or returns the key."""

    key_type = KeyType.SECP256K1

    def __init__(self, key_hex: str) -> None:
        self._key_hex = key_hex
        self.address = signer_address(key_hex)

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte signature of a 32-byte digest. Raises ValueError for another size (the contract's
        Signer: a caller's mistake, not a lie of a chain)."""
        if len(digest) != 32:
            raise ValueError(f"a digest is 32 bytes, got {len(digest)}")
        return sign_digest(self._key_hex, digest)

    def __repr__(self) -> str:
        return f"KeySigner({self.address})"
