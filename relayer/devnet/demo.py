"""``python -m relayer.devnet.demo --dir DIR`` (``make demo``): the whole system, end to end, checked.

Starts the devnet, runs 24 transfers through the TokenRouters in four waves (both directions at
once, three users each), prints a table of what happened, then checks every user's balance of
every asset on both chains against the exact expected value (gas paid by the users' own
transactions included) and that what each router holds locked for the other chain equals the
wrapped supply there. Then one traceability record: a batch recorded on alpha's
TraceabilityRegistry and mirrored to beta's, where its provable origin (source chain, registry,
producer, source block and transaction) is read back. When litecoind is installed the devnet also runs
Litecoin (``--with litecoin``) and the demo ends with its round trip (relayer.devnet.demo_litecoin: 1 LTC
deposited and minted, 0.5 burned and released, balances exact). Always tears the devnet down; exits 0 only
when every transfer, check, the record and the round trip passed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import demo_litecoin, network
from relayer.devnet.cli import devnet_down, devnet_up
from relayer.devnet.litecoin import NAME as LITECOIN
from relayer.devnet.trace import trace_batch
from relayer.devnet.transfer import ERC20_ABI, TransferResult, balance_of, transfer
from relayer.errors import RelayerError, UsageError

HOLDINGS = ("native", "test_token", "wrapped_native", "wrapped_token")
# asset -> (holding spent on the source, holding credited on the destination)
EFFECTS = {"native": ("native", "wrapped_native"), "token": ("test_token", "wrapped_token"),
           "wrapped-native": ("wrapped_native", "native"), "wrapped-token": ("wrapped_token", "test_token")}
ROUTES = (("alpha", "beta"), ("beta", "alpha"))
USERS = 3


@dataclass(frozen=True)
class Step:
    """One transfer of the demo."""

    source: str
    destination: str
    asset: str
    amount: Decimal
    user: int

    @property
    def route(self) -> str:
        return f"{self.source}->{self.destination}"


@dataclass(frozen=True)
class Outcome:
    """A step and its result or its error."""

    step: Step
    result: TransferResult | None
    error: str | None = None


Balances = dict[tuple[str, str, str], int]  # (user address, chain, holding) -> base units


def waves() -> list[list[Step]]:
    """Locks first (native, then token), both directions at once; then the wrapped forms back."""
    lock_native = [Step(s, d, "native", Decimal("1.5") + Decimal(u) / 4, u) for s, d in ROUTES for u in range(USERS)]
    lock_token = [Step(s, d, "token", Decimal(250 + 50 * u), u) for s, d in ROUTES for u in range(USERS)]
    # burn part of what arrived: wALPHA on beta unlocks ETH on alpha, and so on
    back_native = [Step(d, s, "wrapped-native", Decimal("0.75"), u) for s, d in ROUTES for u in range(USERS)]
    back_token = [Step(d, s, "wrapped-token", Decimal("100.5"), u) for s, d in ROUTES for u in range(USERS)]
    return [lock_native, lock_token, back_native, back_token]


# --------------------------------------------------------------------------- running

def run_wave(devnet: Path, steps: Sequence[Step], timeout: float,
             on_done: Callable[[Outcome], None]) -> list[Outcome]:
    """Run the steps concurrently (distinct user/source pairs never share a nonce)."""
    def one(step: Step) -> Outcome:
        try:
            result = transfer(devnet, step.source, step.destination, step.asset, step.amount,
                              wait=True, timeout=timeout, user_index=step.user)
            outcome = Outcome(step, result) if result.outcome == "delivered" else \
                Outcome(step, None, f"{result.outcome} on {step.destination} (message {result.message_id})")
        except RelayerError as exc:
            outcome = Outcome(step, None, str(exc))
        on_done(outcome)
        return outcome

    pool = ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="transfer")
    try:
        return list(pool.map(one, steps))
    finally:  # on Ctrl-C do not wait for deliveries; the teardown makes the workers fail fast
        pool.shutdown(wait=False, cancel_futures=True)


def progress(outcome: Outcome) -> None:
    step = outcome.step
    what = f"user {step.user} {step.asset} {step.amount} {step.route}"
    if outcome.result is None:
        print(f"  FAILED {what}: {outcome.error}", file=sys.stderr, flush=True)
    else:
        print(f"  delivered {what} in {outcome.result.latency_s:.2f} s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- balances

def snapshot(deployment: dict[str, Any]) -> Balances:
    """Every user's balance of every holding on every chain."""
    balances: Balances = {}
    for name, chain in deployment["chains"].items():
        if chain.get("family", "evm") != "evm":  # Litecoin: its own round trip (demo_litecoin)
            continue
        with SyncEvm(chain["rpc"]) as evm:
            for user in deployment["users"]:
                for holding in HOLDINGS:
                    token = None if holding == "native" else chain[holding]
                    balances[(user["address"], name, holding)] = balance_of(evm, token, user["address"])
    return balances


