"""The fault matrix: randomised crash trials at every named fault point, plus the other
reliability rows, summarised in docs/reliability.md (``make faults``).

    python bench/faults.py --trials 100 --out docs/reliability.md

One devnet (two anvil chains, three operators) in a temporary folder. Each trial:

1. picks a fault point, an operator (1..3) and a probability; restarts that operator with
   ``RELAYER_FAULT=<point>:<probability>`` (see ``relayer/faults.py``);
2. sends waves of transfers from the three devnet users at once (one per user per block:
   native and token locks and burns of wrapped assets, both directions, random amounts, all
   to a fresh recipient) without waiting for delivery, until at least ``--messages`` were
   sent and the armed operator died (or ``--max-waves``);
3. as soon as the operator is gone (reaped: it must have died of SIGKILL, right after its
   ``fault.injected`` line), restarts it without the fault;
4. polls ``Bridge.isDelivered`` until every message of the trial is delivered; the recovery
   time runs from the crash (the ``fault.injected`` timestamp) to the last delivery;
5. counts lost messages (not delivered within ``--lost-timeout``), messages delivered twice
   (``Delivered`` logs per message id on both chains > 1) and checks the recipient's exact
   balances of everything the trial sent it, then waits until the restarted operator is healthy.

``--sole-trials`` adds trials where operator-1 is the only one allowed to submit (operators 2
and 3 run with ``operator.submit = false``: they follow and attest but never send), and it is
the one armed: every message of such a trial must be delivered by operator-1 itself, after its
restart, from its own journal and store. After every trial the harness also checks the
invariant *locked collateral = wrapped supply* on both chains (the bridge's native and token
balances on one chain against the wrapped tokens' total supply on the other), records who
delivered each message (the sender of the transaction with its ``Delivered`` log), and counts
the relayer-side waste: operator transactions to the bridges, and their gas, spent on messages
that were already delivered (a transaction delivering none of its messages counts whole, a
partial one by its share of duplicates).

``--pause-trials`` adds trials where the point freezes the operator (``pause=SECONDS``)
instead of killing it. Afterwards the other reliability rows (reorgs, stuck transactions,
nonces, funds, store, lies: ``tests/reliability/test_*.py``) run once under pytest; their
outcome and duration per test go into the report. Exit status 1 when anything was lost,
delivered twice, mismatched, did not recover or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eth_abi import decode as abi_decode  # noqa: E402
from eth_account import Account  # noqa: E402

from adapters.evm.abi import Contract, abi_type  # noqa: E402
from adapters.evm.adapter import message_id  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from relayer.devnet import network  # noqa: E402
from relayer.faults import POINTS  # noqa: E402

BRIDGE = Contract.load("Bridge")
ERC20 = Contract.load("TestToken")
DELIVERED_TOPIC = "0x" + BRIDGE.event_topic("Delivered").hex()
# a message the destination could not execute (set aside with its reason): not a duplicate
FAILED_TOPIC = "0x" + BRIDGE.event_topic("MessageFailed").hex() if "MessageFailed" in BRIDGE.events else None
UNIT = 10**18
MAX_UINT = 2**256 - 1
TX_GAS = 250_000
# Points the follower reaches on every scan with messages (any operator) vs. points only the
# operator delivering a block reaches: the latter get a higher probability so that they are hit.
FOLLOWER_POINTS = ("after-observe", "after-attest")
CHANCES = {"follower": (1.0, 0.5, 0.25), "sender": (1.0, 1.0, 0.5)}
DEFAULT_PYTEST_FILES = ("tests/reliability/test_reorgs.py", "tests/reliability/test_destination_trouble.py",
                        "tests/reliability/test_store_trouble.py")
ASSETS = ("native", "token", "wrapped-native", "wrapped-token")


def log_time(stamp: str) -> float:
    """A log line's ISO-8601 UTC timestamp as epoch seconds."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass
class Sent:
    """One transfer: its message and what the recipient must receive for it."""

    message_id: str
    src: str
    dst: str
    asset: str
    nonce: int
    amount: int
    source_tx: str
    delivered_at: float | None = None  # wall clock, seen by the poller


