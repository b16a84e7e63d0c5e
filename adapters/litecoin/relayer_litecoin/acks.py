"""A release proven back to the chain its burn came from, as the burn's acknowledgement.

A release is a custody spend (input 0 spends an output paying the custody's P2WSH script: only M of the
operators can sign it) carrying a version 2 release marker (:mod:`relayer_litecoin.marker`: the burn's
message id and origin chain). Its envelope (what ``LitecoinDepositVerifier``'s release proof gives):

* ``nonce``: ``height << 20 | index`` (the deposits' nonce space: a transaction is a deposit or a release);
* ``id``: as a deposit's (:func:`relayer_litecoin.source.deposit_id`);
* ``body``: ``abi.encode(bytes32 message id, uint8 1 (delivered), bytes abi.encode(bytes32 txid (display
  order), uint64 litoshis paid to output 0))``, the acknowledgement body the layer hands to ``handleAck``;
* ``acknowledges``: the burn's message id; ``locator``: the index (4 bytes, big-endian).

Proof (``Proof.data``), version 2: ``height (8) || 0x02 || header (80) || index (4) || n (1) || n siblings
|| release length (4) || release without witness || funding height (8) || funding header (80) || funding
index (4) || m (1) || m siblings || funding transaction without witness``: the funding transaction is the
one whose output the release's input 0 spends; its block is found with the node's transaction index
(litecoind ``-txindex=1``, required: :func:`require_txindex`)."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import eth_abi
from embit.transaction import Transaction

from relayer.errors import FatalError, ProofError, RpcAnswerError
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.header import HEADER_SIZE, Header, sha256d
from relayer_litecoin.marker import Kind, Marker, markers_of
from relayer_litecoin.merkle import merkle_branch, root_from_branch
from relayer_litecoin.proofs import HEIGHT_BYTES, INDEX_BITS, ParsedProof
from relayer_litecoin.rpc import LitecoinRpc

PROOF_VERSION = 2
DELIVERED = 1
TXINDEX_HINT = "run litecoind with -txindex=1 (a release's acknowledgement proves the transaction it spends)"


@dataclass(frozen=True)
class Release:
    """A release in a block: its index, transaction, marker (version 2) and output 0's value."""

    index: int
    tx: Transaction
    marker: Marker
    paid: int

    @property
    def funding(self) -> tuple[bytes, int]:
        """Input 0's prevout: (txid in internal order, vout)."""
        vin = self.tx.vin[0]
        return bytes(vin.txid)[::-1], int(vin.vout)


def release_in(tx: Transaction, index: int, witness_script: bytes | None) -> Release | None:
    """``tx`` as a release: exactly one marker, a version 2 release marker, and (with ``witness_script``, for a
    transaction with its witness) input 0 signed with the custody's witness script; None otherwise. Without
    the witness (a proof's transaction) input 0 is a custody spend when its prevout pays the custody
    (:func:`check_funding`). Raises nothing."""
    if not tx.vin or not tx.vout:
        return None
    items = tx.vin[0].witness.items
    if witness_script is not None and (not items or bytes(items[-1]) != witness_script):
        return None
    markers = markers_of(tx)
    if len(markers) != 1 or markers[0].kind is not Kind.RELEASE or markers[0].origin is None:
        return None
    return Release(index, tx, markers[0], int(tx.vout[0].value))


def releases(block: Block, witness_script: bytes) -> list[Release]:
    """The releases of ``block`` (block order). Raises nothing."""
    found = (release_in(tx, i, witness_script) for i, tx in enumerate(block.txs))
    return [r for r in found if r is not None]


def ack_body(release: Release) -> bytes:
    """The acknowledgement body of ``release`` (see the module's docstring)."""
    result = eth_abi.encode(["bytes32", "uint64"], [bytes(release.tx.txid()), release.paid])
    return eth_abi.encode(["bytes32", "uint8", "bytes"], [release.marker.id, DELIVERED, result])


@dataclass(frozen=True)
class Funding:
    """The transaction a release's input 0 spends: the height of its block and its family proof there."""

    height: int
    proof: ParsedProof


@dataclass(frozen=True)
class FundedBlock(Block):
    """A block with the funding transaction of each of its releases (by txid, internal order)."""

    fundings: Mapping[bytes, Funding] = field(default_factory=dict, compare=False)


async def require_txindex(rpc: LitecoinRpc, chain: str) -> None:
    """Refuse a node without a synced transaction index (``getindexinfo``). Raises FatalError (no index),
    RpcError. Cancelled: no effect."""
    info = await rpc.call("getindexinfo", "txindex")
    if not isinstance(info, dict) or "txindex" not in info:
        raise FatalError(f"the Litecoin node keeps no transaction index: {TXINDEX_HINT}", chain=chain)


