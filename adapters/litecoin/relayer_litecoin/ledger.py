"""Whether the custody already made a spend for a marker: the custody's history in the chain and the
node's mempool, searched before a release (or a return) is built, so one is made once only across
crashes, restarts and operators.

The chain is read block by block from the custody's first height (``HeaderChain.first``): the final
blocks against the headers the light client verified (their transactions must hash to the verified
merkle root), the blocks above the final head against their own headers, then every transaction of the
mempool. Only a transaction that spends a custody output (its witness ends with the custody's witness
script, so M operators signed it) counts: anyone can write a marker into a transaction of their own, and
that must not block a release. Final blocks are read once (a cursor); the others at every search.

What the node cannot do: make a release appear that the operators did not sign. What it can do is hide
one; each operator's own journal (:mod:`operator`) then refuses to sign a second set of inputs for the
same marker, so two releases of one marker always spend the same outputs and at most one confirms."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from embit.transaction import Transaction

from relayer.errors import RpcAnswerError, RpcUnanswered, VerificationError
from relayer_litecoin.block import Block
from relayer_litecoin.custody import Custody
from relayer_litecoin.header import Header
from relayer_litecoin.marker import Marker, markers_of, spends_custody
from relayer_litecoin.merkle import merkle_root
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.spv import HeaderChain


@dataclass(frozen=True)
class Found:
    """A custody spend carrying a marker: its txid (display hex), raw bytes and block height (None: in the
    mempool)."""

    txid: str
    raw: bytes
    height: int | None


class CustodyLedger:
    """The custody's spends by marker, read from ``chain``'s node."""

    def __init__(self, rpc: LitecoinRpc, chain: HeaderChain, custody: Custody) -> None:
        self.rpc, self.chain, self.custody = rpc, chain, custody
        self.scanned = chain.first - 1  # final blocks read up to here
        self.final_spends: dict[Marker, Found] = {}

    async def find(self, marker: Marker) -> Found | None:
        """The custody spend carrying ``marker`` (a block's before the mempool's); None when there is none.
        Syncs the header chain. Raises VerificationError (a block that is not its verified header's),
        RpcError, RpcAnswerError. Cancelled: blocks read stay read."""
        found = (await self.in_blocks([marker])).get(marker)
        return found if found is not None else await self.in_mempool(marker)

    async def in_blocks(self, markers: Collection[Marker]) -> dict[Marker, Found]:
        """The custody spends carrying any of ``markers`` in the chain's blocks (final ones first, then those
        above the final head; each marker's first), one read of the blocks for them all. Syncs the header
        chain. Raises like ``find``. Cancelled: blocks read stay read."""
        final = await self.chain.sync()
        for height in range(self.scanned + 1, final + 1):
            header = self.chain.at(height)
            block = await self._block(header.hash.hex(), height, header.commitment)
            for m, spend in self._spends(block, height):
                self.final_spends.setdefault(m, spend)
            self.scanned = height
        wanted = set(markers)
        found = {m: self.final_spends[m] for m in wanted if m in self.final_spends}
        if len(found) == len(wanted):
            return found
        tip = await self.rpc.call("getblockcount")
        for height in range(final + 1, int(tip) + 1):
            try:
                block_hash = await self.rpc.call("getblockhash", height)
                block = await self._block(block_hash, height, None)
            except RpcUnanswered:
                break  # the tip moved back meanwhile
            for m, spend in self._spends(block, height):
                if m in wanted:
                    found.setdefault(m, spend)
        return found

    async def _block(self, block_hash: str, height: int, commitment: bytes | None) -> Block:
        raw = await self.rpc.call("getblock", block_hash, 0)
        try:
            block = Block.parse(bytes.fromhex(raw))
            root = merkle_root(block.txids())[::-1]
        except (TypeError, ValueError) as exc:
            raise RpcAnswerError(f"block answer is no block: {exc}", chain=self.chain.source.name,
                                 block=height) from exc
        expected = Header.parse(block.header).merkle_root if commitment is None else commitment
        if root != expected:
            raise VerificationError("block transactions do not hash to the verified merkle root",
                                    chain=self.chain.source.name, block=height)
        return block

    def _spends(self, block: Block, height: int) -> list[tuple[Marker, Found]]:
        out = []
        for tx in block.txs:
            if spends_custody(tx, self.custody.witness_script):
                for m in markers_of(tx):
                    out.append((m, Found(tx.txid().hex(), tx.serialize(), height)))
        return out

    async def in_mempool(self, marker: Marker) -> Found | None:
        """The custody spend carrying ``marker`` in the node's mempool; None when there is none. Raises
        RpcError, RpcAnswerError. Cancelled: no effect."""
        txids = await self.rpc.call("getrawmempool")
        if not isinstance(txids, list):
            raise RpcAnswerError("getrawmempool answered no list", chain=self.chain.source.name)
        for txid in txids:
            try:
                raw = bytes.fromhex(await self.rpc.call("getrawtransaction", txid, False))
            except RpcUnanswered:
                continue  # left the mempool meanwhile
            try:
                tx = Transaction.parse(raw)
            except Exception as exc:  # embit raises its own types for malformed bytes
                raise RpcAnswerError(f"mempool transaction {txid} does not parse",
                                     chain=self.chain.source.name) from exc
            if spends_custody(tx, self.custody.witness_script) and marker in markers_of(tx):
                return Found(tx.txid().hex(), raw, None)
        return None


__all__ = ["CustodyLedger", "Found"]
