"""The EVM family's update policies (``relayer.update_policies`` entry points): how a destination's
on-chain client of a source is advanced.

* ``committee`` -- a ``CommitteeLightClient`` accepts a header with M EIP-712 signatures of its
  committee (``adapters.evm.committee``); each operator signs the verified final headers holding
  messages, peers exchange the signatures and the submitter sends M of them with the batch. A
  rotation on-chain is followed without a restart (``watch``).
* ``qbft`` / ``ibft2`` -- a ``QbftLightClient`` checks the source's own committed seals: the sealed
  header itself goes with the batch, and the headers of validator-set changes are sent on their own,
  oldest first, before any batch of a later block (``follow``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
import trio
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from adapters.evm.committee import (
    SECP256K1_N,
    canonical_signature,
    committee_domain_separator,
    contract_signer,
    header_digest,
    pack_signatures,
)
from relayer.contract import LightClientUpdate, PolicyHost, RouteRef, UpdateStatus, VerifiedHeader
from relayer.errors import ContractRevert, RetryableError, VerificationError

log = structlog.get_logger("relayer.policies")

ZERO32 = b"\x00" * 32
WATCH_SECONDS = 5.0  # how often each committee route's light client is read for a rotation
CHANGE_RETRY = 30.0  # seconds before a refused validator-change header is tried again by the follow-up round


class _EvmPolicy:
    """What every EVM policy shares: the route, its destination's adapter and the core's host."""

    name = ""

    def __init__(self, route: RouteRef, destination: Any, host: PolicyHost) -> None:
        self.route = route
        self.destination = destination
        self.host = host

    async def _accepted(self, route: RouteRef, header: VerifiedHeader) -> bool:
        """Whether the destination's client accepted ``header``'s receipts root already. Raises
        VerificationError when it holds another root for the block, RpcError."""
        accepted = await self.destination.accepted_root(route.light_client, header.number)
        if accepted == header.commitment:
            return True
        if accepted != ZERO32:
            raise VerificationError("destination light client holds another receipts root for this block",
                                    route=route.name, block=header.number, accepted="0x" + accepted.hex())
        return False

    async def watch(self, route: RouteRef) -> None:
        """Nothing changes on the destination's client by itself: returns at once. Raises nothing."""
        return


@dataclass
class LiveCommittee:
    """The committee a route's on-chain light client trusts now (kept current by ``watch``)."""

    epoch: int
    members: tuple[str, ...]  # checksummed addresses, ascending as the contract keeps them
    threshold: int

    def has(self, address: str) -> bool:
        return address.lower() in {m.lower() for m in self.members}


