"""Lies of the devnet proxy: real answers rewritten, each for the relayer's light client to refuse.

*Lies* rewrite a real answer; select one as ``{"mode": "lie", "lie": NAME, "block": N, "count": K}``
(or ``{"mode": NAME, ...}``). ``block`` limits it to answers about that block (asked by number,
or a log range that covers it); ``count`` to the next K matching calls (then "none").
``conflict`` (needs sealing) answers ``eth_getBlockByNumber`` for block ``block`` (asked by
number) with a *second* validly sealed header: same fields, another vanity (hence another
Besu block hash), sealed by every validator: what an equivocating validator set looks like
through a load-balanced RPC. ``count`` defaults to 1 for it: later reads get the real header
again, and the next block links to the real one.
The other lies, each small and each for the relayer's light client to refuse (``LIES``):

- ``header-field``  ``eth_getBlockByNumber``: the block's ``receiptsRoot`` altered, its claimed
                    ``hash`` kept
- ``receipt``       ``eth_getBlockReceipts``: a receipt's ``status`` flipped (the one holding a
                    message-layer ``MessageSent``, else the first)
- ``log-data``      ``eth_getBlockReceipts`` and ``eth_getLogs``: every ``MessageSent`` log's envelope
                    rewritten: a TokenRouter transfer pays 1000 x the amount to ``LIE_RECIPIENT``, any
                    other message goes to recipient ``LIE_RECIPIENT`` (the same rewrite in both answers)
- ``fake-log``      ``eth_getBlockReceipts`` and ``eth_getLogs``: after every ``MessageSent`` log a forged
                    copy: its envelope's nonce + ``FAKE_NONCE_OFFSET`` (the id topic recomputed to match)
                    and rewritten as ``log-data`` rewrites it
- ``hide-log``      ``eth_getLogs`` only: the ``MessageSent`` logs left out (receipts untouched)
- ``other-block``   ``eth_getBlockByNumber``: another block under the number: same parent, other
                    ``extraData``, its ``hash`` recomputed (self-consistent; only the next block's
                    parent link, or a block hash in another answer, shows it is not the chain's)
- ``null-block``    ``eth_getBlockByNumber`` and ``eth_getBlockReceipts`` asked by number: ``null``, as
                    a lagging node answers for a block it does not have yet
- ``bad-block``     ``eth_getBlockByNumber``: the block with a ``receiptsRoot`` that is not hex (an
                    answer that does not parse)

Message logs (``MessageSent(bytes32 indexed id, bytes envelope)``) are recognised by their event
topic (any emitting address).

"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import eth_abi
from eth_abi.exceptions import DecodingError

from adapters.evm.messaging import MESSAGE_SENT_TOPIC, address_word, decode_envelope
from light_clients.evm.header import header_from_rpc
from relayer.devnet.proxy.common import log_event
from relayer.devnet.proxy.faults import TRANSPORT_FAULTS, FaultPlan
from relayer.errors import ProofError

if TYPE_CHECKING:
    from relayer.devnet.proxy.sealing import QbftSealer

#: Topic of the message layer's MessageSent event (the logs the log lies rewrite).
MESSAGE_EVENT_TOPICS = frozenset({"0x" + MESSAGE_SENT_TOPIC.hex()})
LIE_RECIPIENT = "0x" + "bad0" * 10  # who a forged message pays (or is addressed to)
LIE_FACTOR = 1000  # a forged amount is this many times the real one
FAKE_NONCE_OFFSET = 1_000_000  # the nonce of a fake log: the real one's plus this
TRANSFER_BODY = ["bool", "address", "address", "uint256"]  # TokenRouter: (burned, token, recipient, amount)
OTHER_EXTRA = b"relayer devnet proxy: other"  # extraData of the block other-block serves


class Lie:
    """A fault that rewrites a real answer. Subclasses set the class attributes and ``tell``;
    ``plan`` is the fault plan that selected it (``plan.block``: the block it is about, if any);
    ``tell`` gets the proxy's sealer (None for a plain proxy)."""

    needs_sealing: ClassVar[bool] = False
    needs_block: ClassVar[bool] = False
    default_count: ClassVar[int | None] = None
    default_methods: ClassVar[list[str] | None] = None

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan if plan is not None else FaultPlan()

    @staticmethod
    def block_of(method: str, params: list[Any]) -> int | tuple[int, int] | None:
        """The block number the call asks about (``eth_getBlockByNumber``/``eth_getBlockReceipts``
        by number) or the (first, last) range of an ``eth_getLogs`` with numbered bounds, for
        ``block`` filters; None otherwise."""
        if method in ("eth_getBlockByNumber", "eth_getBlockReceipts") and params:
            return _quantity(params[0])
        if method == "eth_getLogs" and params and isinstance(params[0], dict):
            first, last = _quantity(params[0].get("fromBlock")), _quantity(params[0].get("toBlock"))
            return None if first is None or last is None else (first, last)
        return None

    def about(self, item: Any) -> bool:
        """Whether a block, receipt or log (a dict with ``number``/``blockNumber``) is one to lie about."""
        if self.plan.block is None:
            return True
        if not isinstance(item, dict):
            return False
        return _quantity(item.get("blockNumber", item.get("number"))) == self.plan.block

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        raise NotImplementedError

