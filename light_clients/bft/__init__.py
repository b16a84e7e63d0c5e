"""Shared pieces of the Besu BFT light clients (QBFT, IBFT 2.0) and of Clique.

``codec``: extraData codecs as data; ``rules``: hashes, quorum, seal and validator-set
rules; ``client``: ``BftLightClient``; ``misbehaviour``: evidence of two sealed headers at
one height; ``common``: verdicts, options and seal recovery; ``testing``: sealing helpers
to build chains in tests and devnets.
"""

from light_clients.bft.codec import IBFT2, QBFT, BftExtra, ExtraCodec, Vote, decode_extra, encode_extra
from light_clients.bft.common import CheckpointMismatchError, Verdict
from light_clients.bft.misbehaviour import Misbehaviour, MisbehaviourError
from light_clients.bft.rules import quorum

__all__ = [
    "IBFT2",
    "QBFT",
    "BftExtra",
    "CheckpointMismatchError",
    "ExtraCodec",
    "Misbehaviour",
    "MisbehaviourError",
    "Verdict",
    "Vote",
    "decode_extra",
    "encode_extra",
    "quorum",
]
