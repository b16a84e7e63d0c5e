"""``relayer transfer``: lock or burn an asset on the devnet as one of its users.

(Registered as a subcommand by ``relayer.devnet.commands``, outside the core.)

Assets, seen from the source chain:

- ``native``          lock the source's native coin (``TokenRouter.lockNative``)
- ``token``           lock the source's test token (``approve`` + ``TokenRouter.lockToken``)
- ``wrapped-native``  burn the source's wrapped form of the destination's native coin
                      (``TokenRouter.burn``); the destination unlocks the original coin
- ``wrapped-token``   burn the source's wrapped form of the destination's test token

Every transfer carries an expiry (``expiry`` seconds after the source chain's latest block,
default one hour). The message id and nonce are those of the source ``MessageLayer``'s
``MessageSent``. With ``wait`` the destination layer is polled until it has processed the message;
the result then carries its outcome (``delivered``, ``failed``: refunded on the source by the
acknowledgement, ``expired``), the destination transaction, its gas and the latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, TypeVar

import eth_abi
from eth_utils import is_address, to_checksum_address

from adapters.evm.messaging import (
    MESSAGE_PROCESSED_TOPIC,
    OUTCOME_DELIVERED,
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    Envelope,
    address_word,
    message_sent_logs,
)
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.deploy import same_address, token_meta, wrapped_meta
from relayer.devnet.network import load_deployment
from relayer.errors import RelayerError, RetryableError, UsageError

ASSETS = ("native", "token", "wrapped-native", "wrapped-token")
DECIMALS = 18
POLL_INTERVAL = 0.25
DEFAULT_EXPIRY = 3600  # seconds after the source chain's latest block
OUTCOMES = {OUTCOME_DELIVERED: "delivered", OUTCOME_FAILED: "failed", OUTCOME_EXPIRED: "expired"}
ERC20_ABI = "TestToken"  # any artifact with the plain ERC-20 interface
R = TypeVar("R", bound="TransferResult")


class DeliveryTimeout(RetryableError):
    """The message (or its acknowledgement) was not processed on its destination within the timeout."""


@dataclass(frozen=True)
class TransferResult:
    """What one transfer did; destination fields stay None without ``wait``."""

    source_tx: str
    destination_tx: str | None
    message_id: str
    nonce: int
    latency_s: float | None
    destination_gas: int | None
    per_message_gas: int | None
    source: str = ""
    destination: str = ""
    asset: str = ""
    amount: Decimal = Decimal(0)
    amount_base_units: int = 0
    symbol: str = ""  # of what the sender spent: ETH, ALP, wALPHA, ...
    sender: str = ""
    recipient: str = ""
    source_txs: list[str] = field(default_factory=list)  # approve (if any), then lock/burn
    source_fee: int = 0  # what the sender paid for source_txs, in source_fee_unit
    source_fee_unit: str = "wei"  # the source chain's smallest unit (wei; litoshi for Litecoin)
    source_block: int = 0
    source_block_timestamp: int = 0
    destination_block: int | None = None
    destination_block_timestamp: int | None = None
    messages_in_destination_tx: int | None = None
    expiry: int = 0  # unix seconds after which the destination refuses the message
    outcome: str | None = None  # with wait: delivered, failed (refunded on the source) or expired
    outcome_result: str | None = None  # 0x-hex handler result or revert data (failed)

    @property
    def block_latency_s(self) -> int | None:
        """Destination block timestamp minus source block timestamp."""
        if self.destination_block_timestamp is None:
            return None
        return self.destination_block_timestamp - self.source_block_timestamp

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["amount"] = str(self.amount)
        data["block_latency_s"] = self.block_latency_s
        return data


@dataclass(frozen=True)
class _Plan:
    """The calls one transfer makes on the source chain."""

    asset: str
    token: str | None  # ERC-20 the sender spends (None for the native coin)
    label: str  # symbol for humans


# --------------------------------------------------------------------------- pure helpers

def to_base_units(amount: Decimal | str | int) -> int:
    """Whole units with up to 18 decimals -> base units, exactly.

    Raises UsageError for a non-number, a non-positive amount or more than 18 decimals.
    """
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        raise UsageError(f"amount {amount!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise UsageError(f"amount {amount} must be positive")
    with localcontext() as ctx:
        ctx.prec = 200
        scaled = value.scaleb(DECIMALS)
    if scaled != scaled.to_integral_value():
        raise UsageError(f"amount {amount} has more than {DECIMALS} decimals")
    return int(scaled)


def from_base_units(value: int) -> Decimal:
    """Base units -> whole units (exact)."""
    with localcontext() as ctx:
        ctx.prec = 200
        ctx.traps[Inexact] = True
        return Decimal(value).scaleb(-DECIMALS).normalize()


def as_int(value: Any) -> int:
    """An RPC quantity (0x-hex string or int) as int."""
    return int(value, 16) if isinstance(value, str) else int(value)


def plan(source_chain: dict[str, Any], destination_name: str, asset: str) -> _Plan:
    """Which token the sender spends on the source chain for ``asset``.

    Raises UsageError for an unknown asset.
    """
    if asset == "native":
        return _Plan(asset, None, "ETH")
    if asset == "token":
        return _Plan(asset, source_chain["test_token"], token_meta(source_chain["name"])[1])
    if asset in ("wrapped-native", "wrapped-token"):
        kind = asset.removeprefix("wrapped-")
        return _Plan(asset, source_chain[f"wrapped_{kind}"], wrapped_meta(destination_name, kind)[1])
    raise UsageError(f"unknown asset {asset!r} (choose from {', '.join(ASSETS)})")


# --------------------------------------------------------------------------- transfer

def transfer(
    devnet_dir: Path | str,
    source: str,
    destination: str,
    asset: str,
    amount: Decimal | str | int,
    recipient: str | None = None,
    wait: bool = False,
    timeout: float = 120.0,
    user_index: int = 0,
    expiry: int = DEFAULT_EXPIRY,
) -> TransferResult:
    """Lock or burn ``amount`` of ``asset`` on ``source`` for ``recipient`` on ``destination``.

    The sender is devnet user ``user_index``; the recipient defaults to the same address. The
    message expires ``expiry`` seconds after the source chain's latest block.
    Raises UsageError for bad arguments or an insufficient balance, DevnetError when the
    devnet folder is missing, ContractRevert when the source transaction reverts,
    DeliveryTimeout when ``wait`` and the destination has not processed the message within
    ``timeout`` seconds (a message that failed or expired there is processed: see ``outcome``).
    """
    deployment = load_deployment(devnet_dir)
    src, dst = _chains(deployment, source, destination)
    what = plan(src, destination, asset)
    value = to_base_units(amount)
    user = _user(deployment, user_index)
    to = _recipient(recipient or user["address"])
    if expiry <= 0:
        raise UsageError(f"expiry {expiry} must be a positive number of seconds")
    with SyncEvm(src["rpc"]) as src_evm, SyncEvm(dst["rpc"]) as dst_evm:
        _check_balance(src_evm, src, what, user["address"], value)
        dst_from_block = dst_evm.block_number()
        started = time.monotonic()
        deadline = latest_timestamp(src_evm) + expiry
        result = _send(src_evm, src, dst, what, user, to, value, deadline)
        if not wait:
            return result
        return _await_delivery(dst_evm, dst["message_layer"], src, result, dst_from_block, started, timeout)


def _send(evm: SyncEvm, src: dict[str, Any], dst: dict[str, Any], what: _Plan, user: dict[str, str],
          recipient: str, value: int, expiry: int) -> TransferResult:
    """Submit the source transaction(s) and describe the message they emitted."""
    receipts = _submit(evm, src, dst, what, user["key"], recipient, value, expiry)
    envelope = sent_envelope(receipts[-1], src["message_layer"])
    source_block = as_int(receipts[-1]["blockNumber"])
    return TransferResult(
        source_tx=receipts[-1]["transactionHash"], destination_tx=None,
        message_id="0x" + envelope.id.hex(), nonce=envelope.nonce, expiry=envelope.expiry,
        latency_s=None, destination_gas=None, per_message_gas=None,
        source=src["name"], destination=dst["name"], asset=what.asset, amount=from_base_units(value),
        amount_base_units=value, symbol=what.label, sender=user["address"], recipient=recipient,
        source_txs=[r["transactionHash"] for r in receipts], source_fee=sum(fee_paid(r, evm) for r in receipts),
        source_block=source_block, source_block_timestamp=_block_timestamp(evm, source_block),
    )


def _chains(deployment: dict[str, Any], source: str, destination: str) -> tuple[dict[str, Any], dict[str, Any]]:
    chains = deployment["chains"]
    for name in (source, destination):
        if name not in chains:
            raise UsageError(f"unknown chain {name!r} (devnet chains: {', '.join(chains)})")
    if source == destination:
        raise UsageError("source and destination must be different chains")
    return chains[source], chains[destination]


def _user(deployment: dict[str, Any], index: int) -> dict[str, str]:
    users: list[dict[str, str]] = deployment["users"]
    if not 0 <= index < len(users):
        raise UsageError(f"user index {index} out of range 0..{len(users) - 1}")
    return users[index]


def _recipient(address: str) -> str:
    if not is_address(address):
        raise UsageError(f"recipient {address!r} is not an address")
    return str(to_checksum_address(address))


def _check_balance(evm: SyncEvm, chain: dict[str, Any], what: _Plan, owner: str, value: int) -> None:
    have = balance_of(evm, what.token, owner)
    if have < value:
        raise UsageError(f"{owner} has {from_base_units(have)} {what.label} on {chain['name']}, "
                         f"needs {from_base_units(value)}")


def balance_of(evm: SyncEvm, token: str | None, owner: str) -> int:
    """Native balance (``token`` None) or ERC-20 balance of ``owner``."""
    if token is None:
        return int(evm.balance(owner))
    return int(evm.call(token, ERC20_ABI, "balanceOf", owner))


def _submit(evm: SyncEvm, src: dict[str, Any], dst: dict[str, Any], what: _Plan, key: str,
            recipient: str, value: int, expiry: int) -> list[dict[str, Any]]:
    router, dst_id = src["token_router"], dst["chain_id"]
    if what.asset == "native":
        return [evm.transact(key, router, "TokenRouter", "lockNative", dst_id, recipient, expiry, value=value)]
    assert what.token is not None  # only the native coin has no token
    if what.asset == "token":
        approve = evm.transact(key, what.token, ERC20_ABI, "approve", router, value)
        return [approve, evm.transact(key, router, "TokenRouter", "lockToken", what.token, dst_id,
                                      recipient, value, expiry)]
    return [evm.transact(key, router, "TokenRouter", "burn", what.token, recipient, value, expiry)]


def fee_paid(receipt: dict[str, Any], evm: SyncEvm | None = None) -> int:
    """Wei the sender paid for gas: ``gasUsed * effectiveGasPrice``.

    A node before London may leave ``effectiveGasPrice`` out of its receipts (Hardhat at berlin);
    then the transaction's ``gasPrice`` is read through ``evm``. Raises KeyError when the receipt
    lacks it and no ``evm`` is given, RpcError when the node fails.
    """
    price = receipt.get("effectiveGasPrice")
    if price is None and evm is not None:
        price = evm.rpc("eth_getTransactionByHash", receipt["transactionHash"])["gasPrice"]
    if price is None:
        raise KeyError("effectiveGasPrice")
    return as_int(receipt["gasUsed"]) * as_int(price)


def sent_envelope(receipt: dict[str, Any], layer: str) -> Envelope:
    """The envelope of the one ``MessageSent`` the message layer ``layer`` emitted in ``receipt``.

    Raises RelayerError when there is none.
    """
    sent = message_sent_logs(receipt, layer)
    if not sent:
        raise RelayerError("the source transaction emitted no MessageSent", tx=receipt["transactionHash"])
    return sent[-1][1]


def _hex(value: Any) -> str:
    return ("0x" + value.hex() if isinstance(value, bytes) else str(value)).lower()


def _block_timestamp(evm: SyncEvm, number: int) -> int:
    return as_int(evm.rpc("eth_getBlockByNumber", hex(number), False)["timestamp"])


def latest_timestamp(evm: SyncEvm) -> int:
    """Timestamp of the chain's latest block. Raises RpcError."""
    return as_int(evm.rpc("eth_getBlockByNumber", "latest", False)["timestamp"])


