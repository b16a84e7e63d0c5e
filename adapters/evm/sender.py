"""Getting one signed transaction mined on a destination chain, whatever the pool does.

The sender owns the submitting account's nonce. Every signed transaction is journaled
before it is sent; a transaction that is not mined within ``replace_after`` seconds (stuck
under a base-fee spike, or dropped from the pool) is replaced at the same nonce with fees
raised by at least 12.5% and re-quoted from the current base fee (so never "replacement
transaction underpriced"), up to the configured cap. A nonce taken by another sender with
the same key is detected and the nonce resynchronised; a wallet that cannot pay pauses
sending with an alarm until it is funded again. Nothing is waited for without end: a refusal
the sender does not recognise, or a transaction that stays unmined (or refused for its fees)
at the fee cap for ``CAPPED_ROUNDS`` more rounds, ends the send as ``refused`` with the node's
words as the reason.

A mined transaction is only *mined* until it is ``depth`` blocks deep on the destination's
canonical chain (``finality``); one a reorg took off the chain is sent again as the same
signed bytes at the same nonce (``restore``), so the nonce is neither skipped nor used twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rlp
import structlog
import trio
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from adapters.evm.adapter import EvmAdapter, FeeQuote
from relayer.errors import RpcError
from relayer.faults import fault_point
from relayer.metrics import Metrics
from relayer.store import JournalTx, Store

log = structlog.get_logger("relayer.sender")

RECEIPT_POLL = 0.25
BUMP_NUMERATOR, BUMP_DENOMINATOR = 9, 8  # +12.5%, above geth's and Besu's 10% replacement rule
CAPPED_ROUNDS = 3  # rounds of replace_after at the fee cap, without getting mined, before giving up


@dataclass(frozen=True)
class FeePolicy:
    max_fee: int
    priority_fee: int
    gas_multiplier: float
    replace_after: float = 15.0
    mode: str = "auto"  # fees.mode: auto | eip1559 | legacy (see EvmAdapter.fee_quote)


@dataclass(frozen=True)
class Outcome:
    """How one send ended: ``mined`` (with its receipt), ``pending`` (left for recovery),
    ``no-funds`` or ``nonce-lost`` (nothing of ours will be mined; retry the messages), or
    ``refused`` (the node will not take it, or not at the fee cap: ``reason`` has its words)."""

    status: str
    tx: JournalTx | None = None
    receipt: dict[str, Any] | None = None
    reason: str | None = None


def bumped(old: FeeQuote, fresh: FeeQuote, cap: int) -> FeeQuote:
    """Fees for a replacement: at least +12.5% on both fields, at least the fresh quote, at most ``cap``.

    A legacy transaction is replaced by a legacy one: gasPrice raised by at least 12.5%.
    """
    if old.legacy:
        price = min(max(math.ceil(old.max_fee * BUMP_NUMERATOR / BUMP_DENOMINATOR), fresh.max_fee), cap)
        return FeeQuote(max_fee=price, priority_fee=price, legacy=True)
    priority = max(math.ceil(old.priority_fee * BUMP_NUMERATOR / BUMP_DENOMINATOR), fresh.priority_fee)
    max_fee = max(math.ceil(old.max_fee * BUMP_NUMERATOR / BUMP_DENOMINATOR), fresh.max_fee)
    max_fee = min(max_fee, cap)
    return FeeQuote(max_fee=max_fee, priority_fee=min(priority, max_fee))


class TxSender:
    """Signs, journals, sends and shepherds transactions of one account on one chain."""

    def __init__(self, adapter: EvmAdapter, account: LocalAccount, store: Store, fees: FeePolicy,
                 metrics: Metrics, stopping: trio.Event) -> None:
        self.adapter = adapter
        self.account = account
        self.store = store
        self.fees = fees
        self.metrics = metrics
        self.stopping = stopping
        self.chain = adapter.name
        self.nonce = 0
        self.unfunded = False
        self._mined_at: dict[str, int] = {}  # tx hash -> block of its last receipt, while not final

    async def sync_nonce(self) -> None:
        """Next nonce = the chain's pending count or one past our journal, whichever is higher."""
        pending = await self.adapter.pending_nonce(self.account.address)
        self.nonce = max(pending, (self.store.max_nonce(self.chain) or -1) + 1)

    # sending ------------------------------------------------------------------------
    async def send(self, to: str, data: bytes, gas: int, message_ids: tuple[str, ...]) -> Outcome:
        """Send one transaction and wait until it is mined (replacing it while stuck).

        Returns ``pending`` when stopping interrupts the wait (the journal has it). Raises RpcError.
        """
        quote = await self.adapter.fee_quote(self.fees.priority_fee, self.fees.max_fee, self.fees.mode)
        if not await self._funded(gas, quote):
            return Outcome("no-funds")
        tx = self._sign(self.nonce, to, data, gas, quote, message_ids)
        self.store.journal_signed(tx, now=time.time())
        self.nonce += 1
        fault_point("after-sign-before-send")
        log.info("tx.signed", tx=tx.hash, nonce=tx.nonce, gas=gas, max_fee=quote.max_fee,
                 messages=len(message_ids))
        status, error = await self._broadcast(tx)
        if status not in ("sent", "fee-too-low"):
            return Outcome(status, tx, reason=error)
        return await self.shepherd([tx], to, data, gas, quote, refusal=error)

    async def shepherd(self, attempts: list[JournalTx], to: str, data: bytes, gas: int,
                       quote: FeeQuote, refusal: str | None = None) -> Outcome:
        """Wait for any of ``attempts`` (one nonce) to be mined, replacing the latest while stuck.

        At the fee cap the latest attempt is sent again as it is each round (the base fee may come
        down); after CAPPED_ROUNDS such rounds, or at a refusal the sender does not recognise, the
        attempts are journaled ``dropped`` and the send ends ``refused`` (``refusal``: the node's
        words of the last fee refusal). Raises RpcError.
        """
        sent_at = trio.current_time()
        stalled = 0
        while True:
            mined = await self._await_any(attempts, self.fees.replace_after)
            if mined is not None:
                tx, receipt = mined
                self.metrics.tx_confirm.labels(self.chain).observe(trio.current_time() - sent_at)
                self._retire_others(attempts, tx)
                return Outcome("mined", tx, receipt)
            if self.stopping.is_set():
                return Outcome("pending", attempts[-1])
            await self._refill_gap(attempts[-1].nonce)
            replacement = await self._replacement(attempts[-1], to, data, gas, quote)
            tx = attempts[-1] if replacement is None else replacement[1]
            status, error = await self._broadcast(tx)
            if status in ("nonce-lost", "refused"):
                mined = await self._mined_among(attempts)
                if mined is not None:
                    self._retire_others(attempts, mined[0])
                    return Outcome("mined", mined[0], mined[1])
                if status == "refused":
                    return await self._give_up(attempts if replacement is None else [*attempts, tx], str(error))
                return Outcome("nonce-lost", tx)
            if replacement is not None:
                quote = replacement[0]
                attempts.append(tx)
            stalled = 0 if replacement is not None else stalled + 1
            refusal = error if status == "fee-too-low" else None
            if stalled >= CAPPED_ROUNDS:
                words = refusal or f"not mined within {round(stalled * self.fees.replace_after)} s"
                return await self._give_up(attempts, f"{words} (at the fee cap of {quote.max_fee} wei per gas)")

    async def _give_up(self, attempts: list[JournalTx], reason: str) -> Outcome:
        """End a send that cannot succeed: every attempt journaled ``dropped`` with ``reason``, the
        nonce resynchronised (one still in the pool stays taken). Raises RpcError."""
        for tx in attempts:
            self.store.set_tx_state(tx.hash, "dropped", error=reason)
        await self.sync_nonce()
        return Outcome("refused", attempts[-1], reason=reason)

    async def _replacement(self, last: JournalTx, to: str, data: bytes, gas: int,
                           quote: FeeQuote) -> tuple[FeeQuote, JournalTx] | None:
        fresh = await self.adapter.fee_quote(self.fees.priority_fee, self.fees.max_fee, self.fees.mode)
        new = bumped(quote, fresh, self.fees.max_fee)
        if new.max_fee <= quote.max_fee:
            log.warning("tx.fee_capped", tx=last.hash, nonce=last.nonce, max_fee=quote.max_fee,
                        action="raise fees.max_fee_gwei for this chain if the base fee stays this high")
            return None
        tx = self._sign(last.nonce, to, data, gas, new, last.message_ids)
        self.store.journal_replacement(tx)
        log.warning("tx.replaced", old_tx=last.hash, tx=tx.hash, nonce=tx.nonce, max_fee=new.max_fee,
                    priority_fee=new.priority_fee)
        return new, tx

    def _sign(self, nonce: int, to: str, data: bytes, gas: int, quote: FeeQuote,
              message_ids: tuple[str, ...]) -> JournalTx:
        fields: dict[str, Any] = {"chainId": self.adapter.chain_id, "nonce": nonce, "to": to, "data": data,
                                  "gas": gas, "value": 0}
        if quote.legacy:  # type 0 (EIP-155): a chain without a base fee
            fields["gasPrice"] = quote.max_fee
        else:
            fields |= {"type": 2, "maxFeePerGas": quote.max_fee, "maxPriorityFeePerGas": quote.priority_fee}
        signed = self.account.sign_transaction(fields)
        return JournalTx(hash="0x" + bytes(signed.hash).hex(), chain=self.chain, nonce=nonce,
                         raw="0x" + bytes(signed.raw_transaction).hex(), state="signed",
                         message_ids=message_ids, created_at=time.time())

    async def _broadcast(self, tx: JournalTx) -> tuple[str, str | None]:
        """(status, the node's words when it refused): ``sent`` (or already known, or unanswered),
        ``fee-too-low`` (kept as signed, to be sent again or replaced), or ``nonce-lost``,
        ``no-funds``, ``refused`` (not recognised), each journaled ``dropped``. Raises RpcError."""
        try:
            await self.adapter.send_raw(bytes.fromhex(tx.raw[2:]))
        except RpcError as exc:
            status = _classify(exc)
            if status == "sent":
                log.warning("tx.send_uncertain", tx=tx.hash, error=exc.message)
            else:
                error = f"{self.chain} refused the transaction: {exc.message}"
                log.warning("tx.refused", tx=tx.hash, nonce=tx.nonce, reason=status, error=exc.message)
                if status == "fee-too-low":
                    self.store.set_tx_state(tx.hash, "signed", error=error)
                    return status, error
                self.store.set_tx_state(tx.hash, "dropped", error=error)
                await self.sync_nonce()  # a refused nonce is free again (no-funds) or used (nonce-lost)
                return status, error
        fault_point("after-send-before-record")
        self.store.set_tx_state(tx.hash, "sent")
        return "sent", None

    async def _funded(self, gas: int, quote: FeeQuote) -> bool:
        balance = await self.adapter.balance(self.account.address)
        self.metrics.wallet_balance.labels(self.chain).set(balance)
        needed = gas * quote.max_fee
        if balance >= needed:
            if self.unfunded:
                log.info("wallet.funded", chain=self.chain, address=self.account.address, balance=balance)
            self.unfunded = False
            return True
        if not self.unfunded:
            log.error("wallet.insufficient_funds", chain=self.chain, address=self.account.address,
                      balance=balance, needed=needed, alarm=True,
                      action=f"send native coin to {self.account.address} on {self.chain}; delivery resumes by itself")
        self.unfunded = True
        return False

    # waiting --------------------------------------------------------------------------
    async def _await_any(self, attempts: list[JournalTx], timeout: float) -> tuple[JournalTx, dict[str, Any]] | None:
        with trio.move_on_after(timeout):
            while True:
                mined = await self._mined_among(attempts)
                if mined is not None:
                    return mined
                await trio.sleep(RECEIPT_POLL)
        return None

    async def _mined_among(self, attempts: list[JournalTx]) -> tuple[JournalTx, dict[str, Any]] | None:
        for tx in attempts:
            receipt = await self.adapter.receipt(tx.hash)
            if receipt is not None:
                return tx, receipt
        return None

    def _retire_others(self, attempts: list[JournalTx], mined: JournalTx) -> None:
        for tx in attempts:
            if tx.hash != mined.hash:
                self.store.set_tx_state(tx.hash, "replaced")

    # destination finality -------------------------------------------------------------
    async def finality(self, tx: JournalTx, depth: int, head: int) -> tuple[str, dict[str, Any] | None]:
        """Where a mined transaction stands with the head at ``head``: ``final`` (its receipt, returned,
        is at least ``depth`` blocks below the head in a block of the canonical chain), ``waiting``, or
        ``gone`` (no receipt any more: a reorg took it off the chain). Raises RpcError."""
        block = self._mined_at.get(tx.hash)
        if block is not None and head - block < depth:
            return "waiting", None
        receipt = await self.adapter.receipt(tx.hash)
        if receipt is None:
            self._mined_at.pop(tx.hash, None)
            return "gone", None
        block = int(receipt["blockNumber"], 16)
        self._mined_at[tx.hash] = block
        canonical = await self.adapter.block_hash(block)
        if head - block < depth or (canonical or "").lower() != str(receipt.get("blockHash", "")).lower():
            return "waiting", None  # not deep enough, or a node behind the reorg answered
        del self._mined_at[tx.hash]
        return "final", receipt

    async def restore(self, tx: JournalTx) -> Outcome:
        """Get a mined transaction that a reorg dropped mined again: the same signed bytes at the
        same nonce (replaced while stuck), unless another attempt at that nonce was mined on the
        new branch; ``nonce-lost`` when something else used the nonce there. Raises RpcError;
        ``pending`` when stopping (the journal has it as sent)."""
        attempts = [a for a in self.store.txs_at_nonce(self.chain, tx.nonce) if a.hash != tx.hash]
        self.store.set_tx_state(tx.hash, "sent")
        return await self._recover_nonce([*attempts, tx])

    async def _refill_gap(self, nonce: int) -> None:
        """Rebroadcast our mined, not yet final transactions below ``nonce`` that a reorg took off
        the chain: the node mines nothing at ``nonce`` before them. They stay ``mined`` in the journal
        (``finality`` finds their new receipt). Raises RpcError."""
        below = [t for t in self.store.txs_in_state(self.chain, "mined") if t.nonce < nonce]
        if not below or await self.adapter.latest_nonce(self.account.address) >= nonce:
            return
        for tx in below:
            if await self.adapter.receipt(tx.hash) is None:
                log.warning("tx.reorged", tx=tx.hash, nonce=tx.nonce, messages=len(tx.message_ids))
                try:
                    await self.adapter.send_raw(bytes.fromhex(tx.raw[2:]))
                except RpcError as exc:
                    log.warning("tx.send_uncertain", tx=tx.hash, error=exc.message)

    # recovery -------------------------------------------------------------------------
    async def recover(self, settle: Callable[[JournalTx, dict[str, Any]], None],
                      abandon: Callable[[JournalTx, str], None],
                      refused: Callable[[JournalTx, str], None] | None = None) -> None:
        """Settle every journaled, unsettled transaction after a restart, then sync the nonce
        (``refused``: for a nonce the node will not take, with its words)."""
        by_nonce: dict[int, list[JournalTx]] = {}
        for tx in self.store.open_txs(self.chain):
            by_nonce.setdefault(tx.nonce, []).append(tx)
        for nonce, attempts in sorted(by_nonce.items()):
            log.info("tx.recovering", tx=attempts[-1].hash, nonce=nonce, messages=len(attempts[-1].message_ids),
                     attempts=len(attempts))
            outcome = await self._recover_nonce(attempts)
            if outcome.status == "mined" and outcome.tx and outcome.receipt:
                settle(outcome.tx, outcome.receipt)
            elif outcome.status == "refused" and outcome.tx and refused is not None:
                refused(outcome.tx, outcome.reason or "refused")
            else:
                for tx in attempts:
                    abandon(tx, outcome.status)
        await self.sync_nonce()

    async def _recover_nonce(self, attempts: list[JournalTx]) -> Outcome:
        mined = await self._mined_among(attempts)
        if mined is not None:
            self._retire_others(attempts, mined[0])
            return Outcome("mined", mined[0], mined[1])
        status, error = await self._broadcast(attempts[-1])
        if status not in ("sent", "fee-too-low"):
            return Outcome(status, attempts[-1], reason=error)
        to, data, gas, quote = _decode(attempts[-1].raw)
        return await self.shepherd(attempts, to, data, gas, quote, refusal=error)