@dataclass
class Trial:
    index: int
    point: str
    operator: int
    chance: float
    pause: float | None = None
    sole: bool = False  # the armed operator is the only one allowed to submit
    recipient: str = ""
    messages: list[Sent] = field(default_factory=list)
    crashed: bool = False  # the point was reached (killed, or frozen for a pause trial)
    exit: str = ""  # how the armed process ended: "SIGKILL", "exit 1", "unknown", ...
    crash_at: float | None = None  # wall clock of the fault.injected line
    recovery_s: float | None = None
    lost: int = 0
    twice: int = 0
    mismatches: list[str] = field(default_factory=list)
    deliverers: Counter[str] = field(default_factory=Counter)  # operator (or address) -> messages delivered
    invariant: list[str] = field(default_factory=list)  # locked collateral != wrapped supply, per chain and asset
    wasted_txs: int = 0  # operator transactions that delivered none of their messages
    wasted_gas: int = 0  # their gas, plus the duplicate share of partly useful ones
    resent: int = 0  # messages carried by operator transactions that were already delivered
    recovered: bool = True  # the restarted operator became healthy again
    duration_s: float = 0.0
    error: str = ""  # the harness itself failed (counts as a failure)

    @property
    def kind(self) -> str:
        if self.pause is not None:
            return f"{self.point} (pause)"
        return f"{self.point} (sole)" if self.sole else self.point

    @property
    def foreign(self) -> int:
        """Messages of a sole-submitter trial that someone else delivered (must be 0)."""
        return sum(n for who, n in self.deliverers.items() if who != f"operator-{self.operator}") if self.sole else 0

    def line(self) -> str:
        rec = "-" if self.recovery_s is None else f"{self.recovery_s:5.1f}s"
        what = ("paused" if self.pause is not None else f"killed ({self.exit})") if self.crashed else "not reached"
        bad = f" MISMATCH {self.mismatches}" if self.mismatches else ""
        bad += f" INVARIANT {self.invariant}" if self.invariant else ""
        bad += f" DELIVERED BY OTHERS {self.foreign}" if self.foreign else ""
        by = ",".join(f"{k.removeprefix('operator-')}:{v}" for k, v in sorted(self.deliverers.items()))
        bad += "" if self.recovered else " NOT RECOVERED"
        bad += f" HARNESS ERROR {self.error}" if self.error else ""
        return (f"trial {self.index:3d} {self.kind:<32} operator-{self.operator} p={self.chance:<4} {what:<18} "
                f"msgs={len(self.messages):2d} lost={self.lost} twice={self.twice} recovery={rec} "
                f"by={by or '-'} "
                f"wasted={self.wasted_txs}tx/{self.wasted_gas}gas ({self.duration_s:.1f}s){bad}")


