"""What the daemon resolves about each route at start: who verifies what, where."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.evm.adapter import EvmAdapter


@dataclass(frozen=True)
class Route:
    """One direction src -> dst with the on-chain light client that verifies src on dst."""

    src: str
    dst: str
    src_chain_id: int
    dst_chain_id: int
    src_bridge: str
    light_client: str  # address, on dst, of the light client of src
    domain_separator: bytes
    epoch: int
    batch_size: int
    policy: str = "committee"  # how the on-chain light client accepts headers: committee | qbft
    max_attempts: int = 8  # delivery attempts of a message before it is failed
    retry_base: float = 2.0  # seconds before the second attempt, doubled after each

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass
class ChainRuntime:
    """One connected chain: its adapter and the routes leaving and entering it."""

    name: str
    chain_id: int
    adapter: EvmAdapter
    outgoing: dict[int, Route]  # by destination chain id
    incoming: list[Route]
