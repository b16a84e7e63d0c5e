"""The message columns of the releases before the chain-neutral store, as body and locator bytes.

Those releases served one family, EVM, and kept each message's transfer (kind, token, sender,
recipient, amount) and where it was found (transaction hash and index, log index) in columns of
their own. Schema version 2 keeps an opaque ``body`` and ``locator`` instead, in the encodings the
EVM family's source gives new messages (``adapters/evm/source.py``):

    body    = abi.encode(string kind, address token, address sender, address recipient, uint256 amount)
    locator = abi.encode(bytes32 txHash, uint256 txIndex, uint256 logIndex)

The migration converts old rows with :func:`encode_body`/:func:`encode_locator`. They are written
out here, frozen, rather than imported from the adapter: the core imports no plugin, and a
migration must keep converting exactly what it converted when it was released. Nothing in the core
reads body and locator back: the family shows them (``adapters/evm/display.py``).
"""

from __future__ import annotations

WORD = 32


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


def labels(kind: str, tx_hash: str, amount: int) -> dict[str, str]:
    """The words logs and status show for such a message (as the EVM source labels new ones)."""
    return {"kind": kind, "tx": tx_hash, "amount": str(amount)}


def _uint(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"not a uint256: {value}")
    return value.to_bytes(WORD, "big")


def _address(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {value!r}")
    return b"\x00" * 12 + raw
