"""``relayer transfer --from litecoin --to alpha --asset native``: a deposit on the devnet's Litecoin chain.

The devnet's Litecoin user (wallet ``user`` of the devnet's litecoind) pays ``amount`` LTC to the custody
with the OP_RETURN payload naming alpha and the recipient (default: devnet user N's EVM address), and a
block is mined. With ``wait`` blocks are mined until the deposit is final for the operators
(``confirmations`` on top), then alpha's MessageLayer is polled until it processed the deposit's message
(``outcomeOf`` of the custody's program and the deposit's nonce); the result carries the outcome and the
recipient's wrapped LTC balance. The JSON has the shape of any transfer's plus ``wrapped_balance``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eth_utils import is_address, to_checksum_address

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import litecoin
from relayer.devnet.network import load_deployment
from relayer.devnet.transfer import POLL_INTERVAL, DeliveryTimeout, TransferResult, describe, read_outcome
from relayer.errors import UsageError
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.regtest import json_rpc
from relayer_litecoin.source import deposit_id, deposit_nonce

LITOSHIS = Decimal(10) ** 8


@dataclass(frozen=True)
class DepositResult(TransferResult):
    """A transfer's result and, with ``wait``, the recipient's wrapped LTC balance (litoshis) after it."""

    wrapped_balance: int | None = None

    @property
    def block_latency_s(self) -> int | None:
        """None: a Litecoin block's time and an EVM block's come from two clocks that need not agree (on the
        devnet regtest's and anvil's differ by seconds), so their difference is no latency (``latency_s`` is
        the measured one)."""
        return None


class WalletRpc:
    """litecoind's JSON-RPC for one wallet, credentials taken from the URL; amounts read as Decimal."""

    def __init__(self, url: str, wallet: str) -> None:
        parts = urlsplit(url)
        self.user, self.password = parts.username or "", parts.password or ""
        host = parts.hostname or "127.0.0.1"
        self.url = urlunsplit((parts.scheme, f"{host}:{parts.port}", f"/wallet/{wallet}", "", ""))

    def call(self, method: str, *params: Any) -> Any:
        """The result of ``method``. Raises DevnetError (the node's error, or no answer)."""
        return json_rpc(self.url, self.user, self.password, method, params, parse_float=Decimal)


def to_litoshis(amount: Decimal | str | int) -> int:
    """``amount`` LTC in litoshis. Raises UsageError for more than 8 decimals or not positive."""
    try:
        value = Decimal(str(amount)) * LITOSHIS
    except InvalidOperation as exc:
        raise UsageError(f"amount {amount!r} is not a number") from exc
    if value != value.to_integral_value() or value <= 0:
        raise UsageError(f"amount {amount} must be positive with at most 8 decimals (litoshis)")
    return int(value)