class Matrix:
    """The devnet and everything a trial needs on it."""

    def __init__(self, root: Path, rng: random.Random, *, report: Callable[[str], None] = print,
                 min_messages: int = 12, max_waves: int = 8, death_timeout: float = 6.0,
                 lost_timeout: float = 120.0) -> None:
        self.root = root
        self.rng = rng
        self.report = report
        self.min_messages = min_messages
        self.max_waves = max_waves
        self.death_timeout = death_timeout
        self.lost_timeout = lost_timeout
        deployment = network.load_deployment(root)
        self.chains: dict[str, dict[str, Any]] = deployment["chains"]
        self.users: list[dict[str, str]] = deployment["users"]
        self.evm = {name: SyncEvm(c["rpc"]) for name, c in self.chains.items()}
        self.pids: dict[int, int] = {i + 1: op["pid"] for i, op in enumerate(deployment["operators"])}
        self.apis: dict[int, str] = {i + 1: op["api"] for i, op in enumerate(deployment["operators"])}
        self.names: dict[str, str] = {op["address"].lower(): op["name"] for op in deployment["operators"]}
        self.configs: dict[int, Path] = {i + 1: Path(op["config"]) for i, op in enumerate(deployment["operators"])}

    def close(self) -> None:
        for evm in self.evm.values():
            evm.close()

    def other(self, chain: str) -> str:
        return next(name for name in self.chains if name != chain)

    # ------------------------------------------------------------------ operators
    def restart(self, index: int, fault: str | None = None, *, sig: int = signal.SIGTERM) -> None:
        """Stop operator ``index`` (if it runs) and start it again, armed with ``fault`` if given."""
        network.stop_operator(self.root, index, sig=sig)
        env = {"RELAYER_FAULT": fault} if fault else {"RELAYER_FAULT": ""}
        self.pids[index] = network.start_operator(self.root, index, env=env)

    def exit_of(self, index: int) -> str | None:
        """How operator ``index`` ended ("SIGKILL", "exit N", "unknown"), or None while it runs."""
        pid = self.pids[index]
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (or reaped elsewhere): look at /proc
            return None if network.process_alive(pid, network.OPERATOR_MARKER) else "unknown"
        if done == 0:
            return None
        if os.WIFSIGNALED(status):
            return signal.Signals(os.WTERMSIG(status)).name
        return f"exit {os.WEXITSTATUS(status)}"

    def injected(self, index: int, since: float) -> dict[str, Any] | None:
        """The first ``fault.injected`` line operator ``index`` logged at or after ``since``."""
        path = self.root / "logs" / f"operator-{index}.log"
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            if '"fault.injected"' in line:
                record = json.loads(line)
                if log_time(record["timestamp"]) >= since:
                    return dict(record)
        return None

    def wait_healthy(self, index: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if network.health_ok(self.apis[index]):
                return True
            if self.exit_of(index) is not None:
                return False
            time.sleep(0.2)
        return False

    # ------------------------------------------------------------------ transfers
    def prepare(self) -> None:
        """Approve the test tokens once and give every user wrapped assets to burn later."""
        hashes = []
        for user in self.users:
            for name, chain in self.chains.items():
                hashes.append((name, self.evm[name].send_transaction(
                    user["key"], chain["test_token"], ERC20.encode_call("approve", chain["bridge"], MAX_UINT),
                    gas=100_000)))
        for name, tx in hashes:
            self.evm[name].wait_receipt(tx)
        seeded: list[Sent] = []
        for index, user in enumerate(self.users):
            for src in self.chains:
                for asset in ("native", "token"):
                    seeded.append(self._send(index, src, asset, UNIT, user["address"]))
        self.settle(seeded)
        undelivered = self.poll_delivered(seeded, time.monotonic() + self.lost_timeout)
        if undelivered:
            raise RuntimeError(f"{len(undelivered)} seeding transfers were not delivered")

    def _send(self, user_index: int, src: str, asset: str, amount: int, recipient: str) -> Sent:
        """Sign and send one lock or burn (no waiting); the message fields come with ``settle``."""
        user, chain, dst = self.users[user_index], self.chains[src], self.chains[self.other(src)]
        bridge = chain["bridge"]
        if asset == "native":
            data, value = BRIDGE.encode_call("lockNative", dst["chain_id"], recipient), amount
        elif asset == "token":
            data, value = BRIDGE.encode_call("lockToken", chain["test_token"], dst["chain_id"], recipient, amount), 0
        else:
            wrapped = chain["wrapped_" + asset.removeprefix("wrapped-")]
            data, value = BRIDGE.encode_call("burn", wrapped, recipient, amount), 0
        tx = self.evm[src].send_transaction(user["key"], bridge, data, value=value, gas=TX_GAS)
        return Sent("", src, dst["name"], asset, -1, amount, tx)

    def settle(self, sent: list[Sent]) -> None:
        """Wait for the source receipts; fill in each transfer's nonce and message id."""
        for s in sent:
            receipt = self.evm[s.src].wait_receipt(s.source_tx, timeout=60)
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"transfer {s.source_tx} on {s.src} reverted")
            chain = self.chains[s.src]
            for lg in receipt["logs"]:
                if lg["address"].lower() != chain["bridge"].lower():
                    continue
                decoded = BRIDGE.decode_log(lg)
                if decoded is not None and decoded[0] in ("Locked", "Burned"):
                    s.nonce = int(decoded[1]["nonce"])
                    s.message_id = message_id(chain["chain_id"], chain["bridge"], s.nonce)
            if s.nonce < 0:
                raise RuntimeError(f"transfer {s.source_tx} emitted no Locked/Burned log")

    def wave(self, recipient: str) -> list[Sent]:
        """One transfer from each user, all sent at once (they land in the same blocks)."""
        out = []
        for index in range(len(self.users)):
            src = self.rng.choice(list(self.chains))
            asset = self.rng.choice(ASSETS)
            amount = self.rng.randint(1, 10**6) * 10**9  # up to 0.001 units: users never run dry
            out.append(self._send(index, src, asset, amount, recipient))
        return out

    def poll_delivered(self, pending: Iterable[Sent], deadline: float,
                       tick: Callable[[], None] | None = None) -> list[Sent]:
        """Poll isDelivered until every message is delivered or ``deadline``; returns the undelivered."""
        waiting = [s for s in pending if s.delivered_at is None]
        while waiting:
            if tick:
                tick()
            for dst in self.chains:
                group = [s for s in waiting if s.dst == dst]
                if not group:
                    continue
                calls = [("eth_call", [{"to": self.chains[dst]["bridge"], "data": "0x" + BRIDGE.encode_call(
                    "isDelivered", self.chains[s.src]["chain_id"], s.nonce).hex()}, "latest"]) for s in group]
                answers = self.evm[dst].batch(calls)
                now = time.time()
                for s, answer in zip(group, answers):
                    if int(answer, 16) == 1:
                        s.delivered_at = now
            waiting = [s for s in waiting if s.delivered_at is None]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        return waiting

    def delivered_counts(self, sent: list[Sent], from_blocks: dict[str, int]) -> tuple[Counter[str], Counter[str]]:
        """``Delivered`` logs per message id on the destination chains since ``from_blocks``, and
        messages per deliverer (the operator that sent the transaction holding the log)."""
        counts: Counter[str] = Counter()
        deliverers: Counter[str] = Counter()
        for dst in self.chains:
            ids = sorted({s.message_id for s in sent if s.dst == dst})
            if not ids:
                continue
            logs = self.evm[dst].rpc("eth_getLogs", {"fromBlock": hex(from_blocks[dst]), "toBlock": "latest",
                                                     "address": self.chains[dst]["bridge"],
                                                     "topics": [DELIVERED_TOPIC, ids]})
            counts.update(str(lg["topics"][1]).lower() for lg in logs)
            txs = Counter(lg["transactionHash"] for lg in logs)
            answers = self.evm[dst].batch([("eth_getTransactionByHash", [h]) for h in txs])
            for (_, n), tx in zip(txs.items(), answers):
                deliverers[self.names.get(tx["from"].lower(), tx["from"])] += n
        return counts, deliverers

    def invariant_violations(self) -> list[str]:
        """Locked collateral = wrapped supply: the native coin and test token the bridge of each
        chain holds against the total supply of their wrapped forms on the other chain."""
        out = []
        for name, chain in self.chains.items():
            other = self.other(name)
            wrapped = self.chains[other]
            locked_native = self.evm[name].balance(chain["bridge"])
            locked_token = int(self.evm[name].call(chain["test_token"], "TestToken", "balanceOf", chain["bridge"]))
            supply_native = int(self.evm[other].call(wrapped["wrapped_native"], "WrappedToken", "totalSupply"))
            supply_token = int(self.evm[other].call(wrapped["wrapped_token"], "WrappedToken", "totalSupply"))
            if locked_native != supply_native:
                out.append(f"{name} native locked {locked_native} != wrapped supply {supply_native} on {other}")
            if locked_token != supply_token:
                out.append(f"{name} token locked {locked_token} != wrapped supply {supply_token} on {other}")
        return out

    def waste(self, from_blocks: dict[str, int]) -> tuple[int, int, int]:
        """(transactions that delivered none of their messages, gas spent on already delivered
        messages, messages re-sent) of the operators' transactions to the bridges since ``from_blocks``."""
        wasted_txs = wasted_gas = resent = 0
        for dst, chain in self.chains.items():
            head = self.evm[dst].block_number()
            numbers = list(range(from_blocks[dst], head + 1))
            blocks = self.evm[dst].batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            txs = [tx for b in blocks if b for tx in b["transactions"]
                   if (tx.get("to") or "").lower() == chain["bridge"].lower() and tx["from"].lower() in self.names]
            if not txs:
                continue
            receipts = self.evm[dst].batch([("eth_getTransactionReceipt", [tx["hash"]]) for tx in txs])
            for tx, receipt in zip(txs, receipts):
                carried = messages_carried(tx["input"])
                if not carried:
                    continue  # not a delivery (e.g. a bare header update)
                topics = [lg["topics"][0] for lg in receipt["logs"] if lg["topics"]]
                delivered = topics.count(DELIVERED_TOPIC)
                duplicates = carried - delivered - (topics.count(FAILED_TOPIC) if FAILED_TOPIC else 0)
                gas = int(receipt["gasUsed"], 16)
                if duplicates <= 0:
                    continue
                resent += duplicates
                if duplicates == carried:
                    wasted_txs += 1
                    wasted_gas += gas
                else:
                    wasted_gas += gas * duplicates // carried
        return wasted_txs, wasted_gas, resent

    # ------------------------------------------------------------------ sole submitter
    def set_submitting(self, index: int, submit: bool) -> None:
        """Rewrite operator ``index``'s config with ``operator.submit`` and restart it."""
        path = self.configs[index]
        lines = [line for line in path.read_text().splitlines() if not line.startswith("submit = ")]
        if not submit:
            lines.insert(lines.index("[operator]") + 1, "submit = false")
        path.write_text("\n".join(lines) + "\n")
        self.restart(index)
        if not self.wait_healthy(index):
            raise RuntimeError(f"operator-{index} did not come back with submit = {str(submit).lower()}")

    def balance_mismatches(self, recipient: str, sent: list[Sent]) -> list[str]:
        """What the recipient holds against what the trial sent it, per destination asset."""
        expected: Counter[tuple[str, str]] = Counter()
        for s in sent:
            if s.delivered_at is None:
                continue
            holding = {"native": "wrapped_native", "token": "wrapped_token",
                       "wrapped-native": "native", "wrapped-token": "test_token"}[s.asset]
            expected[(s.dst, holding)] += s.amount
        out = []
        for dst in self.chains:
            for holding in ("wrapped_native", "wrapped_token", "native", "test_token"):
                want = expected[(dst, holding)]
                if holding == "native":
                    have = self.evm[dst].balance(recipient)
                else:
                    have = int(self.evm[dst].call(self.chains[dst][holding], "TestToken", "balanceOf", recipient))
                if have != want:
                    out.append(f"{dst} {holding}: has {have}, expected {want}")
        return out

    # ------------------------------------------------------------------ one trial
    def trial(self, index: int, point: str, operator: int, chance: float, pause: float | None = None,
              sole: bool = False) -> Trial:
        t = Trial(index, point, operator, chance, pause, sole=sole, recipient=Account.create().address)
        started = time.monotonic()
        from_blocks = {name: evm.block_number() for name, evm in self.evm.items()}
        spec = f"{point}:{chance}" + (f":pause={pause:g}" if pause is not None else "")
        armed_at = time.time()
        self.restart(operator, spec)
        restarted = False

        def tick() -> None:
            """Notice the crash (or the freeze) and restart the operator without the fault."""
            nonlocal restarted
            if restarted:
                return
            if pause is not None:
                line = self.injected(operator, armed_at)
                if line is not None:
                    t.crashed, t.exit, t.crash_at = True, "paused", log_time(line["timestamp"])
                    restarted = True  # it continues by itself; disarmed after the trial
                return
            ended = self.exit_of(operator)
            if ended is None:
                return
            line = self.injected(operator, armed_at)
            t.exit = ended
            t.crashed = line is not None and line.get("point") == point and ended in ("SIGKILL", "unknown")
            t.crash_at = log_time(line["timestamp"]) if line else time.time()
            self.pids[operator] = network.start_operator(self.root, operator, env={"RELAYER_FAULT": ""})
            restarted = True

        waves = 0
        while waves < self.max_waves and (len(t.messages) < self.min_messages or not restarted):
            wave_started = time.monotonic()
            t.messages += self.wave(t.recipient)
            waves += 1
            while time.monotonic() - wave_started < 1.0:
                tick()
                time.sleep(0.05)
        self.settle(t.messages)
        death_deadline = time.monotonic() + self.death_timeout
        undelivered = self.poll_delivered(t.messages, time.monotonic() + self.lost_timeout, tick)
        while not restarted and time.monotonic() < death_deadline:  # a late hit is still a hit
            tick()
            time.sleep(0.1)
        t.lost = len(undelivered)
        if t.crash_at is not None and not undelivered:
            last = max(s.delivered_at or 0.0 for s in t.messages)
            t.recovery_s = max(0.0, last - t.crash_at)
        if not restarted or pause is not None:  # disarm: the point was not reached, or it only froze
            self.restart(operator, None, sig=signal.SIGKILL if pause is not None else signal.SIGTERM)
        counts, t.deliverers = self.delivered_counts(t.messages, from_blocks)
        t.twice = sum(1 for s in t.messages if counts[s.message_id] > 1)
        t.mismatches = self.balance_mismatches(t.recipient, t.messages)
        t.invariant = self.invariant_violations()
        t.wasted_txs, t.wasted_gas, t.resent = self.waste(from_blocks)
        t.recovered = self.wait_healthy(operator)
        if not t.recovered:  # keep the matrix going; the report shows it
            self.restart(operator, None, sig=signal.SIGKILL)
            self.wait_healthy(operator)
        t.duration_s = time.monotonic() - started
        return t


