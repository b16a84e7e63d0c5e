"""The EVM family's ``Destination``: delivering batches to a chain's MessageLayer contract.

Everything the core's submitter must not know lives here: ``deliverBatch`` calldata, gas
estimates and their margin, fees, nonces, replacement and rebroadcast (``TxSender``), the
receipts of a delivery (``MessageProcessed`` logs with each message's outcome, the
acknowledgements the layer sent back, status, gas used) and the destination's finality
(``TxSender.finality``). The core hands it a ``Batch`` and records the ``Delivery`` it returns;
the journal of signed transactions stays in the core's store, written through ``TxSender`` before
anything is sent.

A message's proof (``Proof.data``) is passed to the layer as it is: for an EVM source it is what
``EvmReceiptVerifier`` takes (``abi.encode(uint256 blockNumber, bytes key, bytes[] nodes, uint256
logIndex)``, made by ``adapters.evm.source``); for another family what that family's verifier takes.
``MessageLayer.deliverBatch(uint64 sourceChain, bytes lightClientUpdate, bytes[] proofs)`` checks
each through the verifier registered for the source chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
import trio
from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount

from adapters.evm.adapter import EvmAdapter
from adapters.evm.config import EvmChainConfig, FeeConfig
from adapters.evm.messaging import (
    KIND_ACK,
    MESSAGE_PROCESSED_TOPIC,
    MESSAGE_SENT_TOPIC,
    OUTCOME_DELIVERED,
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    decode_ack_body,
    decode_envelope,
    decode_evm_proof,
)
from adapters.evm.sender import FeePolicy, Outcome, TxSender
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
    VerifiedHeader,
)
from relayer.errors import ContractRevert, ProofError, VerificationError
from relayer.metrics import Metrics
from relayer.store import JournalTx, Store
from relayer.types import Envelope, MessageId

log = structlog.get_logger("relayer.submitter")

HEAD_REUSE = 0.5  # s: one head read serves every confirmation asked for within this time

#: The reason a delivery's messages go back in line with, by how the send ended.
REASONS = {DeliveryStatus.NONCE_LOST: "nonce taken by another transaction of this key",
           DeliveryStatus.NO_FUNDS: "the wallet cannot pay",
           DeliveryStatus.REVERTED: "transaction reverted"}


#: The core's outcome of each ``MessageProcessed`` outcome code of the layer.
OUTCOMES = {OUTCOME_DELIVERED: OutcomeStatus.DELIVERED, OUTCOME_FAILED: OutcomeStatus.FAILED,
            OUTCOME_EXPIRED: OutcomeStatus.EXPIRED}


#: (block number, key, nodes, logIndex) of an EVM source's ``Proof.data``; raises ProofError
decode_proof = decode_evm_proof


GWEI = 10**9


def fee_policy(fees: FeeConfig) -> FeePolicy:
    """The sender's fee policy (wei) from a chain's ``[chains.NAME.evm.fees]`` table (gwei)."""
    return FeePolicy(max_fee=int(fees.max_fee_gwei * GWEI), priority_fee=int(fees.priority_fee_gwei * GWEI),
                     gas_multiplier=fees.gas_multiplier, replace_after=fees.replace_after, mode=fees.mode)


def open_destination(adapter: EvmAdapter, account: LocalAccount, store: Store, family: EvmChainConfig,
                     metrics: Metrics, stopping: trio.Event, cosigners: CoSigners | None = None) -> EvmDestination:
    """What the ``relayer.destinations`` entry point ``evm`` names: the Destination of the chain
    ``adapter`` reaches, sending from ``account`` with the fees of its ``[chains.NAME.evm]`` table
    (``family``, as ``parse_evm_config`` returned it). Called by the daemon for each chain it
    submits to. ``cosigners`` goes unused: an EVM destination's MessageLayer checks every proof
    itself, so a delivery needs no other operator's signature. Raises nothing."""
    return EvmDestination(adapter, account, store, fee_policy(family.fees), metrics, stopping)


