"""A JSON-RPC proxy in front of one anvil node: injected faults and QBFT sealing.

    python -m relayer.devnet.proxy --upstream URL --port P [--admin-port A] [--seal-qbft KEYS_FILE]

Serves single JSON-RPC requests and batches on ``http://127.0.0.1:P`` (a thread per
connection, HTTP/1.1 keep-alive), forwarding them to ``URL``. Two things can happen on the
way:

**Faults**, set at run time on the admin endpoint (served on the admin port, which never
fails, and on the RPC port while it accepts connections)::

    POST /_proxy/faults  {"mode": "none|refuse|hang|429|500|garbage|truncate|reject|conflict|lie",
                          "lie": NAME,                       # mode lie: one of LIES (below)
                          "methods": ["eth_getLogs", ...],   # optional: only requests calling one of these
                          "count": N,                        # optional: the next N matching requests, then "none"
                          "block": N,                        # lies: the block to lie about (conflict: required)
                          "match": TEXT,                     # optional: only requests whose body contains TEXT
                          "seconds": S}                      # hang: how long (default 600, ended early by a new fault)
    GET  /_proxy/faults  the fault in force, with "remaining" and "served"

*Transport faults* (``refuse`` resets the connection: at once for new connections when no
``methods`` are named, else once the request is read; ``hang`` answers nothing and then
resets; ``429`` and ``500`` answer that HTTP status; ``garbage`` answers 200 with bytes
that are not JSON; ``truncate`` announces the whole answer and sends half of it; ``reject``
answers every call with the JSON-RPC error ``REJECTION``, as a permissioned node refuses a
transaction) never reach the upstream node, except ``truncate`` (the real answer is cut).
``revert`` (by default for ``eth_estimateGas`` only) answers a JSON-RPC revert (code 3,
``Error(string)`` data ``REVERT_REASON``): a destination contract refusing a transaction once,
as a relayer sees it.

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
- ``receipt``       ``eth_getBlockReceipts``: a receipt's ``status`` flipped (the one holding a bridge
                    event, else the first)
- ``log-data``      ``eth_getBlockReceipts`` and ``eth_getLogs``: every bridge ``Locked``/``Burned`` log
                    pays 1000 x the amount to ``LIE_RECIPIENT`` (the same rewrite in both answers)
- ``fake-log``      ``eth_getBlockReceipts`` and ``eth_getLogs``: after every bridge log a forged copy
                    (nonce + ``FAKE_NONCE_OFFSET``, 1000 x the amount, to ``LIE_RECIPIENT``)
- ``hide-log``      ``eth_getLogs`` only: the bridge logs left out (receipts untouched)
- ``other-block``   ``eth_getBlockByNumber``: another block under the number: same parent, other
                    ``extraData``, its ``hash`` recomputed (self-consistent; only the next block's
                    parent link, or a block hash in another answer, shows it is not the chain's)
- ``null-block``    ``eth_getBlockByNumber`` and ``eth_getBlockReceipts`` asked by number: ``null``, as
                    a lagging node answers for a block it does not have yet
- ``bad-block``     ``eth_getBlockByNumber``: the block with a ``receiptsRoot`` that is not hex (an
                    answer that does not parse)

Bridge logs are recognised by their event topic (any emitting address).

**QBFT sealing** (``--seal-qbft KEYS_FILE``, a JSON file of validator private keys): every
block the upstream returns is rewritten so the chain looks like a Besu QBFT chain sealed by
those validators: ``extraData`` = RLP([vanity, validators, no vote, round 0, seals of a
quorum]), ``miner`` = the proposer (validators in turn), ``mixHash`` = the BFT constant,
``difficulty`` 1, ``parentHash`` = the sealed hash of the parent and ``hash`` = Besu's QBFT
block hash of the rewritten header. Block hashes are translated consistently: results carry
sealed hashes (blocks, ``blockHash`` of logs, receipts and transactions, block filters), and
a sealed hash in the parameters (``eth_getBlockByHash``, ``eth_getBlockReceipts``, a
``blockHash`` filter or EIP-1898 block parameter) is translated back for the upstream.
Sealed hashes are computed in order from genesis and cached; anvil's other fields
(``receiptsRoot`` included) are untouched, so receipt proofs against a sealed header verify.
Sealing is deterministic (RFC 6979 signatures), so a restarted proxy serves the same chain
(without the validator votes below: they are kept in memory only).

**Validator votes** (sealing proxies), on the admin endpoint::

    POST /_proxy/validators  {"add": PRIVATE_KEY} | {"drop": ADDRESS}
    GET  /_proxy/validators  {"height", "validators" (in force at height), "changes", "votes"}

From the first block not yet sealed, each proposer in turn (``set[number % n]``) casts the
vote once in the block it proposes (extraData vote ``[recipient, add|drop]``); once more than
half of the set voted, the next block lists the new set (Besu's block-header validator
selection) and is sealed by a quorum of it (an added validator seals with the given key).

``start_proxy`` / ``stop_proxy`` / ``set_fault`` run one from tests and the devnet.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from adapters.evm import qbft
from light_clients.bft.rules import BFT_MIX_HASH
from light_clients.evm.header import Header, header_from_rpc
from relayer.devnet.anvil import free_port
from relayer.errors import DevnetError

ADMIN_PATH = "/_proxy/faults"
VALIDATORS_PATH = "/_proxy/validators"
HEALTH_PATH = "/_proxy/health"
PROXY_MARKER = "relayer.devnet.proxy"
TRANSPORT_FAULTS = ("refuse", "hang", "429", "500", "garbage", "truncate", "revert", "reject")
#: What the ``revert`` fault answers: a JSON-RPC revert with ``Error(string)`` data.
REVERT_REASON = "refused by the devnet proxy (fault revert)"
#: What ``reject`` answers: the words of Besu's account permissioning, a refusal the relayer does not know.
REJECTION = {"code": -32007, "message": "Sender account not authorized to send transactions"}
UPSTREAM_TIMEOUT = 30.0
HANG_SECONDS = 600.0
FETCH_BATCH = 200
MAX_BODY = 32 * 1024 * 1024
ZERO_HASH = "0x" + "00" * 32
CONFLICT_VANITY = keccak(b"relayer devnet proxy: conflicting header")
#: Topics of the bridge's Locked and Burned events (the logs the log lies rewrite).
BRIDGE_EVENT_TOPICS = frozenset(
    "0x" + keccak(text=f"{name}(uint64,uint64,uint64,address,address,address,uint256)").hex()
    for name in ("Locked", "Burned"))
LIE_RECIPIENT = "0x" + "bad0" * 10  # who a forged bridge log pays
LIE_FACTOR = 1000  # a forged amount is this many times the real one
FAKE_NONCE_OFFSET = 1_000_000  # the nonce of a fake log: the real one's plus this
OTHER_EXTRA = b"relayer devnet proxy: other"  # extraData of the block other-block serves
GARBAGE = b"\x00\xff<html>502 Bad Gateway</html> {\"jsonrpc\": \"2.0\", \"res"
#: Methods whose first parameter is a block hash (translated back to the upstream's hash).
BLOCK_HASH_FIRST = frozenset({
    "eth_getBlockByHash", "eth_getBlockReceipts", "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByBlockHashAndIndex", "eth_getUncleCountByBlockHash",
    "eth_getUncleByBlockHashAndIndex", "eth_getRawTransactionByBlockHashAndIndex",
})
#: Methods answering a block object (rewritten as a sealed block).
BLOCK_RESULTS = frozenset({"eth_getBlockByNumber", "eth_getBlockByHash"})


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the proxy's log file)."""
    print(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str), flush=True)