def messages_carried(calldata: str) -> int | None:
    """How many messages a bridge transaction carries (the length of deliverBatch's proofs, 1 for
    mint/unlock), or None when the calldata is not a delivery."""
    data = bytes.fromhex(calldata[2:])
    for fn in BRIDGE.functions.values():
        if BRIDGE.selector(fn["name"]) != data[:4]:
            continue
        names = [p["name"] for p in fn.get("inputs", [])]
        if "proofs" in names:
            values = abi_decode([abi_type(p) for p in fn["inputs"]], data[4:])
            return len(values[names.index("proofs")])
        return 1 if names and names[-1] in ("p", "proof") else None
    return None


# ---------------------------------------------------------------------- the other rows

FILE_ROWS = {"reorgs": "reorg", "store_trouble": "store", "fault_points": "fault points (quick subset)",
             "proof_bitflips": "lies: forged proofs (bit flips)", "fuzz_decoders": "lies: malformed answers (fuzz)",
             "lying_rpc": "lies: lying RPC", "rpc_failover": "RPC failover"}
TEST_ROWS = (("stuck", "stuck transaction"), ("dropped", "stuck transaction"), ("nonce", "nonce"),
             ("fund", "funds"), ("paused_bridge", "refused attempts (paused bridge)"))


def row_of(file: str, test: str) -> str:
    """The issue row a reliability test belongs to (by file, then by words of the test name)."""
    stem = Path(file).stem.removeprefix("test_")
    if stem in FILE_ROWS:
        return FILE_ROWS[stem]
    for word, row in TEST_ROWS:
        if word in test:
            return row
    if any(w in stem for w in ("lie", "lying", "forg", "proof")):
        return f"lies: {stem.replace('_', ' ')}"
    return stem.replace("_", " ")


