"""Receipt and transaction hashes of FISCO BCOS 3.x (the Merkle leaves of ``receiptsRoot`` and
``txsRoot``), recomputed from the JSON-RPC objects (FISCO-BCOS ``TarsHashable.h``).

Receipt: ``be32(version) || gasUsed (decimal ASCII) || contractAddress || be32(status) || output ||
effectiveGasPrice (ASCII, version >= 1 only) || per log: address || each topic (32 bytes) || data``,
then ``be64(blockNumber)``; addresses as the node stores them, lowercase hex text without 0x ("" for
none), whatever prefix or case the JSON shows (as ``evm_proof`` and the EVM-side verifier take them).

The receipt hash carries no field lengths, so one preimage has several parses. The fixed-form
fields are held to their one form here (``gasUsed`` a decimal without leading zeros, addresses 40
hex digits or an empty contract address), which leaves a single split up to ``status``; ``output``
and the logs' ``data`` stay ambiguous (bytes an account chose can read as a further log), so a proven
receipt shows its preimage, not one parse of it: before a log is taken as a message, check the
block's receipts for a second reading (``evm_proof.check_no_second_reading``).

Transaction (version 0): ``be32(version) || chainID || groupID || be64(blockLimit) || nonce (the
string) || to (the string as served) || input || abi``. Versions 1 and 2 append fields that no
recorded vector shows; they are refused (TransactionVersionError) rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relayer_fisco_bcos.hashing import Hasher


class ContentsFormatError(ValueError):
    """A receipt or transaction object that cannot be hashed (the message names the key)."""


class TransactionVersionError(ContentsFormatError):
    """A transaction version whose hash rule no recorded data confirms."""


def receipt_hash(receipt: Mapping[str, Any], hasher: Hasher) -> bytes:
    """The hash of a ``getTransactionReceipt`` result. Raises ContentsFormatError."""
    version = _int(receipt, "version")
    gas_used = _str(receipt, "gasUsed")
    if not (gas_used.isascii() and gas_used.isdigit()) or (gas_used.startswith("0") and gas_used != "0"):
        raise ContentsFormatError(f"gasUsed must be a decimal number without leading zeros, not {gas_used!r}")
    parts = [version.to_bytes(4, "big"), gas_used.encode(),
             _address(_str(receipt, "contractAddress"), "contractAddress", empty=True),
             _int(receipt, "status").to_bytes(4, "big", signed=True), _hex(receipt, "output")]
    if version >= 1:
        parts.append(_str(receipt, "effectiveGasPrice").encode())
    for index, log in enumerate(receipt.get("logEntries") or ()):
        if not isinstance(log, Mapping):
            raise ContentsFormatError(f"logEntries[{index}] is not an object")
        where = f"logEntries[{index}].address"
        parts.append(_address(_str(log, "address", where), where))
        for t, topic in enumerate(log.get("topics") or ()):
            parts.append(_hex({"t": topic}, "t", f"logEntries[{index}].topics[{t}]", 32))
        parts.append(_hex(log, "data", f"logEntries[{index}].data"))
    parts.append(_int(receipt, "blockNumber").to_bytes(8, "big"))
    return hasher(b"".join(parts))


def transaction_hash(transaction: Mapping[str, Any], hasher: Hasher) -> bytes:
    """The hash of a ``getTransactionByHash`` result (version 0). Raises TransactionVersionError for
    another version, ContentsFormatError for a missing or malformed field."""
    version = _int(transaction, "version")
    if version != 0:
        raise TransactionVersionError(f"transaction version {version} is not supported (only 0 is confirmed "
                                      "by recorded data)")
    parts = [version.to_bytes(4, "big"), _str(transaction, "chainID").encode(), _str(transaction, "groupID").encode(),
             _int(transaction, "blockLimit").to_bytes(8, "big", signed=True), _str(transaction, "nonce").encode(),
             _str(transaction, "to").encode(), _hex(transaction, "input"), _str(transaction, "abi").encode()]
    return hasher(b"".join(parts))


def _address(text: str, what: str, *, empty: bool = False) -> bytes:
    """An address as the node stores it: 40 lowercase hex digits without 0x ("" when ``empty`` allows)."""
    stored = text.removeprefix("0x").removeprefix("0X").lower()
    if stored == "" and empty:
        return b""
    if len(stored) != 40 or any(c not in "0123456789abcdef" for c in stored):
        raise ContentsFormatError(f"{what} must be an address of 40 hex digits, not {text!r}")
    return stored.encode()


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContentsFormatError(f"{key} must be a number, not {value!r}")
    return value


def _str(obj: Mapping[str, Any], key: str, what: str | None = None) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ContentsFormatError(f"{what or key} must be a string, not {value!r}")
    return value


def _hex(obj: Mapping[str, Any], key: str, what: str | None = None, size: int | None = None) -> bytes:
    text = _str(obj, key, what)
    try:
        data = bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    except ValueError as exc:
        raise ContentsFormatError(f"{what or key} is not hex") from exc
    if size is not None and len(data) != size:
        raise ContentsFormatError(f"{what or key} must be {size} bytes, not {len(data)}")
    return data


__all__ = ["ContentsFormatError", "TransactionVersionError", "receipt_hash", "transaction_hash"]
