"""``relayer transfer``: lock or burn an asset on the devnet as one of its users.

(Registered as a subcommand by ``relayer.devnet.commands``, outside the core.)

Assets, seen from the source chain:

- ``native``          lock the source's native coin (``Bridge.lockNative``)
- ``token``           lock the source's test token (``approve`` + ``Bridge.lockToken``)
- ``wrapped-native``  burn the source's wrapped form of the destination's native coin
                      (``Bridge.burn``); the destination unlocks the original coin
- ``wrapped-token``   burn the source's wrapped form of the destination's test token

With ``wait`` the destination bridge is polled until the message is delivered; the result
then carries the destination transaction, its gas and the latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from adapters.evm.abi import Contract
from adapters.evm.adapter import message_id
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.deploy import same_address, token_meta, wrapped_meta
from relayer.devnet.network import load_deployment
from relayer.errors import RelayerError, RetryableError, UsageError

ASSETS = ("native", "token", "wrapped-native", "wrapped-token")
DECIMALS = 18
POLL_INTERVAL = 0.25
ERC20_ABI = "TestToken"  # any artifact with the plain ERC-20 interface


class DeliveryTimeout(RetryableError):
    """The message was not delivered on the destination within the timeout."""


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
    source_fee_wei: int = 0  # gas paid by the sender for source_txs
    source_block: int = 0
    source_block_timestamp: int = 0
    destination_block: int | None = None
    destination_block_timestamp: int | None = None
    messages_in_destination_tx: int | None = None

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
) -> TransferResult:
    """Lock or burn ``amount`` of ``asset`` on ``source`` for ``recipient`` on ``destination``.

    The sender is devnet user ``user_index``; the recipient defaults to the same address.
    Raises UsageError for bad arguments or an insufficient balance, DevnetError when the
    devnet folder is missing, ContractRevert when the source transaction reverts,
    DeliveryTimeout when ``wait`` and the message is not delivered within ``timeout`` seconds.
    """
    deployment = load_deployment(devnet_dir)
    src, dst = _chains(deployment, source, destination)
    what = plan(src, destination, asset)
    value = to_base_units(amount)
    user = _user(deployment, user_index)
    to = _recipient(recipient or user["address"])
    with SyncEvm(src["rpc"]) as src_evm, SyncEvm(dst["rpc"]) as dst_evm:
        _check_balance(src_evm, src, what, user["address"], value)
        dst_from_block = dst_evm.block_number()
        started = time.monotonic()
        result = _send(src_evm, src, dst, what, user, to, value)
        if not wait:
            return result
        return _await_delivery(dst_evm, dst["bridge"], src["chain_id"], result, dst_from_block,
                               started, timeout)


def _send(evm: SyncEvm, src: dict[str, Any], dst: dict[str, Any], what: _Plan, user: dict[str, str],
          recipient: str, value: int) -> TransferResult:
    """Submit the source transaction(s) and describe the message they emitted."""
    receipts = _submit(evm, src, dst, what, user["key"], recipient, value)
    nonce = _emitted_nonce(receipts[-1], src["bridge"])
    source_block = as_int(receipts[-1]["blockNumber"])
    return TransferResult(
        source_tx=receipts[-1]["transactionHash"], destination_tx=None,
        message_id=message_id(src["chain_id"], src["bridge"], nonce), nonce=nonce,
        latency_s=None, destination_gas=None, per_message_gas=None,
        source=src["name"], destination=dst["name"], asset=what.asset, amount=from_base_units(value),
        amount_base_units=value, symbol=what.label, sender=user["address"], recipient=recipient,
        source_txs=[r["transactionHash"] for r in receipts], source_fee_wei=sum(fee_paid(r, evm) for r in receipts),
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
            recipient: str, value: int) -> list[dict[str, Any]]:
    bridge, dst_id = src["bridge"], dst["chain_id"]
    if what.asset == "native":
        return [evm.transact(key, bridge, "Bridge", "lockNative", dst_id, recipient, value=value)]
    assert what.token is not None  # only the native coin has no token
    if what.asset == "token":
        approve = evm.transact(key, what.token, ERC20_ABI, "approve", bridge, value)
        return [approve, evm.transact(key, bridge, "Bridge", "lockToken", what.token, dst_id,
                                      recipient, value)]
    return [evm.transact(key, bridge, "Bridge", "burn", what.token, recipient, value)]


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


def _emitted_nonce(receipt: dict[str, Any], bridge: str) -> int:
    """Nonce of the ``Locked``/``Burned`` log the bridge emitted in ``receipt``.

    Raises RelayerError when there is none.
    """
    contract = Contract.load("Bridge")
    for log in receipt["logs"]:
        decoded = contract.decode_log(log) if same_address(log["address"], bridge) else None
        if decoded is not None and decoded[0] in ("Locked", "Burned"):
            return int(decoded[1]["nonce"])
    raise RelayerError("the source transaction emitted no Locked/Burned log",
                       tx=receipt["transactionHash"])


def _hex(value: Any) -> str:
    return ("0x" + value.hex() if isinstance(value, bytes) else str(value)).lower()


def _block_timestamp(evm: SyncEvm, number: int) -> int:
    return as_int(evm.rpc("eth_getBlockByNumber", hex(number), False)["timestamp"])


# --------------------------------------------------------------------------- delivery

def _await_delivery(evm: SyncEvm, bridge: str, src_chain_id: int, result: TransferResult,
                    from_block: int, started: float, timeout: float) -> TransferResult:
    deadline = started + timeout
    while not evm.call(bridge, "Bridge", "isDelivered", src_chain_id, result.nonce):
        if time.monotonic() > deadline:
            raise DeliveryTimeout(f"message not delivered within {timeout:g} s",
                                  message_id=result.message_id, source_tx=result.source_tx)
        time.sleep(POLL_INTERVAL)
    latency = time.monotonic() - started
    log = _delivered_log(evm, bridge, result.message_id, from_block)
    receipt = evm.wait_receipt(log["transactionHash"])
    gas, count = as_int(receipt["gasUsed"]), _delivered_count(receipt, bridge)
    block = as_int(receipt["blockNumber"])
    return replace(result, destination_tx=log["transactionHash"], latency_s=round(latency, 3),
                    destination_gas=gas, per_message_gas=gas // max(count, 1),
                    destination_block=block, messages_in_destination_tx=count,
                    destination_block_timestamp=_block_timestamp(evm, block))


def _delivered_log(evm: SyncEvm, bridge: str, msg_id: str, from_block: int) -> dict[str, Any]:
    """The ``Delivered`` log of ``msg_id``; retried briefly in case the node lags its state."""
    topic = _hex(Contract.load("Bridge").event_topic("Delivered"))
    query = {"address": bridge, "topics": [topic, msg_id], "fromBlock": hex(from_block),
             "toBlock": "latest"}
    for _ in range(20):
        logs = evm.rpc("eth_getLogs", query)
        if logs:
            found: dict[str, Any] = logs[0]
            return found
        time.sleep(POLL_INTERVAL)
    raise RelayerError("message is delivered but its Delivered log was not found", message_id=msg_id)


def _delivered_count(receipt: dict[str, Any], bridge: str) -> int:
    topic = _hex(Contract.load("Bridge").event_topic("Delivered"))
    return sum(1 for log in receipt["logs"]
               if same_address(log["address"], bridge) and _hex(log["topics"][0]) == topic)


# --------------------------------------------------------------------------- command line

def describe(result: TransferResult) -> str:
    """Human lines for one transfer."""
    verb = "burned" if result.asset.startswith("wrapped") else "locked"
    lines = [(f"{verb} {result.amount} {result.symbol} on {result.source} (nonce {result.nonce}) "
              f"for {result.recipient} on {result.destination}"),
             f"  source tx       {result.source_tx}",
             f"  message id      {result.message_id}"]
    if result.destination_tx is None:
        lines.append("  not waiting for delivery (use --wait)")
        return "\n".join(lines)
    lines += [f"  destination tx  {result.destination_tx} (block {result.destination_block})",
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
                      timeout=getattr(args, "timeout", 120.0), user_index=getattr(args, "user", 0))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(describe(result))
    sys.stdout.flush()
    return 0
