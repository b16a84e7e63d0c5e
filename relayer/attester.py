"""Committee attestations: sign verified final headers, serve them, collect M of N.

An operator signs a header only after its own light client verified it as final. Peer
signatures fetched over HTTP are checked (recovered signer is the claimed member, digest
is ours) before they are used; a peer can delay a header update but never forge one.
Every signature kept is in the one form the contract accepts (low s, v 27/28: a malleated
form is normalised on receipt), so no member, whatever it serves, can make an update revert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import structlog
import trio
from eth_utils import to_checksum_address

from adapters.evm.committee import (
    SECP256K1_N,
    canonical_signature,
    contract_signer,
    header_digest,
    pack_signatures,
    sign_digest,
)
from relayer.routes import Route
from relayer.store import Store

log = structlog.get_logger("relayer.attester")


@dataclass(frozen=True)
class Member:
    name: str
    address: str
    api: str


def attestation_path(route: Route, number: int) -> str:
    return f"/v1/attestations/{route.src_chain_id}/{route.dst_chain_id}/{number}"


class Attester:
    """Signs headers with this operator's committee key; never logs the key."""

    def __init__(self, key_hex: str, address: str) -> None:
        self._key_hex = key_hex
        self.address = to_checksum_address(address)

    def attest(self, route: Route, number: int, block_hash: bytes, receipts_root: bytes) -> dict[str, Any]:
        """A signed attestation record for the store and the API."""
        digest = _digest(route, number, block_hash, receipts_root)
        return {"src_chain_id": route.src_chain_id, "dst_chain_id": route.dst_chain_id, "number": number,
                "epoch": route.epoch, "block_hash": "0x" + block_hash.hex(),
                "receipts_root": "0x" + receipts_root.hex(), "signer": self.address,
                "signature": "0x" + sign_digest(self._key_hex, digest).hex()}


def _digest(route: Route, number: int, block_hash: bytes, receipts_root: bytes) -> bytes:
    return header_digest(route.domain_separator, route.src_chain_id, number, block_hash,
                         receipts_root, route.epoch)


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """Address that produced a 65-byte r||s||v signature over digest (any of the malleable forms:
    high or low s, v 27/28 or 0/1), or None."""
    canonical = canonical_signature(signature)
    return None if canonical is None else contract_signer(digest, canonical)


class Collector:
    """Gathers M valid signatures for a header from this operator's store and its peers."""

    def __init__(self, store: Store, members: list[Member], own_address: str, threshold: int,
                 timeout: float = 3.0) -> None:
        self.store = store
        self.peers = [m for m in members if m.address.lower() != own_address.lower()]
        self.members = {m.address.lower() for m in members}
        self.threshold = threshold
        self.timeout = timeout

    async def collect(self, route: Route, number: int, block_hash: bytes,
                      receipts_root: bytes) -> bytes | None:
        """Packed signatures (ascending signers) or None while fewer than M are available.

        Never raises for a peer's failure; cancellation aborts the peer requests.
        """
        digest = _digest(route, number, block_hash, receipts_root)
        members, threshold, peers = self._committee(route)
        found: dict[str, bytes] = {}
        own = self.store.attestation(route.src_chain_id, route.dst_chain_id, number, route.epoch)
        if own:
            self._accept(found, digest, own, "self", members)
        if len(found) < threshold:
            async with httpx.AsyncClient(timeout=self.timeout) as client, trio.open_nursery() as nursery:
                for peer in peers:
                    nursery.start_soon(self._fetch, client, peer, route, number, digest, found, members)
        if len(found) < threshold:
            log.info("attestation.waiting", route=route.name, block=number, have=len(found),
                     need=threshold, epoch=route.epoch)
            return None
        chosen = sorted(found.items())[: threshold]
        return pack_signatures([(addr, sig) for addr, sig in chosen])

    def _committee(self, route: Route) -> tuple[set[str], int, list[Member]]:
        """(member addresses, threshold, peers to ask) of the committee the route's light client trusts
        now; the configured one for a route without a live committee."""
        live = route.committee
        if live is None:
            return self.members, self.threshold, self.peers
        members = {m.lower() for m in live.members}
        return members, live.threshold, [p for p in self.peers if p.address.lower() in members]

    async def _fetch(self, client: httpx.AsyncClient, peer: Member, route: Route, number: int,
                     digest: bytes, found: dict[str, bytes], members: set[str]) -> None:
        try:
            reply = await client.get(peer.api.rstrip("/") + attestation_path(route, number),
                                     params={"epoch": route.epoch})
            if reply.status_code != 200:
                return
            self._accept(found, digest, reply.json(), peer.name, members)
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("attestation.peer_unreachable", peer=peer.name, error=type(exc).__name__)

    def _accept(self, found: dict[str, bytes], digest: bytes, record: dict[str, Any], source: str,
                members: set[str]) -> None:
        """Keep the signature of ``record`` when it is a member's over ``digest``, normalised to the form
        the contract verifies; log and drop it otherwise."""
        try:
            served = bytes.fromhex(str(record["signature"])[2:])
        except (KeyError, ValueError):
            return
        signature = canonical_signature(served)
        signer = None if signature is None else contract_signer(digest, signature)
        if signer is None or signer.lower() not in members:
            log.warning("attestation.rejected", source=source, reason="signature does not match a member")
            return
        claimed = str(record.get("signer") or signer)
        if claimed.lower() != signer.lower():
            log.warning("attestation.rejected", source=source,
                        reason=f"signed by {signer}, not by the claimed signer {claimed}")
            return
        if signature != served:
            log.warning("attestation.normalized", source=source, signer=signer, block=record.get("number"),
                        reason=_malleated(served))
        found[signer.lower()] = signature


def _malleated(signature: bytes) -> str:
    """What made a served signature differ from the contract's form."""
    reasons = []
    if int.from_bytes(signature[32:64], "big") > SECP256K1_N // 2:
        reasons.append("high s")
    if signature[64] in (0, 1):
        reasons.append(f"v = {signature[64]}")
    return " and ".join(reasons)
