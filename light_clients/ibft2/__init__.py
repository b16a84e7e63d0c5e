"""IBFT 2.0 (Hyperledger Besu) off-chain light client."""

from light_clients.ibft2.client import KIND, Ibft2LightClient

__all__ = ["KIND", "Ibft2LightClient"]
