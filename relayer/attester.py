"""Attestations between peers: this operator's API serves its own (``/v1/attestations``), and
``Peers`` asks the other members for theirs.

The records are opaque here: the route's update policy makes them (``UpdatePolicy.attest``),
checks the ones peers serve and combines them into an update; the core only stores, serves and
moves them. A peer can delay a header update but never forge one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
import trio

from relayer.contract import RouteRef

log = structlog.get_logger("relayer.attester")


@dataclass(frozen=True)
class Member:
    name: str
    address: str
    api: str


def attestation_path(route: RouteRef, number: int) -> str:
    return f"/v1/attestations/{route.src_chain_id}/{route.dst_chain_id}/{number}"


class Peers:
    """The other committee members' APIs, asked for their attestations."""

    def __init__(self, members: list[Member], own_address: str, timeout: float = 3.0) -> None:
        self.peers = [m for m in members if m.address.lower() != own_address.lower()]
        self.timeout = timeout

    async def fetch(self, route: RouteRef, number: int, epoch: int,
                    members: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
        """(peer name, record as served) of each peer whose address is in ``members`` (lower case) and
        that served its attestation of block ``number`` at ``epoch``; asked all at once.

        Never raises for a peer's failure; cancellation aborts the requests."""
        found: list[tuple[str, dict[str, Any]]] = []
        asked = [p for p in self.peers if p.address.lower() in members]
        if not asked:
            return found
        async with httpx.AsyncClient(timeout=self.timeout) as client, trio.open_nursery() as nursery:
            for peer in asked:
                nursery.start_soon(self._fetch, client, peer, route, number, epoch, found)
        return found

    async def _fetch(self, client: httpx.AsyncClient, peer: Member, route: RouteRef, number: int, epoch: int,
                     found: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            reply = await client.get(peer.api.rstrip("/") + attestation_path(route, number), params={"epoch": epoch})
            if reply.status_code != 200:
                return
            record = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("attestation.peer_unreachable", peer=peer.name, error=type(exc).__name__)
            return
        if isinstance(record, dict):
            found.append((peer.name, record))
