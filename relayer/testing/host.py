"""An in-memory :class:`relayer.contract.PolicyHost` for the kit: one operator, no peers, its turn
always now. What the follower would store (verified headers, set changes, own attestations) the kit
records here as it scans; ``send`` goes through the family's Destination."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from relayer.contract import (
    Delivery,
    DeliveryStatus,
    Destination,
    RouteRef,
    Signer,
    VerifiedHeader,
)
from relayer.errors import ConfigError


class MemoryHost:
    """``PolicyHost`` of a single operator whose key is ``signer``."""

    def __init__(self, signer: Signer | Any, destination: Destination | None = None) -> None:
        self.signer = signer
        self.destination = destination
        self.headers: dict[tuple[str, int], VerifiedHeader] = {}
        self.changes: dict[str, list[tuple[int, float]]] = {}
        self.attestations: list[dict[str, Any]] = []
        self.open: dict[str, set[int]] = {}
        self.sent: list[Delivery] = []

    # what the kit records ----------------------------------------------------------------
    def record(self, chain: str, header: VerifiedHeader, set_change: bool = False) -> None:
        """Keep a verified header as the follower would (``native`` dropped). Raises nothing."""
        self.headers[(chain, header.number)] = VerifiedHeader(header.number, header.hash, header.parent_hash,
                                                              header.commitment, header.timestamp,
                                                              header.encoded)
        if set_change:
            self.changes.setdefault(chain, []).append((header.number, time.time()))

    # PolicyHost --------------------------------------------------------------------------
    def header(self, chain: str, number: int) -> VerifiedHeader | None:
        """The recorded header or None. Raises nothing."""
        return self.headers.get((chain, number))

    def set_changes(self, chain: str, after: int) -> list[tuple[int, float]]:
        """Recorded set changes above ``after``, oldest first. Raises nothing."""
        return sorted(c for c in self.changes.get(chain, []) if c[0] > after)

    def due_at(self, route: RouteRef, number: int, since: float) -> float:
        """The only operator: its turn is at once. Raises nothing."""
        return since

    def open_blocks(self, route: RouteRef) -> list[int]:
        """Blocks the kit has messages of, not yet delivered. Raises nothing."""
        return sorted(self.open.get(route.name, set()))

    def own_attestation(self, route: RouteRef, number: int, epoch: int) -> dict[str, Any] | None:
        """The latest kept attestation of ``number`` at ``epoch`` for the route. Raises nothing."""
        wanted = {"number": number, "epoch": epoch, "src_chain_id": route.src_chain_id,
                  "dst_chain_id": route.dst_chain_id}
        for record in self.attestations[::-1]:
            if all(record.get(key, value) == value for key, value in wanted.items()):
                return record
        return None

    def keep_attestation(self, record: dict[str, Any]) -> None:
        """Keep an attestation. Raises nothing."""
        self.attestations.append(dict(record))

    async def peer_attestations(self, route: RouteRef, number: int, epoch: int,
                                members: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
        """No peers. Raises nothing."""
        return []

    def check_committee(self, route: RouteRef, epoch: int, members: Sequence[str], threshold: int) -> None:
        """The kit has no configured committee; it only checks this operator is a member. Raises
        ConfigError naming ``committee.members`` when it is not."""
        if str(self.signer.address).lower() not in {m.lower() for m in members}:
            raise ConfigError("committee.members", f"the kit's operator {self.signer.address} is no member")

    async def send(self, route: RouteRef, to: str, data: bytes, gas: int) -> str | None:
        """A policy's own transaction through the family's Destination (``send``), if it has one.
        Raises RpcError."""
        send = getattr(self.destination, "send", None)
        if send is None:
            return None
        delivery: Delivery = await send(to, data, gas)
        self.sent.append(delivery)
        return delivery.ref if delivery.status in (DeliveryStatus.MINED, DeliveryStatus.PENDING) else None


__all__ = ["MemoryHost"]
