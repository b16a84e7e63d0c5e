"""The fault matrix: randomised crash trials at every named fault point, plus the other
reliability rows, summarised in docs/reliability.md and its JSON beside it (``make faults``).

    python bench/faults.py --trials 100 --out docs/reliability.md

One devnet (two anvil chains joined by the message layer, three operators) in a temporary
folder, with test recipients deployed on both chains (``bench/fault_traffic.py``). Each trial:

1. picks a fault point, an operator (1..3) and a probability; restarts that operator with
   ``RELAYER_FAULT=<point>:<probability>`` (see ``relayer/faults.py``);
2. sends waves of messages from the three devnet users at once (one per user per block, both
   directions): token transfers through the TokenRouters (native and token locks, burns of wrapped
   assets, to a fresh recipient) and plain messages to a recipient that records them, to one that
   always reverts, and through an app that asks for acknowledgements (always or on failure) and
   records those it gets; a quarter with an expiry a few seconds ahead. It does not wait for
   delivery and goes on until at least ``--messages`` were sent and the armed operator died (or
   ``--max-waves``);
3. as soon as the operator is gone (reaped: it must have died of SIGKILL, right after its
   ``fault.injected`` line), restarts it without the fault;
4. polls the layers' ``outcomeOf`` until every message of the trial is processed on its
   destination and every acknowledgement due is processed back on its source; the recovery time
   runs from the crash (the ``fault.injected`` timestamp) to the end of the last one;
5. checks from the chains only (``bench/fault_checks.py``): one ``MessageProcessed`` per message
   and per acknowledgement over the whole chain (*lost*: none within ``--lost-timeout``; *twice*:
   an envelope processed, recorded, acknowledged or refunded more than once), each delivered body
   recorded once, each acknowledgement due handled once with the destination's outcome, each
   refused transfer refunded once, the recipient's exact balances, the routers' collateral
   (``lockedFor``) against the wrapped supply on the other chain; then waits until the restarted
   operator is healthy.

``--sole-trials`` adds trials where operator-1 is the only one allowed to submit (operators 2
and 3 run with ``operator.submit = false``: they follow and attest but never send), and it is
the one armed: every message and acknowledgement of such a trial must be delivered by operator-1
itself, after its restart, from its own journal and store. After every trial the harness also
records who delivered each envelope (the sender of the transaction with its ``MessageProcessed``)
and counts the relayer-side waste: operator transactions to the layers, and their gas, spent on
envelopes that were already processed (a transaction processing none of its proofs counts whole,
a partial one by its share of duplicates).

``--pause-trials`` adds trials where the point freezes the operator (``pause=SECONDS``)
instead of killing it. Afterwards the other reliability rows (reorgs, stuck transactions,
nonces, funds, store, lies: ``tests/reliability/test_*.py``) run once under pytest; their
outcome and duration per test go into the report. Exit status 1 when anything was lost,
executed twice, mismatched, did not recover or failed.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (REPO, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from eth_abi import decode as abi_decode  # noqa: E402
from eth_account import Account  # noqa: E402

from adapters.evm.abi import abi_type  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from fault_checks import PROCESSED_TOPIC, balance_mismatches, check, collateral_violations  # noqa: E402
from fault_traffic import LAYER, UNIT, Sent, Traffic  # noqa: E402
from relayer.devnet import network  # noqa: E402
from relayer.faults import POINTS  # noqa: E402

# Points the follower reaches on every scan with messages (any operator) vs. points only the
# operator delivering a block reaches: the latter get a higher probability so that they are hit.
FOLLOWER_POINTS = ("after-observe", "after-attest")
CHANCES = {"follower": (1.0, 0.5, 0.25), "sender": (1.0, 1.0, 0.5)}
DEFAULT_PYTEST_FILES = ("tests/reliability/test_reorgs.py", "tests/reliability/test_destination_trouble.py",
                        "tests/reliability/test_store_trouble.py")


def log_time(stamp: str) -> float:
    """A log line's ISO-8601 UTC timestamp as epoch seconds."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


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
    acks: int = 0  # acknowledgements due (by the outcomes the destinations recorded)
    lost: int = 0  # messages without a MessageProcessed on their destination
    acks_lost: int = 0  # acknowledgements due without a MessageProcessed back on the source
    twice: int = 0  # envelopes with any effect more than once
    refunds: int = 0  # transfers refunded (expired on arrival)
    outcomes: Counter[str] = field(default_factory=Counter)  # delivered / failed / expired
    doubles: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    deliverers: Counter[str] = field(default_factory=Counter)  # operator (or address) -> envelopes processed
    invariant: list[str] = field(default_factory=list)  # locked collateral != wrapped supply, per chain and asset
    wasted_txs: int = 0  # operator transactions that processed none of their proofs
    wasted_gas: int = 0  # their gas, plus the duplicate share of partly useful ones
    resent: int = 0  # envelopes carried by operator transactions after they were processed
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
        """Envelopes of a sole-submitter trial that someone else delivered (must be 0)."""
        return sum(n for who, n in self.deliverers.items() if who != f"operator-{self.operator}") if self.sole else 0

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.acks_lost or self.twice or self.mismatches or self.invariant or self.foreign
                    or not self.recovered or self.error)

    def line(self) -> str:
        rec = "-" if self.recovery_s is None else f"{self.recovery_s:5.1f}s"
        what = ("paused" if self.pause is not None else f"killed ({self.exit})") if self.crashed else "not reached"
        bad = f" MISMATCH {self.mismatches}" if self.mismatches else ""
        bad += f" TWICE {self.doubles}" if self.doubles else ""
        bad += f" INVARIANT {self.invariant}" if self.invariant else ""
        bad += f" DELIVERED BY OTHERS {self.foreign}" if self.foreign else ""
        by = ",".join(f"{k.removeprefix('operator-')}:{v}" for k, v in sorted(self.deliverers.items()))
        bad += "" if self.recovered else " NOT RECOVERED"
        bad += f" HARNESS ERROR {self.error}" if self.error else ""
        ends = "/".join(str(self.outcomes[k]) for k in ("delivered", "failed", "expired"))
        return (f"trial {self.index:3d} {self.kind:<32} operator-{self.operator} p={self.chance:<4} {what:<18} "
                f"msgs={len(self.messages):2d} (d/f/x {ends}) acks={self.acks:2d} lost={self.lost}+{self.acks_lost} "
                f"twice={self.twice} refunds={self.refunds} recovery={rec} by={by or '-'} "
                f"wasted={self.wasted_txs}tx/{self.wasted_gas}gas ({self.duration_s:.1f}s){bad}")

    def to_json(self) -> dict[str, Any]:
        """The trial's figures for the results JSON."""
        return {"index": self.index, "point": self.point, "operator": self.operator, "chance": self.chance,
                "pause_s": self.pause, "sole": self.sole, "crashed": self.crashed, "exit": self.exit,
                "messages": len(self.messages), "kinds": dict(Counter(s.kind for s in self.messages)),
                "with_expiry": sum(1 for s in self.messages if s.expiry), "outcomes": dict(self.outcomes),
                "acks": self.acks, "lost": self.lost, "acks_lost": self.acks_lost, "twice": self.twice,
                "refunds": self.refunds, "doubles": self.doubles, "mismatches": self.mismatches,
                "invariant": self.invariant, "deliverers": dict(self.deliverers), "foreign": self.foreign,
                "wasted_txs": self.wasted_txs, "wasted_gas": self.wasted_gas, "resent": self.resent,
                "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2),
                "recovered": self.recovered, "duration_s": round(self.duration_s, 1), "error": self.error}


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
        self.traffic = Traffic(self.chains, self.evm, self.users, rng)
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

    # ------------------------------------------------------------------ traffic
    def prepare(self) -> None:
        """Deploy the test recipients, approve the test tokens once and give every user wrapped
        assets to burn later. Raises RuntimeError when a seeding transfer does not arrive."""
        self.traffic.deploy_recipients(network.DEPLOYER_KEY)
        seeded: list[Sent] = []
        for index, user in enumerate(self.users):
            for src in self.chains:
                for asset in ("native", "token"):
                    seeded.append(self.traffic.transfer(index, src, asset, UNIT, user["address"]))
        self.traffic.settle(seeded)
        undelivered = self.traffic.poll(seeded, time.monotonic() + self.lost_timeout)
        if undelivered or any(s.outcome != 1 for s in seeded):
            raise RuntimeError(f"{len(undelivered)} seeding transfers were not delivered, outcomes "
                               f"{Counter(s.outcome for s in seeded)}")

    def waste(self, from_blocks: dict[str, int]) -> tuple[int, int, int]:
        """(transactions that processed none of their proofs, gas spent on already processed envelopes,
        envelopes re-sent) of the operators' transactions to the layers since ``from_blocks``."""
        wasted_txs = wasted_gas = resent = 0
        for dst, chain in self.chains.items():
            layer = chain["message_layer"].lower()
            head = self.evm[dst].block_number()
            numbers = list(range(from_blocks[dst], head + 1))
            blocks = self.evm[dst].batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            txs = [tx for b in blocks if b for tx in b["transactions"]
                   if (tx.get("to") or "").lower() == layer and tx["from"].lower() in self.names]
            if not txs:
                continue
            receipts = self.evm[dst].batch([("eth_getTransactionReceipt", [tx["hash"]]) for tx in txs])
            for tx, receipt in zip(txs, receipts):
                carried = messages_carried(tx["input"])
                if not carried:
                    continue  # not a delivery (e.g. a bare header update)
                processed = sum(1 for lg in receipt["logs"] if lg["topics"] and lg["topics"][0] == PROCESSED_TOPIC
                                and lg["address"].lower() == layer)
                duplicates = carried - processed
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
            t.messages += self.traffic.wave(t.recipient)
            waves += 1
            while time.monotonic() - wave_started < 1.0:
                tick()
                time.sleep(0.05)
        self.traffic.settle(t.messages)
        death_deadline = time.monotonic() + self.death_timeout
        unfinished = self.traffic.poll(t.messages, time.monotonic() + self.lost_timeout, tick)
        while not restarted and time.monotonic() < death_deadline:  # a late hit is still a hit
            tick()
            time.sleep(0.1)
        if t.crash_at is not None and not unfinished:
            last = max(s.done_at or 0.0 for s in t.messages)
            t.recovery_s = max(0.0, last - t.crash_at)
        if not restarted or pause is not None:  # disarm: the point was not reached, or it only froze
            self.restart(operator, None, sig=signal.SIGKILL if pause is not None else signal.SIGTERM)
        self.judge(t)
        t.wasted_txs, t.wasted_gas, t.resent = self.waste(from_blocks)
        t.recovered = self.wait_healthy(operator)
        if not t.recovered:  # keep the matrix going; the report shows it
            self.restart(operator, None, sig=signal.SIGKILL)
            self.wait_healthy(operator)
        t.duration_s = time.monotonic() - started
        return t

    def judge(self, t: Trial) -> None:
        """The chain checks of trial ``t``'s messages (again after a late look at the end of the run)."""
        v = check(self.traffic, t.messages, self.names)
        t.acks, t.lost, t.acks_lost, t.twice, t.refunds = v.acks, v.lost, v.acks_lost, v.twice, v.refunds
        t.outcomes, t.deliverers, t.doubles = v.outcomes, v.deliverers, v.doubles
        t.mismatches = v.mismatches + balance_mismatches(self.traffic, t.recipient, t.messages)
        t.invariant = collateral_violations(self.traffic)


