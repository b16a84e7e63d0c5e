"""The FISCO BCOS 3.x light client (``relayer.light_clients`` entry point ``fisco-bcos``)."""

from __future__ import annotations


class FiscoBcosLightClient:
    """Placeholder until the light client lands (same commit series)."""
