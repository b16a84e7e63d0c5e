"""The message columns of the releases before the chain-neutral store, as body and locator bytes.

Those releases served one family, EVM, and kept each message's transfer (kind, token, sender,
recipient, amount) and where it was found (transaction hash and index, log index) in columns of
their own. Schema version 2 keeps an opaque ``body`` and ``locator`` instead, in the encodings the
EVM family's source gives new messages (``adapters/evm/source.py``):

    body    = abi.encode(string kind, address token, address sender, address recipient, uint256 amount)
    locator = abi.encode(bytes32 txHash, uint256 txIndex, uint256 logIndex)

The migration converts old rows with :func:`encode_body`/:func:`encode_locator`. They are written
out here, frozen, rather than imported from the adapter: the core imports no plugin, and a
migration must keep converting exactly what it converted when it was released.

:func:`decode` reads the old columns back for callers not yet moved to body and locator (the
interim accessors of ``relayer.store.Message``); it answers None for a body of any other shape.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from Crypto.Hash import keccak

WORD = 32
COLUMNS = ("kind", "tx_hash", "tx_index", "log_index", "token", "sender", "recipient", "amount")


def encode_body(kind: str, token: str, sender: str, recipient: str, amount: int) -> bytes:
    """The ABI encoding of ``(string, address, address, address, uint256)``. Raises ValueError for
    an address that is not 20 bytes of hex or an amount outside uint256."""
    text = kind.encode()
    padded = text + b"\x00" * (-len(text) % WORD)
    head = _uint(5 * WORD) + _address(token) + _address(sender) + _address(recipient) + _uint(amount)
    return head + _uint(len(text)) + padded


def encode_locator(tx_hash: str, tx_index: int, log_index: int) -> bytes:
    """The ABI encoding of ``(bytes32, uint256, uint256)``. Raises ValueError for a hash that is
    not 32 bytes of hex."""
    raw = bytes.fromhex(tx_hash.removeprefix("0x"))
    if len(raw) != WORD:
        raise ValueError(f"not a 32-byte hash: {tx_hash!r}")
    return raw + _uint(tx_index) + _uint(log_index)


def decode(body: bytes, locator: bytes) -> dict[str, Any] | None:
    """The old columns of a message whose body and locator have the encodings above (addresses
    EIP-55 checksummed, hashes 0x-hex), or None."""
    found = _decode(body, locator)
    return dict(found) if found is not None else None


@lru_cache(maxsize=4096)  # the submitters read the same open messages at every poll
def _decode(body: bytes, locator: bytes) -> tuple[tuple[str, Any], ...] | None:
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
    return (("kind", kind), ("tx_hash", "0x" + locator[:WORD].hex()), ("tx_index", _int(locator, WORD)),
            ("log_index", _int(locator, 2 * WORD)), ("token", token), ("sender", sender), ("recipient", recipient),
            ("amount", _int(body, 4 * WORD)))


def labels(kind: str, tx_hash: str, amount: int) -> dict[str, str]:
    """The words logs and status show for such a message (as the EVM source labels new ones)."""
    return {"kind": kind, "tx": tx_hash, "amount": str(amount)}


def _uint(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"not a uint256: {value}")
    return value.to_bytes(WORD, "big")


def _int(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + WORD], "big")


def _address(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {value!r}")
    return b"\x00" * 12 + raw


@lru_cache(maxsize=4096)  # tokens and users recur
def _checksum(raw: bytes) -> str:
    """EIP-55: each hex letter upper case where the keccak of the lower-case hex has a nibble >= 8."""
    hex_ = raw.hex()
    digest = keccak.new(digest_bits=256, data=hex_.encode()).hexdigest()
    return "0x" + "".join(c.upper() if int(d, 16) >= 8 else c for c, d in zip(hex_, digest))