class CommitteePolicy(_EvmPolicy):
    """M-of-N EIP-712 signatures of the committee a ``CommitteeLightClient`` trusts."""

    name = "committee"

    def __init__(self, route: RouteRef, destination: Any, host: PolicyHost, committee: LiveCommittee) -> None:
        super().__init__(route, destination, host)
        self.committee = committee
        self.domain_separator = committee_domain_separator(route.dst_chain_id, route.light_client)

    @classmethod
    async def open(cls, route: RouteRef, destination: Any, host: PolicyHost) -> CommitteePolicy:
        """Read the committee the route's light client trusts and check the configured one against it.
        Raises ConfigError (committee.members/threshold/epoch differ), RpcError, ContractRevert."""
        epoch, members, threshold = await destination.committee(route.light_client)
        host.check_committee(route, epoch, members, threshold)
        log.info("route.committee", route=route.name, epoch=epoch, members=list(members), threshold=threshold)
        return cls(route, destination, host, LiveCommittee(epoch, tuple(members), threshold))

    @property
    def epoch(self) -> int:
        return self.committee.epoch

    def _digest(self, route: RouteRef, number: int, block_hash: bytes, receipts_root: bytes) -> bytes:
        return header_digest(self.domain_separator, route.src_chain_id, number, block_hash, receipts_root,
                             self.committee.epoch)

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        """This operator's signature of ``header`` for the light client's current epoch; None when the
        committee no longer counts this operator. Raises nothing."""
        signer = self.host.signer
        if not self.committee.has(signer.address):
            return None  # rotated out: the light client no longer counts this operator's signature
        digest = self._digest(route, header.number, header.hash, header.commitment)
        record = {"src_chain_id": route.src_chain_id, "dst_chain_id": route.dst_chain_id, "number": header.number,
                  "epoch": self.committee.epoch, "block_hash": "0x" + header.hash.hex(),
                  "receipts_root": "0x" + header.commitment.hex(), "signer": to_checksum_address(signer.address),
                  "signature": "0x" + signer.sign_digest(digest).hex()}
        log.info("attestation.signed", route=route.name, block=header.number, epoch=self.committee.epoch)
        return record

    async def update(self, route: RouteRef, header: VerifiedHeader) -> LightClientUpdate | None:
        """b"" when accepted already, else ``abi.encode(number, blockHash, receiptsRoot, signatures)`` with
        M signatures of the current committee (own and peers'); None while fewer are available.
        Raises VerificationError, RpcError; never for a peer's failure."""
        if await self._accepted(route, header):
            return LightClientUpdate(self.name, header.number)
        signatures = await self._collect(route, header)
        if signatures is None:
            return None
        log.info("header.update_ready", route=route.name, block=header.number, policy=self.name)
        data = abi_encode(["uint256", "bytes32", "bytes32", "bytes"],
                          [header.number, header.hash, header.commitment, signatures])
        return LightClientUpdate(self.name, header.number, data)

    async def _collect(self, route: RouteRef, header: VerifiedHeader) -> bytes | None:
        """Packed signatures (ascending signers) of M members, or None while fewer are available."""
        live = self.committee
        epoch, threshold = live.epoch, live.threshold
        members = {m.lower() for m in live.members}
        digest = self._digest(route, header.number, header.hash, header.commitment)
        found: dict[str, bytes] = {}
        own = self.host.own_attestation(route, header.number, epoch)
        if own:
            self._accept(found, digest, own, "self", members)
        if len(found) < threshold:
            for peer, record in await self.host.peer_attestations(route, header.number, epoch, members):
                self._accept(found, digest, record, peer, members)
        if len(found) < threshold:
            log.info("attestation.waiting", route=route.name, block=header.number, have=len(found),
                     need=threshold, epoch=epoch)
            return None
        chosen = sorted(found.items())[:threshold]
        return pack_signatures(chosen)

    def _accept(self, found: dict[str, bytes], digest: bytes, record: dict[str, Any], source: str,
                members: set[str]) -> None:
        """Keep the signature of ``record`` when it is a member's over ``digest``, normalised to the form
        the contract verifies (low s, v 27/28); log and drop it otherwise."""
        try:
            served = bytes.fromhex(str(record["signature"])[2:])
        except (KeyError, ValueError):
            return
        signature = canonical_signature(served)
        signer = None if signature is None else contract_signer(digest, signature)
        if signature is None or signer is None or signer.lower() not in members:
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

    async def follow(self, route: RouteRef, upto: int | None = None) -> UpdateStatus:
        """A committee client follows no set changes of the source: DONE. Raises nothing."""
        return UpdateStatus.DONE

    async def watch(self, route: RouteRef, *, interval: float = WATCH_SECONDS) -> None:
        """Follow committee rotations on-chain without a restart: every ``interval`` s read the light
        client; on a new epoch, sign and collect for the new committee, re-sign the headers of the
        route's open messages for it and say so (``rotation.followed``; ``rotation.rotated_out`` when
        this operator is no member any more). Raises StoreError; RPC failures are logged and retried."""
        while True:
            await trio.sleep(interval)
            try:
                epoch, members, threshold = await self.destination.committee(route.light_client)
            except (RetryableError, ContractRevert) as exc:
                log.warning("rotation.check_failed", route=route.name, error=str(exc))
                continue
            live = self.committee
            if epoch == live.epoch:
                continue
            live.epoch, live.members, live.threshold = epoch, tuple(members), threshold
            self._rotated(route)

    def _rotated(self, route: RouteRef) -> None:
        live = self.committee
        if not live.has(self.host.signer.address):
            log.error("rotation.rotated_out", route=route.name, epoch=live.epoch, members=list(live.members),
                      threshold=live.threshold, alarm=True,
                      action=f"the light client of {route.src} on {route.dst} no longer counts this operator's "
                             "signature: it stops signing for this route; remove it from the route or have the "
                             "committee rotate it back in, and update [committee] in the configuration")
            return
        numbers = self.host.open_blocks(route)
        for number in numbers:
            header = self.host.header(route.src, number)
            record = None if header is None else self.attest(route, header)
            if record is not None:
                self.host.keep_attestation(record)
        log.warning("rotation.followed", route=route.name, epoch=live.epoch, members=list(live.members),
                    threshold=live.threshold, resigned=len(numbers),
                    action="update [committee] in the configuration before the next restart")


