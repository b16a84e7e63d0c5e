"""The submitter of one destination chain: the only owner of its key and nonce.

It picks final messages this operator is designated for (or whose designated peer let
the grace period pass), makes sure the source header is accepted on-chain (the route's
update policy says what the batch carries for it: M committee signatures, the sealed header
itself, ...; sent in the same transaction), has the message's source prove every message
and hands the batch to the chain's ``Destination`` (relayer.contract), which journals, sends
and follows the transaction; the submitter records the ``Delivery`` it returns and knows
nothing of gas, fees or nonces. Replay protection is on-chain, so a crash anywhere here can
delay a message, never deliver it twice. A mined delivery leaves its messages ``included``
until it is ``finality_depth`` blocks deep on the destination (its chain's ``confirmations``);
only then are they ``confirmed``. One a destination reorg dropped is sent again, once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import structlog
import trio

from relayer.contract import (
    Batch,
    BlockContents,
    ConfirmationStatus,
    Delivery,
    DeliveryStatus,
    Destination,
    OutcomeStatus,
    Proof,
    UpdateStatus,
    VerifiedHeader,
)
from relayer.errors import ContractRevert, VerificationError
from relayer.faults import fault_point
from relayer.follower import ReceiptCache
from relayer.metrics import Metrics
from relayer.policy_host import verified_header
from relayer.routes import ChainRuntime, Route
from relayer.store import Message, Store
from relayer.store_async import offload
from relayer.types import Envelope, MessageId

log = structlog.get_logger("relayer.submitter")

MAX_ATTEMPTS = 8  # defaults; each route sets its own (routes[].max_attempts, routes[].retry_base)
RETRY_BASE, RETRY_MAX = 2.0, 300.0  # seconds: 2, 4, 8, ... between attempts the destination refused


@dataclass
class Turn:
    """Deterministic turn-taking: who submits a message, and when the others step in.

    Each source block has one designated operator; the operator ``rank`` places after it
    steps in ``rank`` grace periods after the message became final *and* after the designated
    operator was last seen delivering. A designated operator that keeps delivering under load
    is therefore not raced by copies of its own batches; one that stops is replaced after a
    grace period.
    """

    members: tuple[str, ...]  # committee addresses, ascending
    me: int
    grace: float
    last_seen: dict[int, float] = field(default_factory=dict)  # designated index -> wall time

    def designated(self, message: Message, src_chain_id: int) -> int:
        return (message.block_number + src_chain_id) % len(self.members)

    def rank(self, message: Message, src_chain_id: int) -> int:
        return (self.me - self.designated(message, src_chain_id)) % len(self.members)

    def eligible_at(self, message: Message, src_chain_id: int) -> float:
        rank = self.rank(message, src_chain_id)
        if rank == 0:
            return message.final_at
        quiet_since = max(message.final_at, self.last_seen.get(self.designated(message, src_chain_id), 0.0))
        return quiet_since + rank * self.grace

    def block_due(self, number: int, src_chain_id: int, since: float) -> float:
        """When this operator does other work on source block ``number`` that became possible at
        ``since`` (e.g. a validator-change header): the designated operator at once, the others a
        grace period per rank later."""
        members = len(self.members)
        rank = (self.me - (number + src_chain_id) % members) % members
        return since + rank * self.grace

    def saw_delivery(self, message: Message, src_chain_id: int, now: float) -> None:
        """A peer delivered ``message``: its designated operator (or a stand-in) is alive."""
        self.last_seen[self.designated(message, src_chain_id)] = now


class Submitter:
    """One task per destination chain."""

    def __init__(self, dst: ChainRuntime, destination: Destination, sources: dict[str, ChainRuntime], store: Store,
                 cache: ReceiptCache, turn: Turn, poll_interval: float, progress: dict[str, Any], metrics: Metrics,
                 stopping: trio.Event, finality_depth: int = 0) -> None:
        self.dst = dst
        self.destination = destination
        self.finality_depth = finality_depth
        self.metrics = metrics
        self.stopping = stopping
        self.sources = sources
        self.routes = {r.src: r for r in dst.incoming}
        self.store = store
        self.cache = cache
        self.turn = turn
        self.poll_interval = poll_interval
        self.progress = progress

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver until ``stopping`` is set; a batch in flight then still gets its receipt.

        Raises RpcError for the supervisor to retry; cancellation between journal and send
        is safe (the journal is replayed at the next start).
        """
        structlog.contextvars.bind_contextvars(chain=self.dst.name)
        await self.recover()
        task_status.started()
        while not self.stopping.is_set():
            sent = await self.step()
            self.progress["last_progress"] = time.time() if sent or not self.progress.get("due") \
                else self.progress.get("last_progress", time.time())
            if not sent:
                with trio.move_on_after(self.poll_interval):
                    await self.stopping.wait()

    # start-up -----------------------------------------------------------------------
    async def recover(self) -> None:
        """Have the destination settle every journaled attempt (rebroadcasting or replacing it) and
        record how each ended. Raises RpcError."""
        for delivery in await self.destination.recover():
            if delivery.status in (DeliveryStatus.MINED, DeliveryStatus.REVERTED):
                self._settle(delivery)
            elif delivery.status is DeliveryStatus.REFUSED:
                self._refused(delivery, delivery.reason or "refused")
            else:
                self._abandon(delivery, delivery.reason or delivery.status.value)

    # one round ------------------------------------------------------------------------
    async def step(self) -> bool:
        """Deliver one batch if one is due (or a validator-change header); True when something was sent."""
        await self._watch_inclusions()
        for route in self.routes.values():
            if await route.policy.follow(route.ref) == UpdateStatus.SENT:
                return True
        open_messages = await offload(self.store, self.store.open_messages, self.dst.name, now=time.time())
        open_messages = await self._not_halted(open_messages)
        self.progress.update(backlog=len(open_messages))
        if not open_messages:
            return False
        open_messages = await self._drop_delivered(open_messages)
        now = time.time()
        due = self._due(open_messages, now)
        self.progress["due"] = len(due)
        for (src, number), group in groupby(due, key=lambda m: (m.src_chain, m.block_number)):
            batch = list(group)[: self._route_by_name(src).batch_size]
            if await self.deliver(self._route_by_name(src), number, batch):
                return True
        return False

    def _due(self, messages: list[Message], now: float) -> list[Message]:
        """Messages whose turn has come. On-chain BFT clients accept the headers of every known
        validator epoch in any order, so no block waits for an earlier one (only for the
        validator-change headers before it, see ``UpdatePolicy.follow``)."""
        return [m for m in messages if now >= self.turn.eligible_at(m, self._route(m).src_chain_id)]

    # transactions of the update policies ---------------------------------------------------
    async def send_own(self, to: str, data: bytes, gas: int) -> str | None:
        """Send a transaction an update policy asked for (e.g. a validator-change header) from this
        operator's account through the destination (``Destination.send``, which adds its margin to the
        estimate ``gas``), and record how it ended: its reference (EVM: hash) when sent, None when not.
        Raises RpcError."""
        delivery = await self.destination.send(to, data, gas)
        await self._outcome(delivery)
        return delivery.ref

    async def _not_halted(self, messages: list[Message]) -> list[Message]:
        """Leave out messages of a source chain whose follower halted with evidence (a reorg below
        finality, conflicting sealed headers): their blocks may belong to a history that no longer
        exists, so they stay unsent until the operators resolved it. The evidence is read only when
        there are messages to filter (an idle round makes one store call, not two)."""
        halted = {e["chain"] for e in await offload(self.store, self.store.evidence)} if messages else set()
        held = [m for m in messages if m.src_chain in halted]
        self.progress["held"] = len(held)
        return [m for m in messages if m.src_chain not in halted] if held else messages

    def _route(self, message: Message) -> Route:
        return self.routes[message.src_chain]

    def _route_by_name(self, src: str) -> Route:
        return self.routes[src]

    async def _drop_delivered(self, messages: list[Message]) -> list[Message]:
        """Mark messages a peer already delivered; returns the rest."""
        delivered: set[str] = set()
        for src, group in groupby(sorted(messages, key=lambda m: m.src_chain), key=lambda m: m.src_chain):
            items = list(group)
            done = await self.destination.delivered(self.routes[src].ref, sorted({m.nonce for m in items}))
            delivered |= {m.id for m in items if m.nonce in done}
        if delivered:
            self.store.set_state(sorted(delivered), "delivered-by-peer", now=time.time())
            for m in messages:
                if m.id in delivered:
                    self.turn.saw_delivery(m, self.routes[m.src_chain].src_chain_id, time.time())
                    log.info("message.delivered_by_peer", message_id=m.id)
                    self.metrics.delivered_by_peer.labels(f"{m.src_chain}->{m.dst_chain}").inc()
        return [m for m in messages if m.id not in delivered]

    async def deliver(self, route: Route, number: int, messages: list[Message]) -> bool:
        """Deliver one batch of messages of one source block through the destination; False when
        not ready yet. Raises RpcError, VerificationError, ProofError."""
        header = await offload(self.store, self.store.header, route.src, number)
        if header is None:
            raise VerificationError("no verified header for a final message", chain=route.src, block=number)
        if await route.policy.follow(route.ref, upto=number) == UpdateStatus.SENT:
            return True  # the batch goes once the light client has the validator changes before its block
        verified = verified_header(header)
        update = await route.policy.update(route.ref, verified)
        if update is None:
            return False
        if update.needed:
            fault_point("during-header-update")
        envelopes = tuple(m.envelope() for m in messages)
        proofs = await self._proofs(route, verified, envelopes)
        try:
            delivery = await self.destination.deliver(Batch(route.ref, verified, envelopes, tuple(proofs), update))
        except ContractRevert as exc:  # the destination refused the batch before it was sent
            self._failed_attempt(messages, exc.reason)
            return True
        self._sent(route, delivery)
        await self._outcome(delivery)
        return True

    async def _proofs(self, route: Route, header: VerifiedHeader, messages: Sequence[Envelope]) -> list[Proof]:
        """Proofs of ``messages`` by their source, under the verified header, from the block's contents
        (cached by the follower, else fetched again; the source checks them against the header).
        Raises VerificationError, ProofError, RpcError."""
        source = self.sources[route.src].source
        cached = self.cache.get(route.src, header.number)
        contents = BlockContents(header.number, header.hash, cached) if cached is not None \
            else await source.block_contents(header)
        proofs = source.prove(header, contents, messages)
        if cached is None:
            self.cache.put(route.src, header.number, contents.data)
        return proofs

    def _failed_attempt(self, messages: list[Message], reason: str) -> None:
        """The destination refused the batch (e.g. a paused message layer) or a message's execution failed
        on-chain (MessageFailed): retry with exponential backoff, and give up after the route's
        max_attempts with the reason kept."""
        now = time.time()
        for m in messages:
            self.metrics.failed.labels(f"{m.src_chain}->{m.dst_chain}", reason.split("(")[0]).inc()
            route = self.routes.get(m.src_chain)
            max_attempts, base = (route.max_attempts, route.retry_base) if route else (MAX_ATTEMPTS, RETRY_BASE)
            failed = m.attempts + 1 >= max_attempts
            retry_in = min(base * 2 ** m.attempts, RETRY_MAX)
            self.store.retry_later(m.id, reason, now + retry_in, failed=failed, now=now)
            log.warning("message.attempt_failed", message_id=m.id, reason=reason, attempt=m.attempts + 1,
                        state="failed" if failed else "final", retry_in_s=None if failed else retry_in)

    def _sent(self, route: Route, delivery: Delivery) -> None:
        """Note what a delivery attempt says of the wallet, and each message it carried."""
        if delivery.status is DeliveryStatus.NO_FUNDS:
            self.progress["paused"] = "wallet cannot pay"
        else:
            self.progress.pop("paused", None)
        if delivery.ref is None:
            return
        for mid in delivery.message_ids:
            log.info("message.submitted", message_id=mid, tx=delivery.ref, route=route.name)

    async def _outcome(self, delivery: Delivery) -> None:
        """Record how a send (or a rebroadcast) ended."""
        if delivery.ref is None:
            return
        if delivery.status in (DeliveryStatus.MINED, DeliveryStatus.REVERTED):
            self._settle(delivery)
        elif delivery.status in (DeliveryStatus.NONCE_LOST, DeliveryStatus.NO_FUNDS):
            self._abandon(delivery, delivery.reason or delivery.status.value)
        elif delivery.status is DeliveryStatus.REFUSED:
            self._refused(delivery, delivery.reason or "refused")

    def _refused(self, tx: Delivery, reason: str) -> None:
        """The destination will not take ``tx`` (a refusal the sender does not know, or fees at the
        cap): its messages are ``failed`` with the node's words, and an alarm is raised."""
        self.metrics.tx_abandoned.labels(self.dst.name).inc()
        log.error("tx.abandoned", tx=tx.ref, nonce=tx.sequence, messages=len(tx.message_ids), reason=reason,
                  alarm=True, action=f"read the reason; fix the account, node or fees.max_fee_gwei of {self.dst.name}, "
                                     "then retry the failed messages")
        now = time.time()
        for mid in tx.message_ids:
            m = self.store.message(mid)
            if m is None or m.state not in ("submitted", "included", "final"):
                continue
            self.store.retry_later(mid, reason, now, failed=True, now=now)
            self.metrics.failed.labels(f"{m.src_chain}->{m.dst_chain}", "refused").inc()
            log.warning("message.attempt_failed", message_id=mid, reason=reason, attempt=m.attempts + 1,
                        state="failed", retry_in_s=None)

    async def _watch_inclusions(self) -> None:
        """Confirm our mined deliveries once they are ``finality_depth`` blocks deep on the
        destination; one a reorg took off the chain is restored by the destination (the same signed
        attempt) or, if that cannot be, its messages go back in line (the delivered bitmap is read
        before any new delivery). Raises RpcError."""
        for tx in await offload(self.store, self.store.txs_in_state, self.dst.name, "mined"):
            delivery = Delivery(DeliveryStatus.MINED, tx.hash, tuple(MessageId(m) for m in tx.message_ids),
                                sequence=tx.nonce)
            confirmation = await self.destination.confirmation(delivery, self.finality_depth)
            if confirmation.status is ConfirmationStatus.FINAL and confirmation.delivery is not None:
                self._confirm(confirmation.delivery)
            elif confirmation.status is ConfirmationStatus.GONE:
                log.warning("tx.reorged", tx=tx.hash, nonce=tx.nonce, messages=len(tx.message_ids))
                await self._outcome(await self.destination.restore(delivery))

    def _settle(self, tx: Delivery) -> None:
        """Record a mined delivery: its messages ``included`` (``confirmed`` at once without a
        finality depth), those a peer delivered before it ``delivered-by-peer``, those whose execution
        failed set aside for a retry; a reverted one puts its messages back in line."""
        cost = tx.cost
        self.metrics.gas_spent.labels(self.dst.name).inc(cost)
        if tx.status is DeliveryStatus.REVERTED or tx.result is None:
            self.store.set_tx_state(tx.ref or "", "reverted", cost=cost, error="reverted")
            log.warning("tx.reverted", tx=tx.ref, gas_used=cost)
            self._back_to_final(tx.message_ids, "transaction reverted")
            return
        self.store.set_tx_state(tx.ref or "", "mined", cost=cost)
        delivered = tx.result.delivered
        failures = tx.result.failed
        mine = [mid for mid in tx.message_ids if mid in delivered]
        peers = [mid for mid in tx.message_ids if mid not in delivered and mid not in failures]
        refused = [m for mid in tx.message_ids if mid in failures and mid not in delivered
                   and (m := self.store.message(mid)) is not None]
        for m in refused:  # set aside alone; the rest of the batch is delivered
            self._failed_attempt([m], failures[MessageId(m.id)])
        per_message = cost // max(len(mine), 1)
        now = time.time()
        self.store.set_state(list(mine), "included", delivered_tx=tx.ref, cost=per_message, now=now)
        self._record_outcomes(tx, mine, now)
        self.store.set_state(list(peers), "delivered-by-peer", now=now)
        block = tx.block_number or 0
        log.info("tx.mined", tx=tx.ref, nonce=tx.sequence, block=block, gas_used=cost, messages=len(mine),
                 final_at_block=block + self.finality_depth)
        for mid in peers:
            log.info("message.delivered_by_peer", message_id=mid, tx=tx.ref)
            self._count(mid, self.metrics.delivered_by_peer)
        if self.finality_depth == 0:
            self._confirm(tx)

    def _record_outcomes(self, tx: Delivery, mine: Sequence[str], now: float) -> None:
        """Keep what the destination did with the messages ``tx`` processed; one that was not executed
        (failed in its handler, or expired) is logged with what the destination said."""
        outcomes = tx.result.outcomes if tx.result is not None else {}
        kept = {mid: outcomes[MessageId(mid)] for mid in mine if MessageId(mid) in outcomes}
        if not kept:
            return
        self.store.set_outcomes({mid: (o.status.value, "0x" + o.result.hex(), o.acknowledged)
                                 for mid, o in kept.items()}, now=now)
        for mid, o in kept.items():
            if o.status is not OutcomeStatus.DELIVERED:
                log.warning("message.not_executed", message_id=mid, tx=tx.ref, outcome=o.status.value,
                            result="0x" + o.result.hex(), acknowledged=o.acknowledged,
                            action="the destination recorded it; the sender is told by the acknowledgement"
                                   if o.acknowledged else "anyone may execute it again on the destination once "
                                   "its cause is gone (the message layer's retry)")

    def _confirm(self, tx: Delivery) -> None:
        """``tx`` is final on the destination: its ``included`` messages are confirmed (as the final
        block has it, which after a reorg may differ from the first one)."""
        if tx.status is not DeliveryStatus.MINED or tx.result is None:
            self._settle(tx)  # re-mined after a reorg, and reverted this time
            return
        ref = tx.ref or ""
        self.store.set_tx_state(ref, "confirmed")
        delivered = tx.result.delivered
        included = [mid for mid in tx.message_ids if (m := self.store.message(mid)) is not None
                    and m.state == "included"]
        mine = [mid for mid in included if mid in delivered]
        now = time.time()
        self.store.set_state(list(mine), "confirmed", delivered_tx=ref, now=now)
        self._record_outcomes(tx, mine, now)
        self.store.set_state([mid for mid in included if mid not in delivered], "delivered-by-peer", now=now)
        block = tx.block_number or 0
        for mid in mine:
            m = self.store.message(mid)
            self._confirmed(mid, ref, (m.cost if m else None) or 0, block, now)

    def _confirmed(self, mid: str, tx_hash: str, gas: int, block: int, now: float) -> None:
        """The canonical line of a finished message: route, both transactions, gas, latency."""
        m = self.store.message(mid)
        if m is None:
            return
        route = f"{m.src_chain}->{m.dst_chain}"
        self.metrics.delivered.labels(route).inc()
        log.info("message.confirmed", message_id=mid, route=route, kind=m.labels.get("kind"), nonce=m.nonce,
                 source_tx=m.labels.get("tx"), destination_tx=tx_hash, gas=gas, block=block,
                 latency_s=round(now - m.final_at, 3), amount=m.labels.get("amount"), outcome=m.outcome,
                 ack=self.store.ack_state(m), acknowledges=m.acknowledges)

    def _count(self, mid: str, counter: Any) -> None:
        m = self.store.message(mid)
        if m is not None:
            counter.labels(f"{m.src_chain}->{m.dst_chain}").inc()

    def _abandon(self, tx: Delivery, reason: str) -> None:
        self.store.set_tx_state(tx.ref or "", "dropped", error=reason)
        log.warning("tx.dropped", tx=tx.ref, reason=reason)
        self._back_to_final(tx.message_ids, reason, count_attempt=False)

    def _back_to_final(self, ids: Sequence[str], reason: str, *, count_attempt: bool = True) -> None:
        """Put messages of a transaction that will not deliver them back in line (only those still
        marked submitted or included: a message confirmed meanwhile stays confirmed)."""
        open_ids = [mid for mid in ids if (m := self.store.message(mid)) is not None
                    and m.state in ("submitted", "included")]
        self.store.set_state(open_ids, "final", reason=reason, now=time.time(), bump_attempts=count_attempt)
