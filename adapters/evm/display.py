"""How ``relayer messages`` shows a message of the EVM family (``relayer.message_views`` entry point
``evm``): its body and locator, in the encodings ``adapters.evm.source`` writes, read back as the
bridge transfer (kind, token, sender, recipient, amount) and the log it was found at (transaction hash
and index, log index).

Decoded by hand rather than with eth_abi, and importing nothing of the adapter, so that a command
reading the state database stays quick::

    body    = abi.encode(string kind, address token, address sender, address recipient, uint256 amount)
    locator = abi.encode(bytes32 txHash, uint256 txIndex, uint256 logIndex)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from Crypto.Hash import keccak

from relayer.contract import MessageView

WORD = 32


def describe(body: bytes, locator: bytes) -> MessageView | None:
    """The view of an EVM bridge message (addresses EIP-55 checksummed, hashes 0x-hex, the amount as
    a decimal string), or None for a body or locator of any other shape. Raises nothing."""
    fields = _decode(bytes(body), bytes(locator))
    if fields is None:
        return None
    what, where = fields
    b, loc = dict(what), dict(where)
    return MessageView(body=b, locator=loc,
                       what=f"{b['kind']} {b['amount']} of {b['token']} from {b['sender']} to {b['recipient']}",
                       where=f"tx {loc['tx_hash']} receipt {loc['tx_index']} log {loc['log_index']}")


@lru_cache(maxsize=4096)
def _decode(body: bytes, locator: bytes) -> tuple[tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]] | None:
    if len(locator) != 3 * WORD or len(body) < 7 * WORD or len(body) % WORD:
        return None
    offset, length = _int(body, 0), _int(body, 5 * WORD)
    if offset != 5 * WORD or len(body) != 6 * WORD + length + (-length % WORD):
        return None
    try:
        kind = body[6 * WORD:6 * WORD + length].decode()
    except UnicodeDecodeError:
        return None
    if any(body[i * WORD:i * WORD + 12] != b"\x00" * 12 for i in (1, 2, 3)):
        return None
    token, sender, recipient = (_checksum(body[i * WORD + 12:(i + 1) * WORD]) for i in (1, 2, 3))
    what = (("kind", kind), ("token", token), ("sender", sender), ("recipient", recipient),
            ("amount", str(_int(body, 4 * WORD))))
    where = (("tx_hash", "0x" + locator[:WORD].hex()), ("tx_index", _int(locator, WORD)),
             ("log_index", _int(locator, 2 * WORD)))
    return what, where


def _int(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + WORD], "big")


@lru_cache(maxsize=4096)  # tokens and users recur
def _checksum(raw: bytes) -> str:
    """EIP-55: each hex letter upper case where the keccak of the lower-case hex has a nibble >= 8."""
    hex_ = raw.hex()
    digest = keccak.new(digest_bits=256, data=hex_.encode()).hexdigest()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(hex_, digest))


__all__ = ["describe"]
