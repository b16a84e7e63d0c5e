"""The EVM family's ``Destination``: delivering batches to a chain's Bridge contract.

Everything the core's submitter must not know lives here: ``deliverBatch`` calldata, gas
estimates and their margin, fees, nonces, replacement and rebroadcast (``TxSender``), the
receipts of a delivery (``Delivered``/``MessageFailed`` logs, status, gas used) and the
destination's finality (``TxSender.finality``). The core hands it a ``Batch`` and records the
``Delivery`` it returns; the journal of signed transactions stays in the core's store, written
through ``TxSender`` before anything is sent.

A message's proof (``Proof.data``, made by the EVM source: ``adapters.evm.source.proof_data``)
is ``abi.encode(bytes key, bytes[] nodes, uint256 logIndex)``: a receipt inclusion proof under
the source header's receiptsRoot and the index of the message's log in that receipt;
``deliverBatch`` takes it with the block number as a ``ReceiptProof``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
import trio
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount

from adapters.evm.adapter import EvmAdapter
from adapters.evm.config import EvmChainConfig, FeeConfig
from adapters.evm.sender import FeePolicy, Outcome, TxSender
from relayer.contract import Batch, BatchResult, Confirmation, ConfirmationStatus, Delivery, DeliveryStatus, RouteRef
from relayer.errors import ContractRevert, ProofError, VerificationError
from relayer.metrics import Metrics
from relayer.store import JournalTx, Store
from relayer.types import MessageId

log = structlog.get_logger("relayer.submitter")

PROOF_TYPES = ["bytes", "bytes[]", "uint256"]
HEAD_REUSE = 0.5  # s: one head read serves every confirmation asked for within this time

#: The reason a delivery's messages go back in line with, by how the send ended.
REASONS = {DeliveryStatus.NONCE_LOST: "nonce taken by another transaction of this key",
           DeliveryStatus.NO_FUNDS: "the wallet cannot pay",
           DeliveryStatus.REVERTED: "transaction reverted"}


def decode_proof(data: bytes) -> tuple[bytes, list[bytes], int]:
    """(key, nodes, logIndex) of ``Proof.data`` (made by ``adapters.evm.source.proof_data``).
    Raises ProofError when it does not decode."""
    try:
        key, nodes, log_index = abi_decode(PROOF_TYPES, data)
    except Exception as exc:  # eth_abi raises several unrelated types for malformed data
        raise ProofError(f"undecodable receipt proof: {exc}") from exc
    return bytes(key), [bytes(n) for n in nodes], int(log_index)


GWEI = 10**9


def fee_policy(fees: FeeConfig) -> FeePolicy:
    """The sender's fee policy (wei) from a chain's ``[chains.NAME.evm.fees]`` table (gwei)."""
    return FeePolicy(max_fee=int(fees.max_fee_gwei * GWEI), priority_fee=int(fees.priority_fee_gwei * GWEI),
                     gas_multiplier=fees.gas_multiplier, replace_after=fees.replace_after, mode=fees.mode)


def open_destination(adapter: EvmAdapter, account: LocalAccount, store: Store, family: EvmChainConfig,
                     metrics: Metrics, stopping: trio.Event) -> EvmDestination:
    """What the ``relayer.destinations`` entry point ``evm`` names: the Destination of the chain
    ``adapter`` reaches, sending from ``account`` with the fees of its ``[chains.NAME.evm]`` table
    (``family``, as ``parse_evm_config`` returned it). Called by the daemon for each chain it
    submits to. Raises nothing."""
    return EvmDestination(adapter, account, store, fee_policy(family.fees), metrics, stopping)


class EvmDestination:
    """``relayer.contract.Destination`` of one EVM chain: its Bridge, the operator's account on it."""

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

    # what is delivered ---------------------------------------------------------------
    async def delivered(self, route: RouteRef, nonces: Sequence[int]) -> frozenset[int]:
        """The nonces of ``route`` the Bridge's delivered bitmap has set (one batched read).
        Raises RpcError."""
        if not nonces:
            return frozenset()
        words = await self.adapter.delivered_words(route.src_chain_id, sorted({n // 256 for n in nonces}))
        return frozenset(n for n in nonces if words[n // 256] >> (n % 256) & 1)

    # delivering ------------------------------------------------------------------------
    async def deliver(self, batch: Batch) -> Delivery:
        """One ``deliverBatch`` transaction for ``batch``, followed until it is mined, refused or
        given up. Raises ContractRevert (the estimate reverted; the reason decoded), ProofError (a
        proof does not decode), RpcError."""
        proofs = []
        for proof in batch.proofs:
            key, nodes, log_index = decode_proof(proof.data)
            proofs.append((proof.block_number, key, nodes, log_index))
            log.debug("proof.built", message_id=proof.message_id, nodes=len(nodes))
        data = self.adapter.bridge_abi.encode_call("deliverBatch", batch.route.src_chain_id, batch.update.data,
                                                   proofs)
        gas = await self._estimate(self.adapter.bridge, data)
        ids = tuple(m.id for m in batch.messages)
        return await self._delivery(await self.sender.send(self.adapter.bridge, data, gas, ids))

    async def send(self, to: str, data: bytes, gas: int) -> Delivery:
        """A transaction of an update policy's own, ``gas`` raised by ``fees.gas_multiplier``.
        Raises RpcError."""
        return await self._delivery(await self.sender.send(to, data, int(gas * self.fees.gas_multiplier), ()))

    async def _estimate(self, to: str, data: bytes) -> int:
        """Gas for ``data`` with the configured margin. Raises ContractRevert with the decoded reason."""
        try:
            gas = await self.adapter.estimate_gas(self.address, to, data)
        except ContractRevert as exc:
            reason = self.adapter.bridge_abi.decode_revert(exc.reason) if exc.reason.startswith("0x") \
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
        """What a mined ``tx`` did, read from its ``receipt``: ``mined`` with the messages its Bridge
        logs say were delivered and those whose execution failed (decoded reason), or ``reverted``."""
        gas_used = int(receipt.get("gasUsed", "0x0"), 16)
        block = int(receipt.get("blockNumber", "0x0"), 16)
        if int(receipt.get("status", "0x0"), 16) != 1:
            return Delivery(DeliveryStatus.REVERTED, tx.hash, _ids(tx), reason=REASONS[DeliveryStatus.REVERTED],
                            block_number=block, cost=gas_used, sequence=tx.nonce)
        result = BatchResult(delivered=frozenset(self._delivered_ids(receipt)), failed=self._failed_reasons(receipt))
        return Delivery(DeliveryStatus.MINED, tx.hash, _ids(tx), result=result, block_number=block, cost=gas_used,
                        sequence=tx.nonce)

    def _delivered_ids(self, receipt: Mapping[str, Any]) -> set[MessageId]:
        topic = "0x" + self.adapter.bridge_abi.event_topic("Delivered").hex()
        bridge = self.adapter.bridge.lower()
        return {MessageId(str(lg["topics"][1]).lower()) for lg in receipt.get("logs", [])
                if str(lg.get("address", "")).lower() == bridge and lg.get("topics")
                and str(lg["topics"][0]).lower() == topic}

    def _failed_reasons(self, receipt: Mapping[str, Any]) -> dict[MessageId, str]:
        """Message id -> decoded reason of each message whose execution failed in this transaction."""
        abi = self.adapter.bridge_abi
        return {MessageId("0x" + f["messageId"].hex()): abi.decode_revert(f["reason"])
                for f in abi.logs_of(dict(receipt), self.adapter.bridge, "MessageFailed")}

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


def _ids(tx: JournalTx) -> tuple[MessageId, ...]:
    return tuple(MessageId(mid) for mid in tx.message_ids)