class ConflictingHeader(Lie):
    """Block ``block`` answered with a second validly sealed header (another vanity)."""

    needs_sealing = True
    needs_block = True
    default_count = 1
    default_methods = ["eth_getBlockByNumber"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or sealer is None:
            return result
        return sealer.conflicting_block(result)

class HeaderField(Lie):
    """``eth_getBlockByNumber``: the block's ``receiptsRoot`` altered, its claimed ``hash`` kept."""

    default_methods = ["eth_getBlockByNumber"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or not isinstance(result.get("receiptsRoot"), str) or not self.about(result):
            return result
        log_event("proxy.lie", lie="header-field", block=result.get("number"), field="receiptsRoot")
        return dict(result, receiptsRoot=_flip(result["receiptsRoot"]))

class ReceiptStatus(Lie):
    """``eth_getBlockReceipts``: the status of the receipt holding a ``MessageSent`` (else the first) flipped."""

    default_methods = ["eth_getBlockReceipts"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        receipts = [r for r in result if isinstance(r, dict) and self.about(r)] if isinstance(result, list) else []
        if not receipts:
            return result
        target = next((r for r in receipts if any(_is_message_log(lg) for lg in r.get("logs") or [])), receipts[0])
        status = "0x0" if target.get("status") == "0x1" else "0x1"
        log_event("proxy.lie", lie="receipt", block=target.get("blockNumber"), tx=target.get("transactionHash"),
                  status=status)
        return [dict(r, status=status) if r is target else r for r in result]

class _MessageLogLie(Lie):
    """Rewrites the ``MessageSent`` logs of ``eth_getLogs`` answers and of the receipts in ``eth_getBlockReceipts``."""

    default_methods = ["eth_getLogs", "eth_getBlockReceipts"]

    def logs(self, logs: list[Any]) -> list[Any]:
        raise NotImplementedError

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, list):
            return result
        if method == "eth_getLogs":
            return self.logs(result)
        return [dict(r, logs=self.logs(r["logs"])) if isinstance(r, dict) and isinstance(r.get("logs"), list)
                else r for r in result]

    def chosen(self, log: Any) -> bool:
        return _is_message_log(log) and self.about(log)

class LogData(_MessageLogLie):
    """Every ``MessageSent`` envelope rewritten: a transfer pays ``LIE_FACTOR`` x its amount to
    ``LIE_RECIPIENT``, another message is addressed to ``LIE_RECIPIENT``."""

    def logs(self, logs: list[Any]) -> list[Any]:
        out = []
        for lg in logs:
            if self.chosen(lg):
                log_event("proxy.lie", lie="log-data", block=lg.get("blockNumber"), tx=lg.get("transactionHash"))
                lg = dict(lg, data=forged_data(lg["data"])[0])
            out.append(lg)
        return out

class FakeLog(_MessageLogLie):
    """After every ``MessageSent`` log a forged copy: the envelope's nonce + ``FAKE_NONCE_OFFSET`` (its
    id topic recomputed) and rewritten as ``LogData`` rewrites it."""

    def logs(self, logs: list[Any]) -> list[Any]:
        out = []
        for lg in logs:
            out.append(lg)
            if self.chosen(lg):
                log_event("proxy.lie", lie="fake-log", block=lg.get("blockNumber"), tx=lg.get("transactionHash"))
                index = _quantity(lg.get("logIndex"))
                data, msg_id = forged_data(lg["data"], nonce_offset=FAKE_NONCE_OFFSET)
                topics = list(lg["topics"])
                if msg_id is not None and len(topics) > 1:
                    topics[1] = msg_id
                out.append(dict(lg, data=data, topics=topics,
                                logIndex=hex(index + 1) if index is not None else lg.get("logIndex")))
        return out

class HideLog(_MessageLogLie):
    """``eth_getLogs`` only: the ``MessageSent`` logs left out; receipts untouched."""

    default_methods = ["eth_getLogs"]

    def logs(self, logs: list[Any]) -> list[Any]:
        kept = [lg for lg in logs if not self.chosen(lg)]
        if len(kept) != len(logs):
            log_event("proxy.lie", lie="hide-log", hidden=len(logs) - len(kept))
        return kept

class OtherBlock(Lie):
    """``eth_getBlockByNumber``: another block under the number: the same parent and fields but
    another ``extraData``, its ``hash`` recomputed (keccak of the header: a plain EVM chain)."""

    default_methods = ["eth_getBlockByNumber"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or result.get("hash") is None or not self.about(result):
            return result
        header = header_from_rpc(result)
        extra = OTHER_EXTRA if header.extra_data != OTHER_EXTRA else OTHER_EXTRA + b"!"
        other = header.replace(extra_data=extra)
        log_event("proxy.lie", lie="other-block", block=result.get("number"), hash="0x" + other.hash.hex(),
                  honest=result["hash"])
        return dict(result, extraData="0x" + extra.hex(), hash="0x" + other.hash.hex())

class NullBlock(Lie):
    """A lagging node: ``null`` for a block asked by number (its header or its receipts)."""

    default_methods = ["eth_getBlockByNumber", "eth_getBlockReceipts"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if self.block_of(method, params) is None:  # "latest" and other tags: the node has a head
            return result
        log_event("proxy.lie", lie="null-block", method=method, block=params[0] if params else None)
        return None

class BadBlock(Lie):
    """``eth_getBlockByNumber``: a block whose ``receiptsRoot`` is not hex."""

    default_methods = ["eth_getBlockByNumber"]

    def tell(self, sealer: QbftSealer | None, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or not self.about(result):
            return result
        log_event("proxy.lie", lie="bad-block", block=result.get("number"))
        return dict(result, receiptsRoot="0xnot-a-hash")

def _quantity(value: Any) -> int | None:
    """A 0x-hex block number (None for tags, hashes and anything else)."""
    if not isinstance(value, str) or value[:2] != "0x" or not 2 < len(value) <= 18:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None

def _flip(data: str) -> str:
    """0x-hex data with its last nibble changed."""
    return data[:-1] + ("0" if data[-1] != "0" else "1")

def _is_message_log(log: Any) -> bool:
    topics = log.get("topics") if isinstance(log, dict) else None
    return bool(topics) and isinstance(topics[0], str) and topics[0].lower() in MESSAGE_EVENT_TOPICS \
        and isinstance(log.get("data"), str)

def forged_data(data: str, *, nonce_offset: int = 0) -> tuple[str, str | None]:
    """A MessageSent log's data (abi.encode(bytes envelope)) with the envelope's nonce moved by
    ``nonce_offset`` and its body forged (a TokenRouter transfer: ``LIE_RECIPIENT`` paid ``LIE_FACTOR`` x
    the amount; any other message: addressed to ``LIE_RECIPIENT``), and the forged envelope's id
    (0x-hex); ``(data, None)`` unchanged when the data holds no envelope."""
    try:
        (raw,) = eth_abi.decode(["bytes"], bytes.fromhex(data[2:]))
        envelope = decode_envelope(raw)
    except (DecodingError, ProofError, ValueError, TypeError):
        return data, None
    try:
        burned, token, _, amount = eth_abi.decode(TRANSFER_BODY, envelope.body)
        if len(envelope.body) != 128:
            raise ValueError("not a transfer body")
        forged = replace(envelope, body=eth_abi.encode(TRANSFER_BODY, [burned, token, LIE_RECIPIENT,
                                                                       amount * LIE_FACTOR % 2**256]))
    except (DecodingError, ValueError, TypeError):
        forged = replace(envelope, recipient=address_word(LIE_RECIPIENT))
    forged = replace(forged, nonce=(forged.nonce + nonce_offset) % 2**64)
    return "0x" + eth_abi.encode(["bytes"], [forged.encode()]).hex(), "0x" + forged.id.hex()

#: Lies by fault mode.
LIES: dict[str, type[Lie]] = {
    "conflict": ConflictingHeader,
    "header-field": HeaderField,
    "receipt": ReceiptStatus,
    "log-data": LogData,
    "fake-log": FakeLog,
    "hide-log": HideLog,
    "other-block": OtherBlock,
    "null-block": NullBlock,
    "bad-block": BadBlock,
}
MODES = ("none", *TRANSPORT_FAULTS, *LIES)


__all__ = ["FAKE_NONCE_OFFSET", "LIES", "LIE_FACTOR", "LIE_RECIPIENT", "MESSAGE_EVENT_TOPICS", "MODES",
           "ConflictingHeader", "Lie", "forged_data"]