# --------------------------------------------------------------------------- delivery

def _await_delivery(evm: SyncEvm, layer: str, src: dict[str, Any], result: TransferResult,
                    from_block: int, started: float, timeout: float) -> TransferResult:
    """Poll the destination layer's ``outcomeOf`` until it processed the message, then read its
    ``MessageProcessed``. Raises DeliveryTimeout after ``timeout`` seconds, RpcError."""
    deadline = started + timeout
    source_layer = address_word(src["message_layer"])
    while not evm.call(layer, "MessageLayer", "outcomeOf", src["chain_id"], source_layer, result.nonce):
        if time.monotonic() > deadline:
            raise DeliveryTimeout(f"message not processed on {result.destination} within {timeout:g} s",
                                  message_id=result.message_id, source_tx=result.source_tx)
        time.sleep(POLL_INTERVAL)
    return read_outcome(evm, layer, result, from_block, started)


def read_outcome(evm: SyncEvm, layer: str, result: R, from_block: int, started: float) -> R:
    """``result`` with the destination's side of a message the layer processed (its MessageProcessed
    from ``from_block`` on): transaction, block, gas, outcome, latency since ``started``. Raises
    RelayerError (no such log), RpcError."""
    latency = time.monotonic() - started
    log = _processed_log(evm, layer, result.message_id, from_block)
    outcome, outcome_result = eth_abi.decode(["uint8", "bytes"], bytes.fromhex(log["data"][2:]))
    receipt = evm.wait_receipt(log["transactionHash"])
    gas, count = as_int(receipt["gasUsed"]), _processed_count(receipt, layer)
    block = as_int(receipt["blockNumber"])
    return replace(result, destination_tx=log["transactionHash"], latency_s=round(latency, 3),
                   destination_gas=gas, per_message_gas=gas // max(count, 1),
                   destination_block=block, messages_in_destination_tx=count,
                   destination_block_timestamp=_block_timestamp(evm, block),
                   outcome=OUTCOMES.get(outcome, str(outcome)), outcome_result="0x" + bytes(outcome_result).hex())


