"""A deposit's proof as an EVM destination's ``LitecoinDepositVerifier`` takes it (one of
``MessageLayer.deliverBatch``'s ``proofs``): the block height the committee accepted the header at
(8 bytes, big-endian; a Litecoin header does not carry its height) followed by the family's own proof,
version 1, unchanged (:class:`relayer_litecoin.source.ParsedProof`: header, transaction index, sha256d
branch, transaction without witness). ``LitecoinSource.prove`` gives these bytes as ``Proof.data``."""

from __future__ import annotations

from relayer.errors import ProofError
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.merkle import merkle_branch
from relayer_litecoin.source import HEIGHT_BYTES, ParsedProof, with_height


def evm_proof(height: int, proof_data: bytes) -> bytes:
    """The verifier's proof of the family proof ``proof_data`` (version 1) in the block at ``height``.
    Raises ProofError for a height whose nonce would not fit 64 bits or data that is no proof."""
    return with_height(height, proof_data)


def deposit_proof(block: Block, height: int, index: int) -> bytes:
    """The verifier's proof of transaction ``index`` of ``block`` (at ``height``). Raises ProofError for an
    index the block lacks or a height out of range."""
    if not 0 <= index < len(block.txs):
        raise ProofError(f"no transaction {index} in a block of {len(block.txs)}")
    data = ParsedProof(block.header, index, tuple(merkle_branch(block.txids(), index)), stripped(block.txs[index]))
    return evm_proof(height, data.encode())


__all__ = ["HEIGHT_BYTES", "deposit_proof", "evm_proof"]
