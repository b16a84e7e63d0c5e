"""What the core lends the update policies (``relayer.contract.PolicyHost``): the store's verified
headers, set changes and own attestations, the operators' turn-taking, the peers' attestations
(moved as opaque records: only the policy reads them) and sending through the operator's account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from relayer.attester import Peers
from relayer.committee import OnChainCommittee, check_configured
from relayer.config import Config
from relayer.contract import RouteRef, Signer, VerifiedHeader
from relayer.errors import FatalError
from relayer.store import Store, StoredHeader

SendFn = Callable[[str, bytes, int], Awaitable[str | None]]


def verified_header(stored: StoredHeader) -> VerifiedHeader:
    """The contract's form of a header the follower stored. Raises ValueError for malformed hex."""
    return VerifiedHeader(number=stored.number, hash=_hex(stored.hash), parent_hash=_hex(stored.parent_hash),
                          commitment=_hex(stored.commitment), timestamp=stored.timestamp,
                          encoded=_hex(stored.encoded))


def _hex(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


class Host:
    """One operator's ``PolicyHost``: built by the daemon; each submitter registers how it sends."""

    def __init__(self, config: Config, store: Store, signer: Signer, peers: Peers,
                 due: Callable[[int, int, float], float]) -> None:
        self.config = config
        self.store = store
        self.signer = signer
        self.peers = peers
        self._due = due
        self.senders: dict[str, SendFn] = {}  # destination chain -> its submitter's send

    def header(self, chain: str, number: int) -> VerifiedHeader | None:
        """The stored verified header, or None. Raises StoreError."""
        stored = self.store.header(chain, number)
        return None if stored is None else verified_header(stored)

    def set_changes(self, chain: str, after: int) -> list[tuple[int, float]]:
        """Recorded set changes above ``after``. Raises StoreError."""
        return self.store.validator_changes(chain, after)

    def due_at(self, route: RouteRef, number: int, since: float) -> float:
        """Turn-taking as for deliveries. Raises nothing."""
        return self._due(number, route.src_chain_id, since)

    def open_blocks(self, route: RouteRef) -> list[int]:
        """Source blocks with open messages of ``route``. Raises StoreError."""
        return sorted({m.block_number for m in self.store.open_messages(route.dst) if m.src_chain == route.src})

    def own_attestation(self, route: RouteRef, number: int, epoch: int) -> dict[str, Any] | None:
        """This operator's stored attestation, or None. Raises StoreError."""
        return self.store.attestation(route.src_chain_id, route.dst_chain_id, number, epoch)

    def keep_attestation(self, record: dict[str, Any]) -> None:
        """Store (and serve) an attestation. Raises StoreError."""
        self.store.add_attestation(record)

    async def peer_attestations(self, route: RouteRef, number: int, epoch: int,
                                members: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
        """The peers' records as served. Raises nothing for a peer's failure."""
        return await self.peers.fetch(route, number, epoch, members)

    def check_committee(self, route: RouteRef, epoch: int, members: Sequence[str], threshold: int) -> None:
        """Raises ConfigError naming the key when ``[committee]`` is not the committee given."""
        check_configured(self.config, route.src, route.dst, route.light_client,
                         OnChainCommittee(epoch, tuple(members), threshold))

    async def send(self, route: RouteRef, to: str, data: bytes, gas: int) -> str | None:
        """Through the submitter of ``route``'s destination. Raises RpcError; FatalError when this
        operator runs no submitter for it (``operator.submit = false``)."""
        sender = self.senders.get(route.dst)
        if sender is None:
            raise FatalError("no submitter runs for this destination", route=route.name)
        return await sender(to, data, gas)
