"""Co-signing between operators (``relayer.contract.CoSigners``, ``Destination.cosign``).

A destination whose chain cannot check a proof itself (a custody on a chain without contracts) needs
M operators' own signatures on each delivery. The operator preparing it asks the others through their
APIs; each answers only for messages it verified itself:

    POST /v1/cosign/{src chain id}/{dst chain id}
    {"block": N, "proofs": [{"message_id": "0x..", "data": "0x.."}], "request": {...the family's...}}

The asked operator (``CoSignService.handle``) takes block N of the source from its own store (a header
its own light client verified; 409 while it has none), checks every proof against it with the source
family's ``Source.verify`` (422 when one does not hold), requires each message to be recorded final by
its own follower with the same envelope (409 while it is not), and only then hands the envelopes and
the request to its destination's ``cosign`` (403 with the reason when that refuses). Nothing in the
request is trusted before these checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
import trio

from relayer.attester import Member
from relayer.contract import Batch, Destination, Proof, RouteRef, Source, VerifiedHeader
from relayer.errors import ContractRevert, ProofError, RelayerError
from relayer.policy_host import verified_header
from relayer.store import Store
from relayer.types import Envelope, MessageId

log = structlog.get_logger("relayer.cosign")

TIMEOUT = 30.0  # seconds a peer may take to check and sign (it reads its own nodes)


def cosign_path(route: RouteRef) -> str:
    return f"/v1/cosign/{route.src_chain_id}/{route.dst_chain_id}"


class PeerCoSigners:
    """``relayer.contract.CoSigners`` over the other committee members' APIs."""

    def __init__(self, members: Sequence[Member], own_address: str, timeout: float = TIMEOUT) -> None:
        self.peers = [m for m in members if m.address.lower() != own_address.lower()]
        self.timeout = timeout

    async def ask(self, batch: Batch, request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(peer name, answer) of each peer that signed; all asked at once. Raises nothing for a peer's
        failure (logged ``cosign.peer_failed``); cancelled: the requests are aborted."""
        body = {"block": batch.header.number, "request": dict(request),
                "proofs": [{"message_id": p.message_id, "data": "0x" + p.data.hex()} for p in batch.proofs]}
        answers: list[tuple[str, dict[str, Any]]] = []
        async with httpx.AsyncClient(timeout=self.timeout) as client, trio.open_nursery() as nursery:
            for peer in self.peers:
                nursery.start_soon(self._ask, client, peer, cosign_path(batch.route), body, answers)
        return answers

    async def _ask(self, client: httpx.AsyncClient, peer: Member, path: str, body: dict[str, Any],
                   answers: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            reply = await client.post(peer.api.rstrip("/") + path, json=body)
            answer = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cosign.peer_failed", peer=peer.name, status=None, error=type(exc).__name__)
            return
        if reply.status_code == 200 and isinstance(answer, dict):
            answers.append((peer.name, answer))
            return
        error = answer.get("error") if isinstance(answer, dict) else None
        log.warning("cosign.peer_failed", peer=peer.name, status=reply.status_code, error=str(error))


@dataclass(frozen=True)
class CoSignRoute:
    """What the service needs of one route into a chain this operator co-signs for."""

    ref: RouteRef
    source: Source
    destinations: Mapping[int, str]  # the source's routed chains (chain id -> name), as its follower reads them


class CoSignService:
    """The API side: checks a peer's request against this operator's own verified state, then asks its
    destination (opened by ``destination(name)``, kept by the daemon) to co-sign."""

    def __init__(self, store: Store, routes: Callable[[], Sequence[CoSignRoute]],
                 destination: Callable[[str], Destination]) -> None:
        self.store = store
        self.routes = routes
        self.destination = destination

    async def handle(self, src_chain_id: int, dst_chain_id: int, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one request. Raises nothing: every failure is an answer."""
        route = next((r for r in self.routes()
                      if (r.ref.src_chain_id, r.ref.dst_chain_id) == (src_chain_id, dst_chain_id)), None)
        if route is None:
            return 404, {"error": f"this operator relays no route from chain {src_chain_id} to {dst_chain_id}"}
        try:
            number, proofs, request = _parse(body)
        except ValueError as exc:
            return 400, {"error": f"bad co-sign request: {exc}"}
        stored = self.store.header(route.ref.src, number)
        if stored is None:
            return 409, {"error": f"block {number} of {route.ref.src} is not verified by this operator (yet)"}
        header = verified_header(stored)
        try:
            envelopes = [self._checked(route, header, p) for p in proofs]
        except ProofError as exc:
            log.warning("cosign.refused", route=route.ref.name, block=number, reason=str(exc))
            return 422, {"error": str(exc)}
        except _NotYet as exc:
            return 409, {"error": str(exc)}
        try:
            answer = await self.destination(route.ref.dst).cosign(route.ref, header, envelopes, request)
        except ContractRevert as exc:
            log.warning("cosign.refused", route=route.ref.name, block=number, reason=exc.reason)
            return 403, {"error": exc.reason}
        except RelayerError as exc:
            return 503, {"error": str(exc)}
        log.info("cosign.signed", route=route.ref.name, block=number, messages=[e.id for e in envelopes])
        return 200, answer

    def _checked(self, route: CoSignRoute, header: VerifiedHeader, proof: Proof) -> Envelope:
        """The envelope the proof shows, which this operator's follower recorded final. Raises ProofError,
        _NotYet."""
        envelope = route.source.verify(header, proof, route.destinations)
        if envelope.id != proof.message_id:
            raise ProofError("the proof shows another message than the one named", message_id=proof.message_id)
        if envelope.dst_chain != route.ref.dst:
            raise ProofError(f"the message is for {envelope.dst_chain}, not {route.ref.dst}", message_id=envelope.id)
        recorded = self.store.message(envelope.id)
        if recorded is None:
            raise _NotYet(f"message {envelope.id} is not recorded final by this operator (yet)")
        if _essence(recorded.envelope()) != _essence(envelope):
            raise ProofError("the proven message differs from the one this operator recorded", message_id=envelope.id)
        return envelope


def _essence(e: Envelope) -> tuple[object, ...]:
    """What a proof must agree on with the recorded message (the locator's form is the family's own)."""
    return e.id, e.src_chain, e.dst_chain, e.nonce, e.block_number, e.block_hash, e.body, e.acknowledges


class _NotYet(Exception):
    """This operator has not seen it yet: the asking operator tries again later (409)."""


def _parse(body: Any) -> tuple[int, list[Proof], dict[str, Any]]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    number, proofs, request = body.get("block"), body.get("proofs"), body.get("request")
    if not isinstance(number, int) or number < 0:
        raise ValueError("block: expected a block number")
    if not isinstance(proofs, list) or not proofs:
        raise ValueError("proofs: expected a non-empty list")
    if not isinstance(request, dict):
        raise ValueError("request: expected an object")
    parsed = []
    for i, p in enumerate(proofs):
        if not isinstance(p, dict) or not isinstance(p.get("message_id"), str) or not isinstance(p.get("data"), str):
            raise ValueError(f"proofs[{i}]: expected {{message_id, data}}")
        try:
            data = bytes.fromhex(p["data"].removeprefix("0x"))
        except ValueError as exc:
            raise ValueError(f"proofs[{i}].data: not hex") from exc
        parsed.append(Proof(MessageId(p["message_id"].lower()), number, data))
    return number, parsed, request


__all__ = ["CoSignRoute", "CoSignService", "PeerCoSigners", "cosign_path"]
