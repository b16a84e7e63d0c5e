"""relayer.devnet.demo: the plan of transfers, the balance arithmetic, the report, the teardown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from relayer.devnet import demo, demo_litecoin, network
from relayer.devnet.litecoin_burn import BurnResult
from relayer.devnet.transfer import TransferResult
from relayer.errors import UsageError

ALICE, BOB = "0x" + "a" * 40, "0x" + "b" * 40


def test_plan_covers_both_directions_and_all_assets_safely() -> None:
    waves = demo.waves()
    steps = [s for wave in waves for s in wave]
    assert len(steps) >= 12
    assert {(s.route, s.asset) for s in steps} == {
        (r, a) for r in ("alpha->beta", "beta->alpha") for a in ("native", "token", "wrapped-native", "wrapped-token")}
    for wave in waves:  # concurrent steps never share a sender account on one chain (nonces)
        assert max(Counter((s.user, s.source) for s in wave).values()) == 1
    first_burn = next(i for i, w in enumerate(waves) if any(s.asset.startswith("wrapped") for s in w))
    assert all(not s.asset.startswith("wrapped") for w in waves[:first_burn] for s in w)


def _result(asset: str, source: str, destination: str, amount: int, fee: int) -> TransferResult:
    return TransferResult(source_tx="0x01", destination_tx="0x02", message_id="0x03", nonce=1, latency_s=1.0,
                          destination_gas=100, per_message_gas=50, source=source, destination=destination,
                          asset=asset, amount=Decimal(amount), amount_base_units=amount, sender=ALICE,
                          recipient=BOB, source_fee=fee)


def test_expected_balances_move_amounts_and_charge_gas() -> None:
    before = {(who, chain, holding): 1000 for who in (ALICE, BOB) for chain in ("alpha", "beta")
              for holding in demo.HOLDINGS}
    after = demo.expected(before, [_result("native", "alpha", "beta", 10, 3),
                                   _result("wrapped-token", "beta", "alpha", 7, 2)])
    assert after[(ALICE, "alpha", "native")] == 1000 - 10 - 3
    assert after[(BOB, "beta", "wrapped_native")] == 1010
    assert after[(ALICE, "beta", "native")] == 998 and after[(ALICE, "beta", "wrapped_token")] == 993
    assert after[(BOB, "alpha", "test_token")] == 1007
    changed = {k for k in before if before[k] != after[k]}
    assert len(changed) == 5
    problems = demo.balance_mismatches(after, {**after, (BOB, "alpha", "test_token"): 1006})
    assert problems == [f"{BOB} on alpha test_token: expected 1007, found 1006 (off by -1)"]


def test_report_marks_failures() -> None:
    step = demo.Step("alpha", "beta", "native", Decimal("1.5"), 0)
    ok = demo.Outcome(step, _result("native", "alpha", "beta", 1, 1))
    failed = demo.Outcome(step, None, "message not delivered within 120 s")
    assert "FAILED native alpha->beta 1.5: message not delivered" in demo.table([ok, failed])
    assert demo.summary([ok], [], [], 24).startswith("demo PASSED: 1/1 transfers delivered, 24/24")
    assert demo.summary([ok, failed], [], [], 24).startswith("demo FAILED: 1/2")
    assert demo.summary([ok], ["x"], [], 24).startswith("demo FAILED")
    assert "24/24 balances exact, 4/4 locked==wrapped checks, traceability record mirrored with its origin" in \
        demo.summary([ok], [], [], 24, [])
    assert demo.summary([ok], [], [], 24, ["did not arrive"]).startswith("demo FAILED")


def test_prepare_dir_never_deletes_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError):
        demo.prepare_dir(tmp_path)
    assert (tmp_path / "precious.txt").exists()
    stale = tmp_path / "stale"
    stale.mkdir()
    network.save_deployment(stale, {"operators": [], "anvil": {"alpha": {"pid": None, "port": 1}}})
    demo.prepare_dir(stale)
    assert not stale.exists()


@pytest.mark.slow
def test_interrupted_demo_tears_the_devnet_down(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process = subprocess.Popen([sys.executable, "-m", "relayer.devnet.demo", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("wave 1"):
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
    deployment = json.loads((folder / "deployment.json").read_text())
    assert not network.running_pids(deployment)


def _release(**changes: object) -> BurnResult:
    fields: dict[str, Any] = dict(
        source="alpha", destination="litecoin", sender=ALICE, recipient="rltc1q", amount=50_000_000,
        amount_ltc="0.5", message_id="0x" + "ab" * 32, nonce=1, burn_nonce=1, burn_tx="0x01", burn_block=1,
        burn_gas=90_000, source_fee_wei=1, release_txid="cd" * 32, release_block=5, confirmations=3,
        paid=49_997_640, fee=2_360, fee_rate="10.00", max_fee_rate=100, vsize=236, recipient_balance=49_997_640)
    fields.update(changes)
    return BurnResult(**fields)


def test_the_litecoin_release_must_pay_exactly_the_burn_less_a_bounded_fee() -> None:
    assert demo_litecoin.release_problems(_release()) == []
    assert "holds 49997641" in demo_litecoin.release_problems(_release(recipient_balance=49_997_641))[0]
    assert "pays 49997000" in demo_litecoin.release_problems(_release(paid=49_997_000))[0]
    too_dear = _release(fee=23_601, paid=50_000_000 - 23_601, recipient_balance=50_000_000 - 23_601)
    assert demo_litecoin.release_problems(too_dear) == [
        "fee 23601 litoshis outside (0, 23600] (max_fee_rate 100 x vsize 236)"]
    assert "not waited for" in demo_litecoin.release_problems(_release(fee=None))[0]
    ok = demo.Outcome(demo.Step("alpha", "beta", "native", Decimal(1), 0), _result("native", "alpha", "beta", 1, 1))
    assert "Litecoin round trip exact (1 LTC minted, 0.5 released)" in demo.summary([ok], [], [], 24, [], [])
    assert demo.summary([ok], [], [], 24, [], ["x"]).startswith("demo FAILED")
