"""Byte flips of an evidence bundle for the tests of ``relayer messages verify``.

``flips(doc)`` names a representative set of single-byte changes in every class of bytes a bundle's
proof rests on, each as (label, key path, byte offset): every field of the source and destination
headers (first and last byte of each RLP item), each committed seal inside a sealed header, each
committee signature (r, s and v), the receipts (bytes spread over the whole encoding, the
``MessageSent`` and ``MessageProcessed`` logs included) and every node of both receipt proofs (first,
middle, last byte). ``flipped(doc, path, offset)`` is a copy of ``doc`` with that byte XORed with 1.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from light_clients.bft.codec import IBFT2, QBFT, decode_extra
from light_clients.evm.header import decode_header

Path = tuple[str | int, ...]
Flip = tuple[str, Path, int]


def get(doc: Any, path: Path) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def raw(doc: dict[str, Any], path: Path) -> bytes:
    return bytes.fromhex(str(get(doc, path))[2:])


def flipped(doc: dict[str, Any], path: Path, offset: int) -> dict[str, Any]:
    """A deep copy of ``doc`` with byte ``offset`` of the hex field at ``path`` XORed with 0x01."""
    out = copy.deepcopy(doc)
    data = bytearray(raw(doc, path))
    data[offset] ^= 0x01
    holder = get(out, path[:-1])
    holder[path[-1]] = "0x" + data.hex()
    return out


def item_spans(encoded: bytes) -> list[tuple[int, int]]:
    """(start, end) of each item of the RLP list ``encoded`` (prefix included)."""
    _, _, start = _prefix(encoded, 0)
    spans, at = [], start
    while at < len(encoded):
        _, length, payload = _prefix(encoded, at)
        spans.append((at, payload + length))
        at = payload + length
    return spans


def _prefix(data: bytes, at: int) -> tuple[bool, int, int]:
    """(is list, payload length, payload start) of the RLP item at ``at``."""
    b = data[at]
    if b < 0x80:
        return False, 1, at
    if b < 0xB8:
        return False, b - 0x80, at + 1
    if b < 0xC0:
        n = b - 0xB7
        return False, int.from_bytes(data[at + 1:at + 1 + n], "big"), at + 1 + n
    if b < 0xF8:
        return True, b - 0xC0, at + 1
    n = b - 0xF7
    return True, int.from_bytes(data[at + 1:at + 1 + n], "big"), at + 1 + n


def header_flips(doc: dict[str, Any], path: Path, label: str) -> Iterator[Flip]:
    """First and last byte of every field of the header at ``path``; three bytes of each committed
    seal when its extraData is a QBFT or IBFT 2.0 one."""
    encoded = raw(doc, path)
    for i, (start, end) in enumerate(item_spans(encoded)):
        yield f"{label} field {i} first byte", path, start
        yield f"{label} field {i} last byte", path, end - 1
    seals: tuple[bytes, ...] = ()
    for codec in (QBFT, IBFT2):
        try:
            seals = decode_extra(codec, decode_header(encoded).extra_data).seals
            break
        except Exception:  # noqa: BLE001 - not a sealed header of this codec: no seals to flip
            continue
    for i, seal in enumerate(seals):
        at = encoded.find(seal)
        for part, offset in (("r", 0), ("s", 40), ("v", 64)):
            yield f"{label} committed seal {i} {part}", path, at + offset


def spread(doc: dict[str, Any], path: Path, label: str, count: int) -> Iterator[Flip]:
    """``count`` byte offsets spread evenly over the hex field at ``path`` (first and last included)."""
    size = len(raw(doc, path))
    for offset in sorted({round(k * (size - 1) / max(count - 1, 1)) for k in range(count)}):
        yield f"{label} byte {offset}/{size}", path, offset


def proof_flips(doc: dict[str, Any], path: Path, label: str) -> Iterator[Flip]:
    for i in range(len(get(doc, path))):
        yield from spread(doc, (*path, i), f"{label} node {i}", 3)


def flips(doc: dict[str, Any]) -> list[Flip]:
    """The representative flips of ``doc`` (see the module docstring)."""
    out = list(header_flips(doc, ("header", "encoded"), "source header"))
    for i, _ in enumerate(doc["acceptance"].get("signatures", [])):
        for part, offset in (("r", 0), ("s", 40), ("v", 64)):
            out.append((f"committee signature {i} {part}", ("acceptance", "signatures", i, "signature"), offset))
    out += spread(doc, ("receipt", "encoded"), "source receipt", 48)
    out += proof_flips(doc, ("receipt", "proof"), "source receipt proof")
    out += header_flips(doc, ("destination_receipt", "header"), "destination header")
    out += spread(doc, ("destination_receipt", "encoded"), "destination receipt", 48)
    out += proof_flips(doc, ("destination_receipt", "proof"), "destination receipt proof")
    return out


__all__ = ["Flip", "flipped", "flips", "header_flips", "item_spans", "raw"]
