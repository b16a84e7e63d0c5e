"""Receipts: consensus encoding, the receipts trie root and the logs bloom of a block.

The consensus encoding of a receipt is ``rlp([status|root, cumulativeGasUsed, logsBloom,
[[address, [topics...], data]...]])``, prefixed with the type byte when the type is not 0.
Receipts of blocks before Byzantium carry the post-state ``root`` instead of ``status``.
The receipts trie maps ``rlp(transactionIndex)`` to that encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import rlp
from eth_utils import keccak
from trie import HexaryTrie

from light_clients.evm.header import Header, parse_data, parse_quantity
from relayer.errors import RpcAnswerError, VerificationError

RpcReceipt = Mapping[str, Any]

BLOOM_BYTES = 256


def encode_receipt(receipt: RpcReceipt) -> bytes:
    """Consensus encoding of one ``eth_getTransactionReceipt``-style receipt.

    Raises RpcAnswerError (naming the field, block and transaction index) when malformed.
    """
    where = _where(receipt)
    tx_type = parse_quantity(receipt.get("type", "0x0"), "type", where)
    body = rlp.encode(
        [
            _outcome(receipt, where),
            parse_quantity(receipt.get("cumulativeGasUsed"), "cumulativeGasUsed", where),
            parse_data(receipt.get("logsBloom"), "logsBloom", where, BLOOM_BYTES),
            [_encode_log(log, where) for log in _logs(receipt, where)],
        ]
    )
    if tx_type == 0:
        return body
    if tx_type > 0x7F:
        raise RpcAnswerError(f"receipt type {tx_type:#x} is not an EIP-2718 type", block=where)
    return bytes([tx_type]) + body


def _where(receipt: object) -> str:
    if not isinstance(receipt, Mapping):
        raise RpcAnswerError(f"receipt is not a JSON object: {type(receipt).__name__}")
    return f"{receipt.get('blockNumber')}/tx {receipt.get('transactionIndex')}"


def _outcome(receipt: RpcReceipt, where: str) -> bytes | int:
    """The post-state root (pre-Byzantium) or the status code (0 or 1)."""
    root = receipt.get("root")
    if root not in (None, "0x", ""):
        return parse_data(root, "root", where, 32)
    status = parse_quantity(receipt.get("status"), "status", where)
    if status > 1:
        raise RpcAnswerError(f"receipt status {status} is neither 0 nor 1", block=where)
    return status


def _logs(receipt: RpcReceipt, where: str) -> list[Mapping[str, Any]]:
    logs = receipt.get("logs")
    if not isinstance(logs, list) or not all(isinstance(log, Mapping) for log in logs):
        raise RpcAnswerError("receipt logs is not a list of objects", block=where)
    return logs


def _encode_log(log: Mapping[str, Any], where: str) -> list[Any]:
    topics = log.get("topics")
    if not isinstance(topics, list):
        raise RpcAnswerError("log topics is not a list", block=where)
    return [
        parse_data(log.get("address"), "log address", where, 20),
        [parse_data(topic, "log topic", where, 32) for topic in topics],
        parse_data(log.get("data"), "log data", where),
    ]


def receipt_key(tx_index: int) -> bytes:
    """The receipts-trie key of a transaction index: ``rlp(index)``."""
    return rlp.encode(tx_index)


def tx_index_of(receipt: RpcReceipt) -> int:
    """The receipt's ``transactionIndex``; raises RpcAnswerError if malformed."""
    where = _where(receipt)
    return parse_quantity(receipt.get("transactionIndex"), "transactionIndex", where)


def receipts_trie(receipts: Iterable[RpcReceipt]) -> HexaryTrie:
    """The receipts trie of a block, keyed by each receipt's own transactionIndex.

    Raises RpcAnswerError on a malformed receipt or a repeated index.
    """
    trie = HexaryTrie({})
    for receipt in receipts:
        key = receipt_key(tx_index_of(receipt))
        if trie.exists(key):
            raise RpcAnswerError("two receipts share a transactionIndex", block=_where(receipt))
        trie.set(key, encode_receipt(receipt))
    return trie


def receipts_root(receipts: Iterable[RpcReceipt]) -> bytes:
    """MPT root of the receipts (``keccak(rlp(b''))`` for none); raises RpcAnswerError."""
    return bytes(receipts_trie(receipts).root_hash)


# --------------------------------------------------------------------------- bloom


def bloom_of(values: Iterable[bytes]) -> bytes:
    """The 2048-bit bloom of some values (addresses and topics), as 256 bytes."""
    bits = 0
    for value in values:
        digest = keccak(value)
        for i in (0, 2, 4):
            bits |= 1 << (int.from_bytes(digest[i : i + 2], "big") & 2047)
    return bits.to_bytes(BLOOM_BYTES, "big")


def _bloom_inputs(receipt: RpcReceipt) -> Iterable[bytes]:
    where = _where(receipt)
    for address, topics, _ in (_encode_log(log, where) for log in _logs(receipt, where)):
        yield address
        yield from topics


def logs_bloom(receipts: Iterable[RpcReceipt]) -> bytes:
    """A block's logsBloom recomputed from its receipts' logs; raises RpcAnswerError."""
    return bloom_of(value for receipt in receipts for value in _bloom_inputs(receipt))


# --------------------------------------------------------------------------- checks


def check_receipts(header: Header, receipts: Sequence[RpcReceipt], *, check_bloom: bool = True) -> None:
    """Check that ``receipts`` are exactly the block's receipts, in order.

    Raises VerificationError (naming the block) when the indices are not 0..n-1, a
    receipt names another block, the recomputed root differs from ``header.receipts_root``
    or (with ``check_bloom``) the logs' bloom differs from ``header.logs_bloom``;
    RpcAnswerError when a receipt is malformed.
    """
    _check_indices(header, receipts)
    _check_block_numbers(header, receipts)
    root = receipts_root(receipts)
    if root != header.receipts_root:
        raise VerificationError(
            "receipts root mismatch: the RPC's receipts are not the block's",
            block=header.number,
            computed="0x" + root.hex(),
            header="0x" + header.receipts_root.hex(),
        )
    if check_bloom:
        check_logs_bloom(header, receipts)


def _check_indices(header: Header, receipts: Sequence[RpcReceipt]) -> None:
    indices = [tx_index_of(receipt) for receipt in receipts]
    if indices != list(range(len(receipts))):
        raise VerificationError("receipt indices are not 0..n-1 in order", block=header.number)


def _check_block_numbers(header: Header, receipts: Sequence[RpcReceipt]) -> None:
    for receipt in receipts:
        number = receipt.get("blockNumber")
        if number is not None and parse_quantity(number, "blockNumber", _where(receipt)) != header.number:
            raise VerificationError("a receipt names another block", block=header.number, receipt_block=number)


def check_logs_bloom(header: Header, receipts: Iterable[RpcReceipt]) -> None:
    """Raise VerificationError when the receipts' logs do not give the header's logsBloom.

    A mismatch means logs were hidden or invented (the receipts root check alone trusts
    each receipt's own bloom field).
    """
    if logs_bloom(receipts) != header.logs_bloom:
        raise VerificationError("logsBloom mismatch: receipts' logs differ from the header's", block=header.number)


__all__ = [
    "bloom_of",
    "check_logs_bloom",
    "check_receipts",
    "encode_receipt",
    "logs_bloom",
    "receipt_key",
    "receipts_root",
    "receipts_trie",
    "tx_index_of",
]