def run_pytest(files: list[str], junit: Path, report: Callable[[str], None]) -> tuple[list[dict[str, Any]], float]:
    """Run ``files`` under pytest once; returns one dict per test (row, test, outcome, seconds)."""
    if not files:
        return [], 0.0
    report(f"pytest {' '.join(files)} ...")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                           *files], cwd=REPO, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    lines = proc.stdout.splitlines()
    report("\n".join(lines if proc.returncode not in (0, 5) else lines[-3:]))
    results = []
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed" if child.tag == "failure" else "error"
                elif child.tag == "skipped":
                    outcome = "skipped"
            file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            name = case.get("name", "")
            results.append({"file": file, "test": name, "row": row_of(file, name), "outcome": outcome,
                            "seconds": float(case.get("time", 0.0))})
    if not results:
        results.append({"file": " ".join(files), "test": "(collection)", "row": "pytest",
                        "outcome": f"error (exit {proc.returncode})", "seconds": elapsed})
    return results, elapsed


def reliability_files(explicit: list[str] | None) -> list[str]:
    """The pytest rows: the named files, or the defaults plus any other tests/reliability/test_*.py
    (lies, forged proofs, ...) except the quick fault-point subset, which this matrix supersedes."""
    if explicit is not None:
        return explicit
    found = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests" / "reliability").glob("test_*.py"))
    files = [f for f in DEFAULT_PYTEST_FILES if (REPO / f).exists()]
    return files + [f for f in found if f not in files and not f.endswith("test_fault_points.py")]