def _malleated(signature: bytes) -> str:
    """What made a served signature differ from the contract's form."""
    reasons = []
    if int.from_bytes(signature[32:64], "big") > SECP256K1_N // 2:
        reasons.append("high s")
    if signature[64] in (0, 1):
        reasons.append(f"v = {signature[64]}")
    return " and ".join(reasons)


class BftPolicy(_EvmPolicy):
    """A ``QbftLightClient`` that checks the source's own committed seals (QBFT or IBFT 2.0)."""

    def __init__(self, route: RouteRef, destination: Any, host: PolicyHost) -> None:
        super().__init__(route, destination, host)
        self._followed = -1  # last validator change known accepted on-chain
        self._retry_at = 0.0  # when to try a refused change header again

    @classmethod
    async def open(cls, route: RouteRef, destination: Any, host: PolicyHost) -> BftPolicy:
        """Nothing to read at start. Raises nothing."""
        return cls(route, destination, host)

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        """None: the destination checks the chain's own seals, no operator signs. Raises nothing."""
        return None

    async def update(self, route: RouteRef, header: VerifiedHeader) -> LightClientUpdate | None:
        """b"" when accepted already, else the sealed header itself. Raises VerificationError, RpcError."""
        if await self._accepted(route, header):
            return LightClientUpdate(self.name, header.number)
        log.info("header.update_ready", route=route.name, block=header.number, policy=self.name)
        return LightClientUpdate(self.name, header.number, header.encoded)

    async def follow(self, route: RouteRef, upto: int | None = None) -> UpdateStatus:
        """Give the destination's BFT light client the headers it needs to follow the source's
        validator-set changes, oldest first: each changing header after its parent (which carries
        the deciding vote). One header per call.

        ``upto``: every recorded change at or below this block, now (a batch of that block needs
        them); None: the changes whose turn has come (the operator designated for the change's block
        at once, the others a grace period per rank later). Returns SENT (a header was sent), DONE
        (the light client has them all) or WAITING (not our turn, or refused lately).
        Raises RpcError, VerificationError when a recorded change's header is missing.
        """
        now = time.time()
        if upto is None and now < self._retry_at:
            return UpdateStatus.WAITING
        for number, recorded_at in self.host.set_changes(route.src, self._followed):
            if upto is not None and number > upto:
                break
            if upto is None and now < self.host.due_at(route, number, recorded_at):
                return UpdateStatus.WAITING
            for n in (number - 1, number):
                header = self.host.header(route.src, n)
                if header is None:
                    raise VerificationError("no verified header for a validator-set change", chain=route.src, block=n)
                accepted = await self.destination.accepted_root(route.light_client, n)
                if accepted != header.commitment:
                    result = await self._send_header(route, header, change=number)
                    if result is not None:
                        return result
                    break  # before the light client's checkpoint: it never needs this change
            self._followed = number
        return UpdateStatus.DONE

    async def _send_header(self, route: RouteRef, header: VerifiedHeader, *, change: int) -> UpdateStatus | None:
        """Send ``updateHeader(header)`` to the route's light client: SENT, WAITING (refused, tried again
        later) or None (stale: below the light client's checkpoint). Raises RpcError."""
        abi = self.destination.qbft_abi
        data = abi.encode_call("updateHeader", header.encoded)
        try:
            gas = await self.destination.estimate_gas(self.host.signer.address, route.light_client, data)
        except ContractRevert as exc:
            reason = abi.decode_revert(exc.reason) if exc.reason.startswith("0x") else exc.reason
            if reason.startswith("StaleHeader("):
                return None
            self._retry_at = time.time() + CHANGE_RETRY
            log.warning("header.validator_change_refused", route=route.name, block=header.number, change=change,
                        reason=reason, retry_in_s=CHANGE_RETRY)
            return UpdateStatus.WAITING
        tx = await self.host.send(route, route.light_client, data, gas)
        if tx is None:
            return UpdateStatus.WAITING
        log.info("header.validator_change_sent", route=route.name, block=header.number, change=change, tx=tx)
        return UpdateStatus.SENT


class QbftPolicy(BftPolicy):
    name = "qbft"


class Ibft2Policy(BftPolicy):
    name = "ibft2"
