"""Off-chain light client for Hyperledger Besu / GoQuorum QBFT chains.

QBFT extraData is ``RLP([vanity32, [validators], vote | 0xc0, round (scalar), [seals]])``;
the committed seals sign the header with the seals emptied (round kept), and the block
hash leaves out seals and round (round 0, no seals). Everything else is shared with
IBFT 2.0 in ``light_clients.bft``. Loaded by the name ``qbft``.
"""

from __future__ import annotations

from light_clients.bft.client import BftLightClient
from light_clients.bft.codec import QBFT

KIND = "qbft"


class QbftLightClient(BftLightClient):
    """Follows one QBFT chain (block-header validator selection) from a trusted checkpoint."""

    kind = KIND
    codec = QBFT


__all__ = ["KIND", "QbftLightClient"]