def processed_logs(evm: SyncEvm, layer: str, msg_id: str, from_block: int = 0) -> list[dict[str, Any]]:
    """Every ``MessageProcessed`` log of ``msg_id`` by ``layer`` from ``from_block`` on, oldest first.
    Raises RpcError."""
    query = {"address": layer, "topics": [_hex(MESSAGE_PROCESSED_TOPIC), msg_id.lower()],
             "fromBlock": hex(from_block), "toBlock": "latest"}
    logs: list[dict[str, Any]] = evm.rpc("eth_getLogs", query)
    return logs


def _processed_log(evm: SyncEvm, layer: str, msg_id: str, from_block: int) -> dict[str, Any]:
    """The ``MessageProcessed`` log of ``msg_id``; retried briefly in case the node lags its state."""
    for _ in range(20):
        logs = processed_logs(evm, layer, msg_id, from_block)
        if logs:
            found: dict[str, Any] = logs[0]
            return found
        time.sleep(POLL_INTERVAL)
    raise RelayerError("message is processed but its MessageProcessed log was not found", message_id=msg_id)


def _processed_count(receipt: dict[str, Any], layer: str) -> int:
    topic = _hex(MESSAGE_PROCESSED_TOPIC)
    return sum(1 for log in receipt["logs"]
               if same_address(log["address"], layer) and _hex(log["topics"][0]) == topic)