def expected(before: Balances, results: Sequence[TransferResult]) -> Balances:
    """``before`` moved by each transfer: amount out/in and the sender's gas."""
    after = dict(before)
    for r in results:
        spent, credited = EFFECTS[r.asset]
        after[(r.sender, r.source, "native")] -= r.source_fee
        after[(r.sender, r.source, spent)] -= r.amount_base_units
        if (r.recipient, r.destination, credited) in after:
            after[(r.recipient, r.destination, credited)] += r.amount_base_units
    return after


def balance_mismatches(want: Balances, have: Balances) -> list[str]:
    """One line per (user, chain, holding) whose balance differs from the expectation."""
    problems = []
    for (user, chain, holding), value in sorted(want.items()):
        found = have[(user, chain, holding)]
        if found != value:
            problems.append(f"{user} on {chain} {holding}: expected {value}, found {found} "
                            f"(off by {found - value})")
    return problems


def supply_mismatches(deployment: dict[str, Any]) -> list[str]:
    """Locked in a router for the other chain == what it holds == wrapped supply on the other chain,
    for both assets and both directions."""
    chains, problems = deployment["chains"], []
    for source, destination in ROUTES:
        src, dst = chains[source], chains[destination]
        with SyncEvm(src["rpc"]) as src_evm, SyncEvm(dst["rpc"]) as dst_evm:
            for asset, token, wrapped in (("native", None, dst["wrapped_native"]),
                                          ("token", src["test_token"], dst["wrapped_token"])):
                locked = int(src_evm.call(src["token_router"], "TokenRouter", "lockedFor", dst["chain_id"],
                                          token or "0x" + "00" * 20))
                held = balance_of(src_evm, token, src["token_router"])
                supply = int(dst_evm.call(wrapped, ERC20_ABI, "totalSupply"))
                if not locked == held == supply:
                    problems.append(f"{asset} of {source}: {locked} locked for {destination}, {held} held by the "
                                    f"router, but {supply} wrapped on {destination}")
    return problems


# --------------------------------------------------------------------------- report

def _short(tx: str | None) -> str:
    return f"{tx[:10]}…{tx[-4:]}" if tx else "-"


def table(outcomes: Sequence[Outcome]) -> str:
    """The transfers as a fixed-width table."""
    head = f"{'#':>2}  {'source tx':<15} {'destination tx':<15} {'asset':<14} {'route':<11} " \
           f"{'amount':>8} {'latency s':>9} {'dest gas':>9} {'gas/msg':>8}"
    rows = [head, "-" * len(head)]
    for n, o in enumerate(outcomes, 1):
        r, s = o.result, o.step
        if r is None:
            rows.append(f"{n:>2}  FAILED {s.asset} {s.route} {s.amount}: {o.error}")
            continue
        rows.append(f"{n:>2}  {_short(r.source_tx):<15} {_short(r.destination_tx):<15} {s.asset:<14} "
                    f"{s.route:<11} {s.amount!s:>8} {r.latency_s or 0:>9.2f} "
                    f"{r.destination_gas or 0:>9} {r.per_message_gas or 0:>8}")
    return "\n".join(rows)