class EvmDestination:
    """``relayer.contract.Destination`` of one EVM chain: its MessageLayer, the operator's account on it."""

    def __init__(self, adapter: EvmAdapter, account: LocalAccount, store: Store, fees: FeePolicy,
                 metrics: Metrics, stopping: trio.Event) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.chain_id = adapter.chain_id
        self.address = account.address
        self.store = store
        self.fees = fees
        self.metrics = metrics
        self.sender = TxSender(adapter, account, store, fees, metrics, stopping)
        self._head: tuple[float, int] | None = None  # (trio clock, number) of the last head read
        self._source_layers: dict[int, bytes] = {}  # source chain id -> its layer as this layer trusts it

    # what is delivered ---------------------------------------------------------------
    async def delivered(self, route: RouteRef, nonces: Sequence[int]) -> frozenset[int]:
        """The nonces of ``route`` the layer has processed, whatever the outcome (``outcomeOf`` not 0;
        JSON-RPC batches of at most ``OUTCOME_BATCH`` calls). The source's layer is the one this layer
        trusts for the source chain (``remoteOf``, read once per route). Raises RpcError, RpcAnswerError."""
        if not nonces:
            return frozenset()
        src_layer = await self._source_layer(route.src_chain_id)
        outcomes = await self.adapter.outcomes_of(route.src_chain_id, src_layer, sorted(set(nonces)))
        return frozenset(n for n in nonces if outcomes[n])

    async def _source_layer(self, src_chain_id: int) -> bytes:
        layer = self._source_layers.get(src_chain_id)
        if layer is None:
            layer = (await self.adapter.remote_of(src_chain_id)).layer
            if any(layer):  # an unknown remote is not remembered: it may be set later
                self._source_layers[src_chain_id] = layer
        return layer

    # delivering ------------------------------------------------------------------------
    async def deliver(self, batch: Batch) -> Delivery:
        """One ``deliverBatch`` transaction for ``batch``, followed until it is mined, refused or
        given up. Raises ContractRevert (the estimate reverted; the reason decoded with the layer's
        ABI: a forged proof, a block its light client never accepted, a message for another layer),
        RpcError."""
        for proof in batch.proofs:
            log.debug("proof.built", message_id=proof.message_id, nodes=_node_count(proof.data), size=len(proof.data))
        data = self.adapter.layer_abi.encode_call("deliverBatch", batch.route.src_chain_id, batch.update.data,
                                                  [p.data for p in batch.proofs])
        gas = await self._estimate(self.adapter.message_layer, data)
        ids = tuple(m.id for m in batch.messages)
        return await self._delivery(await self.sender.send(self.adapter.message_layer, data, gas, ids))

    async def send(self, to: str, data: bytes, gas: int) -> Delivery:
        """A transaction of an update policy's own, ``gas`` raised by ``fees.gas_multiplier``.
        Raises RpcError."""
        return await self._delivery(await self.sender.send(to, data, int(gas * self.fees.gas_multiplier), ()))

    async def cosign(self, route: RouteRef, header: VerifiedHeader, envelopes: Sequence[Envelope],
                     request: Mapping[str, Any]) -> dict[str, Any]:
        """relayer.contract.Destination.cosign: refused, always. The MessageLayer verifies each proof
        against its own light client, so no operator co-signs an EVM delivery. Raises ContractRevert."""
        raise ContractRevert(f"{self.name} is an EVM destination: its message layer verifies proofs itself "
                             "and takes no co-signatures", route=route.name)

    async def _estimate(self, to: str, data: bytes) -> int:
        """Gas for ``data`` with the configured margin. Raises ContractRevert with the decoded reason."""
        try:
            gas = await self.adapter.estimate_gas(self.address, to, data)
        except ContractRevert as exc:
            reason = self.adapter.layer_abi.decode_revert(exc.reason) if exc.reason.startswith("0x") \
                else exc.reason
            raise ContractRevert(reason, chain=self.name) from exc
        return int(gas * self.fees.gas_multiplier)

    async def _delivery(self, outcome: Outcome, *, observe: bool = True) -> Delivery:
        """The contract's form of how a send ended; a mined one has its receipt read (and the wallet's
        balance observed when ``observe``). Raises RpcError."""
        tx = outcome.tx
        if tx is None:
            return Delivery(DeliveryStatus(outcome.status), reason=REASONS.get(DeliveryStatus(outcome.status)))
        if outcome.status == "mined" and outcome.receipt is not None:
            delivery = self.mined(tx, outcome.receipt)
            if observe:
                await self.observe_balance()
            # settled: a later recover() must not report it again (no await between this and the
            # caller recording the delivery's messages, so no crash window opens here)
            reverted = delivery.status is DeliveryStatus.REVERTED
            self.store.set_tx_state(tx.hash, "reverted" if reverted else "mined", cost=delivery.cost,
                                    error="reverted" if reverted else None)
            return delivery
        status = DeliveryStatus(outcome.status)
        reason = (outcome.reason or "refused") if status is DeliveryStatus.REFUSED else REASONS.get(status)
        return Delivery(status, tx.hash, _ids(tx), reason=reason, sequence=tx.nonce)

    def mined(self, tx: JournalTx, receipt: Mapping[str, Any]) -> Delivery:
        """What a mined ``tx`` did, read from its ``receipt``: ``mined`` with the messages the layer's
        ``MessageProcessed`` logs say it processed and each one's outcome (acknowledged when the same
        receipt holds the layer's acknowledgement of it), or ``reverted``."""
        gas_used = int(receipt.get("gasUsed", "0x0"), 16)
        block = int(receipt.get("blockNumber", "0x0"), 16)
        if int(receipt.get("status", "0x0"), 16) != 1:
            return Delivery(DeliveryStatus.REVERTED, tx.hash, _ids(tx), reason=REASONS[DeliveryStatus.REVERTED],
                            block_number=block, cost=gas_used, sequence=tx.nonce)
        processed, outcomes = self.outcomes(receipt)
        result = BatchResult(delivered=processed, outcomes=outcomes)
        return Delivery(DeliveryStatus.MINED, tx.hash, _ids(tx), result=result, block_number=block, cost=gas_used,
                        sequence=tx.nonce)

    def outcomes(self, receipt: Mapping[str, Any]) -> tuple[frozenset[MessageId], dict[MessageId, MessageOutcome]]:
        """(ids of every ``MessageProcessed`` log of this layer in ``receipt``, id -> outcome of each
        whose log decodes); ``acknowledged`` when the receipt also holds a kind-1 ``MessageSent`` of this
        layer whose body names that id. A log that does not decode is logged (``outcome.undecodable``,
        ``ack.undecodable``): its message still counts as processed. Raises nothing."""
        layer = self.adapter.message_layer.lower()
        tx = receipt.get("transactionHash")
        logs = [lg for lg in receipt.get("logs") or []
                if str(lg.get("address", "")).lower() == layer and len(lg.get("topics") or []) == 2]
        acked = set()
        for lg in logs:
            if bytes.fromhex(str(lg["topics"][0])[2:]) != MESSAGE_SENT_TOPIC:
                continue
            try:
                (raw,) = abi_decode(["bytes"], bytes.fromhex(str(lg.get("data", "0x"))[2:]))
                envelope = decode_envelope(raw)
                if envelope.kind == KIND_ACK:
                    acked.add(MessageId("0x" + decode_ack_body(envelope.body)[0].hex()))
            except (DecodingError, ProofError, ValueError, TypeError):
                log.warning("ack.undecodable", chain=self.name, tx=tx)
        processed: set[MessageId] = set()
        out: dict[MessageId, MessageOutcome] = {}
        for lg in logs:
            if bytes.fromhex(str(lg["topics"][0])[2:]) != MESSAGE_PROCESSED_TOPIC:
                continue
            message = MessageId(str(lg["topics"][1]).lower())
            processed.add(message)
            try:
                code, result = abi_decode(["uint8", "bytes"], bytes.fromhex(str(lg.get("data", "0x"))[2:]))
                status = OUTCOMES[int(code)]
            except (DecodingError, ValueError, TypeError, KeyError):  # KeyError: an outcome code unknown here
                log.warning("outcome.undecodable", chain=self.name, message_id=message, tx=tx)
                continue
            out[message] = MessageOutcome(status, bytes(result), message in acked)
        return frozenset(processed), out

    async def observe_balance(self) -> None:
        """The operator's balance on this chain, as the ``relayer_wallet_balance`` gauge. Raises RpcError."""
        balance = await self.adapter.balance(self.address)
        self.metrics.wallet_balance.labels(self.name).set(balance)

    # finality on the destination -------------------------------------------------------
    async def confirmation(self, delivery: Delivery, depth: int) -> Confirmation:
        """``final`` once the delivery's receipt is ``depth`` blocks deep in a canonical block (with the
        delivery as that receipt has it), ``waiting``, or ``gone`` (a reorg took it off the chain).
        Raises RpcError."""
        tx = self._journaled(delivery)
        status, receipt = await self.sender.finality(tx, depth, await self._head_number())
        if status == "final" and receipt is not None:
            final = self.mined(tx, receipt)
            return Confirmation(ConfirmationStatus.FINAL, final.result, final)
        return Confirmation(ConfirmationStatus(status))

    async def _head_number(self) -> int:
        now = trio.current_time()
        if self._head is None or now - self._head[0] > HEAD_REUSE:
            self._head = (now, await self.adapter.head_number())
        return self._head[1]

    async def restore(self, delivery: Delivery) -> Delivery:
        """The same signed transaction sent again at its nonce (replaced while stuck), or
        ``nonce-lost`` when the new branch used the nonce otherwise. Raises RpcError."""
        return await self._delivery(await self.sender.restore(self._journaled(delivery)))

    def _journaled(self, delivery: Delivery) -> JournalTx:
        """The journal's record of ``delivery`` (found by its nonce). Raises VerificationError when the
        journal has no such transaction (a delivery this destination did not make)."""
        if delivery.sequence is not None:
            for tx in self.store.txs_at_nonce(self.name, delivery.sequence):
                if tx.hash == delivery.ref:
                    return tx
        raise VerificationError("no journaled transaction for this delivery", chain=self.name, tx=delivery.ref)

    # start-up --------------------------------------------------------------------------
    async def recover(self) -> list[Delivery]:
        """Settle every journaled, unsettled transaction (rebroadcast, replace or give up), then sync
        the nonce and observe the balance. One delivery per nonce that was mined or refused; one per
        attempt otherwise (``pending``, ``nonce-lost``, ``no-funds``: its messages go back in line).
        Raises RpcError."""
        settled: list[Delivery] = []

        def settle(tx: JournalTx, receipt: dict[str, Any]) -> None:
            settled.append(self.mined(tx, receipt))

        def refused(tx: JournalTx, reason: str) -> None:
            settled.append(Delivery(DeliveryStatus.REFUSED, tx.hash, _ids(tx), reason=reason, sequence=tx.nonce))

        def abandon(tx: JournalTx, status: str) -> None:
            settled.append(Delivery(_abandoned(status), tx.hash, _ids(tx), reason=status, sequence=tx.nonce))

        await self.sender.recover(settle, abandon, refused)
        await self.observe_balance()
        return settled


def _abandoned(status: str) -> DeliveryStatus:
    """How a recovered attempt ended that nothing of ours will get mined (never ``mined``/``refused``)."""
    try:
        ended = DeliveryStatus(status)
    except ValueError:
        return DeliveryStatus.PENDING
    return DeliveryStatus.PENDING if ended in (DeliveryStatus.MINED, DeliveryStatus.REFUSED) else ended


def _node_count(data: bytes) -> int | None:
    """The number of trie nodes of an EVM source's proof, for the log; None for another family's proof."""
    try:
        return len(decode_proof(data)[2])
    except ProofError:
        return None


def _ids(tx: JournalTx) -> tuple[MessageId, ...]:
    return tuple(MessageId(mid) for mid in tx.message_ids)