# ---------------------------------------------------------------------- the report

def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                capture_output=True, text=True).stdout
        # outputs (this report, benchmark results) do not make the code dirty
        dirty = [line for line in status.splitlines()
                 if "bench/results/" not in line and not line.endswith("docs/reliability.md")]
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def anvil_version() -> str:
    from relayer.devnet.anvil import anvil_binary
    try:
        out = subprocess.run([anvil_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(trials: list[Trial], rows: list[dict[str, Any]], *, args: argparse.Namespace, wall: float,
           matrix_s: float, pytest_s: float, seed: int) -> str:
    kills = [t for t in trials if t.pause is None]
    pauses = [t for t in trials if t.pause is not None]
    crashed = [t for t in kills if t.crashed]
    messages = sum(len(t.messages) for t in trials)
    lost = sum(t.lost for t in trials)
    twice = sum(t.twice for t in trials)
    mismatched = sum(1 for t in trials if t.mismatches)
    broken = sum(1 for t in trials if t.invariant)
    foreign = sum(t.foreign for t in trials)
    wasted_txs, wasted_gas = sum(t.wasted_txs for t in trials), sum(t.wasted_gas for t in trials)
    unrecovered = sum(1 for t in trials if not t.recovered)
    errors = sum(1 for t in trials if t.error)
    failed_rows = [r for r in rows if r["outcome"] not in ("passed", "skipped")]
    ok = (lost == 0 and twice == 0 and mismatched == 0 and broken == 0 and foreign == 0 and unrecovered == 0
          and not errors and not failed_rows)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Reliability report",
        "",
        f"Written by `python bench/faults.py {' '.join(args.argv)}` (`make faults`). "
        "Each trial arms one named fault point (`RELAYER_FAULT`, see `relayer/faults.py`) in one of the "
        "three operators of a local devnet, sends waves of transfers (native and token locks, burns of "
        "wrapped assets, both directions, three users at once, a fresh recipient per trial) without "
        "waiting, lets the armed operator die of SIGKILL at the point, restarts it without the fault and "
        "waits until every message of the trial is delivered. *Lost*: not delivered within "
        f"{args.lost_timeout:.0f} s. *Twice*: more than one `Delivered` log for a message id. *Balances*: "
        "the recipient holds exactly what the trial sent it. *Recovery*: from the crash (the "
        "`fault.injected` log line) to the last delivery of the trial's messages. The lying-RPC and forged-proof "
        "rows are under *Other rows*.",
        "",
        f"- date: {now}",
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {anvil_version()}",
        f"- git commit: {git_commit()}",
        f"- devnet: 1 s blocks, {network.CONFIRMATIONS} confirmations, 3 operators, threshold "
        f"{network.THRESHOLD}, grace {network.GRACE_PERIOD:g} s, replace_after {network.REPLACE_AFTER:g} s",
        f"- seed: {seed} (replay the plan with `--seed {seed}`); wall time {wall / 60:.1f} min "
        f"(matrix {matrix_s / 60:.1f} min, pytest rows {pytest_s / 60:.1f} min)",
        f"- verdict: **{'PASS' if ok else 'FAIL'}**: {len(crashed)} SIGKILL trials at fault points, "
        f"{messages} messages, {lost} lost, {twice} delivered twice, {mismatched} balance mismatches, "
        f"{broken} trials with collateral ≠ wrapped supply, {foreign} messages of sole-submitter trials "
        f"delivered by another operator, {wasted_txs} wasted transactions ({wasted_gas:,} gas), "
        f"{unrecovered} operators that did not recover, {errors} harness errors, {len(failed_rows)} failing rows",
        "",
        "## Crashes at fault points",
        "",
        "| fault | trials | killed at the point | messages | lost | delivered twice | balances wrong "
        "| collateral ≠ supply | delivered by operator 1 / 2 / 3 | wasted txs (gas) | re-sent messages "
        "| max recovery s | median recovery s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, group: list[Trial]) -> str:
        recs = [t.recovery_s for t in group if t.recovery_s is not None and t.crashed]
        hit = sum(1 for t in group if t.crashed)
        by: Counter[str] = sum((t.deliverers for t in group), Counter())
        others = sum(n for who, n in by.items() if who not in ("operator-1", "operator-2", "operator-3"))
        by_text = " / ".join(str(by[f"operator-{i}"]) for i in (1, 2, 3)) + (f" (+{others} others)" if others else "")
        return (f"| {label} | {len(group)} | {hit} | {sum(len(t.messages) for t in group)} | "
                f"{sum(t.lost for t in group)} | {sum(t.twice for t in group)} | "
                f"{sum(1 for t in group if t.mismatches)} | {sum(1 for t in group if t.invariant)} | {by_text} | "
                f"{sum(t.wasted_txs for t in group)} ({sum(t.wasted_gas for t in group):,}) | "
                f"{sum(t.resent for t in group)} | {fmt_s(max(recs) if recs else None)} | "
                f"{fmt_s(statistics.median(recs) if recs else None)} |")

    shared = [t for t in kills if not t.sole]
    sole = [t for t in kills if t.sole]
    for point in POINTS:
        group = [t for t in shared if t.point == point]
        if group:
            out.append(row(f"`{point}`", group))
    out.append(row("**all (SIGKILL, 3 submitters)**", shared))
    for point in POINTS:
        group = [t for t in sole if t.point == point]
        if group:
            out.append(row(f"`{point}` sole submitter", group))
    if sole:
        out.append(row("**all (SIGKILL, sole submitter)**", sole))
    for point in POINTS:
        group = [t for t in pauses if t.point == point]
        if group:
            out.append(row(f"`{point}` pause {group[0].pause:g} s", group))
    if pauses:
        out.append(row("**all (pause)**", pauses))
    out += ["", "*killed at the point*: the operator logged `fault.injected` for the armed point and was "
            "reaped with SIGKILL (for pause rows: it froze there). A trial whose operator never reached the "
            "point (it delivered none of the trial's blocks) still counts its messages. *Sole submitter*: "
            "operator-1 is armed and is the only one allowed to send (operators 2 and 3 run with "
            "`operator.submit = false`: they attest but never send), so every message of such a row was "
            "delivered by operator-1 after its restart, from its own journal and store; a message delivered by "
            "anyone else there fails the run. *Collateral ≠ supply*: trials after which the native coin or test "
            "token locked in a bridge differed from the total supply of its wrapped form on the other chain. "
            "*Wasted*: operator transactions to a bridge during the trial that delivered none of their messages "
            "(every one already delivered, or reverted), with their gas plus the duplicate share of the gas of "
            "partly useful ones; *re-sent*: messages carried again after they were delivered.", ""]
    out += ["## Other rows", "",
            "One run each of the reliability tests (`tests/reliability/`, except the quick fault-point subset "
            "this matrix supersedes), under pytest; *skipped* includes expected failures (xfail).", "",
            "| row | file | tests | passed | failed | skipped | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["row"], Path(r["file"]).name), []).append(r)
    for (label, file), group in sorted(groups.items()):
        passed = sum(1 for r in group if r["outcome"] == "passed")
        skipped = sum(1 for r in group if r["outcome"] == "skipped")
        failed = len(group) - passed - skipped
        mark = f"**{failed}**" if failed else "0"
        out.append(f"| {label} | `{file}` | {len(group)} | {passed} | {mark} | {skipped} | "
                   f"{sum(r['seconds'] for r in group):.1f} |")
    if not rows:
        out.append("| - | (not run: --skip-pytest) | - | - | - | - | - |")
    if failed_rows:
        out += ["", "Failing tests:", ""]
        out += [f"- `{Path(r['file']).name}::{r['test']}`: {r['outcome']}" for r in failed_rows]
    if rows:
        out += ["", "<details><summary>Every test</summary>", "", "| row | test | result | seconds |",
                "|---|---|---|---:|"]
        out += [f"| {r['row']} | `{Path(r['file']).name}::{r['test']}` | {r['outcome']} | {r['seconds']:.1f} |"
                for r in sorted(rows, key=lambda r: (r["row"], r["file"], r["test"]))]
        out += ["", "</details>"]
    out += ["", "<details><summary>Every trial</summary>", "", "```"]
    out += [t.line() for t in trials]
    out += ["```", "", "</details>", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------- main

Plan = tuple[str, int, float, float | None, bool]


def plan_trials(rng: random.Random, kills: int, pauses: int, pause_s: float, sole: int = 0) -> list[Plan]:
    """(point, operator, chance, pause, sole) per trial: every point equally often, in random order;
    the sole-submitter trials (operator 1) after the shared ones, then the pauses."""
    out: list[Plan] = []
    for i in range(kills):
        point = POINTS[i % len(POINTS)]
        chance = rng.choice(CHANCES["follower" if point in FOLLOWER_POINTS else "sender"])
        out.append((point, rng.randint(1, 3), chance, None, False))
    rng.shuffle(out)
    alone: list[Plan] = []
    for i in range(sole):
        point = POINTS[i % len(POINTS)]
        alone.append((point, 1, rng.choice(CHANCES["follower" if point in FOLLOWER_POINTS else "sender"]), None, True))
    rng.shuffle(alone)
    out += alone
    for i in range(pauses):
        out.append((POINTS[i % len(POINTS)], rng.randint(1, 3), 1.0, pause_s, False))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="SIGKILL trials (spread over all fault points)")
    parser.add_argument("--sole-trials", type=int, default=20,
                        help="SIGKILL trials where operator-1 is armed and the only one allowed to submit")
    parser.add_argument("--pause-trials", type=int, default=5, help="trials that freeze instead of killing")
    parser.add_argument("--pause-seconds", type=float, default=8.0)
    parser.add_argument("--messages", type=int, default=12, help="at least this many transfers per trial")
    parser.add_argument("--lost-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the random plan (printed at the start and in the report; give it back to "
                             "replay the same plan)")
    parser.add_argument("--out", default="docs/reliability.md")
    parser.add_argument("--dir", default=None, help="devnet folder (default: a temporary one)")
    parser.add_argument("--pytest", nargs="*", default=None, metavar="FILE",
                        help="reliability test files to run once (default: tests/reliability/test_*.py)")
    parser.add_argument("--skip-pytest", action="store_true")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    started = time.monotonic()
    trials: list[Trial] = []
    say = lambda line: print(line, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="relayer-faults-") as tmp:
        root = Path(args.dir).resolve() if args.dir else Path(tmp) / "devnet"
        say(f"seed {seed}; devnet in {root}")
        network.up(root, report=lambda line: None)
        matrix = Matrix(root, rng, min_messages=args.messages, lost_timeout=args.lost_timeout)
        try:
            matrix.prepare()
            say(f"devnet ready, users seeded ({time.monotonic() - started:.1f} s)")
            plan = plan_trials(rng, args.trials, args.pause_trials, args.pause_seconds, args.sole_trials)
            spare = max(3, args.trials // 5)  # a trial whose operator never reached its point is run again
            index = 0
            alone = False  # operators 2 and 3 run with operator.submit = false
            while index < len(plan):
                point, operator, chance, pause, sole = plan[index]
                index += 1
                if sole != alone:
                    say("operators 2 and 3 " + ("attest only from now on" if sole else "submit again"))
                    for other in (2, 3):
                        matrix.set_submitting(other, not sole)
                    alone = sole
                try:
                    trial = matrix.trial(index, point, operator, chance, pause, sole=sole)
                except Exception as exc:  # noqa: BLE001 - keep the matrix going, report it
                    trial = Trial(index, point, operator, chance, pause, sole=sole,
                                  error=f"{type(exc).__name__}: {exc}")
                    matrix.restart(operator, None, sig=signal.SIGKILL)
                    trial.recovered = matrix.wait_healthy(operator)
                trials.append(trial)
                say(trial.line())
                if pause is None and not trial.crashed and not trial.error and spare > 0:
                    spare -= 1
                    plan.insert(index, (point, 1 if sole else rng.randint(1, 3), chance, None, sole))
            if alone:
                for other in (2, 3):
                    matrix.set_submitting(other, True)
            late = [s for t in trials for s in t.messages if s.delivered_at is None]
            if late:  # a last look: delivered after its trial gave up counts as late, not lost
                matrix.poll_delivered(late, time.monotonic() + 30)
                for t in trials:
                    t.lost = sum(1 for s in t.messages if s.delivered_at is None)
        finally:
            matrix.close()
            network.down(root, report=lambda line: None)
    matrix_s = time.monotonic() - started
    rows: list[dict[str, Any]] = []
    pytest_s = 0.0
    if not args.skip_pytest:
        with tempfile.TemporaryDirectory(prefix="relayer-faults-pytest-") as tmp:
            rows, pytest_s = run_pytest(reliability_files(args.pytest), Path(tmp) / "junit.xml", say)
    wall = time.monotonic() - started
    text = render(trials, rows, args=args, wall=wall, matrix_s=matrix_s, pytest_s=pytest_s, seed=seed)
    out = Path(args.out)
    out = out if out.is_absolute() else REPO / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    summary = next(line for line in text.splitlines() if line.startswith("- verdict"))
    say(f"wrote {out} in {wall / 60:.1f} min: {summary.removeprefix('- verdict: ')}")
    say(f"seed {seed}: replay this plan with --seed {seed}")
    return 0 if "**PASS**" in summary else 1


if __name__ == "__main__":
    sys.exit(main())
