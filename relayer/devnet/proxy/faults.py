"""Fault plans of the devnet proxy: what it does wrong, to which requests, how often.

**Faults**, set at run time on the admin endpoint (served on the admin port, which never
fails, and on the RPC port while it accepts connections)::

    POST /_proxy/faults  {"mode": "none|refuse|hang|429|500|garbage|truncate|reject|conflict|lie",
                          "lie": NAME,                       # mode lie: one of lies.LIES
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

The lies (``lies.LIES``) are handed to ``Faults`` by the server, so this module knows of them
only what a fault plan needs: whether one needs sealing or a block, and its defaults.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from eth_abi import encode as abi_encode

from relayer.devnet.proxy.common import log_event

TRANSPORT_FAULTS = ("refuse", "hang", "429", "500", "garbage", "truncate", "revert", "reject")
#: What the ``revert`` fault answers: a JSON-RPC revert with ``Error(string)`` data.
REVERT_REASON = "refused by the devnet proxy (fault revert)"
#: What ``reject`` answers: the words of Besu's account permissioning, a refusal the relayer does not know.
REJECTION = {"code": -32007, "message": "Sender account not authorized to send transactions"}
HANG_SECONDS = 600.0
GARBAGE = b"\x00\xff<html>502 Bad Gateway</html> {\"jsonrpc\": \"2.0\", \"res"


class LieKind(Protocol):
    """What a fault plan needs to know of a lie (``lies.Lie`` subclasses are these)."""

    needs_sealing: bool
    needs_block: bool
    default_count: int | None
    default_methods: list[str] | None


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

    def __init__(self, *, sealing: bool, lies: Mapping[str, LieKind]) -> None:
        self.sealing = sealing
        self.lies = lies
        self._plan = FaultPlan()
        self._cond = threading.Condition()
        self._version = 0

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set(self, spec: Mapping[str, Any]) -> FaultPlan:
        """Replace the plan from an admin request; raises ValueError naming what is wrong."""
        plan = parse_fault(spec, sealing=self.sealing, lies=self.lies)
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
            if plan.block is not None and block is None and plan.mode in self.lies:
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

def parse_fault(spec: Mapping[str, Any], *, sealing: bool, lies: Mapping[str, LieKind]) -> FaultPlan:
    """A FaultPlan from ``{"mode", "lie"?, "methods"?, "count"?, "block"?, "seconds"?}`` (``lie``
    names the lie of mode ``lie``, one of ``lies``); raises ValueError."""
    modes = ("none", *TRANSPORT_FAULTS, *lies)
    if not isinstance(spec, Mapping):
        raise ValueError("expected a JSON object")
    unknown = set(spec) - {"mode", "lie", "methods", "count", "block", "seconds", "match"}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    mode = str(spec.get("mode", "none"))
    if mode == "lie":
        mode = str(spec.get("lie"))
        if mode not in lies:
            raise ValueError(f"lie must be one of {', '.join(lies)}, not {spec.get('lie')!r}")
    elif "lie" in spec:
        raise ValueError('"lie" goes with mode "lie"')
    if mode not in modes:
        raise ValueError(f"mode must be one of {', '.join(modes)}, not {mode!r}")
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
    if mode in lies:
        lie = lies[mode]
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

def revert_reply(request_id: Any) -> bytes:
    """The JSON-RPC answer of fault ``revert``: code 3 with ``Error(REVERT_REASON)`` data."""
    data = "0x08c379a0" + abi_encode(["string"], [REVERT_REASON]).hex()
    return json.dumps({"jsonrpc": "2.0", "id": request_id,
                       "error": {"code": 3, "message": f"execution reverted: {REVERT_REASON}", "data": data}}).encode()


__all__ = ["GARBAGE", "HANG_SECONDS", "REJECTION", "REVERT_REASON", "TRANSPORT_FAULTS", "FaultPlan", "Faults",
           "LieKind", "parse_fault", "revert_reply"]