def deposit(devnet_dir: Path | str, destination: str, amount: Decimal | str | int, recipient: str | None = None,
            wait: bool = False, timeout: float = 120.0, user_index: int = 0) -> DepositResult:
    """Deposit ``amount`` LTC from the devnet's Litecoin user for ``recipient`` on ``destination``.
    Raises UsageError (no Litecoin chain in the devnet, another destination, a bad amount or recipient, a
    balance too small), DevnetError (litecoind refused), DeliveryTimeout (``wait``: not processed within
    ``timeout`` seconds), RpcError."""
    deployment = load_deployment(devnet_dir)
    chain = deployment["chains"].get(litecoin.NAME)
    if chain is None:
        raise UsageError("this devnet has no Litecoin chain (start it with: relayer devnet up --with litecoin)")
    if destination != litecoin.DESTINATION:
        raise UsageError(f"Litecoin deposits go to {litecoin.DESTINATION} only, not {destination!r}")
    dst = deployment["chains"][destination]
    users = deployment["users"]
    if not 0 <= user_index < len(users):
        raise UsageError(f"user index {user_index} out of range 0..{len(users) - 1}")
    to = recipient or users[user_index]["address"]
    if not is_address(to):
        raise UsageError(f"recipient {to!r} is not an address")
    to = to_checksum_address(to)
    value = to_litoshis(amount)
    wallet = WalletRpc(chain["rpc"], chain["user"]["wallet"])
    balance = Decimal(str(wallet.call("getbalance"))) * LITOSHIS
    if balance < value + 1_000_000:  # the amount and a generous fee
        raise UsageError(f"the Litecoin user holds {balance / LITOSHIS} LTC, not enough for {amount} and the fee")
    payload = DepositPayload(dst["chain_id"], bytes.fromhex(to[2:])).encode()
    outputs = [{chain["custody"]["address"]: str(Decimal(value) / LITOSHIS)}, {"data": payload.hex()}]
    raw = wallet.call("createrawtransaction", [], outputs)
    funded = wallet.call("fundrawtransaction", raw, {"changePosition": len(outputs)})
    signed = wallet.call("signrawtransactionwithwallet", funded["hex"])
    txid = wallet.call("sendrawtransaction", signed["hex"])
    (block_hash,) = wallet.call("generatetoaddress", 1, chain["user"]["address"])
    block = wallet.call("getblock", block_hash)
    height, index = int(block["height"]), list(block["tx"]).index(txid)
    nonce = deposit_nonce(height, index)
    program = bytes.fromhex(chain["custody"]["program"])
    result = DepositResult(
        source_tx=txid, destination_tx=None, message_id=deposit_id(chain["chain_id"], program, nonce), nonce=nonce,
        latency_s=None, destination_gas=None, per_message_gas=None, source=litecoin.NAME, destination=destination,
        asset="native", amount=Decimal(value) / LITOSHIS, amount_base_units=value, symbol="LTC",
        sender=chain["user"]["address"], recipient=to, source_txs=[txid],
        source_fee=int(Decimal(str(funded["fee"])) * LITOSHIS), source_fee_unit="litoshi", source_block=height,
        source_block_timestamp=int(block["time"]))
    if not wait:
        return result
    started = time.monotonic()
    wallet.call("generatetoaddress", int(chain["confirmations"]), chain["user"]["address"])  # final for the operators
    with SyncEvm(dst["rpc"]) as evm:
        done = _await_deposit(evm, dst["message_layer"], chain["chain_id"], program, result, started, timeout)
        wrapped = dst[litecoin.NAME]["wrapped"]
        held = int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", to))
    return replace(done, wrapped_balance=held)


def _await_deposit(evm: SyncEvm, layer: str, chain_id: int, program: bytes, result: DepositResult,
                   started: float, timeout: float) -> DepositResult:
    """Poll ``outcomeOf`` of the deposit's nonce, then read its MessageProcessed (as any transfer does)."""
    deadline = started + timeout
    from_block = max(0, evm.block_number() - 200)
    while not evm.call(layer, "MessageLayer", "outcomeOf", chain_id, program, result.nonce):
        if time.monotonic() > deadline:
            raise DeliveryTimeout(f"deposit not processed on {result.destination} within {timeout:g} s",
                                  message_id=result.message_id, source_tx=result.source_tx)
        time.sleep(POLL_INTERVAL)
    return read_outcome(evm, layer, result, from_block, started)


def main(args: argparse.Namespace) -> int:
    """``relayer transfer --from litecoin``: one deposit, printed (human lines or one JSON object).
    Raises like ``deposit``; returns 0."""
    if args.asset != "native":
        raise UsageError(f"--asset {args.asset}: from litecoin only native (LTC) is deposited")
    result = deposit(args.devnet, args.destination, args.amount, recipient=args.recipient, wait=args.wait,
                     timeout=getattr(args, "timeout", 120.0), user_index=getattr(args, "user", 0))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(describe(result) + ("" if result.wrapped_balance is None else
                                  f"\n  wrapped balance {Decimal(result.wrapped_balance) / LITOSHIS} WLTC"))
    sys.stdout.flush()
    return 0


__all__ = ["DepositResult", "WalletRpc", "deposit", "main", "to_litoshis"]
