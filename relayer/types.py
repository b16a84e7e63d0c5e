"""Domain value types shared by the core, the adapters and the light clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

ChainId = NewType("ChainId", int)
BlockNumber = NewType("BlockNumber", int)
Hash32 = NewType("Hash32", bytes)
Address = NewType("Address", str)  # 0x-prefixed, checksummed
MessageId = NewType("MessageId", str)  # 0x-prefixed hex of the 32-byte id


@dataclass(frozen=True)
class Envelope:
    """One message as the core knows it: who, where, in which order, and two opaque parts.

    ``id``: unique over every route (0x-hex of 32 bytes); ``nonce``: the source's per-route
    sequence, which the destination uses for replay protection; ``block_number``/``block_hash``:
    the verified source block it was found in (the header its proof is checked against);
    ``body``: what the destination executes (the application's payload, opaque to the core);
    ``locator``: where in the block its proof comes from (opaque; only the source that found it
    reads it, e.g. to build the proof). ``labels``: a few words for logs and status
    (``kind``, ``tx``, ``amount``...), never used to decide anything. ``acknowledges``: when this
    envelope is an acknowledgement the destination sent back, the id of the message it
    acknowledges (the core shows that message's acknowledgement state by it; None otherwise).
    """

    id: MessageId
    src_chain: str
    dst_chain: str
    nonce: int
    block_number: int
    block_hash: bytes
    body: bytes
    locator: bytes
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    acknowledges: MessageId | None = None
