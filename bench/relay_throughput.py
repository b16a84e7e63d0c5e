"""End-to-end relay throughput of the devnet: gas, latency and JSON-RPC calls per delivered message.

    python bench/relay_throughput.py [--messages 200] [--rate R] [--users 9] [--keep]

Brings up the devnet (``relayer.devnet.network.up``: anvil alpha 1001 and beta 1002 with 1 s
blocks, 2 confirmations, 3 operators, committee 2-of-3) in a temporary folder, funds more
users (anvil keys 1..9, plus generated accounts funded with ``anvil_setBalance`` when
``--users`` asks for more) and approves the token routers, then:

1. scrapes every operator's ``/metrics`` and measures the idle JSON-RPC request rate for
   ``--idle`` seconds with no traffic;
2. sends ``--messages`` lock transfers through ``TokenRouter`` (``lockNative`` / ``lockToken``, the
   router's default expiry), mixed native coin / test token and both directions,
   pre-signed with explicit nonces and pushed as JSON-RPC batches of ``eth_sendRawTransaction``
   (all at once by default, as fast as the source chains take them; ``--rate`` spreads them
   at R messages per second over both chains); recipients are fresh addresses, the costlier
   mint (a new balance slot);
3. waits until the destination message layers emitted ``MessageProcessed`` for every message
   (its outcome is recorded: a transfer the router refused would be ``failed``), then lets
   the operators settle (the grace period of every peer) and scrapes the metrics again;
4. reads every transaction the operators sent to the destination message layers in that window
   (``deliverBatch`` receipts, ``MessageProcessed`` / ``HeaderAccepted`` logs, block gas limits) and
   the operators' logs.

Per message: source block timestamp, source finality (timestamp of block number + confirmations),
destination block timestamp of the delivering transaction; latency beyond finality in destination
block times (aim: at most 1), end-to-end latency. Destination gas per message (all gas the operators
spent on the destination / messages delivered), messages per delivery transaction, relayer gas per
destination block against the block gas limit, and the physical limit that gas implies (messages per
block = gas limit / gas per message) against what was achieved. JSON-RPC HTTP requests per delivered
message (``relayer_rpc_requests_total`` deltas over the 3 operators), gross and marginal (idle polling
rate subtracted over the same window). Tears the devnet down.

Writes ``bench/results/relay-throughput.json`` and ``bench/results/relay-throughput.md``
(``--output NAME`` writes ``NAME.json`` / ``NAME.md`` instead, e.g. for a larger burst).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import httpx  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from adapters.evm.abi import Contract  # noqa: E402
from adapters.evm.messaging import MESSAGE_PROCESSED_TOPIC, message_sent_logs  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from relayer.config import RouteConfig  # noqa: E402
from relayer.devnet import network  # noqa: E402
from relayer.devnet.anvil import ANVIL_KEYS  # noqa: E402

RESULTS = REPO / "bench" / "results"
ROUTES = (("alpha", "beta"), ("beta", "alpha"))
ASSETS = ("native", "token")
UNLIMITED = 2**256 - 1
SEND_BATCH = 100  # raw transactions per JSON-RPC batch
READ_BATCH = 50  # blocks / receipts per JSON-RPC batch
USER_ETH = 1_000 * 10**18
USER_TOKENS = 10_000 * 10**18
LOCK_AMOUNT = 10**15  # 0.001 of the coin / token (+ message index wei, so every lock differs)
MAX_FEE, TIP = 50 * 10**9, 10**9  # source transactions: ample for an anvil base fee
GAS_HEADROOM_NUM, GAS_HEADROOM_DEN = 5, 4  # source gas limit = estimate x 1.25
MINT_AIM_BATCH = 40_000  # the message layer's aim: gas per message in a batch of 32 (issue 10)
EXPIRY = 0  # TokenRouter: 0 = its DEFAULT_TTL after the lock
OUTCOMES = {1: "delivered", 2: "failed", 3: "expired"}
ROUTER, LIGHT_CLIENT = Contract.load("TokenRouter"), Contract.load("CommitteeLightClient")
TOKEN = Contract.load("TestToken")
PROCESSED_TOPIC = "0x" + MESSAGE_PROCESSED_TOPIC.hex()
HEADER_TOPIC = "0x" + LIGHT_CLIENT.event_topic("HeaderAccepted").hex()
MESSAGE_COLUMNS = ("index", "route", "asset", "message_id", "src_block", "src_ts", "final_ts", "dst_block", "dst_ts",
                   "beyond_finality_s", "end_to_end_s", "operator", "dst_tx", "lock_gas", "sent_at",
                   "relayer_final_lag_s", "final_to_signed_s", "signed_to_confirmed_s")
LOG_EVENTS = ("message.final", "message.submitted", "message.confirmed", "message.delivered_by_peer",
              "attestation.waiting", "tx.signed", "tx.replaced", "tx.reverted", "tx.dropped",
              "message.attempt_failed", "header.update_ready")


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def hx(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def dist(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"p50": round(pct(values, 50), 3), "p95": round(pct(values, 95), 3), "max": round(max(values), 3),
            "mean": round(statistics.fmean(values), 3), "min": round(min(values), 3)}


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------------- metrics
Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(api: str) -> dict[Sample, float]:
    """Counters and gauges of one operator's ``/metrics`` (histogram buckets left out)."""
    text = httpx.get(f"{api}/metrics", timeout=5.0).text
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith(("_bucket", "_created")):
                continue
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def total(samples: dict[Sample, float], name: str, **match: str) -> float:
    return sum(v for (n, labels), v in samples.items()
               if n == name and all(dict(labels).get(k) == want for k, want in match.items()))


