"""Leases with fencing on a real PostgreSQL server: one holder per unit, takeover after expiry or at
once from a dead process, renewals, self-fencing, and the journal refused with a stale token in the
same transaction (relayer.leases, relayer.store)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest
import structlog
import trio

from relayer.errors import LeaseLost, StoreError
from relayer.leases import Holder, Leases
from relayer.metrics import Metrics
from relayer.store import JournalTx, Store


def tx(nonce: int) -> JournalTx:
    return JournalTx(f"0x{nonce:064x}", "beta", nonce, "0xraw", "signed", (), 1.0)


def test_one_holder_at_a_time_and_a_takeover_after_expiry(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        first = a.acquire_lease("submitter:beta", "A", "h", 1, now=100.0, ttl=10.0)
        assert first is not None and first.token == 1 and first.holder == "A"
        assert b.acquire_lease("submitter:beta", "B", "h", 2, now=105.0, ttl=10.0) is None
        assert a.renew_lease("submitter:beta", "A", 1, now=108.0, ttl=10.0)
        assert b.acquire_lease("submitter:beta", "B", "h", 2, now=117.0, ttl=10.0) is None  # renewed to 118
        second = b.acquire_lease("submitter:beta", "B", "h", 2, now=118.5, ttl=10.0)
        assert second is not None and second.token == 2 and second.holder == "B" and second.since == 118.5
        assert not a.renew_lease("submitter:beta", "A", 1, now=119.0, ttl=10.0)
        dead = a.acquire_lease("submitter:beta", "C", "h", 3, now=120.0, ttl=10.0, take_from=2)
        assert dead is not None and dead.token == 3  # B's process is dead: taken at once
        assert [r.name for r in a.leases()] == ["submitter:beta"]
    finally:
        a.close()
        b.close()


def test_a_stale_token_is_refused_in_the_journal_transaction(pg_url: str) -> None:
    old, new = Store(pg_url), Store(pg_url)
    try:
        held = old.acquire_lease("submitter:beta", "A", "h", 1, now=0.0, ttl=5.0)
        assert held is not None
        old.hold_fence("submitter:beta", held.token)
        old.journal_signed(tx(0), now=1.0)
        taken = new.acquire_lease("submitter:beta", "B", "h", 2, now=10.0, ttl=5.0)
        assert taken is not None and taken.token == held.token + 1
        new.hold_fence("submitter:beta", taken.token)
        with pytest.raises(LeaseLost, match="another process took it over"):
            old.journal_signed(tx(1), now=11.0)
        with pytest.raises(LeaseLost):
            old.journal_replacement(tx(0))
        assert [t.nonce for t in new.open_txs("beta")] == [0]  # nothing of the stale holder's was written
        new.journal_signed(tx(1), now=12.0)
        assert [t.nonce for t in new.open_txs("beta")] == [0, 1]
    finally:
        old.close()
        new.close()


def _leases(store: Store, ttl: float, name: str) -> Leases:
    return Leases(store, ttl, Metrics(), Holder(name, "test-host", os.getpid()))


async def test_the_standby_takes_over_when_the_holder_stops_renewing(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    leases_a, leases_b = _leases(a, 2.0, "A"), _leases(b, 2.0, "B")
    ran: list[tuple[str, float]] = []
    with structlog.testing.capture_logs() as events:
        async with trio.open_nursery() as nursery:
            async def work(who: str) -> None:
                ran.append((who, trio.current_time()))
                await trio.sleep_forever()

            scope_a = trio.CancelScope()

            async def run_a() -> None:
                with scope_a:
                    await leases_a.exclusive("submitter:beta", lambda: work("A"))

            nursery.start_soon(run_a)
            await trio.sleep(0.5)
            nursery.start_soon(leases_b.exclusive, "submitter:beta", lambda: work("B"))
            await trio.sleep(2.0)
            assert [w for w, _ in ran] == ["A"]  # B stands by while A renews
            # A stops renewing without releasing (as a paused process would): its renewals fail
            leases_a.store = _Unanswering(a)  # type: ignore[assignment]
            stopped = trio.current_time()
            while len(ran) < 2:
                await trio.sleep(0.1)
            assert ran[1][0] == "B" and ran[1][1] - stopped <= 2.0 + 1.5
            nursery.cancel_scope.cancel()
    names = [e["event"] for e in events]
    assert "lease.self_fenced" in names and "lease.taken_over" in names
    assert names.index("lease.self_fenced") < names.index("lease.taken_over")
    a.close()
    b.close()


class _Unanswering:
    """A store whose lease renewals never answer in time (a database unreachable from this process)."""

    def __init__(self, store: Store) -> None:
        self.inner = store

    def renew_lease(self, *args: Any, **kwargs: Any) -> bool:
        time.sleep(5)
        return True

    def acquire_lease(self, *args: Any, **kwargs: Any) -> None:
        raise StoreError("state database read failed: connection refused")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_status_shows_who_holds_which_lease(pg_url: str) -> None:
    from relayer.status import render

    store = Store(pg_url)
    try:
        store.acquire_lease("submitter:beta", "host-a:41:ab", "host-a", 41, now=1_700_000_000.0, ttl=15.0)
        store.acquire_lease("follower:alpha", "host-b:7:cd", "host-b", 7, now=1_700_000_000.0, ttl=15.0)
        rows = [r.describe(now=1_700_000_005.0) for r in store.leases()]
    finally:
        store.close()
    assert rows[1] == {"lease": "submitter:beta", "holder": "host-a:41:ab", "host": "host-a", "pid": 41, "token": 1,
                       "since": 1_700_000_000.0, "renewed_at": 1_700_000_000.0, "renewals": 0, "expires_in_s": 10.0,
                       "live": True}
    text = render({"operator": "operator-1", "routes": [], "chains": {}, "pending_transactions": [], "leases": rows})
    assert "submitter:beta               1  host-a:41:ab (host-a, 41, 2023-11-14 22:13:20Z)" in text, text


async def test_metrics_count_holdings_and_renewals(pg_url: str) -> None:
    store = Store(pg_url)
    leases = _leases(store, 2.0, "A")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(leases.exclusive, "follower:alpha", trio.sleep_forever)
            await trio.sleep(1.3)
            assert leases.metrics.lease_held.labels("follower:alpha")._value.get() == 1
            assert leases.metrics.lease_acquired.labels("follower:alpha", "free")._value.get() == 1
            assert leases.metrics.lease_renewals.labels("follower:alpha")._value.get() >= 2
            nursery.cancel_scope.cancel()
        row = store.lease("follower:alpha")
        assert row is not None and row.expires_at == 0  # released at the stop: the next holder need not wait
    finally:
        store.close()


def test_sqlite_runs_the_work_without_leases(tmp_path: Any) -> None:
    store = Store(tmp_path / "relayer.db")
    leases = _leases(store, 2.0, "A")
    ran: list[bool] = []

    async def work() -> None:
        ran.append(True)

    trio.run(leases.exclusive, "submitter:beta", work)
    assert ran == [True] and store.leases() == [] and not leases.enabled
    store.close()


def test_a_dead_or_zombie_process_is_not_alive() -> None:
    from relayer.leases import _alive

    child = subprocess.Popen(["sleep", "30"])
    try:
        assert _alive(child.pid) and _alive(os.getpid())
        child.kill()
        deadline = time.monotonic() + 5
        while _alive(child.pid) and time.monotonic() < deadline:  # killed, not yet reaped: a zombie
            time.sleep(0.05)
        assert not _alive(child.pid)
    finally:
        child.wait()
    assert not _alive(child.pid)
