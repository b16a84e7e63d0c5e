"""Fault points: the quick subset of the fault matrix (``make faults`` runs the full one).

For each named fault point, one trial on a shared devnet with the harness of
``bench/faults.py``: one operator armed with ``RELAYER_FAULT=<point>``, waves of messages
(both directions: TokenRouter transfers, plain messages to a recording and a reverting
recipient, messages of an app asking for acknowledgements, some expiring) sent without waiting;
the operator dies of SIGKILL at the point (its ``fault.injected`` line names it), is restarted
without the fault, and the chains show every message processed exactly once, every
acknowledgement due processed and handled exactly once, every delivered body recorded once,
refused transfers refunded once, and the recipient holding exactly what was delivered.
Plus the parsing of ``RELAYER_FAULT`` (a typo must never disarm a test silently) and the
judgement of one message against what the chains hold (``bench/fault_checks.py``), which must
see a duplicate or a missing effect.
"""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from relayer.devnet import network
from relayer.faults import POINTS, Fault, parse

REPO = Path(__file__).resolve().parents[2]


def load_bench() -> ModuleType:
    """bench/faults.py as a module (it puts bench/ on sys.path for fault_traffic and fault_checks)."""
    spec = importlib.util.spec_from_file_location("bench_faults", REPO / "bench" / "faults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_faults"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------- RELAYER_FAULT


def test_the_variable_is_parsed() -> None:
    assert parse("") == {}
    assert parse("after-observe") == {"after-observe": Fault(1.0, None)}
    assert parse("after-attest:0.25,during-header-update:1:pause=2.5") == {
        "after-attest": Fault(0.25, None), "during-header-update": Fault(1.0, 2.5)}
    assert parse("after-sign-before-send::pause=3") == {"after-sign-before-send": Fault(1.0, 3.0)}


@pytest.mark.parametrize("spec", ["after-obsrve", "after-observe:2", "after-observe:x", "after-attest:pause=-1",
                                  "after-attest:pause=soon"])
def test_a_bad_variable_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="RELAYER_FAULT"):
        parse(spec)