# --------------------------------------------------------------------------- command line

def describe(result: TransferResult) -> str:
    """Human lines for one transfer."""
    verb = "burned" if result.asset.startswith("wrapped") else "locked"
    lines = [(f"{verb} {result.amount} {result.symbol} on {result.source} (nonce {result.nonce}) "
              f"for {result.recipient} on {result.destination}"),
             f"  source tx       {result.source_tx}",
             f"  message id      {result.message_id}",
             f"  expires         {result.expiry} (unix seconds)"]
    if result.destination_tx is None:
        lines.append("  not waiting for delivery (use --wait)")
        return "\n".join(lines)
    outcome = result.outcome or "?"
    if result.outcome != "delivered":
        outcome += " (its acknowledgement refunds the sender on the source)"
        if result.outcome_result and result.outcome_result != "0x":
            outcome += f", reason {result.outcome_result}"
    lines += [f"  outcome         {outcome}",
              f"  destination tx  {result.destination_tx} (block {result.destination_block})",
              (f"  latency         {result.latency_s:.2f} s wall clock, "
               f"{result.block_latency_s} s between block timestamps"),
              f"  destination gas {result.destination_gas}"
              + (f" (batch of {result.messages_in_destination_tx}: {result.per_message_gas} per message)"
                 if (result.messages_in_destination_tx or 1) > 1 else "")]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``relayer transfer``: run one transfer and print it (human lines or one JSON object).

    Raises like ``transfer``; returns 0.
    """
    result = transfer(args.devnet, args.source, args.destination, args.asset, args.amount,
                      recipient=args.recipient, wait=args.wait,
                      timeout=getattr(args, "timeout", 120.0), user_index=getattr(args, "user", 0),
                      expiry=getattr(args, "expiry", None) or DEFAULT_EXPIRY)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(describe(result))
    sys.stdout.flush()
    return 0