def summary(outcomes: Sequence[Outcome], balance_problems: list[str], supply_problems: list[str],
            checks: int, trace_problems: Sequence[str] | None = None,
            litecoin_problems: Sequence[str] | None = None) -> str:
    """The one-line verdict; ``trace_problems`` None when the traceability record was not run,
    ``litecoin_problems`` None when the Litecoin round trip was not run."""
    delivered = [o.result for o in outcomes if o.result is not None]
    latencies = [r.latency_s for r in delivered if r.latency_s is not None]
    per_msg = [r.per_message_gas for r in delivered if r.per_message_gas]
    ok = len(delivered) == len(outcomes) and not balance_problems and not supply_problems and not trace_problems \
        and not litecoin_problems
    trace = "" if trace_problems is None else (", traceability record FAILED" if trace_problems
                                               else ", traceability record mirrored with its origin")
    if litecoin_problems is not None:
        trace += (", Litecoin round trip FAILED" if litecoin_problems
                  else ", Litecoin round trip exact (1 LTC minted, 0.5 released)")
    return (f"demo {'PASSED' if ok else 'FAILED'}: {len(delivered)}/{len(outcomes)} transfers delivered, "
            f"{checks - len(balance_problems)}/{checks} balances exact, "
            f"{4 - len(supply_problems)}/4 locked==wrapped checks{trace}"
            + (f", median latency {statistics.median(latencies):.2f} s" if latencies else "")
            + (f", mean gas/message {statistics.mean(per_msg):,.0f}" if per_msg else ""))


# --------------------------------------------------------------------------- main

def prepare_dir(dir: Path) -> None:
    """Stop and remove a previous demo devnet in ``dir``.

    Raises UsageError when ``dir`` exists, is not empty and holds no devnet (never deletes that).
    """
    if not dir.exists():
        return
    if not (dir / "deployment.json").exists() and any(dir.iterdir()):
        raise UsageError(f"{dir} exists and is not a devnet folder; choose another --dir")
    network.down(dir)
    shutil.rmtree(dir)


def run_demo(dir: Path, timeout: float = 120.0) -> bool:
    """Run the transfers and checks on an already running devnet; True when all passed."""
    deployment = network.load_deployment(dir)
    before = snapshot(deployment)
    outcomes: list[Outcome] = []
    for number, wave in enumerate(waves(), 1):
        print(f"wave {number}: {len(wave)} transfers ({', '.join(sorted({s.asset for s in wave}))})",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        outcomes += run_wave(dir, wave, timeout, progress)
        print(f"wave {number} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    results = [o.result for o in outcomes if o.result is not None]
    (dir / "demo-results.json").write_text(json.dumps([r.to_json() for r in results], indent=2))
    want, have = expected(before, results), snapshot(deployment)
    balance_problems, supply_problems = balance_mismatches(want, have), supply_mismatches(deployment)
    print(table(outcomes), flush=True)
    for problem in balance_problems + supply_problems:
        print(f"MISMATCH {problem}")
    trace_problems = trace_batch(deployment, timeout, report=_stdout)  # after the balance snapshot: it costs gas
    for problem in trace_problems:
        print(f"TRACEABILITY {problem}")
    litecoin_problems = None
    if LITECOIN in deployment["chains"]:
        litecoin_problems = demo_litecoin.round_trip(dir, deployment, timeout, _stdout)
        for problem in litecoin_problems:
            print(f"LITECOIN {problem}")
    else:
        print("Litecoin round trip not run: litecoind is not installed (make setup installs it as root; "
              "otherwise: apt-get install litecoind)", flush=True)
    print(summary(outcomes, balance_problems, supply_problems, len(want), trace_problems, litecoin_problems),
          flush=True)
    return len(results) == len(outcomes) and not balance_problems and not supply_problems and not trace_problems \
        and not litecoin_problems


def _stdout(line: str) -> None:
    print(line, flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m relayer.devnet.demo``; 0 when everything passed, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m relayer.devnet.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(".devnet/demo"), help="devnet folder (recreated)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each delivery")
    args = parser.parse_args(argv)
    dir = args.dir.resolve()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (a background job)
    try:
        prepare_dir(dir)
        devnet_up(dir, detach=True, with_litecoin=shutil.which("litecoind") is not None)
        return 0 if run_demo(dir, args.timeout) else 1
    except RelayerError as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
    finally:
        print("tearing the devnet down ...", file=sys.stderr, flush=True)
        devnet_down(dir)


if __name__ == "__main__":
    raise SystemExit(main())