def _decode(raw: str) -> tuple[str, bytes, int, FeeQuote]:
    """Destination, calldata, gas and fees of a journaled EIP-1559 or legacy transaction."""
    blob = HexBytes(raw)
    if blob[0] >= 0xC0:  # an RLP list: a legacy (type 0) transaction
        nonce, price, gas, dest, _value, data, *_signature = rlp.decode(bytes(blob))
        price_int = int.from_bytes(price, "big")
        return (to_checksum_address(dest), bytes(data), int.from_bytes(gas, "big"),
                FeeQuote(max_fee=price_int, priority_fee=price_int, legacy=True))
    fields = TypedTransaction.from_bytes(blob).as_dict()
    to = to_checksum_address(bytes(fields["to"]))
    quote = FeeQuote(max_fee=int(fields["maxFeePerGas"]), priority_fee=int(fields["maxPriorityFeePerGas"]))
    return to, bytes(fields["data"]), int(fields["gas"]), quote


#: Words of fee refusals (geth, Besu, Nethermind, anvil): too low for the base fee or the pool.
FEE_REFUSALS = ("underpriced", "less than block base fee", "fee cap less than", "feecap too low",
                "fee too low", "gas price too low", "gas price below", "max fee per gas less than")


def _classify(exc: RpcError) -> str:
    """What a failed ``eth_sendRawTransaction`` means. Without an answer from the node (a transport
    failure) the node may hold the transaction: ``sent``. An answer not recognised: ``refused``."""
    if "method" not in exc.fields:
        return "sent"
    text = exc.message.lower()
    if "already known" in text or "known transaction" in text or "already imported" in text:
        return "sent"
    if "nonce too low" in text or "nonce has already been used" in text or "old nonce" in text:
        return "nonce-lost"
    if "insufficient funds" in text:
        return "no-funds"
    if any(words in text for words in FEE_REFUSALS):
        return "fee-too-low"
    return "refused"