class UpstreamError(Exception):
    """The upstream node failed or answered something the proxy cannot seal."""


# --------------------------------------------------------------------------- faults

@dataclass(frozen=True)
class FaultPlan:
    """The fault in force; ``remaining`` None = until replaced."""

    mode: str = "none"
    methods: frozenset[str] | None = None
    remaining: int | None = None
    block: int | None = None
    seconds: float = HANG_SECONDS
    served: int = 0
    match: str | None = None  # lowercase text the request body must contain

    def matches(self, methods: Iterable[str], body: bytes | None = None) -> bool:
        if self.match is not None and (body is None or self.match.encode() not in body.lower()):
            return False
        return self.methods is None or any(m in self.methods for m in methods)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "methods": sorted(self.methods) if self.methods is not None else None,
                "remaining": self.remaining, "block": self.block, "seconds": self.seconds,
                "served": self.served, "match": self.match}


class Faults:
    """The proxy's fault plan, shared by every connection thread."""

    def __init__(self, *, sealing: bool) -> None:
        self.sealing = sealing
        self._plan = FaultPlan()
        self._cond = threading.Condition()
        self._version = 0

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set(self, spec: Mapping[str, Any]) -> FaultPlan:
        """Replace the plan from an admin request; raises ValueError naming what is wrong."""
        plan = parse_fault(spec, sealing=self.sealing)
        with self._cond:
            self._plan = plan
            self._version += 1
            self._cond.notify_all()
        log_event("proxy.fault_set", **plan.to_json())
        return plan

    def take(self, modes: Iterable[str], methods: Sequence[str] = (), *, connect: bool = False,
             block: int | tuple[int, int] | None = None, body: bytes | None = None) -> FaultPlan | None:
        """The plan when it applies to this request (consuming one of ``remaining``), else None.

        ``connect``: a new connection, before any request is read (only a ``refuse`` naming no
        methods applies). ``block``: the block number a lie would be told about, or the
        (first, last) range of a log query. ``body``: the request body (for ``match``).
        """
        with self._cond:
            plan = self._plan
            if plan.mode not in modes:
                return None
            if connect and (plan.methods is not None or plan.match is not None):
                return None
            if not connect and not plan.matches(methods, body if plan.match is not None else None):
                return None
            if plan.block is not None and block is not None and not _covers(block, plan.block):
                return None
            if plan.block is not None and block is None and plan.mode in LIES:
                return None
            left = None if plan.remaining is None else plan.remaining - 1
            used = replace(plan, remaining=left, served=plan.served + 1)
            self._plan = replace(used, mode="none") if left == 0 else used
        log_event("proxy.fault_served", mode=plan.mode, methods=list(methods), block=block, remaining=left)
        return used

    def wait_change(self, timeout: float) -> None:
        """Sleep up to ``timeout`` s, less when the plan is replaced (ends a hang early)."""
        with self._cond:
            version = self._version
            self._cond.wait_for(lambda: self._version != version, timeout=timeout)

    def wake(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()


def _covers(block: int | tuple[int, int], number: int) -> bool:
    return block == number if isinstance(block, int) else block[0] <= number <= block[1]


def parse_fault(spec: Mapping[str, Any], *, sealing: bool) -> FaultPlan:
    """A FaultPlan from ``{"mode", "lie"?, "methods"?, "count"?, "block"?, "seconds"?}`` (``lie``
    names the lie of mode ``lie``); raises ValueError."""
    if not isinstance(spec, Mapping):
        raise ValueError("expected a JSON object")
    unknown = set(spec) - {"mode", "lie", "methods", "count", "block", "seconds", "match"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    mode = str(spec.get("mode", "none"))
    if mode == "lie":
        mode = str(spec.get("lie"))
        if mode not in LIES:
            raise ValueError(f"lie must be one of {', '.join(LIES)}, not {spec.get('lie')!r}")
    elif "lie" in spec:
        raise ValueError('"lie" goes with mode "lie"')
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    methods = spec.get("methods")
    if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
        raise ValueError("methods must be a list of JSON-RPC method names")
    count = spec.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer")
    block = spec.get("block")
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
        raise ValueError("block must be a block number")
    seconds = spec.get("seconds", HANG_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError("seconds must be a positive number")
    if mode in LIES:
        lie = LIES[mode]
        if lie.needs_sealing and not sealing:
            raise ValueError(f"fault {mode!r} needs a sealing proxy (--seal-qbft)")
        if lie.needs_block and block is None:
            raise ValueError(f"fault {mode!r} needs \"block\"")
        count = lie.default_count if count is None else count
        methods = lie.default_methods if methods is None else methods
    match = spec.get("match")
    if match is not None and (not isinstance(match, str) or not match):
        raise ValueError("match must be a non-empty string")
    if mode == "revert" and methods is None:
        methods = ["eth_estimateGas"]
    if mode == "none":
        return FaultPlan()
    return FaultPlan(mode, None if methods is None else frozenset(methods), count, block, float(seconds),
                     match=None if match is None else match.lower())


# --------------------------------------------------------------------------- lies

class Lie:
    """A fault that rewrites a real answer. Subclasses set the class attributes and ``tell``;
    ``plan`` is the fault plan that selected it (``plan.block``: the block it is about, if any)."""

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

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        raise NotImplementedError


class ConflictingHeader(Lie):
    """Block ``block`` answered with a second validly sealed header (another vanity)."""

    needs_sealing = True
    needs_block = True
    default_count = 1
    default_methods = ["eth_getBlockByNumber"]

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or proxy.sealer is None:
            return result
        return proxy.sealer.conflicting_block(result)


class HeaderField(Lie):
    """``eth_getBlockByNumber``: the block's ``receiptsRoot`` altered, its claimed ``hash`` kept."""

    default_methods = ["eth_getBlockByNumber"]

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or not isinstance(result.get("receiptsRoot"), str) or not self.about(result):
            return result
        log_event("proxy.lie", lie="header-field", block=result.get("number"), field="receiptsRoot")
        return dict(result, receiptsRoot=_flip(result["receiptsRoot"]))


class ReceiptStatus(Lie):
    """``eth_getBlockReceipts``: the status of the receipt holding a bridge event (else the first) flipped."""

    default_methods = ["eth_getBlockReceipts"]

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        receipts = [r for r in result if isinstance(r, dict) and self.about(r)] if isinstance(result, list) else []
        if not receipts:
            return result
        target = next((r for r in receipts if any(_is_bridge_log(lg) for lg in r.get("logs") or [])), receipts[0])
        status = "0x0" if target.get("status") == "0x1" else "0x1"
        log_event("proxy.lie", lie="receipt", block=target.get("blockNumber"), tx=target.get("transactionHash"),
                  status=status)
        return [dict(r, status=status) if r is target else r for r in result]


class _BridgeLogLie(Lie):
    """Rewrites the bridge logs of ``eth_getLogs`` answers and of the receipts in ``eth_getBlockReceipts``."""

    default_methods = ["eth_getLogs", "eth_getBlockReceipts"]

    def logs(self, logs: list[Any]) -> list[Any]:
        raise NotImplementedError

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, list):
            return result
        if method == "eth_getLogs":
            return self.logs(result)
        return [dict(r, logs=self.logs(r["logs"])) if isinstance(r, dict) and isinstance(r.get("logs"), list)
                else r for r in result]

    def chosen(self, log: Any) -> bool:
        return _is_bridge_log(log) and self.about(log)


class LogData(_BridgeLogLie):
    """Every bridge log pays ``LIE_FACTOR`` x its amount to ``LIE_RECIPIENT``."""

    def logs(self, logs: list[Any]) -> list[Any]:
        out = []
        for lg in logs:
            if self.chosen(lg):
                log_event("proxy.lie", lie="log-data", block=lg.get("blockNumber"), tx=lg.get("transactionHash"))
                lg = dict(lg, data=_forged_data(lg["data"]))
            out.append(lg)
        return out


class FakeLog(_BridgeLogLie):
    """After every bridge log a forged copy: nonce + ``FAKE_NONCE_OFFSET``, ``LIE_FACTOR`` x the
    amount, paid to ``LIE_RECIPIENT``."""

    def logs(self, logs: list[Any]) -> list[Any]:
        out = []
        for lg in logs:
            out.append(lg)
            if self.chosen(lg):
                log_event("proxy.lie", lie="fake-log", block=lg.get("blockNumber"), tx=lg.get("transactionHash"))
                index = _quantity(lg.get("logIndex"))
                out.append(dict(lg, data=_forged_data(lg["data"], nonce_offset=FAKE_NONCE_OFFSET),
                                logIndex=hex(index + 1) if index is not None else lg.get("logIndex")))
        return out


class HideLog(_BridgeLogLie):
    """``eth_getLogs`` only: the bridge logs left out; receipts untouched."""

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

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        if not isinstance(result, dict) or result.get("hash") is None or not self.about(result):
            return result
        header = header_from_rpc(result)
        extra = OTHER_EXTRA if header.extra_data != OTHER_EXTRA else OTHER_EXTRA + b"!"
        other = header.replace(extra_data=extra)
        log_event("proxy.lie", lie="other-block", block=result.get("number"), hash="0x" + other.hash.hex(),
                  honest=result["hash"])
        return dict(result, extraData="0x" + extra.hex(), hash="0x" + other.hash.hex())


def _key_hex(value: str) -> str:
    """32 bytes of hex (a private key) without 0x; raises ValueError."""
    text = str(value).removeprefix("0x")
    if len(text) != 64:
        raise ValueError("a private key is 32 bytes of hex")
    bytes.fromhex(text)
    return text.lower()


def _checksum(value: str) -> str:
    """A checksummed address; raises ValueError."""
    if not isinstance(value, str) or len(value.removeprefix("0x")) != 40:
        raise ValueError(f"{value!r} is not an address")
    return to_checksum_address(value)


def _revert_reply(request_id: Any) -> bytes:
    data = "0x08c379a0" + abi_encode(["string"], [REVERT_REASON]).hex()
    return json.dumps({"jsonrpc": "2.0", "id": request_id,
                       "error": {"code": 3, "message": f"execution reverted: {REVERT_REASON}", "data": data}}).encode()


class NullBlock(Lie):
    """A lagging node: ``null`` for a block asked by number (its header or its receipts)."""

    default_methods = ["eth_getBlockByNumber", "eth_getBlockReceipts"]

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
        if self.block_of(method, params) is None:  # "latest" and other tags: the node has a head
            return result
        log_event("proxy.lie", lie="null-block", method=method, block=params[0] if params else None)
        return None


class BadBlock(Lie):
    """``eth_getBlockByNumber``: a block whose ``receiptsRoot`` is not hex."""

    default_methods = ["eth_getBlockByNumber"]

    def tell(self, proxy: Proxy, method: str, params: list[Any], result: Any) -> Any:
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


def _is_bridge_log(log: Any) -> bool:
    topics = log.get("topics") if isinstance(log, dict) else None
    return bool(topics) and isinstance(topics[0], str) and topics[0].lower() in BRIDGE_EVENT_TOPICS \
        and isinstance(log.get("data"), str)


def _forged_data(data: str, *, nonce_offset: int = 0) -> str:
    """A Locked/Burned log's data (nonce, srcChainId, dstChainId, token, sender, recipient, amount)
    with ``LIE_RECIPIENT`` as recipient, ``LIE_FACTOR`` x the amount and the nonce moved by ``nonce_offset``."""
    raw = bytearray(bytes.fromhex(data[2:]))
    if len(raw) < 7 * 32:
        return data
    nonce, amount = int.from_bytes(raw[0:32], "big"), int.from_bytes(raw[192:224], "big")
    raw[0:32] = ((nonce + nonce_offset) % 2**64).to_bytes(32, "big")
    raw[160:192] = bytes(12) + bytes.fromhex(LIE_RECIPIENT[2:])
    raw[192:224] = (amount * LIE_FACTOR % 2**256).to_bytes(32, "big")
    return "0x" + raw.hex()


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


# --------------------------------------------------------------------------- upstream

class Upstream:
    """The node behind the proxy: one httpx client per thread."""

    def __init__(self, url: str, timeout: float = UPSTREAM_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._local = threading.local()
        self._ids = iter(range(1, 1 << 62))
        self._id_lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=self.timeout)
        return client

    def forward(self, body: bytes) -> tuple[int, bytes, str]:
        """POST ``body`` as is; (status, body, content type). Raises UpstreamError."""
        try:
            response = self._client().post(self.url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.url} failed: {exc or type(exc).__name__}") from exc
        return response.status_code, response.content, response.headers.get("content-type", "application/json")

    def post_json(self, payload: Any) -> Any:
        status, body, _ = self.forward(json.dumps(payload).encode())
        try:
            return json.loads(body)
        except ValueError as exc:
            raise UpstreamError(f"upstream answered HTTP {status} without JSON") from exc

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of several calls in order; raises UpstreamError on any error answer."""
        with self._id_lock:
            ids = [next(self._ids) for _ in calls]
        replies = self.post_json([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                                  for i, (m, p) in zip(ids, calls)])
        if not isinstance(replies, list):
            raise UpstreamError(f"upstream answered a batch with {type(replies).__name__}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        out = []
        for i, (method, _) in zip(ids, calls):
            reply = by_id.get(i)
            if reply is None or reply.get("error") is not None or "result" not in reply:
                raise UpstreamError(f"upstream {method} failed: {reply and reply.get('error')}")
            out.append(reply["result"])
        return out

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]


# --------------------------------------------------------------------------- QBFT sealing

@dataclass(frozen=True)
class Sealed:
    """One block as the sealed chain shows it (what a block answer needs rewritten)."""

    number: int
    upstream_hash: str
    hash: str
    parent: str
    extra: str
    miner: str


def load_validator_keys(path: Path | str) -> list[str]:
    """Validator private keys from a JSON file: a list of 0x-hex keys, ``{"keys": [...]}``, or
    ``{"validators": [{"key": ...}, ...]}`` (the devnet's ``keys/<chain>-validators.json``).
    Raises DevnetError when the file is unreadable or holds no valid key list."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DevnetError(f"cannot read validator keys from {path}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("keys") or [v.get("key") for v in data.get("validators", []) if isinstance(v, dict)]
    if not isinstance(data, list) or not data:
        raise DevnetError(f"{path} holds no validator keys")
    keys = []
    for item in data:
        text = str(item)
        try:
            if len(bytes.fromhex(text.removeprefix("0x"))) != 32:
                raise ValueError
        except ValueError:
            raise DevnetError(f"{path}: a validator key is not 32 bytes of hex") from None
        keys.append("0x" + text.removeprefix("0x").lower())
    if len(set(keys)) != len(keys):
        raise DevnetError(f"{path} lists a validator key twice")
    return keys


class QbftSealer:
    """Turns the upstream's blocks into a QBFT chain sealed by ``keys`` (cached, in order)."""

    def __init__(self, keys: Sequence[str], upstream: Upstream) -> None:
        self.keys = sorted(keys, key=lambda k: int(qbft.address_of(k), 16))
        self.addresses = [qbft.address_of(k) for k in self.keys]  # the genesis set
        self.quorum = qbft.quorum(len(self.keys))
        self._key_of = {a: k for a, k in zip(self.addresses, self.keys)}
        self._sets: list[tuple[int, tuple[str, ...]]] = [(0, tuple(self.addresses))]  # (from block, set)
        self._votes: dict[int, qbft.Vote] = {}  # block -> the vote its proposer casts
        self.upstream = upstream
        self._chain: list[Sealed] = []
        self._by_sealed: dict[str, int] = {}
        self._by_upstream: dict[str, int] = {}
        self._conflicts: dict[str, int] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- the chain
    @property
    def height(self) -> int:
        """Highest sealed block so far (-1 before the first)."""
        return len(self._chain) - 1

    def ensure(self, number: int) -> None:
        """Seal every block up to ``number``. Raises UpstreamError."""
        if number < len(self._chain):
            return
        with self._lock:
            rollbacks = 0
            while len(self._chain) <= number:
                first = len(self._chain)
                last = min(number, first + FETCH_BATCH - 1)
                blocks = self.upstream.batch([("eth_getBlockByNumber", [hex(n), False])
                                              for n in range(first, last + 1)])
                for block in blocks:
                    if not isinstance(block, dict):
                        raise UpstreamError(f"upstream has no block {first} .. {last}")
                    if self._chain and str(block.get("parentHash")).lower() != self._chain[-1].upstream_hash:
                        rollbacks += 1  # the upstream chain changed under us (anvil_reset, evm_revert)
                        if rollbacks > 64:
                            raise UpstreamError("upstream chain keeps changing while sealing")
                        self._truncate(max(0, len(self._chain) - 8 * rollbacks))
                        break
                    self._append(block)

    def _append(self, block: Mapping[str, Any]) -> None:
        number = int(block["number"], 16)
        parent = self._chain[-1].hash if self._chain else str(block.get("parentHash", ZERO_HASH)).lower()
        header, block_hash = self.seal(block, parent)
        sealed = Sealed(number, str(block["hash"]).lower(), "0x" + block_hash.hex(), parent,
                        "0x" + header.extra_data.hex(), "0x" + header.coinbase.hex())
        self._chain.append(sealed)
        self._by_sealed[sealed.hash] = number
        self._by_upstream[sealed.upstream_hash] = number

    def _truncate(self, number: int) -> None:
        for dropped in self._chain[number:]:
            self._by_sealed.pop(dropped.hash, None)
            self._by_upstream.pop(dropped.upstream_hash, None)
        del self._chain[number:]
        log_event("proxy.reseal", from_block=number)

    # ---------------------------------------------------------------- validator votes
    def validators_at(self, number: int) -> tuple[str, ...]:
        """The validator set that seals block ``number`` (and that its extraData lists)."""
        return next(members for start, members in reversed(self._sets) if start <= number)

    def schedule(self) -> dict[str, Any]:
        """The sealed height, the set in force there, every set change and every vote."""
        height = self.height
        return {"height": height, "validators": list(self.validators_at(max(height, 0))),
                "changes": [{"from_block": start, "validators": list(members)} for start, members in self._sets],
                "votes": [{"block": n, "recipient": v.recipient, "add": v.add} for n, v in sorted(self._votes.items())]}

    def propose(self, *, add_key: str | None = None, drop: str | None = None) -> dict[str, Any]:
        """Have the validators vote ``add_key``'s address in or ``drop`` out, as Besu validators that all
        called ``qbft_proposeValidatorVote`` do: from the first block not yet sealed (or the last
        scheduled change), each proposer in turn casts the vote once when it proposes, and when more
        than half of the set voted the next block lists the new set. Returns the vote blocks and the
        change. Raises ValueError (a malformed key or address, adding a member, dropping a
        non-member or the last one), UpstreamError."""
        if (add_key is None) == (drop is None):
            raise ValueError('give exactly one of "add" (a private key) or "drop" (an address)')
        with self._lock:
            self.ensure(int(self.upstream.call("eth_blockNumber"), 16))
            start = max(self.height + 1, self._sets[-1][0])
            members = self.validators_at(start)
            if add_key is not None:
                key = "0x" + _key_hex(add_key)
                subject = qbft.address_of(key)
                if subject in members:
                    raise ValueError(f"{subject} is a validator already")
                new = tuple(sorted(members + (subject,), key=lambda a: int(a, 16)))
            else:
                subject = _checksum(str(drop))
                if subject not in members or len(members) == 1:
                    raise ValueError(f"{subject} is not a validator that can be dropped")
                new = tuple(a for a in members if a != subject)
            voters: list[str] = []
            number = start
            while len(voters) <= len(members) // 2:
                proposer = members[number % len(members)]
                if proposer not in voters:
                    self._votes[number] = qbft.Vote(subject, add_key is not None)
                    voters.append(proposer)
                number += 1
            if add_key is not None:
                self._key_of[subject] = key
            self._sets.append((number, new))
        log_event("proxy.validator_vote", recipient=subject, add=add_key is not None,
                  vote_blocks=[start, number - 1], change_at=number, validators=list(new))
        return {"recipient": subject, "add": add_key is not None, "vote_blocks": list(range(start, number)),
                "change_at": number, "validators": list(new)}

    def seal(self, block: Mapping[str, Any], parent: str, *, vanity: bytes = qbft.VANITY,
             keys: Sequence[str] | None = None) -> tuple[Header, bytes]:
        """(sealed header, Besu block hash) of an upstream block whose parent is sealed as ``parent``:
        listing the set in force at its number, carrying its scheduled vote, sealed by a quorum of
        that set (``keys``: by these keys instead)."""
        number = int(block["number"], 16)
        members = self.validators_at(number)
        n = len(members)
        base = header_from_rpc(block).replace(
            parent_hash=bytes.fromhex(parent[2:]), coinbase=bytes.fromhex(members[number % n][2:]),
            mix_hash=BFT_MIX_HASH, difficulty=1)
        own = [self._key_of[a] for a in members]
        signers = list(keys) if keys is not None else [own[(number + i) % n] for i in range(qbft.quorum(n))]
        header = qbft.sealed_header(base, signers, 0, "qbft", vote=self._votes.get(number), listed=members,
                                    vanity=vanity)
        return header, qbft.qbft_block_hash(header)

    def keys_at(self, number: int) -> list[str]:
        """Private keys of the validators that seal block ``number``."""
        return [self._key_of[a] for a in self.validators_at(number)]

    def sealed(self, number: int, upstream_hash: str | None = None) -> Sealed:
        """The sealed form of block ``number``; with ``upstream_hash`` checked to be that block
        (re-sealing once when the upstream changed). Raises UpstreamError."""
        self.ensure(number)
        entry = self._chain[number]
        if upstream_hash is None or entry.upstream_hash == upstream_hash.lower():
            return entry
        with self._lock:
            self._truncate(number)
            self.ensure(number)
            entry = self._chain[number]
        if entry.upstream_hash != upstream_hash.lower():
            raise UpstreamError(f"upstream block {number} changed while it was being sealed")
        return entry

    def upstream_hash(self, sealed_hash: str) -> str | None:
        """The upstream hash of a sealed (or conflicting) hash; catches up with the head once."""
        key = sealed_hash.lower()
        for attempt in range(2):
            number = self._by_sealed.get(key, self._conflicts.get(key))
            if number is not None and number < len(self._chain):
                return self._chain[number].upstream_hash
            if attempt == 0:
                self.ensure(int(self.upstream.call("eth_blockNumber"), 16))
        return None

    def sealed_of_upstream(self, upstream_hash: str) -> str | None:
        number = self._by_upstream.get(upstream_hash.lower())
        return None if number is None else self._chain[number].hash

    # ---------------------------------------------------------------- answers
    def rewrite_block(self, block: dict[str, Any], *, pending: bool = False) -> dict[str, Any]:
        """A block answer as the sealed chain shows it."""
        number = int(block["number"], 16)
        out = dict(block)
        if pending or block.get("hash") is None:
            if number > 0:
                out["parentHash"] = self.sealed(number - 1, str(block.get("parentHash"))).hash
            return out
        entry = self.sealed(number, str(block["hash"]))
        out.update(parentHash=entry.parent, miner=entry.miner, mixHash="0x" + BFT_MIX_HASH.hex(),
                   difficulty="0x1", extraData=entry.extra, hash=entry.hash)
        return out

    def conflicting_block(self, block: dict[str, Any]) -> dict[str, Any]:
        """A sealed block answer replaced by a second, validly sealed header at its height."""
        number = int(block["number"], 16)
        header, block_hash = self.seal(block, block["parentHash"], vanity=CONFLICT_VANITY, keys=self.keys_at(number))
        self._conflicts["0x" + block_hash.hex()] = number
        log_event("proxy.conflict", block=number, hash="0x" + block_hash.hex(), honest=block["hash"])
        return dict(block, extraData="0x" + header.extra_data.hex(), hash="0x" + block_hash.hex())

    def translate_result(self, value: Any) -> Any:
        """Every ``blockHash`` (with its ``blockNumber``) in an answer, as the sealed chain names it."""
        if isinstance(value, list):
            return [self.translate_result(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self.translate_result(v) for k, v in value.items()}
        block_hash, number = out.get("blockHash"), out.get("blockNumber")
        if isinstance(block_hash, str) and isinstance(number, str) and len(block_hash) == 66:
            out["blockHash"] = self.sealed(int(number, 16), block_hash).hash
        return out

    def translate_params(self, method: str, params: list[Any]) -> list[Any]:
        """Sealed block hashes in the parameters, as the upstream names them."""
        out = list(params)
        if method in BLOCK_HASH_FIRST and out and isinstance(out[0], str) and len(out[0]) == 66:
            out[0] = self.upstream_hash(out[0]) or out[0]
        for index, item in enumerate(out):
            if isinstance(item, dict) and isinstance(item.get("blockHash"), str):
                out[index] = dict(item, blockHash=self.upstream_hash(item["blockHash"]) or item["blockHash"])
        return out


# --------------------------------------------------------------------------- the proxy

@dataclass
class Proxy:
    """Answers JSON-RPC requests: forward, seal, lie."""

    upstream: Upstream
    sealer: QbftSealer | None = None
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.faults = Faults(sealing=self.sealer is not None)

    def answer(self, body: bytes, request: Any) -> tuple[int, bytes, str]:
        """(status, body, content type) for one HTTP request body. Raises UpstreamError."""
        if self.sealer is None and self.faults.plan.mode not in LIES:
            return self.upstream.forward(body)
        if isinstance(request, dict):
            calls, single = [request], True
        elif isinstance(request, list) and request:
            calls, single = request, False
        else:
            return self.upstream.forward(body)
        sent = [self._outgoing(c) for c in calls]
        replies = self.upstream.post_json(sent[0] if single else sent)
        if single:
            replies = [replies]
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            return 200, json.dumps(replies[0] if single else replies).encode(), "application/json"
        by_id = {json.dumps(c.get("id")): c for c in calls if isinstance(c, dict)}
        out = []
        for position, reply in enumerate(replies):
            call = by_id.get(json.dumps(reply.get("id")))
            if call is None and position < len(calls) and isinstance(calls[position], dict):
                call = calls[position]
            out.append(self._incoming(call, reply))
        return 200, json.dumps(out[0] if single else out).encode(), "application/json"

    def _outgoing(self, call: Any) -> Any:
        if not isinstance(call, dict) or self.sealer is None:
            return call
        params = call.get("params")
        if not isinstance(params, list):
            return call
        try:
            return dict(call, params=self.sealer.translate_params(str(call.get("method")), params))
        except UpstreamError:
            return call

    def _incoming(self, call: dict[str, Any] | None, reply: dict[str, Any]) -> dict[str, Any]:
        if call is None or reply.get("error") is not None or reply.get("result") is None:
            return reply
        method = str(call.get("method"))
        params = call.get("params") if isinstance(call.get("params"), list) else []
        try:
            result = self._rewrite(method, params, reply["result"])
        except (UpstreamError, KeyError, ValueError, TypeError) as exc:
            log_event("proxy.rewrite_failed", method=method, error=str(exc))
            return {"jsonrpc": "2.0", "id": reply.get("id"),
                    "error": {"code": -32603, "message": f"proxy could not seal the answer: {exc}"}}
        return dict(reply, result=result)

    def _rewrite(self, method: str, params: list[Any], result: Any) -> Any:
        sealer = self.sealer
        if sealer is not None:
            if method in BLOCK_RESULTS and isinstance(result, dict):
                result = sealer.rewrite_block(result, pending=bool(params) and params[0] == "pending")
                asked = params[0] if params and isinstance(params[0], str) else ""
                if method == "eth_getBlockByHash" and sealer._conflicts.get(asked.lower()) is not None:
                    result = sealer.conflicting_block(result)  # asked for the conflicting header by its hash
            elif method == "eth_getFilterChanges" and isinstance(result, list) \
                    and all(isinstance(h, str) for h in result):
                sealer.ensure(int(self.upstream.call("eth_blockNumber"), 16))
                result = [sealer.sealed_of_upstream(h) or h for h in result]
            result = sealer.translate_result(result)
        lie_mode = self.faults.plan.mode
        if lie_mode in LIES:
            lie = LIES[lie_mode]
            plan = self.faults.take((lie_mode,), [method], block=lie.block_of(method, params))
            if plan is not None:
                result = lie(plan).tell(self, method, params, result)
        return result


# --------------------------------------------------------------------------- HTTP

def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (no FIN, no answer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], proxy: Proxy, *, admin_only: bool) -> None:
        self.proxy = proxy
        self.admin_only = admin_only
        super().__init__(address, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not self.admin_only and self.proxy.faults.take(("refuse",), connect=True) is not None:
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            return False
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, OSError)):
            log_event("proxy.handler_error", error=repr(exc))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go separately

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            self._json(411, {"error": "a Content-Length (at most 32 MiB) is required"})
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def _reset(self) -> None:
        self.close_connection = True
        _reset(self.connection)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?")[0].rstrip("/")
        proxy = self.server.proxy
        if path == ADMIN_PATH:
            self._json(200, proxy.faults.plan.to_json() | {"sealing": proxy.sealer is not None})
        elif path == HEALTH_PATH:
            sealer = proxy.sealer
            self._json(200, {"upstream": proxy.upstream.url, "sealing": sealer is not None,
                             "sealed_height": sealer.height if sealer else None,
                             "validators": list(sealer.validators_at(max(sealer.height, 0))) if sealer else None})
        elif path == VALIDATORS_PATH and proxy.sealer is not None:
            self._json(200, proxy.sealer.schedule())
        else:
            self._json(405, {"error": "JSON-RPC is served by POST; GET serves /_proxy/faults and /_proxy/health"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = self._body()
        if body is None:
            return
        path = self.path.split("?")[0].rstrip("/")
        if path == ADMIN_PATH:
            self._admin(body)
        elif path == VALIDATORS_PATH:
            self._propose(body)
        elif self.server.admin_only:
            self._json(404, {"error": f"the admin port serves {ADMIN_PATH} only"})
        else:
            self._rpc(body)

    def _admin(self, body: bytes) -> None:
        try:
            plan = self.server.proxy.faults.set(json.loads(body or b"{}"))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, plan.to_json())

    def _propose(self, body: bytes) -> None:
        sealer = self.server.proxy.sealer
        if sealer is None:
            self._json(404, {"error": "validator votes need a sealing proxy (--seal-qbft)"})
            return
        try:
            spec = json.loads(body or b"{}")
            if not isinstance(spec, dict) or set(spec) - {"add", "drop"}:
                raise ValueError('expected {"add": PRIVATE_KEY} or {"drop": ADDRESS}')
            self._json(200, sealer.propose(add_key=spec.get("add"), drop=spec.get("drop")))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
        except UpstreamError as exc:
            self._json(502, {"error": str(exc)})

    def _rpc(self, body: bytes) -> None:
        proxy = self.server.proxy
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        methods = _methods(request)
        fault = proxy.faults.take(TRANSPORT_FAULTS, methods, body=body)
        mode = fault.mode if fault is not None else None
        if mode == "refuse":
            self._reset()
            return
        if mode == "hang":
            assert fault is not None
            proxy.faults.wait_change(fault.seconds)
            self._reset()
            return
        if mode == "429":
            self._send(429, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"rate limited"}}',
                       extra={"Retry-After": "1"})
            return
        if mode == "500":
            self._send(500, b"internal server error", "text/plain")
            return
        if mode == "garbage":
            self._send(200, GARBAGE)
            return
        if mode == "revert":
            self._send(200, _revert_reply(request.get("id") if isinstance(request, dict) else None))
            return
        if mode == "reject":
            calls = request if isinstance(request, list) else [request]
            errors = [{"jsonrpc": "2.0", "id": c.get("id") if isinstance(c, dict) else None, "error": REJECTION}
                      for c in calls]
            self._send(200, json.dumps(errors if isinstance(request, list) else errors[0]).encode())
            return
        try:
            status, answer, content_type = proxy.answer(body, request)
        except UpstreamError as exc:
            log_event("proxy.upstream_failed", error=str(exc))
            self._send(502, json.dumps({"jsonrpc": "2.0", "id": None,
                                        "error": {"code": -32603, "message": str(exc)}}).encode())
            return
        if mode == "truncate":
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer[: max(1, len(answer) // 2)])
            self.wfile.flush()
            self._reset()
            return
        self._send(status, answer, content_type)


def _methods(request: Any) -> list[str]:
    calls = request if isinstance(request, list) else [request]
    return [str(c.get("method")) for c in calls if isinstance(c, dict)]


def serve(upstream: str, port: int, *, host: str = "127.0.0.1", admin_port: int = 0,
          seal_keys: Sequence[str] | None = None, stop: threading.Event | None = None,
          ready: threading.Event | None = None) -> None:
    """Run the proxy until ``stop`` is set (or SIGTERM/SIGINT in the main thread)."""
    up = Upstream(upstream)
    proxy = Proxy(up, QbftSealer(seal_keys, up) if seal_keys else None)
    rpc = _Server((host, port), proxy, admin_only=False)
    admin = _Server((host, admin_port), proxy, admin_only=True)
    stop = stop or threading.Event()
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (rpc, admin)]
    for thread in threads:
        thread.start()
    sealer = proxy.sealer
    log_event("proxy.started", upstream=upstream, url=f"http://{host}:{rpc.server_address[1]}",
              admin_url=f"http://{host}:{admin.server_address[1]}", pid=os.getpid(),
              validators=sealer.addresses if sealer else None)
    if ready is not None:
        ready.set()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        proxy.faults.wake()
        for server in (rpc, admin):
            server.shutdown()
            server.server_close()
        log_event("proxy.stopped")


# --------------------------------------------------------------------------- helpers for tests and the devnet

@dataclass
class ProxyHandle:
    """A proxy process started by ``start_proxy``."""

    url: str
    admin_url: str
    pid: int
    process: subprocess.Popen[bytes] | None = None
    keys_file: Path | None = None  # a temporary key file written by start_proxy (removed by stop_proxy)


def start_proxy(upstream: str, *, seal_keys: Sequence[str] | Path | str | None = None, port: int | None = None,
                admin_port: int | None = None, log_path: Path | None = None, detach: bool = False,
                timeout: float = 20.0) -> ProxyHandle:
    """Start ``python -m relayer.devnet.proxy`` in front of ``upstream`` and wait until it answers.

    ``seal_keys``: validator private keys (written to a private temporary file) or the path of
    a keys file; None for a plain proxy. ``detach`` puts the process in its own session (it
    outlives the caller). Raises DevnetError when it does not come up within ``timeout`` s.
    """
    port, admin_port = port or free_port(), admin_port or free_port()
    while admin_port == port:
        admin_port = free_port()
    keys_file: Path | None = None
    args = [sys.executable, "-m", PROXY_MARKER, "--upstream", upstream, "--port", str(port),
            "--admin-port", str(admin_port)]
    if seal_keys is not None:
        if isinstance(seal_keys, (str, Path)):
            path = Path(seal_keys)
        else:
            fd, name = tempfile.mkstemp(prefix="proxy-keys-", suffix=".json")
            with os.fdopen(fd, "w") as handle:
                json.dump({"keys": list(seal_keys)}, handle)
            path = keys_file = Path(name)
        args += ["--seal-qbft", str(path)]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=detach)
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    handle = ProxyHandle(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", process.pid,
                         process, keys_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_proxy(handle)
            raise DevnetError(f"the proxy exited with status {process.returncode}", upstream=upstream,
                              log=str(log_path) if log_path else None)
        try:
            if httpx.get(handle.admin_url + ADMIN_PATH, timeout=1.0).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    stop_proxy(handle)
    raise DevnetError(f"the proxy did not answer within {timeout:.0f} s", upstream=upstream)


def stop_proxy(handle: ProxyHandle, timeout: float = 5.0) -> None:
    """Stop a proxy started by ``start_proxy`` (SIGTERM, SIGKILL after ``timeout``)."""
    try:
        if handle.process is not None:
            if handle.process.poll() is None:
                handle.process.terminate()
                try:
                    handle.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    handle.process.kill()
                    handle.process.wait()
        else:
            from relayer.devnet.network import terminate

            terminate(handle.pid, PROXY_MARKER, timeout=timeout)
    finally:
        if handle.keys_file is not None:
            handle.keys_file.unlink(missing_ok=True)


def set_fault(handle: ProxyHandle | str, mode: str, **options: Any) -> dict[str, Any]:
    """Set the proxy's fault (``mode`` and ``methods``/``count``/``block``/``seconds``); returns it.

    ``handle`` may be the admin URL. Raises DevnetError when the proxy refuses the fault.
    """
    admin = handle.admin_url if isinstance(handle, ProxyHandle) else handle
    response = httpx.post(admin.rstrip("/") + ADMIN_PATH, json={"mode": mode, **options}, timeout=5.0)
    if response.status_code != 200:
        raise DevnetError(f"the proxy refused fault {mode!r}: {response.text}")
    result: dict[str, Any] = response.json()
    return result


def get_fault(handle: ProxyHandle | str) -> dict[str, Any]:
    """The fault in force (``mode``, ``remaining``, ``served`` ...)."""
    admin = handle.admin_url if isinstance(handle, ProxyHandle) else handle
    result: dict[str, Any] = httpx.get(admin.rstrip("/") + ADMIN_PATH, timeout=5.0).json()
    return result


def propose_validator(handle: ProxyHandle | str, *, add_key: str | None = None,
                      drop: str | None = None) -> dict[str, Any]:
    """Start a validator vote on a sealing proxy: add the address of ``add_key`` (the proxy seals
    with that key once it is a validator) or drop the address ``drop``. Returns the vote blocks and the
    change (``change_at``, ``validators``). Raises DevnetError when the proxy refuses."""
    admin = handle.admin_url if isinstance(handle, ProxyHandle) else handle
    spec = {"add": add_key} if add_key is not None else {"drop": drop}
    response = httpx.post(admin.rstrip("/") + VALIDATORS_PATH, json=spec, timeout=30.0)
    if response.status_code != 200:
        raise DevnetError(f"the proxy refused the validator vote: {response.text}")
    result: dict[str, Any] = response.json()
    return result


def validator_schedule(handle: ProxyHandle | str) -> dict[str, Any]:
    """The sealing proxy's ``height``, the set in force there, every set change and vote."""
    admin = handle.admin_url if isinstance(handle, ProxyHandle) else handle
    result: dict[str, Any] = httpx.get(admin.rstrip("/") + VALIDATORS_PATH, timeout=5.0).json()
    return result


# --------------------------------------------------------------------------- python -m

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relayer.devnet.proxy",
                                     description="JSON-RPC proxy with injected faults and QBFT sealing.")
    parser.add_argument("--upstream", required=True, help="JSON-RPC URL of the node behind the proxy")
    parser.add_argument("--port", required=True, type=int, help="port to serve JSON-RPC on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--admin-port", type=int, default=0, help="port of the admin endpoint (default: any free)")
    parser.add_argument("--seal-qbft", type=Path, default=None, metavar="KEYS_FILE",
                        help="JSON file of validator private keys: serve the chain as a QBFT chain they seal")
    args = parser.parse_args(argv)
    try:
        keys = load_validator_keys(args.seal_qbft) if args.seal_qbft else None
    except DevnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(args.upstream, args.port, host=args.host, admin_port=args.admin_port, seal_keys=keys, stop=stop)
    except OSError as exc:
        print(f"error: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BRIDGE_EVENT_TOPICS",
    "FAKE_NONCE_OFFSET",
    "LIES",
    "LIE_FACTOR",
    "LIE_RECIPIENT",
    "MODES",
    "TRANSPORT_FAULTS",
    "ConflictingHeader",
    "Faults",
    "Lie",
    "Proxy",
    "ProxyHandle",
    "QbftSealer",
    "get_fault",
    "load_validator_keys",
    "main",
    "propose_validator",
    "serve",
    "set_fault",
    "start_proxy",
    "stop_proxy",
    "validator_schedule",
]
