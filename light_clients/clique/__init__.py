"""Clique (geth PoA, EIP-225) off-chain light client."""

from light_clients.clique.client import KIND, CliqueLightClient

__all__ = ["KIND", "CliqueLightClient"]