def messages_carried(calldata: str) -> int | None:
    """How many proofs a layer transaction carries (deliverBatch's proofs), or None when the
    calldata is not a delivery."""
    data = bytes.fromhex(calldata[2:])
    if data[:4] != LAYER.selector("deliverBatch"):
        return None
    inputs = LAYER.functions["deliverBatch"]["inputs"]
    values = abi_decode([abi_type(p) for p in inputs], data[4:])
    return len(values[[p["name"] for p in inputs].index("proofs")])

# ---------------------------------------------------------------------- the other rows

FILE_ROWS = {"reorgs": "reorg", "store_trouble": "store", "fault_points": "fault points (quick subset)",
             "proof_bitflips": "lies: forged proofs (bit flips)", "fuzz_decoders": "lies: malformed answers (fuzz)",
             "lying_rpc": "lies: lying RPC", "rpc_failover": "RPC failover"}
TEST_ROWS = (("stuck", "stuck transaction"), ("dropped", "stuck transaction"), ("nonce", "nonce"),
             ("fund", "funds"), ("paused_layer", "refused attempts (paused message layer)"))


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
                 if "bench/results/" not in line
                 and not line.endswith(("docs/reliability.md", "docs/reliability.json"))]
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


def all_passed(trials: list[Trial], rows: list[dict[str, Any]]) -> bool:
    """Nothing lost, executed twice, wrong, delivered by others in a sole trial, unrecovered or failing."""
    return not any(t.failed for t in trials) and all(r["outcome"] in ("passed", "skipped") for r in rows)


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def totals(group: list[Trial]) -> dict[str, Any]:
    """The figures of a group of trials (a table row, the verdict, the JSON's totals)."""
    recs = [t.recovery_s for t in group if t.recovery_s is not None and t.crashed]
    outcomes: Counter[str] = sum((t.outcomes for t in group), Counter())
    return {"trials": len(group), "crashed": sum(1 for t in group if t.crashed),
            "messages": sum(len(t.messages) for t in group),
            "with_expiry": sum(1 for t in group for s in t.messages if s.expiry),
            "kinds": dict(Counter(s.kind for t in group for s in t.messages)), "outcomes": dict(outcomes),
            "acks": sum(t.acks for t in group), "refunds": sum(t.refunds for t in group),
            "lost": sum(t.lost for t in group), "acks_lost": sum(t.acks_lost for t in group),
            "twice": sum(t.twice for t in group), "mismatched": sum(1 for t in group if t.mismatches),
            "broken": sum(1 for t in group if t.invariant), "foreign": sum(t.foreign for t in group),
            "deliverers": dict(sum((t.deliverers for t in group), Counter())),
            "wasted_txs": sum(t.wasted_txs for t in group), "wasted_gas": sum(t.wasted_gas for t in group),
            "resent": sum(t.resent for t in group), "unrecovered": sum(1 for t in group if not t.recovered),
            "errors": sum(1 for t in group if t.error),
            "max_recovery_s": round(max(recs), 2) if recs else None,
            "median_recovery_s": round(statistics.median(recs), 2) if recs else None}


