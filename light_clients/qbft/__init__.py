"""QBFT (Hyperledger Besu, GoQuorum) off-chain light client."""

from light_clients.qbft.client import KIND, QbftLightClient

__all__ = ["KIND", "QbftLightClient"]
