"""What the daemon resolves about each route at start: who verifies what, where."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relayer.contract import RouteRef, Source, UpdatePolicy


@dataclass(frozen=True)
class Route:
    """One direction src -> dst with the on-chain light client that verifies src on dst, and the
    update policy (a ``relayer.update_policies`` plugin) that advances that client."""

    src: str
    dst: str
    src_chain_id: int
    dst_chain_id: int
    light_client: str  # the reference, on dst, of the light client of src (resolve_route's answer)
    batch_size: int
    policy: UpdatePolicy = field(compare=False, hash=False)
    max_attempts: int = 8  # delivery attempts of a message before it is failed
    retry_base: float = 2.0  # seconds before the second attempt, doubled after each

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"

    @property
    def ref(self) -> RouteRef:
        """The part of the route a plugin sees."""
        return RouteRef(self.name, self.src, self.dst, self.src_chain_id, self.dst_chain_id, self.light_client)


@dataclass
class ChainRuntime:
    """One connected chain: its adapter and the routes leaving and entering it."""

    name: str
    chain_id: int
    adapter: Any  # the chain's adapter plugin (relayer.adapters); its ``source`` is the contract's Source
    outgoing: dict[int, Route]  # by destination chain id
    incoming: list[Route]

    @property
    def source(self) -> Source:
        """The chain read as the origin of messages (``relayer.contract.Source``)."""
        source: Source = self.adapter.source
        return source
