"""A deposit's proof as an EVM destination's ``LitecoinDepositVerifier`` takes it (one of
``MessageLayer.deliverBatch``'s ``proofs``): the block height the committee accepted the header at
(8 bytes, big-endian; a Litecoin header does not carry its height) followed by the family's own proof,
version 1, unchanged (:class:`relayer_litecoin.source.ParsedProof`: header, transaction index, sha256d
branch, transaction without witness). ``LitecoinSource.prove`` gives these bytes as ``Proof.data``."""

from __future__ import annotations

from relayer.errors import ProofError
from relayer_litecoin.acks import Funding, ReleaseProof
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


def release_proof(block: Block, height: int, index: int, funding_block: Block, funding_height: int) -> bytes:
    """The verifier's release proof (version 2, :mod:`relayer_litecoin.acks`) of transaction ``index`` of
    ``block`` (at ``height``), whose input 0 spends a transaction of ``funding_block`` (at
    ``funding_height``). Raises ProofError for an index the block lacks, a funding transaction
    ``funding_block`` lacks or a height out of range."""
    if not 0 <= index < len(block.txs):
        raise ProofError(f"no transaction {index} in a block of {len(block.txs)}")
    tx = block.txs[index]
    prev = bytes(tx.vin[0].txid)[::-1]
    txids, funding_txids = block.txids(), funding_block.txids()
    if prev not in funding_txids:
        raise ProofError("the funding block does not hold the transaction input 0 spends")
    at = funding_txids.index(prev)
    funding = ParsedProof(funding_block.header, at, tuple(merkle_branch(funding_txids, at)),
                          stripped(funding_block.txs[at]))
    release = ParsedProof(block.header, index, tuple(merkle_branch(txids, index)), stripped(tx))
    return ReleaseProof(height, release, Funding(funding_height, funding)).encode()


__all__ = ["HEIGHT_BYTES", "deposit_proof", "evm_proof", "release_proof"]
