"""A block's hash and its proposer's signature.

Block hash: H(proto3 ``BlockHeader`` with ``block_hash`` and ``signature`` cleared), H the chain's
hash. The proposer (``header.proposer``, a consensus node's certificate) signs the 32-byte block
hash (ECDSA over H(block hash)).
"""

from __future__ import annotations

from collections.abc import Callable

from relayer.errors import VerificationError
from relayer_chainmaker import messages
from relayer_chainmaker.certs import TrustRoots, check_member, member_certificate, verify_signature
from relayer_chainmaker.proto import Msg, encode

Digest = Callable[[bytes], bytes]


def block_hash(header: Msg, digest: Digest) -> bytes:
    """The hash of ``header`` by the chain's rule."""
    return digest(encode(messages.BLOCK_HEADER, header | {"block_hash": b"", "signature": b""}))


def check_block_hash(header: Msg, digest: Digest) -> bytes:
    """The recomputed hash; raises VerificationError when ``block_hash`` is not it."""
    computed = block_hash(header, digest)
    if header["block_hash"] != computed:
        raise VerificationError(f"block_hash is not the hash of the header (computed {computed.hex()})")
    return computed


def check_proposer(header: Msg, digest: Digest, roots: TrustRoots) -> str | None:
    """Check the proposer's certificate and its signature of the block hash; returns a warning when
    its org's CA is not configured. Raises VerificationError."""
    proposer = header["proposer"]
    if proposer is None:
        raise VerificationError("the header names no proposer")
    cert = member_certificate(proposer, "proposer")
    warning = check_member(cert, proposer["org_id"], header["block_timestamp"], roots, "proposer")
    verify_signature(cert, header["signature"], header["block_hash"], digest, "proposer")
    return warning


__all__ = ["Digest", "block_hash", "check_block_hash", "check_proposer"]
