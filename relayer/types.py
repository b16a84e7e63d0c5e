"""Domain value types shared by the core, the adapters and the light clients."""

from __future__ import annotations

from typing import NewType

ChainId = NewType("ChainId", int)
BlockNumber = NewType("BlockNumber", int)
Hash32 = NewType("Hash32", bytes)
Address = NewType("Address", str)  # 0x-prefixed, checksummed
MessageId = NewType("MessageId", str)  # 0x-prefixed hex of the 32-byte id