def test_a_point_kills_or_freezes_the_process() -> None:
    code = "from relayer.faults import fault_point; fault_point('after-observe'); print('survived', flush=True)"
    env = {**os.environ, "RELAYER_FAULT": "after-observe"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9 and '"fault.injected"' in killed.stdout and "survived" not in killed.stdout
    env["RELAYER_FAULT"] = "after-observe:1:pause=1"
    started = time.monotonic()
    paused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert paused.returncode == 0 and "survived" in paused.stdout and '"pause"' in paused.stdout
    assert time.monotonic() - started >= 1.0
    env["RELAYER_FAULT"] = "after-attest"  # another point: nothing happens at this one
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert other.returncode == 0 and "survived" in other.stdout and "fault.injected" not in other.stdout


# ---------------------------------------------------------------------- the judgement of one message


def judged(sent: Any, processed: dict[str, list[int]], *, acks: dict[str, tuple[str, int]] | None = None,
           bodies: int = 0, handled: list[int] | None = None, refunds: int = 0) -> Any:
    load_bench()
    import fault_checks

    verdict = fault_checks.Verdict()
    ack_sends = Counter({sent.message_id: 1} if acks else {})
    fault_checks.judge_message(sent, verdict, processed, acks or {}, ack_sends, Counter({sent.body: bodies}),
                               {sent.body: sent.message_id}, {sent.message_id: handled or []},
                               Counter({sent.message_id: refunds}))
    return verdict


def test_the_judgement_sees_each_effect_once_and_nothing_else() -> None:
    bench = load_bench()
    import fault_traffic as ft

    msg = ft.Sent("alpha", "beta", "app-always", "0xtx", "recorder", ack_mode=ft.ACK_ALWAYS, body=b"b1",
                  message_id="0x01")
    ack = {"0x01": ("0xa1", 7)}
    good = judged(msg, {"0x01": [1], "0xa1": [1]}, acks=ack, bodies=1, handled=[1])
    assert (good.lost, good.acks, good.acks_lost, good.twice, good.mismatches) == (0, 1, 0, 0, [])
    assert judged(msg, {}).lost == 1
    assert judged(msg, {"0x01": [1, 1], "0xa1": [1]}, acks=ack, bodies=1, handled=[1]).twice == 1
    assert judged(msg, {"0x01": [1], "0xa1": [1]}, acks=ack, bodies=2, handled=[1]).twice == 1
    assert judged(msg, {"0x01": [1], "0xa1": [1]}, acks=ack, bodies=1, handled=[1, 1]).twice == 1
    assert judged(msg, {"0x01": [1]}, acks=ack, bodies=1).acks_lost == 1
    assert judged(msg, {"0x01": [1], "0xa1": [1]}, acks=ack, bodies=0, handled=[1]).mismatches
    assert judged(msg, {"0x01": [3], "0xa1": [1]}, acks=ack, handled=[3]).mismatches  # no expiry: may not expire
    late = ft.Sent("alpha", "beta", "transfer", "0xtx", "router", ack_mode=ft.ACK_ON_FAILURE, expiry=10**9,
                   message_id="0x02", asset="native", amount=5)
    refunded = judged(late, {"0x02": [3], "0xa2": [1]}, acks={"0x02": ("0xa2", 8)}, refunds=1)
    assert (refunded.twice, refunded.mismatches, refunded.outcomes["expired"]) == (0, [], 1)
    assert judged(late, {"0x02": [3], "0xa2": [1]}, acks={"0x02": ("0xa2", 8)}, refunds=2).twice == 1
    assert judged(late, {"0x02": [1]}, refunds=1).mismatches  # delivered and refunded
    assert bench.messages_carried("0x" + bench.LAYER.encode_call("deliverBatch", 1, b"", [b"a", b"b"]).hex()) == 2


# ---------------------------------------------------------------------- one crash per point


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    bench = load_bench()
    root = tmp_path_factory.mktemp("faultnet")
    network.up(root, report=lambda line: None)
    m = bench.Matrix(root, random.Random(20240611), report=lambda line: None, min_messages=9,
                     max_waves=12, lost_timeout=90.0)
    try:
        m.prepare()
        yield m
    finally:
        m.close()
        network.down(root, report=lambda line: None)


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_the_point_loses_nothing_and_delivers_nothing_twice(matrix: Any, point: str) -> None:
    index = POINTS.index(point) + 1
    operator = index % 3 + 1
    trial = matrix.trial(index, point, operator, 1.0)
    if not trial.crashed and trial.exit == "":  # never designated for any of the trial's blocks: once more
        trial = matrix.trial(index, point, operator % 3 + 1, 1.0)
    assert trial.crashed, f"operator-{trial.operator} did not die at {point}: exit {trial.exit or 'none'}"
    assert trial.exit == "SIGKILL"
    assert len(trial.messages) >= 9
    assert trial.lost == 0 and trial.acks_lost == 0, [s.message_id for s in trial.messages if s.done_at is None]
    assert trial.twice == 0, trial.doubles
    assert not trial.mismatches, trial.mismatches
    assert not trial.invariant, trial.invariant
    assert trial.recovered, f"operator-{trial.operator} did not become healthy after the restart"
    assert trial.recovery_s is not None and trial.recovery_s < 60


@pytest.mark.slow
def test_a_sole_submitter_replays_its_own_journal(matrix: Any) -> None:
    """Operators 2 and 3 attest but never send: operator-1, killed between signing and sending,
    must deliver every message itself after its restart."""
    for other in (2, 3):
        matrix.set_submitting(other, False)
    try:
        trial = matrix.trial(99, "after-sign-before-send", 1, 1.0, sole=True)
    finally:
        for other in (2, 3):
            matrix.set_submitting(other, True)
    assert trial.crashed and trial.exit == "SIGKILL"
    assert trial.lost == 0 and trial.acks_lost == 0 and trial.twice == 0, trial.doubles
    assert not trial.mismatches and not trial.invariant, (trial.mismatches, trial.invariant)
    assert dict(trial.deliverers) == {"operator-1": len(trial.messages) + trial.acks}, trial.deliverers
    assert trial.foreign == 0
