"""Off-chain light client for Hyperledger Besu IBFT 2.0 chains.

IBFT 2.0 extraData is ``RLP([vanity32, [validators], vote | 0x80, round (4 bytes), [seals]])``
with a drop vote written ``0x00``; the committed seals sign the header with extraData
``RLP([vanity, validators, vote, round])`` and the block hash uses
``RLP([vanity, validators, vote])``. Everything else is shared with QBFT in
``light_clients.bft``. Loaded by the name ``ibft2``.
"""

from __future__ import annotations

from light_clients.bft.client import BftLightClient
from light_clients.bft.codec import IBFT2

KIND = "ibft2"


class Ibft2LightClient(BftLightClient):
    """Follows one IBFT 2.0 chain from a trusted checkpoint."""

    kind = KIND
    codec = IBFT2


__all__ = ["KIND", "Ibft2LightClient"]