def by_label(samples: dict[Sample, float], name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (n, labels), v in samples.items():
        if n == name:
            out[dict(labels).get(label, "")] += v
    return dict(out)


@dataclass
class Snapshot:
    at: float
    ops: dict[str, dict[Sample, float]]

    @classmethod
    def take(cls, operators: list[dict[str, Any]]) -> Snapshot:
        return cls(time.time(), {op["name"]: scrape(op["api"]) for op in operators})

    def requests(self, op: str | None = None, **match: str) -> float:
        names = [op] if op else list(self.ops)
        return sum(total(self.ops[n], "relayer_rpc_requests_total", **match) for n in names)


# ---------------------------------------------------------------------- users and sending
@dataclass
class User:
    key: str
    address: str
    nonces: dict[str, int] = field(default_factory=dict)


@dataclass
class Planned:
    index: int
    src: str
    dst: str
    asset: str
    user: User
    recipient: str
    amount: int
    raw: bytes = b""
    tx_hash: str = ""
    sent_at: float = 0.0
    # filled from the source receipt
    src_block: int = 0
    nonce: int = -1
    msg_id: str = ""
    lock_gas: int = 0


class Chains:
    """The devnet chains as seen by the benchmark (its own JSON-RPC clients, not the operators')."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        self.info: dict[str, dict[str, Any]] = deployment["chains"]
        self.evm = {name: SyncEvm(chain["rpc"], timeout=30.0) for name, chain in self.info.items()}

    def close(self) -> None:
        for evm in self.evm.values():
            evm.close()

    def head(self, name: str) -> int:
        return self.evm[name].block_number()

    def blocks(self, name: str, numbers: Sequence[int], full: bool = False) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for part in chunks(sorted(set(numbers)), READ_BATCH):
            got = self.evm[name].batch([("eth_getBlockByNumber", [hex(n), full]) for n in part])
            out.update({n: b for n, b in zip(part, got)})
        return out

    def receipts(self, name: str, hashes: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        for part in chunks(list(hashes), READ_BATCH * 2):
            got = self.evm[name].batch([("eth_getTransactionReceipt", [h]) for h in part])
            out.update(dict(zip(part, got)))
        return out

    def send_raws(self, name: str, raws: Sequence[bytes]) -> list[str]:
        hashes: list[str] = []
        for part in chunks(list(raws), SEND_BATCH):
            hashes += self.evm[name].batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in part])
        return hashes


def sign(chain_id: int, user: User, chain: str, to: str, data: bytes, gas: int, value: int = 0) -> bytes:
    nonce = user.nonces[chain]
    user.nonces[chain] = nonce + 1
    signed = Account.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": nonce, "to": to_checksum_address(to), "data": data, "gas": gas,
        "value": value, "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP}, user.key)
    return bytes(signed.raw_transaction)


def make_users(count: int) -> list[User]:
    keys = list(ANVIL_KEYS[1:])
    keys += ["0x" + keccak(text=f"relay-throughput-user-{i}").hex() for i in range(max(0, count - len(keys)))]
    return [User(k, Account.from_key(k).address) for k in keys[:count]]


def prepare_users(chains: Chains, deployment: dict[str, Any], users: list[User]) -> None:
    """Coin for generated users, test tokens for everyone, unlimited router allowances; waits until mined."""
    deployer = User(network.DEPLOYER_KEY, Account.from_key(network.DEPLOYER_KEY).address)
    funded = {u["address"].lower() for u in deployment["users"]}
    anvil_keys = {Account.from_key(k).address.lower() for k in ANVIL_KEYS}
    pending: dict[str, list[str]] = {}
    for name, chain in chains.info.items():
        evm = chains.evm[name]
        for u in users + [deployer]:
            u.nonces[name] = evm.nonce(u.address)
        raws = []
        for u in users:
            if u.address.lower() not in anvil_keys:
                evm.rpc("anvil_setBalance", u.address, hex(USER_ETH))
            if u.address.lower() not in funded:
                raws.append(sign(evm.chain_id, deployer, name, chain["test_token"],
                                 TOKEN.encode_call("transfer", u.address, USER_TOKENS), 80_000))
            raws.append(sign(evm.chain_id, u, name, chain["test_token"],
                             TOKEN.encode_call("approve", chain["token_router"], UNLIMITED), 80_000))
        pending[name] = chains.send_raws(name, raws)
    for name, hashes in pending.items():
        wait_mined(chains, name, hashes, what=f"[{name}] setup transactions")


def wait_mined(chains: Chains, name: str, hashes: Sequence[str], what: str,
               timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while True:
        missing = [h for h in hashes if h not in found]
        for h, receipt in chains.receipts(name, missing).items():
            if receipt:
                found[h] = receipt
        if len(found) == len(hashes):
            failed = [h for h, r in found.items() if hx(r["status"]) != 1]
            if failed:
                raise SystemExit(f"{what}: {len(failed)} transaction(s) reverted, e.g. {failed[0]}")
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: {len(hashes) - len(found)} of {len(hashes)} not mined after {timeout:g} s")
        time.sleep(0.25)


def plan(users: list[User], count: int) -> list[Planned]:
    """Message ``i``: route ``i % 2``, asset ``(i // 2) % 2``, user ``(i // 4) % users``, fresh recipient."""
    out = []
    for i in range(count):
        src, dst = ROUTES[i % 2]
        recipient = to_checksum_address(keccak(text=f"relay-throughput-recipient-{i}")[-20:])
        out.append(Planned(i, src, dst, ASSETS[(i // 2) % 2], users[(i // 4) % len(users)], recipient,
                           LOCK_AMOUNT + i))
    return out


def lock_gas_limits(chains: Chains, user: User) -> dict[tuple[str, str], int]:
    """Gas limit per (chain, asset): eth_estimateGas of one lock x 1.25 (the block gas limit
    admits a transaction by its gas limit, so a tight limit lets more locks into a block)."""
    limits = {}
    for name, chain in chains.info.items():
        dst_id = next(c["chain_id"] for n, c in chains.info.items() if n != name)
        calls = {"native": ({"data": ROUTER.encode_call("lockNative", dst_id, user.address, EXPIRY),
                             "value": LOCK_AMOUNT}),
                 "token": ({"data": ROUTER.encode_call("lockToken", chain["test_token"], dst_id, user.address,
                                                       LOCK_AMOUNT, EXPIRY), "value": 0})}
        for asset, call in calls.items():
            estimate = hx(chains.evm[name].rpc("eth_estimateGas", {
                "from": user.address, "to": chain["token_router"], "data": "0x" + call["data"].hex(),
                "value": hex(call["value"])}))
            limits[(name, asset)] = estimate * GAS_HEADROOM_NUM // GAS_HEADROOM_DEN
    return limits


def sign_all(chains: Chains, planned: list[Planned], limits: dict[tuple[str, str], int]) -> None:
    for p in planned:
        chain = chains.info[p.src]
        dst_id = chains.info[p.dst]["chain_id"]
        if p.asset == "native":
            data, value = ROUTER.encode_call("lockNative", dst_id, p.recipient, EXPIRY), p.amount
        else:
            data, value = ROUTER.encode_call("lockToken", chain["test_token"], dst_id, p.recipient, p.amount,
                                             EXPIRY), 0
        p.raw = sign(chain["chain_id"], p.user, p.src, chain["token_router"], data, limits[(p.src, p.asset)], value)


def send(chains: Chains, planned: list[Planned], rate: float | None) -> None:
    """All at once (one thread per chain, JSON-RPC batches), or ``rate`` messages per second."""
    if rate is None:
        def push(name: str) -> None:
            mine = [p for p in planned if p.src == name]
            now = time.time()
            for p, h in zip(mine, chains.send_raws(name, [p.raw for p in mine])):
                p.tx_hash, p.sent_at = h, now
        with ThreadPoolExecutor(max_workers=len(chains.info)) as pool:
            list(pool.map(push, list(chains.info)))
        return
    started, done = time.monotonic(), 0
    while done < len(planned):
        due = min(len(planned), int((time.monotonic() - started) * rate) + 1)
        batch = planned[done:due]
        now = time.time()
        for name in chains.info:
            mine = [p for p in batch if p.src == name]
            for p, h in zip(mine, chains.send_raws(name, [p.raw for p in mine]) if mine else []):
                p.tx_hash, p.sent_at = h, now
        done = due
        if done < len(planned):
            time.sleep(max(0.0, started + done / rate - time.monotonic()))


def record_sources(chains: Chains, planned: list[Planned]) -> None:
    """Block, envelope nonce and message id of every lock, from the ``MessageSent`` of its receipt."""
    for name in chains.info:
        mine = [p for p in planned if p.src == name]
        receipts = wait_mined(chains, name, [p.tx_hash for p in mine], what=f"[{name}] locks", timeout=120.0)
        layer = chains.info[name]["message_layer"]
        for p in mine:
            r = receipts[p.tx_hash]
            p.src_block, p.lock_gas = hx(r["blockNumber"]), hx(r["gasUsed"])
            sent = message_sent_logs(r, layer)
            if len(sent) != 1:
                raise SystemExit(f"[{name}] lock {p.tx_hash} emitted {len(sent)} MessageSent, not 1")
            envelope = sent[0][1]
            p.nonce, p.msg_id = envelope.nonce, "0x" + envelope.id.hex()


# ---------------------------------------------------------------------- waiting
def delivered_logs(chains: Chains, dst: str, from_block: int) -> dict[str, dict[str, Any]]:
    """The ``MessageProcessed`` logs of ``dst``'s message layer from ``from_block`` on, by message id
    (any outcome: the relayer's job is done once the layer processed the message; see ``outcome_of``)."""
    logs = chains.evm[dst].rpc("eth_getLogs", {"address": chains.info[dst]["message_layer"],
                                               "topics": [PROCESSED_TOPIC],
                                               "fromBlock": hex(from_block), "toBlock": "latest"})
    return {lg["topics"][1].lower(): lg for lg in logs}


def outcome_of(log: dict[str, Any]) -> str:
    """The outcome a ``MessageProcessed`` log records: delivered, failed or expired."""
    data = bytes.fromhex(log["data"][2:])
    code = int.from_bytes(data[:32], "big")  # abi.encode(uint8 outcome, bytes result): first word
    return OUTCOMES.get(code, str(code))


def wait_delivered(chains: Chains, planned: list[Planned], dst_start: dict[str, int],
                   timeout: float) -> tuple[dict[str, dict[str, Any]], float]:
    wanted = {p.msg_id.lower(): p for p in planned}
    seen: dict[str, dict[str, Any]] = {}
    deadline, last_line = time.monotonic() + timeout, 0.0
    while True:
        for dst in chains.info:
            for mid, lg in delivered_logs(chains, dst, dst_start[dst]).items():
                if mid in wanted:
                    seen[mid] = lg
        done = len(seen) == len(wanted)
        if done or time.monotonic() - last_line >= 3.0:
            per_route = Counter(f"{wanted[m].src}->{wanted[m].dst}" for m in seen)
            routes = ", ".join(f"{s}->{d} {per_route[f'{s}->{d}']}/{sum(p.src == s for p in planned)}"
                               for s, d in ROUTES)
            say(f"delivered {len(seen)}/{len(wanted)} ({routes})")
            last_line = time.monotonic()
        if done:
            return seen, time.time()
        if time.monotonic() > deadline:
            say(f"timeout: {len(wanted) - len(seen)} message(s) not delivered after {timeout:g} s")
            return seen, time.time()
        time.sleep(0.5)


# ---------------------------------------------------------------------- destination transactions
def operator_txs(chains: Chains, dst: str, first: int, last: int,
                 operators: dict[str, str]) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Every transaction an operator sent to the message layer of ``dst`` in blocks first..last, with its
    receipt; ``delivered`` = the ids of its ``MessageProcessed`` logs."""
    blocks = chains.blocks(dst, range(first, last + 1), full=True)
    layer, lc = chains.info[dst]["message_layer"].lower(), chains.info[dst]["light_client"].lower()
    txs = [(n, tx) for n, b in sorted(blocks.items()) for tx in b["transactions"]
           if tx["from"].lower() in operators and (tx.get("to") or "").lower() == layer]
    receipts = chains.receipts(dst, [tx["hash"] for _, tx in txs])
    out = []
    for n, tx in txs:
        r = receipts[tx["hash"]] or {}
        logs = r.get("logs", [])
        data = bytes.fromhex(tx["input"][2:])
        out.append({
            "hash": tx["hash"], "block": n, "operator": operators[tx["from"].lower()],
            "status": hx(r.get("status", "0x0")), "gas_used": hx(r.get("gasUsed", "0x0")),
            "gas_limit": hx(tx["gas"]), "calldata_bytes": len(data),
            "calldata_gas": sum(4 if b == 0 else 16 for b in data),
            # EIP-7623 (Prague) floor: 21000 + 10 per token, a token per zero byte and 4 per other byte
            "floor_gas": 21000 + 10 * sum(1 if b == 0 else 4 for b in data),
            "delivered": [lg["topics"][1].lower() for lg in logs
                          if lg["address"].lower() == layer and lg["topics"][0].lower() == PROCESSED_TOPIC],
            "header_updates": sum(1 for lg in logs
                                  if lg["address"].lower() == lc and lg["topics"][0].lower() == HEADER_TOPIC),
        })
    return out, blocks


# ---------------------------------------------------------------------- operator logs
def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def read_logs(paths: network.DevnetPaths, operators: list[dict[str, Any]], since: float) -> dict[str, Any]:
    """Event counts per operator in the window; per (operator, message) when it logged the message
    final, submitted (with the tx) and confirmed; per tx when it was signed."""
    counts: dict[str, Counter[str]] = {}
    stages: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    signed: dict[str, float] = {}
    batch_sizes: list[int] = []
    for op in operators:
        c: Counter[str] = Counter()
        try:
            lines = paths.log(op["name"]).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            event, ts = rec.get("event"), rec.get("timestamp")
            if not isinstance(event, str) or not isinstance(ts, str):
                continue
            at = parse_ts(ts)
            if at < since:
                continue
            c[event] += 1
            if event == "tx.signed":
                batch_sizes.append(int(rec.get("messages", 0)))
                signed[str(rec.get("tx", "")).lower()] = at
            mid = str(rec.get("message_id", "")).lower()
            key = {"message.final": "final", "message.submitted": "submitted",
                   "message.confirmed": "confirmed"}.get(event)
            if mid and key:
                stage = stages[(op["name"], mid)]
                stage.setdefault(key, at)
                if key == "submitted":
                    stage.setdefault("tx", str(rec.get("tx", "")).lower())
        counts[op["name"]] = c
    return {"counts": {n: {e: c[e] for e in LOG_EVENTS if c[e]} for n, c in counts.items()},
            "stages": stages, "signed": signed, "tx_signed_batch_sizes": batch_sizes}


def stage_times(logs: dict[str, Any], operators: Sequence[str], mid: str, deliverer: str | None,
                final_ts: int) -> dict[str, float]:
    """Wall-clock stages of one message: first operator logging it final after the finality block's
    timestamp; the delivering operator's final -> its delivery tx signed -> confirmed."""
    out: dict[str, float] = {}
    finals = [logs["stages"][(op, mid)]["final"] for op in operators
              if "final" in logs["stages"].get((op, mid), {})]
    if finals:
        out["relayer_final_lag_s"] = round(min(finals) - final_ts, 3)
    mine = logs["stages"].get((deliverer, mid), {}) if deliverer else {}
    signed_at = logs["signed"].get(mine.get("tx", ""))
    if "final" in mine and signed_at is not None:
        out["final_to_signed_s"] = round(signed_at - mine["final"], 3)
        if "confirmed" in mine:
            out["signed_to_confirmed_s"] = round(mine["confirmed"] - signed_at, 3)
    return out


# ---------------------------------------------------------------------- the run
def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="relay-throughput-"))
    paths = network.DevnetPaths.of(root)
    say(f"devnet in {root}")
    t_up = time.monotonic()
    try:
        deployment = network.up(root, report=lambda line: say(f"  devnet: {line}"))
        say(f"devnet up in {time.monotonic() - t_up:.1f} s")
        chains = Chains(deployment)
        try:
            return measure(args, deployment, chains, paths)
        finally:
            chains.close()
    finally:
        say("tearing down the devnet")
        network.down(root, report=lambda line: say(f"  devnet: {line}"))
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def measure(args: argparse.Namespace, deployment: dict[str, Any], chains: Chains,
            paths: network.DevnetPaths) -> dict[str, Any]:
    operators = deployment["operators"]
    op_addr = {op["address"].lower(): op["name"] for op in operators}
    users = make_users(args.users)
    say(f"preparing {len(users)} users (tokens, router allowances) on both chains")
    prepare_users(chains, deployment, users)
    limits = lock_gas_limits(chains, users[0])
    planned = plan(users, args.messages)
    sign_all(chains, planned, limits)
    say(f"signed {len(planned)} locks; source gas limits per lock: "
        + ", ".join(f"{c} {a} {g:,}" for (c, a), g in sorted(limits.items())))

    time.sleep(2 * network.BLOCK_TIME)  # setup blocks final and scanned before the idle window
    say(f"idle baseline: {args.idle:g} s without traffic")
    idle_start = Snapshot.take(operators)
    time.sleep(args.idle)
    before = Snapshot.take(operators)
    idle_s = before.at - idle_start.at
    dst_start = {name: chains.head(name) + 1 for name in chains.info}
    src_start = dict(dst_start)

    say(f"sending {len(planned)} locks " + ("all at once" if args.rate is None else f"at {args.rate:g}/s"))
    t_send = time.time()
    send(chains, planned, args.rate)
    t_sent = time.time()
    say(f"sent in {t_sent - t_send:.2f} s; waiting for the source receipts")
    record_sources(chains, planned)
    per_block = Counter((p.src, p.src_block) for p in planned)
    say("locks landed in " + ", ".join(
        f"{name}: {sum(1 for (c, _) in per_block if c == name)} block(s)" for name in chains.info)
        + f" (most in one block: {max(per_block.values())})")

    seen, t_delivered = wait_delivered(chains, planned, dst_start, args.timeout)
    at_delivery = Snapshot.take(operators)
    settle = network.GRACE_PERIOD * (network.OPERATORS - 1) + 2 * network.POLL_INTERVAL + 1
    say(f"all seen delivered {t_delivered - t_send:.1f} s after the first send; "
        f"settling {settle:g} s (every peer's grace period) before the last scrape")
    time.sleep(settle)
    after = Snapshot.take(operators)
    dst_end = {name: chains.head(name) for name in chains.info}

    say("reading delivery transactions, blocks and operator logs")
    txs, dst_blocks = {}, {}
    for name in chains.info:
        txs[name], dst_blocks[name] = operator_txs(chains, name, dst_start[name], dst_end[name], op_addr)
    src_blocks = {name: chains.blocks(name, [n for p in planned if p.src == name
                                             for n in (p.src_block, p.src_block + network.CONFIRMATIONS)])
                  for name in chains.info}
    logs = read_logs(paths, operators, since=before.at)
    return analyse(args, deployment, chains, planned, seen, txs, dst_blocks, src_blocks, src_start, logs,
                   idle_start, before, at_delivery, after, t_send, t_sent, t_delivered, idle_s, limits)


def analyse(args: argparse.Namespace, deployment: dict[str, Any], chains: Chains, planned: list[Planned],
            seen: dict[str, dict[str, Any]], txs: dict[str, list[dict[str, Any]]],
            dst_blocks: dict[str, dict[int, dict[str, Any]]], src_blocks: dict[str, dict[int, dict[str, Any]]],
            src_start: dict[str, int], logs: dict[str, Any], idle_start: Snapshot, before: Snapshot,
            at_delivery: Snapshot, after: Snapshot, t_send: float, t_sent: float, t_delivered: float,
            idle_s: float, limits: dict[tuple[str, str], int]) -> dict[str, Any]:
    block_time = network.BLOCK_TIME
    conf = network.CONFIRMATIONS
    operators = [op["name"] for op in deployment["operators"]]
    tx_of_msg = {mid: tx for name in txs for tx in txs[name] if tx["status"] == 1 for mid in tx["delivered"]}

    # ---- per message latency
    rows = []
    for p in planned:
        mid = p.msg_id.lower()
        lg = seen.get(mid)
        src_ts = hx(src_blocks[p.src][p.src_block]["timestamp"])
        fin_ts = hx(src_blocks[p.src][p.src_block + conf]["timestamp"])
        row: dict[str, Any] = {"index": p.index, "route": f"{p.src}->{p.dst}", "asset": p.asset,
                               "message_id": mid, "src_block": p.src_block, "src_ts": src_ts, "final_ts": fin_ts,
                               "sent_at": round(p.sent_at, 3), "lock_gas": p.lock_gas, "delivered": lg is not None}
        if lg is not None:
            dblock = hx(lg["blockNumber"])
            dts = hx(dst_blocks[p.dst][dblock]["timestamp"]) if dblock in dst_blocks[p.dst] else None
            tx = tx_of_msg.get(mid)
            row.update(dst_block=dblock, dst_ts=dts, dst_tx=lg["transactionHash"],
                       operator=tx["operator"] if tx else None)
            if dts is not None:
                row.update(beyond_finality_s=dts - fin_ts, end_to_end_s=dts - src_ts)
        row.update(stage_times(logs, operators, mid, row.get("operator"), fin_ts))
        rows.append(row)

    def latency(select: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        chosen = [r for r in rows if select(r) and "beyond_finality_s" in r]
        beyond = [r["beyond_finality_s"] for r in chosen]
        return {
            "beyond_finality_s": dist(beyond),
            "beyond_finality_blocks": dist([b / block_time for b in beyond]),
            "within_one_block": round(sum(b <= block_time for b in beyond) / len(beyond), 3) if beyond else None,
            "end_to_end_s": dist([r["end_to_end_s"] for r in chosen]),
            "stages_s": {k: dist([r[k] for r in chosen if k in r])
                         for k in ("relayer_final_lag_s", "final_to_signed_s", "signed_to_confirmed_s")},
        }

    # ---- destination gas and capacity per route (= per destination chain)
    routes: dict[str, Any] = {}
    for src, dst in ROUTES:
        route = f"{src}->{dst}"
        mine = [p for p in planned if p.src == src]
        dtx = txs[dst]
        ok = [t for t in dtx if t["status"] == 1]
        useful = [t for t in ok if t["delivered"]]
        wasted = [t for t in dtx if t["status"] != 1 or not t["delivered"]]
        delivered = sum(len(t["delivered"]) for t in ok)
        gas_all = sum(t["gas_used"] for t in dtx)
        gas_limit = statistics.median(hx(b["gasLimit"]) for b in dst_blocks[dst].values())
        per_block_gas: Counter[int] = Counter()
        per_block_msgs: Counter[int] = Counter()
        per_block_txs: Counter[int] = Counter()
        for t in dtx:
            per_block_gas[t["block"]] += t["gas_used"]
            per_block_txs[t["block"]] += 1
            per_block_msgs[t["block"]] += len(t["delivered"]) if t["status"] == 1 else 0
        gas_useful = sum(t["gas_used"] for t in useful)
        gas_per_msg = gas_all / delivered if delivered else None
        useful_per_msg = gas_useful / delivered if delivered else None
        fill = [g / gas_limit for g in per_block_gas.values()]
        dts = [r["dst_ts"] for r in rows if r["route"] == route and r.get("dst_ts") is not None]
        sts = [r["src_ts"] for r in rows if r["route"] == route]
        window = (max(dts) - min(dts) + block_time) if dts else None  # first..last delivery block, inclusive
        span = (max(dts) - min(sts) + block_time) if dts else None  # first lock block .. last delivery block
        src_per_block = Counter(p.src_block for p in mine)
        src_gas_per_block: Counter[int] = Counter()
        for p in mine:
            src_gas_per_block[p.src_block] += p.lock_gas
        src_gas_limit = statistics.median(hx(b["gasLimit"]) for b in src_blocks[src].values())
        per_msg_limit = gas_limit / useful_per_msg if useful_per_msg else None  # waste left out
        blocks_with_tx = sorted(per_block_txs)
        op_blocks: dict[str, list[int]] = defaultdict(list)
        for t in useful:
            op_blocks[t["operator"]].append(t["block"])
        gaps = [b - a for blocks in op_blocks.values() for a, b in zip(sorted(blocks), sorted(blocks)[1:])]
        source_blocks_per_tx = [len({next((p.src_block for p in mine if p.msg_id.lower() == m), -1)
                                     for m in t["delivered"]}) for t in useful]
        routes[route] = {
            "messages_sent": len(mine),
            "messages_delivered": sum(1 for p in mine if p.msg_id.lower() in seen),
            "source": {
                "blocks_with_locks": len(src_per_block),
                "locks_per_block": dist(list(src_per_block.values())),
                "lock_gas_per_block_max": max(src_gas_per_block.values()),
                "block_gas_limit": int(src_gas_limit),
                "lock_gas_fill_max": round(max(src_gas_per_block.values()) / src_gas_limit, 4),
                "lock_gas_mean": round(statistics.fmean(p.lock_gas for p in mine)),
            },
            "destination": {
                "operator_txs": len(dtx),
                "useful_txs": len(useful),
                "wasted_txs": len(wasted),
                "wasted_gas": sum(t["gas_used"] for t in wasted),
                "reverted_txs": sum(1 for t in dtx if t["status"] != 1),
                "messages_by_receipts": delivered,
                "gas_total": gas_all,
                "gas_per_message": round(gas_per_msg) if gas_per_msg else None,
                "gas_per_message_useful_txs": round(useful_per_msg) if useful_per_msg else None,
                "wasted_gas_share": round(sum(t["gas_used"] for t in wasted) / gas_all, 4) if gas_all else None,
                "header_updates": sum(t["header_updates"] for t in ok),
                "messages_per_tx": dist([len(t["delivered"]) for t in useful]),
                "source_blocks_per_tx": dist(source_blocks_per_tx),
                "gas_per_tx": dist([t["gas_used"] for t in useful]),
                "calldata_bytes_per_tx": dist([t["calldata_bytes"] for t in useful]),
                "calldata_bytes_per_message": round(sum(t["calldata_bytes"] for t in useful) / delivered)
                if delivered else None,
                "calldata_gas_per_message": round(sum(t["calldata_gas"] for t in useful) / delivered)
                if delivered else None,
                "txs_at_calldata_floor": sum(1 for t in useful if t["gas_used"] <= t["floor_gas"]),
                "block_gas_limit": int(gas_limit),
                "blocks_with_relayer_txs": len(blocks_with_tx),
                "relayer_txs_per_block": dist(list(per_block_txs.values())),
                "messages_per_block": dist(list(per_block_msgs.values())),
                "relayer_gas_fill_of_block": {"max": round(max(fill), 4), "mean": round(statistics.fmean(fill), 4)}
                if fill else None,
                "blocks_between_txs_of_one_operator": dist(gaps),
                "txs_per_operator": dict(Counter(t["operator"] for t in useful)),
            },
            "capacity": {
                "physical_messages_per_block": round(per_msg_limit, 1) if per_msg_limit else None,
                "physical_messages_per_s": round(per_msg_limit / block_time, 1) if per_msg_limit else None,
                "peak_messages_in_one_block": max(per_block_msgs.values()) if per_block_msgs else 0,
                "delivery_window_s": window,
                "achieved_messages_per_s": round(len(dts) / window, 2) if window else None,
                "end_to_end_span_s": span,
                "achieved_end_to_end_messages_per_s": round(len(dts) / span, 2) if span else None,
                "achieved_vs_physical": round(len(dts) / window / (per_msg_limit / block_time), 4)
                if window and per_msg_limit else None,
                "peak_block_vs_physical": round(max(per_block_msgs.values()) / per_msg_limit, 4)
                if per_block_msgs and per_msg_limit else None,
            },
            "latency": latency(lambda r, route=route: r["route"] == route),
        }

    # ---- JSON-RPC requests
    delivered_n = len(seen)
    window_s = after.at - before.at
    to_delivery_s = at_delivery.at - before.at
    rpc_ops = {}
    for op in operators:
        idle_rate = (before.requests(op) - idle_start.requests(op)) / idle_s
        gross = after.requests(op) - before.requests(op)
        gross_delivery = at_delivery.requests(op) - before.requests(op)
        marginal = gross - idle_rate * window_s
        delivered_by_op = (total(after.ops[op], "relayer_messages_delivered_total")
                           - total(before.ops[op], "relayer_messages_delivered_total"))
        rpc_ops[op] = {
            "idle_requests_per_s": round(idle_rate, 2),
            "requests_in_window": int(gross),
            "requests_until_all_delivered": int(gross_delivery),
            "marginal_requests": round(marginal, 1),
            "marginal_per_delivered_message": round(marginal / delivered_n, 3) if delivered_n else None,
            "messages_delivered": int(delivered_by_op),
            "delivered_by_peer": int(total(after.ops[op], "relayer_messages_delivered_by_peer_total")
                                     - total(before.ops[op], "relayer_messages_delivered_by_peer_total")),
            "gas_spent": {c: int(v - by_label(before.ops[op], "relayer_gas_spent_total", "chain").get(c, 0))
                          for c, v in by_label(after.ops[op], "relayer_gas_spent_total", "chain").items()},
            "requests_by_chain": {c: int(v - by_label(before.ops[op], "relayer_rpc_requests_total", "chain").get(c, 0))
                                  for c, v in by_label(after.ops[op], "relayer_rpc_requests_total", "chain").items()},
            "idle_requests_by_chain_per_s": {
                c: round((v - by_label(idle_start.ops[op], "relayer_rpc_requests_total", "chain").get(c, 0))
                         / idle_s, 2)
                for c, v in by_label(before.ops[op], "relayer_rpc_requests_total", "chain").items()},
            "rpc_errors": int(total(after.ops[op], "relayer_rpc_errors_total")
                              - total(before.ops[op], "relayer_rpc_errors_total")),
        }
    idle_total = sum(o["idle_requests_per_s"] for o in rpc_ops.values())
    gross_total = sum(o["requests_in_window"] for o in rpc_ops.values())
    gross_delivery_total = sum(o["requests_until_all_delivered"] for o in rpc_ops.values())
    marginal_total = gross_total - idle_total * window_s
    marginal_delivery = gross_delivery_total - idle_total * to_delivery_s
    metric_delivered = sum(o["messages_delivered"] for o in rpc_ops.values())
    rpc = {
        "idle_requests_per_s": round(idle_total, 2),
        "idle_window_s": round(idle_s, 2),
        "window_s": round(window_s, 2),
        "until_all_delivered_s": round(to_delivery_s, 2),
        "requests_in_window": gross_total,
        "gross_per_delivered_message": round(gross_total / delivered_n, 3) if delivered_n else None,
        "marginal_requests": round(marginal_total, 1),
        "marginal_per_delivered_message": round(marginal_total / delivered_n, 3) if delivered_n else None,
        "until_all_delivered": {
            "requests": gross_delivery_total,
            "gross_per_delivered_message": round(gross_delivery_total / delivered_n, 3) if delivered_n else None,
            "marginal_per_delivered_message": round(marginal_delivery / delivered_n, 3) if delivered_n else None},
        "polling_share_of_window": round(idle_total * window_s / gross_total, 3) if gross_total else None,
        "per_operator": rpc_ops,
        "messages_delivered_by_metrics": metric_delivered,
    }

    gas_all = sum(r["destination"]["gas_total"] for r in routes.values())
    msgs_all = sum(r["destination"]["messages_by_receipts"] for r in routes.values())
    useful_txs = sum(r["destination"]["useful_txs"] for r in routes.values())
    gas_useful_all = sum(r["destination"]["gas_per_message_useful_txs"] * r["destination"]["messages_by_receipts"]
                         for r in routes.values() if r["destination"]["gas_per_message_useful_txs"])
    return {
        "parameters": {"messages": args.messages, "rate_per_s": args.rate, "users": args.users,
                       "idle_s": args.idle, "recipients": "fresh address per message",
                       "assets": list(ASSETS), "routes": [f"{s}->{d}" for s, d in ROUTES],
                       "source_gas_limit_per_lock": {f"{c}/{a}": g for (c, a), g in sorted(limits.items())}},
        "devnet": {"block_time_s": block_time, "confirmations": conf, "operators": network.OPERATORS,
                   "threshold": network.THRESHOLD, "grace_period_s": network.GRACE_PERIOD,
                   "poll_interval_s": network.POLL_INTERVAL, "batch_size": RouteConfig.batch_size,
                   "anvil": chains.evm["alpha"].rpc("web3_clientVersion")},
        "host": {"cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "timing": {"send_s": round(t_sent - t_send, 3),
                   "first_send_to_all_delivered_s": round(t_delivered - t_send, 1)},
        "delivered": delivered_n,
        "undelivered": len(planned) - delivered_n,
        "outcomes": dict(sorted(Counter(outcome_of(lg) for lg in seen.values()).items())),
        "summary": {
            "gas_per_message": round(gas_all / msgs_all) if msgs_all else None,
            "gas_per_message_vs_batch_aim": round(gas_all / msgs_all / MINT_AIM_BATCH, 3) if msgs_all else None,
            "gas_per_message_useful_txs": round(gas_useful_all / msgs_all) if msgs_all else None,
            "gas_per_message_useful_vs_batch_aim": round(gas_useful_all / msgs_all / MINT_AIM_BATCH, 3)
            if msgs_all else None,
            "messages_per_tx": round(msgs_all / useful_txs, 2) if useful_txs else None,
            "latency": latency(lambda r: True),
            "rpc_marginal_per_message": rpc["marginal_per_delivered_message"],
            "rpc_gross_per_message": rpc["gross_per_delivered_message"],
        },
        "routes": routes,
        "rpc": rpc,
        "operator_log_events": logs["counts"],
        "tx_signed_batch_sizes": dist(logs["tx_signed_batch_sizes"]),
        "messages": {"columns": list(MESSAGE_COLUMNS),
                     "rows": [[row.get(c) for c in MESSAGE_COLUMNS] for row in rows]},
        "method": method_text(args),
    }


def method_text(args: argparse.Namespace) -> str:
    load = "all at once" if args.rate is None else f"at {args.rate:g} messages/s"
    return (f"devnet (anvil, {network.BLOCK_TIME:g} s blocks, {network.CONFIRMATIONS} confirmations, "
            f"{network.OPERATORS} operators, committee {network.THRESHOLD}-of-{network.OPERATORS}, grace "
            f"{network.GRACE_PERIOD:g} s, poll {network.POLL_INTERVAL:g} s, batch_size {RouteConfig.batch_size}); "
            f"{args.messages} TokenRouter lockNative/lockToken transfers, alternating alpha->beta / beta->alpha, "
            f"from {args.users} users, "
            f"pre-signed and sent {load}, each to a fresh recipient; latencies from block timestamps "
            f"(1 s resolution): finality = timestamp of block + {network.CONFIRMATIONS}; destination gas = all gas of "
            "the operators' deliverBatch transactions to the destination message layer (header updates and "
            "wasted duplicates included) / messages processed (MessageProcessed logs); "
            "JSON-RPC = relayer_rpc_requests_total deltas of the 3 operators "
            f"from the first send until every peer's grace period after the last delivery, marginal = minus the "
            f"idle rate measured for {args.idle:g} s before")


# ---------------------------------------------------------------------- reporting
def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, (int, float)):
        return f"{round(value):,}"
    return str(value)


def d3(d: dict[str, float] | None, digits: int = 1) -> str:
    if not d:
        return "—"
    return " / ".join(f"{d[k]:.{digits}f}" for k in ("p50", "p95", "max"))


def markdown(result: dict[str, Any]) -> str:
    r = result["routes"]
    ab, ba = r["alpha->beta"], r["beta->alpha"]
    s, rpc = result["summary"], result["rpc"]
    bt = result["devnet"]["block_time_s"]

    def both(get: Callable[[dict[str, Any]], Any], all_value: Any = "") -> str:
        return f"| {get(ab)} | {get(ba)} | {all_value}"

    lat = s["latency"]
    lines = [
        f"# Relay throughput: {result['parameters']['messages']} TokenRouter lock transfers through the devnet's "
        "message layer",
        "",
        f"`python bench/relay_throughput.py --messages {result['parameters']['messages']}"
        + (f" --rate {result['parameters']['rate_per_s']:g}" if result["parameters"]["rate_per_s"] else "")
        + "`; " + result["method"] + ".",
        "",
        f"Host: {result['host']['cpus']} CPUs, 1-minute load average {result['host']['load_average_1m_at_end']} at the "
        "end (the 3 operators, 2 anvil nodes and the benchmark share them).",
        "",
        f"Processed by the destination layer {result['delivered']} of {result['parameters']['messages']} "
        f"({result['undelivered']} unprocessed; outcomes: "
        + (", ".join(f"{k} {v}" for k, v in result.get("outcomes", {}).items()) or "none")
        + f"); sent in {result['timing']['send_s']:.2f} s, all processed "
        f"{result['timing']['first_send_to_all_delivered_s']:.1f} s after the first send.",
        "",
        "| metric | alpha→beta | beta→alpha | all | aim / physical limit | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        "| messages delivered " + both(lambda x: x["messages_delivered"], result["delivered"]) + " | | |",
        "| source blocks holding the locks (most locks in one block) "
        + both(lambda x: f"{x['source']['blocks_with_locks']} ({fmt(x['source']['locks_per_block']['max'])})")
        + " | | |",
        "| lock gas in the fullest source block / block gas limit "
        + both(lambda x: f"{x['source']['lock_gas_fill_max']:.1%}") + " | 100% | |",
        "| operator transactions to the message layer (wasted: reverted or 0 processed) "
        + both(lambda x: f"{x['destination']['operator_txs']} ({x['destination']['wasted_txs']})") + " | | |",
        "| messages per delivery tx (mean / max) "
        + both(lambda x: f"{x['destination']['messages_per_tx']['mean']:.1f} / "
                         f"{x['destination']['messages_per_tx']['max']:.0f}"
               if x["destination"]["messages_per_tx"] else "—", fmt(s["messages_per_tx"], 2))
        + f" | {result['devnet']['batch_size']} (batch_size) | "
        + (f"{s['messages_per_tx'] / result['devnet']['batch_size']:.2f}" if s["messages_per_tx"] else "—") + " |",
        "| source blocks (headers) per delivery tx (max) "
        + both(lambda x: fmt((x["destination"]["source_blocks_per_tx"] or {}).get("max"))) + " | | |",
        "| calldata per message, bytes (gas at 4/16 per byte) "
        + both(lambda x: f"{fmt(x['destination']['calldata_bytes_per_message'])} "
                         f"({fmt(x['destination']['calldata_gas_per_message'])})") + " | | |",
        "| header updates sent "
        + both(lambda x: x["destination"]["header_updates"]) + " | | |",
        "| destination gas per message (all operator gas / messages) "
        + both(lambda x: fmt(x["destination"]["gas_per_message"]), fmt(s["gas_per_message"]))
        + f" | {MINT_AIM_BATCH:,} (batch of 32) | {fmt(s['gas_per_message_vs_batch_aim'], 2)} |",
        "| destination gas per message, delivering txs only (wasted gas share) "
        + both(lambda x: f"{fmt(x['destination']['gas_per_message_useful_txs'])} "
                         f"({x['destination']['wasted_gas_share'] or 0:.0%})", fmt(s["gas_per_message_useful_txs"]))
        + f" | {MINT_AIM_BATCH:,} (batch of 32) | {fmt(s['gas_per_message_useful_vs_batch_aim'], 2)} |",
        "| relayer gas in a destination block / block gas limit (max / mean) "
        + both(lambda x: f"{x['destination']['relayer_gas_fill_of_block']['max']:.1%} / "
                         f"{x['destination']['relayer_gas_fill_of_block']['mean']:.1%}"
               if x["destination"]["relayer_gas_fill_of_block"] else "—")
        + f" | 100% of {fmt(ab['destination']['block_gas_limit'])} | |",
        "| physical limit: messages per destination block (gas limit / gas per message of delivering txs) "
        + both(lambda x: fmt(x["capacity"]["physical_messages_per_block"])) + " | | |",
        "| peak messages delivered in one destination block "
        + both(lambda x: x["capacity"]["peak_messages_in_one_block"])
        + " | physical limit | "
        + f"{ab['capacity']['peak_block_vs_physical'] or 0:.1%} / "
        + f"{ba['capacity']['peak_block_vs_physical'] or 0:.1%} |",
        "| achieved delivery rate, msg/s (first..last delivery block) "
        + both(lambda x: fmt(x["capacity"]["achieved_messages_per_s"], 1))
        + " | " + " / ".join(fmt(x["capacity"]["physical_messages_per_s"]) for x in (ab, ba)) + " (physical) | "
        + " / ".join(f"{x['capacity']['achieved_vs_physical'] or 0:.1%}" for x in (ab, ba)) + " |",
        "| end-to-end rate, msg/s (first lock block..last delivery block) "
        + both(lambda x: fmt(x["capacity"]["achieved_end_to_end_messages_per_s"], 1)) + " | | |",
        "| latency beyond source finality, s (p50 / p95 / max) "
        + both(lambda x: d3(x["latency"]["beyond_finality_s"]), d3(lat["beyond_finality_s"]))
        + f" | {bt:g} s (1 destination block) | "
        + (f"{lat['beyond_finality_blocks']['p50']:.1f} / {lat['beyond_finality_blocks']['p95']:.1f} / "
           f"{lat['beyond_finality_blocks']['max']:.1f} blocks" if lat["beyond_finality_blocks"] else "—") + " |",
        "| messages delivered within 1 block of finality "
        + both(lambda x: f"{x['latency']['within_one_block']:.0%}" if x["latency"]["within_one_block"] is not None
               else "—", f"{lat['within_one_block']:.0%}" if lat["within_one_block"] is not None else "—")
        + " | 100% | |",
        "| end-to-end latency, s (p50 / p95 / max) "
        + both(lambda x: d3(x["latency"]["end_to_end_s"]), d3(lat["end_to_end_s"]))
        + f" | {result['devnet']['confirmations'] * bt + bt:g} s (finality + 1 block) | |",
        f"| JSON-RPC requests per delivered message, gross | | | {fmt(rpc['gross_per_delivered_message'], 2)} "
        f"| < 1 | {fmt(rpc['gross_per_delivered_message'], 2)} |",
        f"| JSON-RPC requests per delivered message, marginal (idle polling subtracted) | | | "
        f"{fmt(rpc['marginal_per_delivered_message'], 2)} | ≪ 1 | {fmt(rpc['marginal_per_delivered_message'], 2)} |",
        f"| idle JSON-RPC requests/s (3 operators, no traffic) | | | {fmt(rpc['idle_requests_per_s'], 1)} | | |",
        "",
        "Where the time goes (wall clock from the operators' logs, p50 / p95 / max, s): "
        + "; ".join(f"{label} {d3(lat['stages_s'][k], 2)}" for label, k in (
            ("finality → `message.final` logged", "relayer_final_lag_s"),
            ("delivering operator's `message.final` → its delivery `tx.signed`", "final_to_signed_s"),
            ("`tx.signed` → `message.confirmed` (mined, receipt seen)", "signed_to_confirmed_s"))) + ".",
        "",
        "| operator | messages delivered | delivered by peer | gas spent alpha / beta | JSON-RPC requests "
        "(window) | idle req/s | marginal req / delivered message |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, o in rpc["per_operator"].items():
        lines.append(f"| {name} | {o['messages_delivered']} | {o['delivered_by_peer']} | "
                     f"{fmt(o['gas_spent'].get('alpha'))} / {fmt(o['gas_spent'].get('beta'))} | "
                     f"{o['requests_in_window']:,} | {o['idle_requests_per_s']:.1f} | "
                     f"{fmt(o['marginal_per_delivered_message'], 3)} |")
    lines += [
        "",
        f"JSON-RPC window {rpc['window_s']:.1f} s (first send until every peer's grace period after the last "
        f"delivery); polling share of the window's requests: {rpc['polling_share_of_window']:.0%}. Until the "
        f"last delivery only: {rpc['until_all_delivered']['gross_per_delivered_message']} gross, "
        f"{rpc['until_all_delivered']['marginal_per_delivered_message']} marginal per message.",
        "",
    ]
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    """Indented JSON, one line per message row."""
    rows = result["messages"]["rows"]
    body = {**result, "messages": {**result["messages"], "rows": "@ROWS@"}}
    text = json.dumps(body, indent=2, sort_keys=True)
    lines = ",\n      ".join(json.dumps(r) for r in rows)
    return text.replace('"@ROWS@"', "[\n      " + lines + "\n    ]" if rows else "[]") + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="lock transfers to send (default 200)")
    parser.add_argument("--rate", type=float, default=None,
                        help="messages per second over both chains (default: all at once)")
    parser.add_argument("--users", type=int, default=9,
                        help="sending accounts (anvil keys 1..9, then generated ones; default 9)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle baseline (default 10)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for all deliveries")
    parser.add_argument("--output", default="relay-throughput",
                        help="result file name in bench/results without extension (default relay-throughput)")
    parser.add_argument("--keep", action="store_true", help="keep the devnet folder (logs) after teardown")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.users < 1 or (args.rate is not None and args.rate <= 0):
        parser.error("--messages, --users and --rate must be positive")
    from common import start, write_result

    begun = start()
    started = time.monotonic()
    result = run(args)
    result["timing"]["bench_total_s"] = round(time.monotonic() - started, 1)
    write_result(args.output, "relay-throughput", result, begun, dumps=to_json)
    say(f"relay throughput: {result['timing']['bench_total_s']:.0f} s in all")
    return result


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """README rows: the burst's delivery rate against the gas limit, latency, RPC per message."""
    p = doc["parameters"]
    how = (f"{p['messages']} messages" + (f" at {p['rate_per_s']:g}/s" if p.get("rate_per_s") else " at once"))
    cap = doc["routes"]["alpha->beta"]["capacity"]
    lat = doc["summary"]["latency"]["beyond_finality_blocks"]
    rows = [(f"delivery rate, {how} (alpha→beta), msg/s", f"{cap['achieved_messages_per_s']:g}",
             f"{cap['physical_messages_per_s']:g} (block gas limit / gas per message)",
             f"{cap['achieved_vs_physical']:.2f}"),
            (f"latency beyond source finality, {how}, blocks p50 / p95",
             f"{lat['p50']:g} / {lat['p95']:g}", "1 (block time)", f"{lat['p50']:g} / {lat['p95']:g}"),
            (f"JSON-RPC requests per delivered message, {how} (gross / idle subtracted)",
             f"{doc['summary']['rpc_gross_per_message']:g} / {doc['summary']['rpc_marginal_per_message']:g}",
             "", "")]
    return rows


if __name__ == "__main__":
    main()