async def funding(rpc: LitecoinRpc, chain: str, txid: bytes) -> Funding:
    """The block and family proof of transaction ``txid`` (internal order) from the node's transaction index.
    Raises FatalError (the node has no transaction index), RpcError, RpcAnswerError (answers that do not
    hold together). Cancelled: no effect."""
    display = txid[::-1].hex()
    info = await rpc.call("getrawtransaction", display, True)
    block_hash = info.get("blockhash") if isinstance(info, dict) else None
    if not isinstance(block_hash, str):
        raise FatalError(f"the node names no block of transaction {display}: {TXINDEX_HINT}", chain=chain)
    raw = await rpc.call("getblock", block_hash, 0)
    head = await rpc.call("getblockheader", block_hash, True)
    try:
        block = Block.parse(bytes.fromhex(raw))
        height = int(head["height"])
        txids = block.txids()
        index = txids.index(txid)
    except (TypeError, ValueError, KeyError) as exc:
        raise RpcAnswerError(f"the block of transaction {display} does not hold it: {exc}", chain=chain) from exc
    proof = ParsedProof(block.header, index, tuple(merkle_branch(txids, index)), stripped(block.txs[index]))
    return Funding(height, proof)


@dataclass(frozen=True)
class ReleaseProof:
    """A version 2 proof's parts (see the module's docstring)."""

    VERSION: ClassVar[int] = PROOF_VERSION
    height: int
    release: ParsedProof
    funding: Funding

    def encode(self) -> bytes:
        """``Proof.data``: the height first. Raises ProofError for a height the nonce cannot hold."""
        if not 0 <= self.height < 1 << (64 - INDEX_BITS):
            raise ProofError(f"block height {self.height} does not fit the nonce's {64 - INDEX_BITS} bits")
        r, f = self.release, self.funding.proof
        return (self.height.to_bytes(HEIGHT_BYTES, "big") + bytes([PROOF_VERSION]) + r.header
                + struct.pack(">IB", r.index, len(r.branch)) + b"".join(r.branch) + struct.pack(">I", len(r.tx))
                + r.tx + self.funding.height.to_bytes(HEIGHT_BYTES, "big") + f.header
                + struct.pack(">IB", f.index, len(f.branch)) + b"".join(f.branch) + f.tx)

    @classmethod
    def decode(cls, data: bytes) -> ReleaseProof:
        """Raises ProofError when ``data`` is not a version 2 proof."""
        if len(data) < HEIGHT_BYTES + 1 + HEADER_SIZE + 5 or data[HEIGHT_BYTES] != PROOF_VERSION:
            raise ProofError("not a version 2 Litecoin proof")
        height = int.from_bytes(data[:HEIGHT_BYTES], "big")
        release, at = _part(data, HEIGHT_BYTES + 1, sized=True)
        if len(data) < at + HEIGHT_BYTES:
            raise ProofError("a version 2 Litecoin proof without its funding transaction")
        funding, _ = _part(data, at + HEIGHT_BYTES, sized=False)
        return cls(height, release, Funding(int.from_bytes(data[at:at + HEIGHT_BYTES], "big"), funding))


def _part(data: bytes, at: int, *, sized: bool) -> tuple[ParsedProof, int]:
    if len(data) < at + HEADER_SIZE + 5:
        raise ProofError("a truncated version 2 Litecoin proof")
    header = data[at:at + HEADER_SIZE]
    index, count = struct.unpack(">IB", data[at + HEADER_SIZE:at + HEADER_SIZE + 5])
    start = at + HEADER_SIZE + 5
    branch = tuple(data[start + 32 * i:start + 32 * (i + 1)] for i in range(count))
    start += 32 * count
    end = len(data)
    if sized:
        if len(data) < start + 4:
            raise ProofError("a truncated version 2 Litecoin proof")
        end = start + 4 + int.from_bytes(data[start:start + 4], "big")
        start += 4
    tx = data[start:end]
    if len(data) < end or len(tx) <= 64:  # a 64-byte "transaction" could be an inner merkle node
        raise ProofError("a version 2 Litecoin proof's transaction is truncated or too short")
    return ParsedProof(header, index, branch, tx), end


def check_funding(funding: Funding, release: Release, custody_script: bytes) -> None:
    """The funding part holds together: its branch leads from the transaction to its header's merkle root,
    the transaction is input 0's prevout and that output pays the custody's script (whether the header is
    the chain's is for who trusts a client of Litecoin: the on-chain verifier checks it). Raises ProofError."""
    p = funding.proof
    txid = sha256d(p.tx)
    try:
        root = root_from_branch(txid, list(p.branch), p.index)
    except ValueError as exc:
        raise ProofError(f"the funding branch: {exc}") from exc
    if root[::-1] != Header.parse(p.header).merkle_root:
        raise ProofError("the funding branch does not lead to its header's merkle root")
    prev, vout = release.funding
    if prev != txid:
        raise ProofError("the release's input 0 does not spend the proven funding transaction")
    try:
        outputs = Transaction.parse(p.tx).vout
    except Exception as exc:  # embit raises its own types for malformed bytes
        raise ProofError("the funding transaction does not parse") from exc
    if vout >= len(outputs) or bytes(outputs[vout].script_pubkey.data) != custody_script:
        raise ProofError("the output the release spends does not pay the custody")


__all__ = ["DELIVERED", "PROOF_VERSION", "TXINDEX_HINT", "FundedBlock", "Funding", "Release", "ReleaseProof",
           "ack_body", "check_funding", "funding", "release_in", "releases", "require_txindex"]
