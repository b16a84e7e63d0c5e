"""Transaction hashes and the transaction root (``tx_root``), and the DAG hash.

A transaction's hash is H(proto3 ``Transaction``, its result included); from block version 2300
on, with ``result.contract_result.gas_used`` set to 0 first (chainmaker-go
``CalcTxHashWithVersion``). ``tx_root`` is a Bitcoin-style Merkle root over the hashes in block
order: leaves padded to a power of two, H(left || right) per pair, H(left || left) when the right
one is missing, the empty tree's root empty. ``dag_hash`` is H(proto3 ``DAG``).
"""

from __future__ import annotations

from collections.abc import Sequence

from relayer.errors import VerificationError
from relayer_chainmaker import messages
from relayer_chainmaker.block import Digest
from relayer_chainmaker.proto import Msg, encode

GAS_FREE_HASH_VERSION = 2300


def tx_hash(tx: Msg, block_version: int, digest: Digest) -> bytes:
    """The hash of ``tx`` in a block of ``block_version``."""
    result = tx.get("result")
    if block_version >= GAS_FREE_HASH_VERSION and result and result.get("contract_result"):
        contract_result = result["contract_result"] | {"gas_used": 0}
        tx = tx | {"result": result | {"contract_result": contract_result}}
    return digest(encode(messages.TRANSACTION, tx))


def merkle_root(leaves: Sequence[bytes], digest: Digest) -> bytes:
    """The Bitcoin-style padded Merkle root of ``leaves`` (b"" for none)."""
    level: list[bytes | None] = list(leaves)
    if not level:
        return b""
    size = 1
    while size < len(level):
        size *= 2
    level += [None] * (size - len(level))
    while len(level) > 1:
        level = [_parent(level[i], level[i + 1], digest) for i in range(0, len(level), 2)]
    return level[0] or b""


def _parent(left: bytes | None, right: bytes | None, digest: Digest) -> bytes | None:
    if left is None:
        return None
    return digest(left + (left if right is None else right))


def check_tx_root(header: Msg, txs: Sequence[Msg], digest: Digest) -> None:
    """Raises VerificationError when ``txs`` are not the header's ``tx_count`` transactions under its
    ``tx_root``."""
    if len(txs) != header["tx_count"]:
        raise VerificationError(f"the block has {len(txs)} transactions, its header counts {header['tx_count']}")
    root = merkle_root([tx_hash(tx, header["block_version"], digest) for tx in txs], digest)
    if root != header["tx_root"]:
        raise VerificationError(f"tx_root is not the root of the block's transactions (computed {root.hex()})")


def check_dag_hash(header: Msg, dag: Msg, digest: Digest) -> None:
    """Raises VerificationError when ``dag`` is not the DAG under the header's ``dag_hash``."""
    if digest(encode(messages.DAG, dag)) != header["dag_hash"]:
        raise VerificationError("dag_hash is not the hash of the block's DAG")


__all__ = ["GAS_FREE_HASH_VERSION", "check_dag_hash", "check_tx_root", "merkle_root", "tx_hash"]
