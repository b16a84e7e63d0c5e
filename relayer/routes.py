"""What the daemon resolves about each route at start: who verifies what, where."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relayer.contract import Source


@dataclass
class LiveCommittee:
    """The committee a route's on-chain light client trusts, kept current by the daemon's
    committee watcher (a rotation on-chain is followed without a restart)."""

    epoch: int
    members: tuple[str, ...]  # checksummed addresses
    threshold: int

    def has(self, address: str) -> bool:
        return address.lower() in {m.lower() for m in self.members}


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
    batch_size: int
    policy: str = "committee"  # how the on-chain light client accepts headers: committee | qbft
    committee: LiveCommittee | None = field(default=None, compare=False, hash=False)

    @property
    def epoch(self) -> int:
        """The committee epoch the destination's light client is at now (0 for BFT policies)."""
        return self.committee.epoch if self.committee is not None else 0
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
    adapter: Any  # the chain's adapter plugin (relayer.adapters); its ``source`` is the contract's Source
    outgoing: dict[int, Route]  # by destination chain id
    incoming: list[Route]

    @property
    def source(self) -> Source:
        """The chain read as the origin of messages (``relayer.contract.Source``)."""
        source: Source = self.adapter.source
        return source
