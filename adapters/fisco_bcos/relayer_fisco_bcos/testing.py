"""Generated FISCO BCOS 3.x chains for tests and tools: sealer keys of our own and headers built,
hashed and signed with the real codec (``header``, ``signatures``' formats), including sealer-set
changes, which no recorded chain shows. Nothing here is used by the light client itself."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from coincurve import PrivateKey

from relayer_fisco_bcos import sm2
from relayer_fisco_bcos.hashing import Crypto
from relayer_fisco_bcos.header import BlockHeader, ParentInfo, SealerSignature, header_hash, header_json


@dataclass(frozen=True)
class Sealer:
    """A generated consensus node: its private key and node id (64-byte public key x||y)."""

    private_key: bytes
    node_id: bytes

    @classmethod
    def generate(cls, crypto: Crypto) -> Sealer:
        if crypto is Crypto.SM:
            private_key, public_key = sm2.generate_key()
            return cls(private_key, public_key)
        key = PrivateKey(secrets.token_bytes(32))
        return cls(key.secret, key.public_key.format(compressed=False)[1:])

    def sign(self, crypto: Crypto, digest: bytes) -> bytes:
        """This node's seal over a header hash: r||s||v (secp256k1) or r||s (SM2)."""
        if crypto is Crypto.SM:
            return sm2.sign(self.private_key, self.node_id, digest)
        return PrivateKey(self.private_key).sign_recoverable(digest, hasher=None)


def genesis(sealers: Sequence[Sealer], weights: Sequence[int] | None = None, crypto: Crypto = Crypto.SECP256K1,
            number: int = 0) -> BlockHeader:
    """An unsigned header at ``number`` listing ``sealers`` (the checkpoint a test trusts)."""
    header = BlockHeader(
        version=0x03020000, parents=(), txs_root=bytes(32), receipts_root=bytes(32), state_root=bytes(32),
        number=number, gas_used="0", timestamp=1_700_000_000_000 + number * 1000, sealer=0,
        sealer_list=tuple(s.node_id for s in sealers), extra_data=b"",
        consensus_weights=tuple(weights or [1] * len(sealers)))
    return replace(header, claimed_hash=header_hash(header, crypto.hasher))


def child(parent: BlockHeader, sealers: Sequence[Sealer], signers: Sequence[Sealer] | None = None, *,
          crypto: Crypto = Crypto.SECP256K1, weights: Sequence[int] | None = None,
          receipts_root: bytes | None = None, txs_root: bytes | None = None, salt: bytes = b"") -> BlockHeader:
    """The next header after ``parent``, listing ``sealers`` (a set change when they differ from the
    parent's), signed by ``signers`` (default: all of ``sealers``); ``salt`` goes into extraData (two
    different headers at one height)."""
    assert parent.claimed_hash is not None
    header = BlockHeader(
        version=parent.version, parents=(ParentInfo(parent.number, parent.claimed_hash),),
        txs_root=txs_root or bytes(32), receipts_root=receipts_root or bytes(32),
        state_root=crypto.hasher(parent.state_root), number=parent.number + 1, gas_used="21000",
        timestamp=parent.timestamp + 1000, sealer=0, sealer_list=tuple(s.node_id for s in sealers),
        extra_data=salt, consensus_weights=tuple(weights or [1] * len(sealers)))
    return seal(header, sealers, signers if signers is not None else sealers, crypto)


def seal(header: BlockHeader, sealers: Sequence[Sealer], signers: Sequence[Sealer], crypto: Crypto) -> BlockHeader:
    """``header`` with its hash and the signatures of ``signers`` (each must be among ``sealers``,
    indexed by its place in ``sealerList``)."""
    hash_ = header_hash(header, crypto.hasher)
    index = {s.node_id: i for i, s in enumerate(sealers)}
    signatures = tuple(SealerSignature(index.get(s.node_id, len(sealers)), s.sign(crypto, hash_)) for s in signers)
    return replace(header, signatures=signatures, claimed_hash=hash_)


def as_rpc(header: BlockHeader) -> dict[str, Any]:
    """The header as ``getBlockHeaderByNumber`` returns it."""
    return header_json(header)


__all__ = ["Sealer", "as_rpc", "child", "genesis", "seal"]
