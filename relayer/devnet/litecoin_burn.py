"""``relayer transfer --from alpha --to litecoin --asset wrapped-native``: a burn of wrapped LTC released on the
devnet's Litecoin chain.

Devnet user N (default 0, who holds the wLTC its deposits minted) calls ``WrappedLitecoin.burn(address,
amount)`` on alpha (no approval: the burn takes the caller's tokens), which sends the burn as a message to the
custody (the operators' route ``alpha -> litecoin``). With ``wait`` the devnet's Litecoin chain, which has no
miner, gets one regtest block about every second (``mined_blocks``) until a transaction paying the recipient
and carrying the release marker of the burn's message id is in a block with the chain's confirmations on top.
The recipient defaults to a fresh address of the devnet's Litecoin user wallet.

Amounts are in litoshis (``*_ltc``: the same in LTC). ``fee`` is what the release transaction's inputs hold
beyond its outputs (read from the node through a watch-only wallet of the custody address), ``paid`` what
it pays the recipient, ``recipient_balance`` what the recipient's address holds once it is final
(``scantxoutset``); ``max_fee_rate`` times ``vsize`` bounds the fee the operators may charge.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import litecoin
from relayer.devnet.litecoin_transfer import LITOSHIS, WalletRpc, to_litoshis
from relayer.devnet.network import load_deployment
from relayer.devnet.transfer import DeliveryTimeout, as_int, fee_paid, sent_envelope
from relayer.errors import RelayerError, UsageError
from relayer_litecoin.address import AddressError, script_of
from relayer_litecoin.deposits import op_return_data
from relayer_litecoin.marker import Kind, Marker, decode
from relayer_litecoin.network import REGTEST

MINE_INTERVAL = 1.0  # seconds between the regtest blocks mined while waiting
WATCH_WALLET = "custody-watch"  # a watch-only wallet of the custody address (the release's input values)
WRAPPED = "WrappedLitecoin"


@dataclass(frozen=True)
class BurnResult:
    """What one burn did and, with ``wait``, its release on Litecoin (release fields None without)."""

    source: str
    destination: str
    sender: str
    recipient: str
    amount: int  # litoshis burned (the release pays this less its fee)
    amount_ltc: str
    message_id: str
    nonce: int  # the message layer's nonce of the burn's message
    burn_nonce: int  # WrappedLitecoin's count of burns
    burn_tx: str
    burn_block: int
    burn_gas: int
    source_fee_wei: int
    release_txid: str | None = None
    release_block: int | None = None
    confirmations: int | None = None
    paid: int | None = None
    paid_ltc: str | None = None
    fee: int | None = None
    fee_ltc: str | None = None
    fee_rate: str | None = None  # litoshis per virtual byte actually paid (fee / vsize)
    max_fee_rate: int | None = None  # the operators' configured cap
    vsize: int | None = None
    recipient_balance: int | None = None
    recipient_balance_ltc: str | None = None
    latency_s: float | None = None  # burn mined -> release in a block
    final_latency_s: float | None = None  # burn mined -> release with the chain's confirmations
    mined_blocks: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ltc(litoshis: int) -> str:
    """``litoshis`` as an LTC amount string (8 decimals at most, no exponent)."""
    return format((Decimal(litoshis) / LITOSHIS).normalize(), "f")


def _chains(deployment: dict[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    chain = deployment["chains"].get(litecoin.NAME)
    if chain is None:
        raise UsageError("this devnet has no Litecoin chain (start it with: relayer devnet up --with litecoin)")
    if source != litecoin.DESTINATION:
        raise UsageError(f"wrapped LTC lives on {litecoin.DESTINATION} only, not {source!r}")
    return deployment["chains"][source], chain


def burn(devnet_dir: Path | str, source: str, amount: Decimal | str | int, recipient: str | None = None,
         wait: bool = False, timeout: float = 120.0, user_index: int = 0) -> BurnResult:
    """Burn ``amount`` wLTC of devnet user ``user_index`` on ``source`` for ``recipient`` on Litecoin.

    Raises UsageError before any transaction (no Litecoin chain, another source, an empty recipient or one
    of another network, an amount with more than 8 decimals, a wLTC balance too small), ContractRevert (the
    burn reverted), DeliveryTimeout (``wait``: no final release within ``timeout`` seconds), DevnetError
    (litecoind refused), RpcError."""
    deployment = load_deployment(devnet_dir)
    src, chain = _chains(deployment, source)
    users = deployment["users"]
    if not 0 <= user_index < len(users):
        raise UsageError(f"user index {user_index} out of range 0..{len(users) - 1}")
    user = users[user_index]
    if recipient is not None:
        if not recipient:
            raise UsageError("--recipient is empty: give a regtest Litecoin address or leave it out")
        try:
            script_of(recipient, REGTEST)
        except AddressError as exc:
            raise UsageError(f"recipient {exc}") from None
    value = to_litoshis(amount)
    wrapped = src[litecoin.NAME]["wrapped"]
    wallet = WalletRpc(chain["rpc"], chain["user"]["wallet"])
    with SyncEvm(src["rpc"]) as evm:
        held = int(evm.call(wrapped, WRAPPED, "balanceOf", user["address"]))
        if held < value:
            raise UsageError(f"{user['address']} holds {ltc(held)} wLTC on {source}, needs {ltc(value)} "
                             f"(deposit first: relayer transfer --from litecoin --to {source} --asset native)")
        to = recipient or str(wallet.call("getnewaddress"))
        start_height = int(wallet.call("getblockcount"))
        receipt = evm.transact(user["key"], wrapped, WRAPPED, "burn", to, value)
        burned_at = time.monotonic()
        envelope = sent_envelope(receipt, src["message_layer"])
        (event,) = Contract.load(WRAPPED).logs_of(receipt, wrapped, "BurnedForLitecoin")
        fee_wei = fee_paid(receipt, evm)
    result = BurnResult(
        source=source, destination=litecoin.NAME, sender=user["address"], recipient=to, amount=value,
        amount_ltc=ltc(value), message_id="0x" + envelope.id.hex(), nonce=envelope.nonce,
        burn_nonce=int(event["nonce"]), burn_tx=str(receipt["transactionHash"]),
        burn_block=as_int(receipt["blockNumber"]), burn_gas=as_int(receipt["gasUsed"]),
        source_fee_wei=fee_wei)
    if not wait:
        return result
    return _await_release(wallet, chain, result, start_height, burned_at, timeout)


def _marker_in(script: bytes) -> Marker | None:
    data = op_return_data(script)
    return decode(data) if data is not None else None


def _release_in(block: dict[str, Any], marker: Marker, recipient: bytes) -> dict[str, Any] | None:
    """The transaction of ``block`` (getblock verbosity 2) paying ``recipient`` with ``marker`` (a release
    marker of the burn's id, version 1 or 2), if any."""
    for tx in block["tx"]:
        scripts = [bytes.fromhex(out["scriptPubKey"]["hex"]) for out in tx["vout"]]
        if recipient in scripts and any(_marker_in(s) == marker for s in scripts):
            found: dict[str, Any] = tx
            return found
    return None


def _await_release(wallet: WalletRpc, chain: dict[str, Any], result: BurnResult, start_height: int,
                   burned_at: float, timeout: float) -> BurnResult:
    """Mine a block about every second until the release is in a block with the chain's confirmations."""
    marker = Marker(Kind.RELEASE, bytes.fromhex(result.message_id[2:]))
    recipient = script_of(result.recipient, REGTEST)
    depth = int(chain["confirmations"])
    miner = chain["user"]["address"]
    deadline = burned_at + timeout
    scanned, mined = start_height, 0
    found: tuple[dict[str, Any], int, str, float] | None = None
    while True:
        tip = int(wallet.call("getblockcount"))
        while found is None and scanned < tip:
            scanned += 1
            block_hash = wallet.call("getblockhash", scanned)
            tx = _release_in(wallet.call("getblock", block_hash, 2), marker, recipient)
            if tx is not None:
                found = (tx, scanned, block_hash, time.monotonic())
        if found is not None and wallet.call("getblockhash", found[1]) != found[2]:
            scanned, found = found[1] - 1, None  # reorganised away: look again
            continue
        if found is not None and tip - found[1] + 1 >= depth:
            break
        if time.monotonic() > deadline:
            what = "released" if found is None else f"final ({depth} confirmations)"
            raise DeliveryTimeout(f"burn not {what} on {litecoin.NAME} within {timeout:g} s "
                                  f"({mined} blocks mined)", message_id=result.message_id, burn_tx=result.burn_tx)
        time.sleep(MINE_INTERVAL)
        wallet.call("generatetoaddress", 1, miner)
        mined += 1
    assert found is not None  # the loop ends only with a final release
    tx, height, _, seen = found
    done = time.monotonic()
    paid = sum(_litoshis(out["value"]) for out in tx["vout"] if bytes.fromhex(out["scriptPubKey"]["hex"]) == recipient)
    fee = _release_fee(wallet, chain, tx)
    scan = wallet.call("scantxoutset", "start", [f"addr({result.recipient})"])
    balance = _litoshis(scan["total_amount"])
    vsize = int(tx["vsize"])
    release = chain.get("release", {})
    return BurnResult(**{
        **asdict(result), "release_txid": tx["txid"], "release_block": height,
        "confirmations": int(wallet.call("getblockcount")) - height + 1, "paid": paid, "paid_ltc": ltc(paid),
        "fee": fee, "fee_ltc": ltc(fee), "fee_rate": str((Decimal(fee) / vsize).quantize(Decimal("0.01"))),
        "max_fee_rate": release.get("max_fee_rate"), "vsize": vsize, "recipient_balance": balance,
        "recipient_balance_ltc": ltc(balance), "latency_s": round(seen - burned_at, 2),
        "final_latency_s": round(done - burned_at, 2), "mined_blocks": mined})


def _litoshis(value: Any) -> int:
    return int(Decimal(str(value)) * LITOSHIS)


def _release_fee(wallet: WalletRpc, chain: dict[str, Any], tx: dict[str, Any]) -> int:
    """The release's inputs less its outputs (litoshis). Its inputs are custody outputs: a watch-only wallet
    of the custody address (made once, rescanning the chain) gives their transactions. Raises RelayerError
    when an input is not the custody's."""
    watch = WalletRpc(chain["rpc"], WATCH_WALLET)
    if WATCH_WALLET not in wallet.call("listwallets"):
        try:
            wallet.call("loadwallet", WATCH_WALLET)
        except RelayerError:
            wallet.call("createwallet", WATCH_WALLET, True)
            watch.call("importaddress", chain["custody"]["address"], "custody", True)
    spent = 0
    for vin in tx["vin"]:
        try:
            prev = watch.call("gettransaction", vin["txid"], True)
        except RelayerError as exc:
            raise RelayerError("a release input is not a custody output", txid=tx["txid"], input=vin["txid"]) \
                from exc
        outputs = watch.call("decoderawtransaction", prev["hex"])["vout"]
        spent += _litoshis(outputs[int(vin["vout"])]["value"])
    return spent - sum(_litoshis(out["value"]) for out in tx["vout"])


def describe(result: BurnResult) -> str:
    """Human lines for one burn (and its release)."""
    lines = [f"burned {result.amount_ltc} wLTC on {result.source} (message nonce {result.nonce}) "
             f"for {result.recipient} on {result.destination}",
             f"  burn tx         {result.burn_tx} ({result.burn_gas} gas)",
             f"  message id      {result.message_id}"]
    if result.release_txid is None:
        lines.append("  not waiting for the release (use --wait)")
        return "\n".join(lines)
    lines += [f"  release txid    {result.release_txid} (block {result.release_block}, "
              f"{result.confirmations} confirmations)",
              f"  paid            {result.paid_ltc} LTC (fee {result.fee_ltc} LTC, {result.fee_rate} litoshis/vbyte "
              f"over {result.vsize} vbytes)",
              f"  recipient holds {result.recipient_balance_ltc} LTC",
              f"  latency         {result.latency_s:.2f} s to a block, {result.final_latency_s:.2f} s to final "
              f"({result.mined_blocks} regtest blocks mined while waiting)"]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """``relayer transfer --to litecoin``: one burn, printed (human lines or one JSON object).
    Raises like ``burn``; returns 0."""
    if args.asset != "wrapped-native":
        raise UsageError(f"--asset {args.asset}: to litecoin only wrapped-native (wLTC) is burned")
    result = burn(args.devnet, args.source, args.amount, recipient=args.recipient, wait=args.wait,
                  timeout=getattr(args, "timeout", 120.0), user_index=getattr(args, "user", 0))
    print(json.dumps(result.to_json()) if args.json else describe(result))
    sys.stdout.flush()
    return 0


__all__ = ["BurnResult", "burn", "describe", "ltc", "main"]
