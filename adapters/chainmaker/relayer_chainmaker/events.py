"""What a verified block holds for the relayer: its contracts' events, and the proof that a transaction
(with its result, which carries the events) is under the block's ``tx_root``.

A ChainMaker transaction's hash covers its result (``contract_result.contract_event``), so a
transaction's Merkle path to ``tx_root`` proves its events. The path follows :mod:`txroot`'s tree:
at each level the sibling's hash, or the node's own hash where it has no right sibling (H(l || l)).
:func:`verify_tx_proof` checks that a duplicate is used exactly where the tree has one, so a proof
cannot place a transaction at a position past the block's ``tx_count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relayer.errors import ProofError, VerificationError
from relayer_chainmaker.block import Digest
from relayer_chainmaker.blockinfo import ChainMakerBlock
from relayer_chainmaker.txroot import tx_hash


@dataclass(frozen=True)
class ContractEvent:
    """One event a contract emitted in a block (``event_data``: the texts as the node serves them;
    an EVM contract's are hex words)."""

    block_height: int
    tx_index: int
    tx_id: str
    contract_name: str
    contract_version: str
    topic: str
    event_data: tuple[str, ...]


def contract_events(block: ChainMakerBlock) -> list[ContractEvent]:
    """The events of ``block``'s transactions in block order. Raises VerificationError when the block
    was served without its transactions. Check the transactions against ``tx_root`` first."""
    if block.txs is None:
        raise VerificationError("the block was served without its transactions", block=block.number)
    out = []
    for index, tx in enumerate(block.txs):
        result = (tx.get("result") or {}).get("contract_result") or {}
        for event in result.get("contract_event", []):
            out.append(ContractEvent(block.number, index, event["tx_id"], event["contract_name"],
                                     event["contract_version"], event["topic"], tuple(event["event_data"])))
    return out


def tx_proof(block: ChainMakerBlock, index: int, digest: Digest) -> list[bytes]:
    """The Merkle path of transaction ``index`` of ``block`` to its ``tx_root``. Raises ProofError when
    the block has no such transaction."""
    if block.txs is None or not 0 <= index < len(block.txs):
        raise ProofError(f"block {block.number} has no transaction {index}")
    level = [tx_hash(tx, block.header["block_version"], digest) for tx in block.txs]
    path = []
    for _ in range(_levels(len(level))):
        sibling = index ^ 1
        path.append(level[sibling] if sibling < len(level) else level[index])
        level = [digest(level[i] + (level[i + 1] if i + 1 < len(level) else level[i]))
                 for i in range(0, len(level), 2)]
        index //= 2
    return path


def verify_tx_proof(leaf: bytes, index: int, count: int, path: Sequence[bytes], root: bytes, digest: Digest) -> None:
    """Check that ``leaf`` is transaction ``index`` of the ``count`` under ``root``. Raises ProofError."""
    if not 0 <= index < count or len(path) != _levels(count):
        raise ProofError(f"no transaction {index} of {count} has a path of {len(path)} levels")
    node, size = leaf, count
    for sibling in path:
        if (index ^ 1) >= size and sibling != node:  # no right sibling there: the tree hashes H(l || l)
            raise ProofError("the proof's duplicate nodes do not fit the tree of the block's transactions")
        node = digest(node + sibling) if index % 2 == 0 else digest(sibling + node)
        index, size = index // 2, (size + 1) // 2
    if node != root:
        raise ProofError("the transaction is not under the block's tx_root")


def _levels(count: int) -> int:
    """Levels above the leaves of the padded tree of ``count`` leaves."""
    levels = 0
    while (1 << levels) < count:
        levels += 1
    return levels


__all__ = ["ContractEvent", "contract_events", "tx_proof", "verify_tx_proof"]
