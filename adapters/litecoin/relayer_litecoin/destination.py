"""Litecoin as a route's destination (``relayer.destinations`` entry point ``litecoin``): a message is a burn
on a source chain (:mod:`relayer_litecoin.burn`), delivered by releasing its amount from the custody to its
address, signed by M of the N operators (:mod:`relayer_litecoin.submitter`, :mod:`relayer_litecoin.operator`).

* ``deliver(batch)``: the batch's first message only (the core leaves the others for the next round). The
  operator's own check first: ``Source.verify`` of the proof under the verified header must give the message,
  which must be a burn to release (:func:`relayer_litecoin.burn.authorize`); refused: ContractRevert, nothing
  sent. Then ``ReleaseSubmitter.prepare(takeover=True)`` (the core's turn-taking decides who submits; the
  custody's history and the operators' journals keep the release exactly once), asking this operator and then
  the others (one ``CoSigners.ask``); the signed transaction is journaled to the core (``TxJournal.journal``,
  sequence = the message's nonce) before it is broadcast; then it is followed until it is in a block
  (replaced by fee after ``bump_after`` blocks unconfirmed, each replacement journaled first).
* ``cosign``: the same check of a message the core verified, then this operator's signature of a peer's PSBT.
* ``delivered``: a message is delivered when a custody spend carrying its release marker is in a block.
* ``confirmation``: final at ``depth`` confirmations, waiting before, gone when no block holds it.
* ``restore``/``recover``: rebroadcast the journaled transaction and follow it again.

Messages from EVM chains only (their ``Envelope.body`` is the layer's envelope)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
import trio

from relayer.contract import (
    Batch,
    BatchResult,
    Confirmation,
    ConfirmationStatus,
    CoSigners,
    Delivery,
    DeliveryStatus,
    MessageOutcome,
    OutcomeStatus,
    RouteRef,
    TxJournal,
    VerifiedHeader,
)
from relayer.errors import ContractRevert, FatalError, ProofError, RpcError, VerificationError
from relayer.types import Envelope, MessageId
from relayer_litecoin.burn import authorize
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.faults import fault_point
from relayer_litecoin.journal import JournalView
from relayer_litecoin.ledger import Found
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.operators import RemotePeers, Signing, signing
from relayer_litecoin.release import ReleaseError, ReleaseRequest
from relayer_litecoin.source import deposit_id
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.submitter import ALREADY_KNOWN, Outcome, ReleaseSubmitter

log = structlog.get_logger("relayer.submitter")

POLL_SECONDS = 1.0  # how often a broadcast release is looked for in the chain


def open_destination(adapter: Any, account: Any, store: TxJournal, family: Any, metrics: Any,
                     stopping: trio.Event, cosigners: CoSigners) -> LitecoinDestination:
    """What the entry point names: the Destination of the Litecoin chain ``adapter`` reaches (its routes
    resolved: ``resolve_route`` opened the operator's key), journaling to ``store``, asking the other
    operators through ``cosigners``. ``account`` (the operator's EVM account), ``family`` (the adapter's own
    config) and ``metrics`` are not used. Raises FatalError when no route into the chain was resolved,
    JournalError (an unreadable release journal)."""
    return LitecoinDestination(adapter, store, stopping, cosigners)


class LitecoinDestination:
    """relayer.contract.Destination of one Litecoin chain: releases from its custody."""

    def __init__(self, adapter: Any, store: TxJournal, stopping: trio.Event, cosigners: CoSigners) -> None:
        setup = adapter.config.setup
        if adapter.signer is None or setup.journal is None:
            raise FatalError("no route into this Litecoin chain was resolved (its release keys unread)",
                             chain=adapter.name)
        self.adapter, self.store, self.stopping, self.cosigners = adapter, store, stopping, cosigners
        self.name, self.chain_id = adapter.name, adapter.chain_id
        self.custody, self.net, self.policy = adapter.config.custody, adapter.config.network, adapter.config.release
        self.signing: Signing = signing(adapter, adapter.signer, setup.journal, setup.confirmations,
                                        setup.start_block)
        client = LitecoinLightClient(self.name, self.chain_id, setup.confirmations, self.net)
        chain = HeaderChain(adapter.source, client, setup.start_block)
        self.records = JournalView(self.signing.journal, "submitter")
        self.submitter = ReleaseSubmitter(adapter.signer.public_key, adapter.rpc, chain, self.custody, self.net,
                                          self.policy, self.records, [self.signing.operator])

    # the operator's own check ------------------------------------------------------------
    def _request(self, route: RouteRef, message: Envelope) -> ReleaseRequest:
        """The release ``message`` of ``route`` asks for. Raises ContractRevert (not a burn to release)."""
        source = self.adapter.burn_sources.get(route.src)
        application = self.adapter.applications.get(route.src)
        if source is None or application is None:
            raise ContractRevert(f"no route from {route.src} into {self.name} was resolved", message_id=message.id)
        return authorize(message, src_chain_id=route.src_chain_id, source_layer=source.source_layer,
                         application=application, chain_id=self.chain_id,
                         custody_program=self.custody.script_pubkey[2:], net=self.net)

    def _verified(self, route: RouteRef, header: VerifiedHeader, message: Envelope, proofs: Sequence[Any]) -> None:
        """``Source.verify`` of the message's proof under ``header`` gives the message. Raises ContractRevert."""
        proof = next((p for p in proofs if p.message_id == message.id), None)
        if proof is None:
            raise ContractRevert("the batch carries no proof of its message", message_id=message.id)
        try:
            shown = self.adapter.burn_sources[route.src].source.verify(header, proof, {self.chain_id: self.name})
        except ProofError as exc:
            raise ContractRevert(f"the proof does not hold: {exc.message}", message_id=message.id) from None
        if (shown.id, shown.nonce, shown.body, shown.block_number, shown.block_hash) != \
                (message.id, message.nonce, message.body, message.block_number, message.block_hash):
            raise ContractRevert("the proof shows another message", message_id=message.id)

    # delivering -----------------------------------------------------------------------------
    async def deliver(self, batch: Batch) -> Delivery:
        """Release the burn of the batch's first message (see the module's docstring). Raises ContractRevert
        (not a burn to release, a proof that does not hold, fewer than M signatures, a release the custody
        cannot pay: nothing sent), LeaseLost, RpcError, VerificationError. Cancelled after it was journaled:
        the release is pending and ``recover`` settles it at the next start."""
        message = batch.messages[0]
        self._verified(batch.route, batch.header, message, batch.proofs)
        request = self._request(batch.route, message)
        self.signing.approve(request)
        self.submitter.peers = [self.signing.operator,
                                *RemotePeers(self.cosigners, batch, len(self.custody.keys) - 1).peers()]
        try:
            outcome = await self.submitter.prepare(request, takeover=True)
        except ReleaseError as exc:
            raise ContractRevert(exc.message, marker=str(request.marker)) from None
        if outcome.state == "found" and not self._ours(request, outcome.txid):
            return self._by_peer(message, outcome)
        if outcome.state == "signed":
            self._journal(request, outcome, message.nonce, (message.id,))
            fault_point("after-journal-before-broadcast")
            await self._broadcast(request, outcome.txid)
        return await self._until_mined(request, message.nonce, (message.id,))

    def _ours(self, request: ReleaseRequest, txid: str) -> bool:
        record = self.records.get(str(request.marker)) or {}
        return txid in [t["txid"] for t in record.get("txs", [])]

    def _by_peer(self, message: Envelope, found: Outcome) -> Delivery:
        """Another operator's release of ``message``: delivered by it once in a block (pending before)."""
        if found.height is None:
            return Delivery(DeliveryStatus.PENDING, message_ids=(message.id,))
        log.info("release.by_peer", message_id=message.id, txid=found.txid, block=found.height)
        return Delivery(DeliveryStatus.MINED, found.txid, (message.id,), BatchResult(delivered=frozenset()),
                        block_number=found.height, sequence=message.nonce)

    def _journal(self, request: ReleaseRequest, outcome: Outcome, sequence: int, message_ids: Sequence[str]) -> None:
        """Record the signed release in the core's journal, once (the release journal notes it). Raises
        LeaseLost (nothing recorded), OSError."""
        marker = str(request.marker)
        record = self.records.get(marker) or {}
        entry = next((t for t in record.get("txs", []) if t["txid"] == outcome.txid), None)
        if entry is not None and entry.get("journaled"):
            return
        if all(row[0] != outcome.txid for row in self.store.open_transactions(self.name)):
            self.store.journal(outcome.txid, self.name, sequence, outcome.raw.hex(), list(message_ids))
        if entry is not None:
            entry["journaled"] = True
            self.records.put(marker, record)

    async def _broadcast(self, request: ReleaseRequest, txid: str) -> None:
        try:
            await self.submitter.broadcast(request.marker)
        except ReleaseError as exc:
            raise RpcError(exc.message, chain=self.name, tx=txid) from None
        self.store.set_tx_state(txid, "sent")

    async def _until_mined(self, request: ReleaseRequest, sequence: int, message_ids: tuple[str, ...]) -> Delivery:
        """Follow the marker's release until a block holds it: ``mined`` (a peer's: delivered by it), or
        ``pending`` once the daemon stops. A release ``bump_after`` blocks unconfirmed is replaced by fee,
        journaled first. Raises RpcError, VerificationError, LeaseLost. Cancelled: no effect."""
        ids = tuple(MessageId(m) for m in message_ids)
        while True:
            found = (await self.submitter.ledger.in_blocks([request.marker])).get(request.marker)
            if found is not None:
                return self._mined(request, found, sequence, ids)
            if self.stopping.is_set():
                return Delivery(DeliveryStatus.PENDING, self._last(request), ids, sequence=sequence)
            waited = await self.submitter.pending(request.marker)
            if waited is not None and waited >= self.policy.bump_after:
                await self._bump(request, sequence, message_ids)
            with trio.move_on_after(POLL_SECONDS):
                await self.stopping.wait()

    async def _bump(self, request: ReleaseRequest, sequence: int, message_ids: Sequence[str]) -> None:
        old = self._last(request)
        try:
            outcome = await self.submitter.prepare_bump(request)
        except ReleaseError as exc:  # at max_fee_rate, or the node refuses replacements: keep waiting
            log.warning("release.not_replaced", marker=str(request.marker), txid=old, reason=exc.message)
            return
        if outcome.state != "signed":
            return
        self._journal(request, outcome, sequence, message_ids)
        try:
            await self._broadcast(request, outcome.txid)
        except RpcError as exc:
            log.warning("release.not_replaced", marker=str(request.marker), txid=old, reason=str(exc))
            return
        if old is not None:
            self.store.set_tx_state(old, "dropped", error=f"replaced by fee by {outcome.txid}")

    def _last(self, request: ReleaseRequest) -> str | None:
        txs = (self.records.get(str(request.marker)) or {}).get("txs") or []
        return str(txs[-1]["txid"]) if txs else None

    def _mined(self, request: ReleaseRequest, found: Found, sequence: int, ids: tuple[MessageId, ...]) -> Delivery:
        """The delivery of the release ``found`` in block ``found.height``: ours (its fee as cost) or a peer's."""
        assert found.height is not None
        if not self._ours(request, found.txid):
            for t in (self.records.get(str(request.marker)) or {}).get("txs", []):
                self.store.set_tx_state(t["txid"], "dropped", error=f"another operator's release {found.txid} "
                                        "was mined")
            return Delivery(DeliveryStatus.MINED, found.txid, ids, BatchResult(delivered=frozenset()),
                            block_number=found.height, sequence=sequence)
        record = self.records.get(str(request.marker)) or {}
        fee = next((int(t["fee"]) for t in record.get("txs", []) if t["txid"] == found.txid), 0)
        for t in record.get("txs", []):
            if t["txid"] != found.txid:  # a replacement of it, or the one it replaced: not mined
                self.store.set_tx_state(t["txid"], "dropped", error=f"its release {found.txid} was mined")
        outcome = MessageOutcome(OutcomeStatus.DELIVERED, bytes.fromhex(found.txid))
        result = BatchResult(delivered=frozenset(ids), outcomes={m: outcome for m in ids})
        log.info("release.mined", marker=str(request.marker), txid=found.txid, block=found.height, fee=fee)
        return Delivery(DeliveryStatus.MINED, found.txid, ids, result, block_number=found.height, cost=fee,
                        sequence=sequence)

    async def send(self, to: str, data: bytes, gas: int) -> Delivery:
        """Litecoin runs no transactions of update policies. Raises FatalError."""
        raise FatalError("a Litecoin destination sends no transactions of an update policy", chain=self.name)

    # co-signing a peer's release --------------------------------------------------------------
    async def cosign(self, route: RouteRef, header: VerifiedHeader, envelopes: Sequence[Envelope],
                     request: Mapping[str, Any]) -> dict[str, Any]:
        """This operator's signature (``{"psbt": base64}``) of the release another operator prepares for the
        first of ``envelopes`` (the core verified their proofs under ``header``): the same check as
        ``deliver``, the request must be that burn's release, and the operator signs only the transaction
        the release rules build from inputs proven on its own node (its journal: one set of inputs per
        marker). Raises ContractRevert (refused, with the reason: also when its own node's answers do not
        verify, a lying node), RpcError. Cancelled: nothing signed unless its journal was written."""
        if not envelopes:
            raise ContractRevert("no message to co-sign")
        message = envelopes[0]
        due = self._request(route, message)
        asked = (request.get("marker"), request.get("recipient"), request.get("amount"))
        if asked != (str(due.marker), due.recipient, due.amount):
            raise ContractRevert("the request is not the release the burn asks for", message_id=message.id)
        psbt, fee_rate = request.get("psbt"), request.get("fee_rate")
        if not isinstance(psbt, str) or not isinstance(fee_rate, int) or isinstance(fee_rate, bool):
            raise ContractRevert("the request carries no PSBT and fee rate", message_id=message.id)
        self.signing.approve(due)
        try:
            signed = await self.signing.operator.sign(due, psbt, fee_rate)
        except ReleaseError as exc:
            raise ContractRevert(exc.message, message_id=message.id) from None
        except VerificationError as exc:  # its own node's answers do not hold (a lying node): sign nothing
            raise ContractRevert(f"this operator's node does not prove the release's inputs: {exc.message}",
                                 message_id=message.id) from None
        return {"psbt": signed}

    # what is delivered ----------------------------------------------------------------------------
    def _marker(self, route: RouteRef, nonce: int) -> Marker:
        layer = self.adapter.burn_sources[route.src].source_layer
        return Marker(Kind.RELEASE, bytes.fromhex(deposit_id(route.src_chain_id, layer, nonce)[2:]), route.src_chain_id)

    async def delivered(self, route: RouteRef, nonces: Sequence[int]) -> frozenset[int]:
        """The nonces of ``route`` whose release (a custody spend carrying the message's marker) is in a block.
        Raises RpcError, VerificationError. Cancelled: no effect."""
        if not nonces:
            return frozenset()
        markers = {self._marker(route, n): n for n in nonces}
        found = await self.submitter.ledger.in_blocks(list(markers))
        return frozenset(markers[m] for m in found)

    async def confirmation(self, delivery: Delivery, depth: int) -> Confirmation:
        """``final`` once the release of the delivery's message is ``depth`` blocks deep (with the delivery as
        that block has it), ``waiting`` before, ``gone`` when no block holds a release of it. Raises RpcError,
        VerificationError. Cancelled: no effect."""
        request = self._journaled_request(delivery)
        if request is None:
            return Confirmation(ConfirmationStatus.GONE)
        found = (await self.submitter.ledger.in_blocks([request.marker])).get(request.marker)
        if found is None or found.height is None:
            return Confirmation(ConfirmationStatus.GONE)
        tip = int(await self.adapter.rpc.call("getblockcount"))
        if tip - found.height + 1 < depth:
            return Confirmation(ConfirmationStatus.WAITING)
        final = self._mined(request, found, delivery.sequence or 0, delivery.message_ids)
        return Confirmation(ConfirmationStatus.FINAL, final.result, final)

    def _journaled_request(self, delivery: Delivery) -> ReleaseRequest | None:
        """The release request the journal holds for the delivery's (first) message; None when none."""
        if not delivery.message_ids:
            return None
        marker = Marker(Kind.RELEASE, bytes.fromhex(delivery.message_ids[0][2:]))
        record = self.records.get(str(marker))
        if not record or "request" not in record:
            return None
        asked = record["request"]
        origin = asked.get("origin")
        marker = Marker(marker.kind, marker.id, int(origin) if origin is not None else None)
        return ReleaseRequest(marker, str(asked["recipient"]), int(asked["amount"]))

    # after a reorg, after a restart --------------------------------------------------------------
    async def restore(self, delivery: Delivery) -> Delivery:
        """The journaled release of the delivery's message broadcast again and followed until a block holds
        it (``pending`` when the daemon stops first). Raises RpcError (the node refuses it), VerificationError,
        FatalError (a delivery this destination did not journal). Cancelled: pending, settled by ``recover``."""
        request = self._journaled_request(delivery)
        if request is None:
            raise FatalError("no journaled release for this delivery", chain=self.name, tx=delivery.ref)
        return await self._resume(request, delivery.sequence or 0, tuple(delivery.message_ids))

    async def _resume(self, request: ReleaseRequest, sequence: int, message_ids: tuple[str, ...]) -> Delivery:
        found = (await self.submitter.ledger.in_blocks([request.marker])).get(request.marker)
        if found is None:
            last = self._last(request)
            try:
                await self.submitter.broadcast(request.marker)
            except ReleaseError as exc:
                raise FatalError(exc.message, chain=self.name) from None
            except RpcError as exc:
                if not any(sign in str(exc) for sign in ALREADY_KNOWN):
                    raise
            if last is not None:
                self.store.set_tx_state(last, "sent")
        return await self._until_mined(request, sequence, message_ids)

    async def recover(self) -> list[Delivery]:
        """Settle every release journaled to the core and not settled (signed or sent): one a block holds is
        ``mined``; any other is broadcast again and followed until a block holds it (``pending`` when the
        daemon stops first). One delivery per message. Raises RpcError, VerificationError. Cancelled: what
        is not settled stays journaled."""
        settled: list[Delivery] = []
        seen: set[str] = set()
        for txid, sequence, _raw, message_ids in self.store.open_transactions(self.name):
            if not message_ids or message_ids[0] in seen:
                continue
            seen.add(message_ids[0])
            ids = tuple(MessageId(m) for m in message_ids)
            request = self._journaled_request(Delivery(DeliveryStatus.PENDING, txid, ids))
            if request is None:
                settled.append(Delivery(DeliveryStatus.PENDING, txid, ids, reason="not in the release journal",
                                        sequence=sequence))
                continue
            settled.append(await self._resume(request, sequence, tuple(message_ids)))
        return settled


__all__ = ["LitecoinDestination", "open_destination"]
