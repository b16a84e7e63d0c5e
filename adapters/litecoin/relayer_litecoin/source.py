"""Litecoin as the source of messages (relayer.contract.Source): headers and blocks over litecoind's
JSON-RPC, deposits to the custody turned into envelopes, and their proofs; releases from the custody turned
into acknowledgements of their burns, proven with the transaction they spend (:mod:`relayer_litecoin.acks`:
proof version 2; the node needs -txindex=1).

A deposit's envelope:

* ``nonce``: ``height << 20 | index of the transaction in its block`` (unique and increasing on the
  chain; a block holds far fewer than 2**20 transactions; both are known to an on-chain verifier: the
  height from its client of Litecoin, the index from the proof);
* ``id``: the message layer's id (MESSAGING.md: ``keccak256(abi.encode(uint64 sourceChain, bytes32
  sourceLayer, uint64 nonce))``) with the custody's witness program (sha256 of its witness script) as the
  source layer, so a destination keys its replay guard on Litecoin deposits as on any message;
* ``body`` (version 1): ``0x01 || txid (32) || amount in litoshis (8, big-endian) || destination chain id
  (8) || recipient length (1) || recipient``;
* ``locator``: the transaction's index in its block (4 bytes, big-endian).

A proof (``Proof.data``): exactly the bytes an EVM destination's ``LitecoinDepositVerifier`` takes (the
destination passes it through unchanged): the block height (8 bytes, big-endian; a Litecoin header does
not carry its height) followed by the family's proof version 1: ``0x01 || the 80-byte header ||
transaction index (4, big-endian) || branch length n (1) || n sibling hashes (32 each, internal order) ||
the transaction without witness`` (its sha256d is the txid the branch starts from). The destination's
verifier recomputes the txid, the root from the branch and compares it with the merkle root of a header
its client of Litecoin accepted at that height, then reads the custody outputs and the OP_RETURN from the
transaction itself.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import replace

import eth_abi
import structlog
from Crypto.Hash import keccak
from embit.transaction import Transaction

from relayer.contract import BlockContents, CandidateHeader, Proof, ScanHints, VerifiedHeader
from relayer.errors import ProofError, RpcAnswerError, VerificationError
from relayer.types import Envelope, MessageId
from relayer_litecoin.acks import (
    TXINDEX_HINT,
    FundedBlock,
    Release,
    ReleaseProof,
    ack_body,
    check_funding,
    funding,
    release_in,
    releases,
)
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.client import encode
from relayer_litecoin.custody import Custody
from relayer_litecoin.deposits import Deposit, scan
from relayer_litecoin.header import HEADER_SIZE, Header, sha256d
from relayer_litecoin.merkle import merkle_branch, merkle_root, root_from_branch
from relayer_litecoin.proofs import HEIGHT_BYTES, INDEX_BITS, ParsedProof
from relayer_litecoin.rpc import LitecoinRpc

log = structlog.get_logger("relayer_litecoin")

BODY_VERSION = 1
#: what an operator does about a refused deposit (the ``action`` of ``deposit.refused``)
RETURN_HINT = ("the coins stay in custody; to return them: relayer litecoin return --config FILE --chain NAME "
               "--deposit {tx} --block {block} --to ADDRESS")


def deposit_nonce(height: int, index: int) -> int:
    """The nonce of the deposit at transaction ``index`` of block ``height``."""
    return height << INDEX_BITS | index


def deposit_id(src_chain_id: int, custody_program: bytes, nonce: int) -> MessageId:
    """The message id of deposit ``nonce`` to the custody whose witness program is ``custody_program``
    on chain ``src_chain_id``: keccak256 of the ABI encoding of (uint64, bytes32, uint64)."""
    words = eth_abi.encode(["uint64", "bytes32", "uint64"], [src_chain_id, custody_program.rjust(32, b"\0"), nonce])
    return MessageId("0x" + keccak.new(digest_bits=256, data=words).hexdigest())


def deposit_body(deposit: Deposit) -> bytes:
    """The envelope body of ``deposit`` (see the module's docstring)."""
    p = deposit.payload
    return (bytes([BODY_VERSION]) + deposit.txid + struct.pack(">QQB", deposit.amount, p.dst_chain_id,
                                                               len(p.recipient)) + p.recipient)


def with_height(height: int, data: bytes) -> bytes:
    """``Proof.data`` of the family proof ``data`` (version 1) in the block at ``height``: the height
    (8 bytes, big-endian) then ``data``. Raises ProofError for a height whose nonce would not fit 64 bits
    or data that is no proof."""
    if not 0 <= height < 1 << (64 - INDEX_BITS):
        raise ProofError(f"block height {height} does not fit the nonce's {64 - INDEX_BITS} bits")
    ParsedProof.decode(data)
    return height.to_bytes(HEIGHT_BYTES, "big") + data


def split_height(data: bytes) -> tuple[int, ParsedProof]:
    """The height and family proof of ``Proof.data``. Raises ProofError when it is not of that layout."""
    if len(data) < HEIGHT_BYTES:
        raise ProofError("not a Litecoin proof: no height")
    return int.from_bytes(data[:HEIGHT_BYTES], "big"), ParsedProof.decode(data[HEIGHT_BYTES:])


def verify_proof(data: bytes, commitment: bytes, height: int | None = None) -> bytes:
    """The txid (display order) a proof shows under merkle root ``commitment`` (display order); ``data``
    is ``Proof.data`` (height first) when ``height`` is given, which its height must then be, else the
    family proof alone. Raises ProofError when it does not."""
    if height is None:
        parsed = ParsedProof.decode(data)
    else:
        at, parsed = split_height(data)
        if at != height:
            raise ProofError(f"the proof names block {at}, not {height}")
    header = Header.parse(parsed.header)
    if header.merkle_root != commitment:
        raise ProofError("the proof's header is not the verified one")
    txid = sha256d(parsed.tx)
    try:
        root = root_from_branch(txid, list(parsed.branch), parsed.index)
    except ValueError as exc:
        raise ProofError(str(exc)) from exc
    if root[::-1] != commitment:
        raise ProofError("the merkle branch does not lead to the header's merkle root")
    return txid[::-1]


class LitecoinSource:
    """The Source of one Litecoin chain. ``custody``: the consortium's custody (what deposits pay)."""

    def __init__(self, name: str, chain_id: int, rpc: LitecoinRpc, custody: Custody) -> None:
        self.name, self.chain_id, self.rpc, self.custody = name, chain_id, rpc, custody
        self.custody_script = custody.script_pubkey
        self.custody_program = custody.script_pubkey[2:]

    async def head_number(self) -> int:
        """``getblockcount``. Raises RpcError, RpcAnswerError. Cancelled: no effect."""
        count = await self.rpc.call("getblockcount")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise RpcAnswerError("getblockcount answered no height", chain=self.name)
        return count

    async def headers(self, first: int, last: int) -> list[CandidateHeader]:
        """Headers ``first..last`` (``getblockhash`` then ``getblockheader HASH false``, two batches), each
        with the hash the node names for its height. Raises RpcUnanswered (a height the node lacks),
        RpcError, RpcAnswerError. Cancelled: no effect."""
        numbers = list(range(first, last + 1))
        hashes = await self.rpc.batch([("getblockhash", [n]) for n in numbers])
        raws = await self.rpc.batch([("getblockheader", [h, False]) for h in hashes])
        out = []
        for number, claimed, raw in zip(numbers, hashes, raws):
            try:
                native = Header.parse(bytes.fromhex(raw))
                claimed_hash = bytes.fromhex(claimed)
            except (TypeError, ValueError) as exc:
                raise RpcAnswerError(f"header answer is no header: {exc}", chain=self.name, block=number) from exc
            out.append(CandidateHeader(number, claimed_hash, encode(number, native), native))
        return out

    async def scan_hints(self, first: int, last: int, headers: Mapping[int, VerifiedHeader]) -> ScanHints:
        """Every block of the range is a candidate: a Litecoin node has no index of payments to an address
        the relayer could trust (a header admits any transaction). Raises nothing; no I/O."""
        return ScanHints(frozenset(range(first, last + 1)), frozenset())

    async def block_contents(self, header: VerifiedHeader) -> BlockContents:
        """The block's raw bytes (``getblock HASH 0``), parsed, unchecked; with the funding transaction of each
        release in it (:mod:`relayer_litecoin.acks`, from the node's transaction index). Raises RpcUnanswered
        (a block the node lacks: reorged away), RpcError, RpcAnswerError (bytes that do not parse), FatalError
        (a release and a node without -txindex=1). Cancelled: no effect."""
        raw = await self.rpc.call("getblock", header.hash.hex(), 0)
        try:
            block = Block.parse(bytes.fromhex(raw))
        except (TypeError, ValueError) as exc:
            raise RpcAnswerError(f"block answer is no block: {exc}", chain=self.name, block=header.number) from exc
        spent = {r.funding[0] for r in releases(block, self.custody.witness_script)}
        if spent:
            fundings = {txid: await funding(self.rpc, self.name, txid) for txid in sorted(spent)}
            block = FundedBlock(block.header, block.txs, fundings)
        return BlockContents(header.number, header.hash, block)

    def deposits(self, contents: BlockContents) -> list[Deposit]:
        """The deposits in checked contents; a payment to the custody that is no valid deposit is logged
        (``deposit.refused``: it stays in custody) and left out. Raises RpcAnswerError for contents that are
        not a block."""
        block = contents.data
        if not isinstance(block, Block):
            raise RpcAnswerError("block contents are not a Litecoin block", chain=self.name, block=contents.number)
        found, refused = scan(block.txs, self.custody_script, self.custody.witness_script)
        for r in refused:
            log.warning("deposit.refused", chain=self.name, block=contents.number, tx=r.txid.hex(), amount=r.amount,
                        reason=r.reason, action=RETURN_HINT.format(tx=r.txid.hex(), block=contents.number))
        return found

    def messages(self, header: VerifiedHeader, contents: BlockContents,
                 destinations: Mapping[int, str]) -> list[Envelope]:
        """An envelope per deposit to a routed chain (see the module's docstring) and an acknowledgement per
        release of a burn of a routed chain (:mod:`relayer_litecoin.acks`), in block order; a deposit or
        release for another chain is logged ``event.unroutable``. Raises RpcAnswerError."""
        out = []
        for d in self.deposits(contents):
            dst = destinations.get(d.payload.dst_chain_id)
            if dst is None:
                log.warning("event.unroutable", chain=self.name, block=header.number, tx=d.txid.hex(),
                            dst_chain_id=d.payload.dst_chain_id)
                continue
            out.append(self._envelope(header, d, dst))
        for r in releases(contents.data, self.custody.witness_script):
            origin = r.marker.origin or 0
            dst = destinations.get(origin)
            if dst is None:
                log.warning("event.unroutable", chain=self.name, block=header.number, tx=r.tx.txid().hex(),
                            dst_chain_id=origin, kind="ack")
                continue
            out.append(self._ack(header, r, dst))
        return sorted(out, key=lambda e: e.nonce)

    def _ack(self, header: VerifiedHeader, r: Release, dst: str) -> Envelope:
        return self._at(header, r.index, dst, ack_body(r), {"kind": "ack", "tx": r.tx.txid().hex(),
                                                            "paid": str(r.paid)},
                        acknowledges=MessageId("0x" + r.marker.id.hex()))

    def _envelope(self, header: VerifiedHeader, d: Deposit, dst: str) -> Envelope:
        return self._at(header, d.tx_index, dst, deposit_body(d),
                        {"kind": "deposit", "tx": d.txid.hex(), "amount": str(d.amount)})

    def _at(self, header: VerifiedHeader, index: int, dst: str, body: bytes, labels: dict[str, str],
            acknowledges: MessageId | None = None) -> Envelope:
        """The envelope of transaction ``index`` of block ``header`` (its nonce, id and locator)."""
        nonce = deposit_nonce(header.number, index)
        return Envelope(deposit_id(self.chain_id, self.custody_program, nonce), self.name, dst, nonce,
                        header.number, header.hash, body, index.to_bytes(4, "big"), labels, acknowledges)

    def verify(self, header: VerifiedHeader, proof: Proof, destinations: Mapping[int, str]) -> Envelope:
        """The deposit envelope ``proof`` shows under ``header`` (a header this operator's light client
        verified): the proof's height and 80-byte header must be ``header``'s, its merkle branch must lead
        from the transaction to the header's merkle root, and the transaction must be a valid deposit to
        the custody (the source's own rules, :func:`relayer_litecoin.deposits.scan`). The envelope is the
        one ``messages`` gives (``destinations`` as there: a deposit to a chain not in it is refused).
        Pure. Raises ProofError naming what does not hold. A version 2 proof: :meth:`_verify_release`."""
        if len(proof.data) > HEIGHT_BYTES and proof.data[HEIGHT_BYTES] == ReleaseProof.VERSION:
            return self._verify_release(header, proof, destinations)
        at, parsed = split_height(proof.data)
        tx = _proven_tx(header, proof, at, parsed)
        found, refused = scan((tx,), self.custody_script, self.custody.witness_script)
        if not found:
            why = refused[0].reason if refused else "it pays the custody nothing (or spends it)"
            raise ProofError(f"the proven transaction is no deposit: {why}", message_id=proof.message_id)
        d = replace(found[0], tx_index=parsed.index)
        dst = destinations.get(d.payload.dst_chain_id)
        if dst is None:
            raise ProofError("the deposit is for a chain not routed", message_id=proof.message_id,
                             dst_chain_id=d.payload.dst_chain_id)
        envelope = self._envelope(header, d, dst)
        if envelope.id != proof.message_id:
            raise ProofError("the proof shows another message than it names", message_id=proof.message_id,
                             shown=envelope.id)
        return envelope

    def _verify_release(self, header: VerifiedHeader, proof: Proof, destinations: Mapping[int, str]) -> Envelope:
        """The acknowledgement a version 2 proof shows under ``header``: the release part as a deposit's proof
        (height, header, branch), the transaction a release whose origin chain is in ``destinations``, and the
        funding part consistent (:func:`relayer_litecoin.acks.check_funding`; its header is not one this
        operator verified: an on-chain verifier checks it against its light client). Raises ProofError."""
        p = ReleaseProof.decode(proof.data)
        r = p.release
        tx = _proven_tx(header, proof, p.height, r)
        release = release_in(tx, r.index, None)
        if release is None:
            raise ProofError("the proven transaction is no release", message_id=proof.message_id)
        check_funding(p.funding, release, self.custody_script)
        dst = destinations.get(release.marker.origin or 0)
        if dst is None:
            raise ProofError("the release is of a burn of a chain not routed", message_id=proof.message_id,
                             dst_chain_id=release.marker.origin)
        envelope = self._ack(header, release, dst)
        if envelope.id != proof.message_id:
            raise ProofError("the proof shows another message than it names", message_id=proof.message_id,
                             shown=envelope.id)
        return envelope

    def prove(self, header: VerifiedHeader, contents: BlockContents, messages: Sequence[Envelope]) -> list[Proof]:
        """A merkle proof per message (height first: the verifier's bytes), each verified against
        ``header.commitment`` before it is returned.
        Raises ProofError (a locator out of range, a proof that does not verify), VerificationError (the
        contents are of another header)."""
        block = contents.data
        if not isinstance(block, Block) or block.header != header.encoded[:HEADER_SIZE]:
            raise VerificationError("block contents are of another header", chain=self.name, block=header.number)
        txids = block.txids()
        proofs = []
        for m in messages:
            index = int.from_bytes(m.locator, "big")
            if len(m.locator) != 4 or index >= len(txids):
                raise ProofError("message locator is not a transaction of the block", message_id=m.id)
            tx = stripped(block.txs[index])
            parsed = ParsedProof(block.header, index, tuple(merkle_branch(txids, index)), tx)
            data = with_height(header.number, parsed.encode())
            txid = verify_proof(data, header.commitment, header.number)
            nonce = deposit_nonce(header.number, index)
            if m.nonce != nonce or deposit_id(self.chain_id, self.custody_program, nonce) != m.id:
                raise ProofError("the proven transaction is not the message's", message_id=m.id)
            if m.acknowledges is not None:
                data = self._release_proof(header, block, parsed, m)
            elif m.body[1:33] != txid:
                raise ProofError("the proven transaction is not the message's", message_id=m.id)
            proofs.append(Proof(m.id, header.number, data))
        if messages and merkle_root(txids)[::-1] != header.commitment:
            raise ProofError("the block's transactions do not hash to the header's merkle root")
        return proofs

    def _release_proof(self, header: VerifiedHeader, block: Block, parsed: ParsedProof, m: Envelope) -> bytes:
        """The version 2 proof of acknowledgement ``m`` (its release at ``parsed``). Raises ProofError."""
        release = release_in(block.txs[parsed.index], parsed.index, self.custody.witness_script)
        fundings = block.fundings if isinstance(block, FundedBlock) else {}
        if release is None or m.body != ack_body(release) or "0x" + release.marker.id.hex() != m.acknowledges:
            raise ProofError("the proven transaction is not the acknowledgement's release", message_id=m.id)
        found = fundings.get(release.funding[0])
        if found is None:
            raise ProofError(f"the release's funding transaction was not fetched ({TXINDEX_HINT})", message_id=m.id)
        check_funding(found, release, self.custody_script)
        return ReleaseProof(header.number, parsed, found).encode()


def _proven_tx(header: VerifiedHeader, proof: Proof, height: int, parsed: ParsedProof) -> Transaction:
    """The transaction ``parsed`` (the family proof inside ``proof``, naming block ``height``) proves under
    ``header``: the height and the 80-byte header must be ``header``'s and the branch must lead the
    transaction to its merkle root. Raises ProofError."""
    if height != header.number or proof.block_number != header.number:
        raise ProofError(f"the proof names block {height}, not {header.number}", message_id=proof.message_id)
    if sha256d(parsed.header)[::-1] != header.hash:
        raise ProofError("the proof's header is not the verified one", message_id=proof.message_id,
                         block=header.number)
    verify_proof(parsed.encode(), header.commitment)
    try:
        return Transaction.parse(parsed.tx)
    except Exception as exc:  # embit raises its own types for malformed bytes
        raise ProofError("the proven transaction does not parse", message_id=proof.message_id) from exc


__all__ = ["HEIGHT_BYTES", "LitecoinSource", "ParsedProof", "deposit_body", "deposit_id", "deposit_nonce",
           "split_height", "verify_proof", "with_height"]
