"""``relayer send``: send one message through the devnet's message layer as one of its users.

(Registered as a subcommand by ``relayer.devnet.commands``, outside the core.)

The user calls ``MessageLayer.send(destination, recipient, body, gasLimit, expiry, ackMode)`` on the
source chain (addresses from ``deployment.json``). With ``wait`` the destination layer is polled for
the message's ``MessageProcessed(id, outcome, result)``; when the sender asked for an
acknowledgement and one is due (``always``, or ``on-failure`` with a failed or expired outcome) the
acknowledgement the destination sent in the same transaction is followed back to the source layer
until its own ``MessageProcessed``. The sender is an account, not a contract, so the
acknowledgement's handler call finds no contract there: its own outcome is ``failed`` with
``RecipientNotContract``, which is what the source layer records for an account.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import is_address, to_checksum_address

from adapters.evm.abi import decode_revert
from adapters.evm.messaging import (
    ACK_ALWAYS,
    ACK_NONE,
    ACK_ON_FAILURE,
    KIND_ACK,
    OUTCOME_FAILED,
    Envelope,
    address_word,
    decode_ack_body,
    message_sent_logs,
)
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.network import load_deployment
from relayer.devnet.transfer import OUTCOMES, POLL_INTERVAL, DeliveryTimeout, latest_timestamp, processed_logs
from relayer.errors import DevnetError, RelayerError, UsageError

ACK_MODES = {"none": ACK_NONE, "on-failure": ACK_ON_FAILURE, "always": ACK_ALWAYS}
DEFAULT_GAS_LIMIT = 200_000
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Processed:
    """One ``MessageProcessed`` event: where, and what the layer recorded."""

    tx: str
    block: int
    outcome: str  # delivered | failed | expired
    result: str  # 0x-hex: the handler's return data, or its revert data
    reason: str | None  # the revert data decoded, for a failed outcome

    @classmethod
    def of_log(cls, log: dict[str, Any]) -> Processed:
        """From an RPC log of ``MessageProcessed``. Raises RelayerError for an unknown outcome."""
        code, result = eth_abi.decode(["uint8", "bytes"], bytes.fromhex(str(log["data"])[2:]))
        if code not in OUTCOMES:
            raise RelayerError(f"MessageProcessed with unknown outcome {code}", tx=log.get("transactionHash"))
        reason = decode_revert(result) if code == OUTCOME_FAILED else None
        return cls(tx=str(log["transactionHash"]), block=int(str(log["blockNumber"]), 16), outcome=OUTCOMES[code],
                   result="0x" + bytes(result).hex(), reason=reason)


@dataclass(frozen=True)
class SendResult:
    """What one send did; the fields after ``source_block`` stay None without ``wait``."""

    message_id: str
    nonce: int
    source: str
    destination: str
    sender: str
    recipient: str
    body: str  # 0x-hex
    gas_limit: int
    expiry: int  # unix seconds, 0 = none
    ack: str  # none | on-failure | always
    source_tx: str
    source_block: int
    destination_tx: str | None = None
    destination_block: int | None = None
    outcome: str | None = None
    result: str | None = None
    reason: str | None = None
    latency_s: float | None = None  # send until processed on the destination (wall clock)
    ack_id: str | None = None  # the acknowledgement the destination sent, when one is due
    ack_tx: str | None = None  # where the source layer processed it
    ack_outcome: str | None = None  # its own outcome on the source layer
    ack_reason: str | None = None
    ack_latency_s: float | None = None  # send until the acknowledgement was processed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SendRequest:
    """A checked ``relayer send``."""

    source: str
    destination: str
    recipient: str
    body: bytes
    ack: str = "none"
    expiry_s: int = 0  # seconds after the source chain's latest block; 0 = no expiry
    gas_limit: int = DEFAULT_GAS_LIMIT
    user_index: int = 0


# --------------------------------------------------------------------------- argument checks

def parse_body(text: str) -> bytes:
    """``0x``-prefixed (or bare) hex as bytes; ``""``/``0x`` is empty. Raises UsageError."""
    digits = text[2:] if text[:2].lower() == "0x" else text
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise UsageError(f"--body {text[:40]!r} is not hex (expected 0x and an even number of hex digits)") from None


def check_recipient(text: str) -> str:
    """The checksummed address. Raises UsageError."""
    if not is_address(text):
        raise UsageError(f"--recipient {text!r} is not an address (expected 0x and 40 hex digits)")
    return str(to_checksum_address(text))


def _devnet(devnet_dir: Path | str) -> dict[str, Any]:
    """deployment.json; a folder without a devnet is a usage error here (UsageError)."""
    try:
        return load_deployment(devnet_dir)
    except DevnetError as exc:
        raise UsageError(f"--devnet {devnet_dir}: {exc.message}") from None


def _chains(deployment: dict[str, Any], source: str, destination: str) -> tuple[dict[str, Any], dict[str, Any]]:
    chains: dict[str, Any] = deployment.get("chains", {})
    for option, name in (("--from", source), ("--to", destination)):
        if name not in chains:
            raise UsageError(f"{option} {name!r}: unknown chain (devnet chains: {', '.join(chains)})")
        if "message_layer" not in chains[name]:
            raise UsageError(f"{option} {name!r}: the devnet has no message layer on this chain "
                             "(deployment.json lacks message_layer; start a new devnet)")
    if source == destination:
        raise UsageError("--from and --to must be different chains")
    return chains[source], chains[destination]


def _user(deployment: dict[str, Any], index: int) -> dict[str, str]:
    users: list[dict[str, str]] = deployment.get("users", [])
    if not 0 <= index < len(users):
        raise UsageError(f"--user {index} out of range 0..{len(users) - 1}")
    return users[index]


def _check_numbers(request: SendRequest, timeout: float) -> None:
    if request.ack not in ACK_MODES:
        raise UsageError(f"--ack {request.ack!r}: expected one of {', '.join(ACK_MODES)}")
    if request.expiry_s < 0:
        raise UsageError(f"--expiry {request.expiry_s}: expected seconds >= 0 (0 = no expiry)")
    if not 0 <= request.gas_limit < 2**64:
        raise UsageError(f"--gas-limit {request.gas_limit}: expected 0 .. 2**64-1")
    if timeout <= 0:
        raise UsageError(f"--timeout {timeout:g}: expected seconds > 0")


# --------------------------------------------------------------------------- send

def send(devnet_dir: Path | str, request: SendRequest, *, wait: bool = False, timeout: float = DEFAULT_TIMEOUT,
         progress: Any = None) -> SendResult:
    """Send ``request`` through the source chain's MessageLayer as devnet user ``request.user_index``.

    ``progress`` (a callable taking one line) hears what happens while waiting. Raises UsageError
    for bad arguments, a folder without a devnet or a gas limit over the layer's maximum;
    ContractRevert when the send reverts; RpcError when a node fails; DeliveryTimeout when
    ``wait`` and the message, or an acknowledgement that is due, is not processed within ``timeout``
    seconds (counted from the send).
    """
    say = progress or (lambda line: None)
    _check_numbers(request, timeout)
    deployment = _devnet(devnet_dir)
    src, dst = _chains(deployment, request.source, request.destination)
    user = _user(deployment, request.user_index)
    recipient = check_recipient(request.recipient)
    with SyncEvm(src["rpc"]) as src_evm, SyncEvm(dst["rpc"]) as dst_evm:
        _check_gas_limit(src_evm, src, request.gas_limit)
        src_from, dst_from = src_evm.block_number(), dst_evm.block_number()
        started = time.monotonic()
        result = _send(src_evm, src, dst, user, recipient, request)
        say(f"sent message {result.message_id} (nonce {result.nonce}) on {src['name']} in tx {result.source_tx}")
        if not wait:
            return result
        deadline = started + timeout
        say(f"waiting for its MessageProcessed on {dst['name']} ...")
        processed = _await_processed(dst_evm, dst, result.message_id, dst_from, deadline, timeout, result)
        result = replace(result, destination_tx=processed.tx, destination_block=processed.block,
                         outcome=processed.outcome, result=processed.result, reason=processed.reason,
                         latency_s=round(time.monotonic() - started, 3))
        say(f"processed on {dst['name']} in tx {processed.tx}: {processed.outcome}")
        if not ack_due(request.ack, processed.outcome):
            return result
        return _follow_ack(src_evm, dst_evm, src, dst, result, src_from, deadline, timeout, started, say)


def ack_due(ack: str, outcome: str) -> bool:
    """Whether the destination acknowledges a message of ack mode ``ack`` with ``outcome``."""
    return ack == "always" or (ack == "on-failure" and outcome != "delivered")


def _check_gas_limit(evm: SyncEvm, chain: dict[str, Any], gas_limit: int) -> None:
    highest = int(evm.call(chain["message_layer"], "MessageLayer", "maxGasLimit"))
    if gas_limit > highest:
        raise UsageError(f"--gas-limit {gas_limit}: above the {chain['name']} layer's maxGasLimit {highest}")


def _send(evm: SyncEvm, src: dict[str, Any], dst: dict[str, Any], user: dict[str, str], recipient: str,
          request: SendRequest) -> SendResult:
    expiry = latest_timestamp(evm) + request.expiry_s if request.expiry_s else 0
    receipt = evm.transact(user["key"], src["message_layer"], "MessageLayer", "send", dst["chain_id"],
                           address_word(recipient), request.body, request.gas_limit, expiry,
                           ACK_MODES[request.ack])
    envelope = _sent_envelope(receipt, src["message_layer"])
    return SendResult(
        message_id="0x" + envelope.id.hex(), nonce=envelope.nonce, source=src["name"], destination=dst["name"],
        sender=str(to_checksum_address(user["address"])), recipient=recipient, body="0x" + request.body.hex(),
        gas_limit=request.gas_limit, expiry=expiry, ack=request.ack, source_tx=str(receipt["transactionHash"]),
        source_block=int(str(receipt["blockNumber"]), 16))


def _sent_envelope(receipt: dict[str, Any], layer: str) -> Envelope:
    """The one envelope ``layer`` sent in ``receipt``. Raises RelayerError when there is not exactly one."""
    sent = message_sent_logs(receipt, layer)
    if len(sent) != 1:
        raise RelayerError(f"the send emitted {len(sent)} MessageSent events, expected 1",
                           tx=receipt.get("transactionHash"))
    return sent[0][1]


# --------------------------------------------------------------------------- waiting

def _await_processed(evm: SyncEvm, chain: dict[str, Any], msg_id: str, from_block: int, deadline: float,
                     timeout: float, sent: SendResult, what: str = "message") -> Processed:
    """The ``MessageProcessed`` of ``msg_id`` on ``chain``'s layer, polled until ``deadline``.

    Raises DeliveryTimeout after the deadline.
    """
    while True:
        found = processed_event(evm, chain["message_layer"], msg_id, from_block)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise DeliveryTimeout(f"{what} {msg_id} not processed on {chain['name']} within {timeout:g} s",
                                  message_id=sent.message_id, source_tx=sent.source_tx)
        time.sleep(POLL_INTERVAL)


def processed_event(evm: SyncEvm, layer: str, msg_id: str, from_block: int = 0) -> Processed | None:
    """The first ``MessageProcessed`` of ``msg_id`` that ``layer`` emitted from ``from_block`` on, if any.
    Raises RpcError."""
    found = processed_events(evm, layer, msg_id, from_block)
    return found[0] if found else None


def processed_events(evm: SyncEvm, layer: str, msg_id: str, from_block: int = 0) -> list[Processed]:
    """Every ``MessageProcessed`` of ``msg_id`` by ``layer`` from ``from_block`` on, oldest first (one,
    or a failure then the successful ``retry``). Raises RpcError."""
    return [Processed.of_log(log) for log in processed_logs(evm, layer, msg_id, from_block)]


def _follow_ack(src_evm: SyncEvm, dst_evm: SyncEvm, src: dict[str, Any], dst: dict[str, Any], result: SendResult,
                src_from: int, deadline: float, timeout: float, started: float, say: Any) -> SendResult:
    """Find the acknowledgement the destination sent with the outcome and wait for it on the source."""
    assert result.destination_tx is not None  # only called after the message was processed
    ack = _ack_envelope(dst_evm.wait_receipt(result.destination_tx), dst["message_layer"], result.message_id)
    if ack is None:
        raise RelayerError(f"the destination sent no acknowledgement of {result.message_id} although one is due",
                           tx=result.destination_tx)
    ack_id = "0x" + ack.id.hex()
    say(f"waiting for acknowledgement {ack_id} on {src['name']} ...")
    processed = _await_processed(src_evm, src, ack_id, src_from, deadline, timeout, result, "acknowledgement")
    say(f"acknowledgement processed on {src['name']} in tx {processed.tx}: {processed.outcome}")
    return replace(result, ack_id=ack_id, ack_tx=processed.tx, ack_outcome=processed.outcome,
                   ack_reason=processed.reason, ack_latency_s=round(time.monotonic() - started, 3))


def _ack_envelope(receipt: dict[str, Any], layer: str, msg_id: str) -> Envelope | None:
    """The acknowledgement of ``msg_id`` among the envelopes ``layer`` sent in ``receipt``, if any."""
    for _, envelope in message_sent_logs(receipt, layer):
        if envelope.kind == KIND_ACK and "0x" + decode_ack_body(envelope.body)[0].hex() == msg_id.lower():
            return envelope
    return None


# --------------------------------------------------------------------------- command line

def describe(result: SendResult) -> str:
    """Human lines for one send."""
    lines = [f"sent message {result.message_id} (nonce {result.nonce}) from {result.source} to {result.destination}",
             f"  sender          {result.sender}",
             f"  recipient       {result.recipient}",
             f"  body            {_short(result.body)} ({(len(result.body) - 2) // 2} bytes)",
             f"  gas limit       {result.gas_limit}, expiry {result.expiry or 'none'}, ack {result.ack}",
             f"  source tx       {result.source_tx} (block {result.source_block})"]
    if result.destination_tx is None:
        lines.append("  not waiting for delivery (use --wait)")
        return "\n".join(lines)
    outcome = f"{result.outcome}: {result.reason}" if result.reason else str(result.outcome)
    lines += [f"  destination tx  {result.destination_tx} (block {result.destination_block})",
              f"  outcome         {outcome}",
              f"  result          {_short(result.result or '0x')}{_as_text(result.result or '0x')}",
              f"  latency         {result.latency_s:.2f} s"]
    if result.ack_id is not None:
        ack_outcome = f"{result.ack_outcome}: {result.ack_reason}" if result.ack_reason else str(result.ack_outcome)
        lines += [f"  acknowledgement {result.ack_id}",
                  f"  ack tx          {result.ack_tx} on {result.source} ({ack_outcome}), "
                  f"{result.ack_latency_s:.2f} s after the send"]
    elif result.ack != "none":
        lines.append(f"  acknowledgement none due (ack {result.ack}, outcome {result.outcome})")
    return "\n".join(lines)


def _as_text(hex_text: str) -> str:
    """`` ("text")`` when the bytes are printable ASCII, else nothing."""
    raw = bytes.fromhex(hex_text[2:])
    return f" ({raw.decode()!r})" if raw and all(32 <= b < 127 for b in raw) else ""


def _short(hex_text: str, keep: int = 66) -> str:
    return hex_text if len(hex_text) <= keep + 2 else f"{hex_text[:keep]}..."


def main(args: argparse.Namespace) -> int:
    """``relayer send``: send one message and print it (human lines or one JSON object); progress on
    stderr. Raises like ``send``; returns 0."""
    request = SendRequest(source=args.source, destination=args.destination, recipient=args.recipient,
                          body=parse_body(args.body), ack=args.ack, expiry_s=args.expiry, gas_limit=args.gas_limit,
                          user_index=args.user)
    result = send(args.devnet, request, wait=args.wait, timeout=args.timeout, progress=_stderr)
    print(json.dumps(result.to_json()) if args.json else describe(result))
    sys.stdout.flush()
    return 0


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