def render(trials: list[Trial], rows: list[dict[str, Any]], *, args: argparse.Namespace, wall: float,
           matrix_s: float, pytest_s: float, seed: int) -> str:
    kills = [t for t in trials if t.pause is None]
    pauses = [t for t in trials if t.pause is not None]
    crashed = [t for t in kills if t.crashed]
    a = totals(trials)
    failed_rows = [r for r in rows if r["outcome"] not in ("passed", "skipped")]
    ok = all_passed(trials, rows)
    ends = a["outcomes"]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Reliability report",
        "",
        f"Written by `python bench/faults.py {' '.join(args.argv)}` (`make faults`; the figures are also in "
        "the JSON beside this file). Each trial arms one named fault point (`RELAYER_FAULT`, see "
        "`relayer/faults.py`) in one of the three operators of a local devnet joined by the message layer, "
        "sends waves of messages (three users at once, both directions) without waiting: token transfers "
        "through the TokenRouters (native and token locks, burns of wrapped assets, to a fresh recipient per "
        "trial), plain messages to a recipient that records them and to one that always reverts, and messages "
        "of an app that asks for acknowledgements (always or on failure) and records those it gets; a quarter "
        "of them with an expiry a few seconds ahead, which passes during the fault window for some. It lets "
        "the armed operator die of SIGKILL at the point, restarts it without the fault and waits until every "
        "message is processed on its destination and every acknowledgement due is processed back on its "
        "source. Everything is then checked from the chains only (`bench/fault_checks.py`). *Lost*: a message "
        f"(or an acknowledgement due) without a `MessageProcessed` within {args.lost_timeout:.0f} s. *Twice*: "
        "an envelope with more than one `MessageProcessed` over the whole chain, a body recorded twice, a "
        "`handleAck` or a refund twice. *Wrong*: an outcome the message may not have (a recorder delivers, a "
        "reverter fails, only a message with an expiry may expire), a delivered body not recorded, an "
        "acknowledgement not handled or with another outcome, a refused transfer not refunded, the "
        "recipient's balances. *Recovery*: from the crash (the `fault.injected` log line) to the end of the "
        "last message of the trial. The lying-RPC and forged-proof rows are under *Other rows*.",
        "",
        f"- date: {now}",
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {anvil_version()}",
        f"- git commit: {git_commit()}",
        f"- devnet: 1 s blocks, {network.CONFIRMATIONS} confirmations, 3 operators, threshold "
        f"{network.THRESHOLD}, grace {network.GRACE_PERIOD:g} s, replace_after {network.REPLACE_AFTER:g} s",
        f"- seed: {seed} (replay the plan with `--seed {seed}`); wall time {wall / 60:.1f} min "
        f"(matrix {matrix_s / 60:.1f} min, pytest rows {pytest_s / 60:.1f} min)",
        f"- traffic: {a['messages']} messages ({', '.join(f'{n} {k}' for k, n in sorted(a['kinds'].items()))}; "
        f"{a['with_expiry']} with an expiry), outcomes {ends.get('delivered', 0)} delivered / "
        f"{ends.get('failed', 0)} failed / {ends.get('expired', 0)} expired, {a['acks']} acknowledgements, "
        f"{a['refunds']} refunds",
        f"- verdict: **{'PASS' if ok else 'FAIL'}**: {len(crashed)} SIGKILL trials at fault points, "
        f"{a['messages']} messages and {a['acks']} acknowledgements, {a['lost']} messages and "
        f"{a['acks_lost']} acknowledgements lost, {a['twice']} executed twice, {a['mismatched']} trials with "
        f"wrong effects, {a['broken']} trials with collateral ≠ wrapped supply, {a['foreign']} envelopes of "
        f"sole-submitter trials delivered by another operator, {a['wasted_txs']} wasted transactions "
        f"({a['wasted_gas']:,} gas), {a['unrecovered']} operators that did not recover, {a['errors']} harness "
        f"errors, {len(failed_rows)} failing rows",
        "",
        "## Crashes at fault points",
        "",
        "| fault | trials | killed at the point | messages | acks | lost (msgs + acks) | executed twice "
        "| wrong effects | collateral ≠ supply | delivered by operator 1 / 2 / 3 | wasted txs (gas) "
        "| re-sent | max recovery s | median recovery s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, group: list[Trial]) -> str:
        g = totals(group)
        by = Counter(g["deliverers"])
        others = sum(n for who, n in by.items() if who not in ("operator-1", "operator-2", "operator-3"))
        by_text = " / ".join(str(by[f"operator-{i}"]) for i in (1, 2, 3)) + (f" (+{others} others)" if others else "")
        return (f"| {label} | {g['trials']} | {g['crashed']} | {g['messages']} | {g['acks']} | "
                f"{g['lost']} + {g['acks_lost']} | {g['twice']} | {g['mismatched']} | {g['broken']} | {by_text} | "
                f"{g['wasted_txs']} ({g['wasted_gas']:,}) | {g['resent']} | {fmt_s(g['max_recovery_s'])} | "
                f"{fmt_s(g['median_recovery_s'])} |")

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
            "point (it delivered none of the trial's blocks) still counts its messages. *Acks*: "
            "acknowledgements due by the outcomes the destinations recorded (ackMode always, or on failure "
            "and the message failed or expired; a refused transfer's is its refund). *Sole submitter*: "
            "operator-1 is armed and is the only one allowed to send (operators 2 and 3 run with "
            "`operator.submit = false`: they attest but never send), so every message and acknowledgement of "
            "such a row was delivered by operator-1 after its restart, from its own journal and store; one "
            "delivered by anyone else there fails the run. *Delivered by*: envelopes (messages and "
            "acknowledgements) per operator that sent the transaction with their `MessageProcessed`. "
            "*Collateral ≠ supply*: trials after which a TokenRouter's `lockedFor` the other chain (native coin, "
            "test token) differed from the total supply of its wrapped form there. *Wasted*: operator "
            "`deliverBatch` transactions during the trial that processed none of their proofs (every one already "
            "processed, or reverted), with their gas plus the duplicate share of the gas of partly useful ones; "
            "*re-sent*: envelopes carried again after they were processed.", ""]
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
    parser.add_argument("--messages", type=int, default=12, help="at least this many messages per trial")
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
            late = [s for t in trials for s in t.messages if s.done_at is None]
            if late:  # a last look: processed after its trial gave up counts as late, not lost
                matrix.traffic.poll(late, time.monotonic() + 30)
            rejudged = time.monotonic()
            for t in trials:
                if t.messages:
                    matrix.judge(t)
            say(f"every trial checked again on the final chains, so a later duplicate counts too "
                f"({time.monotonic() - rejudged:.1f} s)")
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
    results = out.with_suffix(".json")
    results.write_text(json.dumps({
        "seed": seed, "argv": args.argv, "git_commit": git_commit(), "wall_s": round(wall, 1),
        "matrix_s": round(matrix_s, 1), "pytest_s": round(pytest_s, 1), "passed": all_passed(trials, rows),
        "totals": totals(trials), "trials": [t.to_json() for t in trials], "rows": rows}, indent=2) + "\n")
    summary = next(line for line in text.splitlines() if line.startswith("- verdict"))
    say(f"wrote {out} and {results.name} in {wall / 60:.1f} min: {summary.removeprefix('- verdict: ')}")
    say(f"seed {seed}: replay this plan with --seed {seed}")
    return 0 if "**PASS**" in summary else 1


if __name__ == "__main__":
    sys.exit(main())
