"""Leases with fencing: which process of an operator's fleet does a unit of exclusive work.

A unit (``submitter:CHAIN`` owns the key and nonce on a destination, ``follower:CHAIN`` scans a
source) is done by the process holding its lease row (relayer.store, table ``leases``): holder,
host, pid, ``since``, ``expires_at`` and a fencing ``token`` that grows by one at every change of
holder. The holder renews every ``ttl/4``; another process takes the lease over once it expired
(or at once when the holder is a dead process on the same host). The store checks the token in
the same transaction as every journal write and scan of the unit (Store.hold_fence), so a process
that lost its lease cannot journal, hence cannot sign and send, anything more.

Self-fencing: a holder that has not renewed within ``renew_deadline`` (2/3 of the ttl after its
last successful renewal began, measured on trio's monotonic clock) stops the unit's work at once
(``lease.self_fenced``), a third of the ttl before any other process can take the lease: the two
never work at once unless the hosts' clocks disagree by more than that.

With the SQLite store (one process per operator) there are no leases: ``Leases.exclusive`` runs
the work at once, as before fleet mode.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import trio

from relayer.errors import LeaseLost, StoreError
from relayer.metrics import Metrics
from relayer.store import LeaseRow, Store
from relayer.store_async import offload

log = structlog.get_logger("relayer.leases")


@dataclass(frozen=True)
class Holder:
    """This process as lease rows name it."""

    id: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Holder:
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{host}:{pid}:{secrets.token_hex(4)}", host, pid)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: taken for alive, the lease then moves at its expiry
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


class Leases:
    """The leases of one process. ``exclusive(name, work)`` runs ``work`` only while holding ``name``."""

    def __init__(self, store: Store, ttl: float, metrics: Metrics, holder: Holder | None = None) -> None:
        self.store = store
        self.ttl = ttl
        self.metrics = metrics
        self.holder = holder or Holder.this_process()
        self.enabled = store.backend != "sqlite"

    @property
    def renew_every(self) -> float:
        return self.ttl / 4

    @property
    def renew_deadline(self) -> float:
        """Seconds after a successful renewal began within which the next one must succeed."""
        return self.ttl * 2 / 3

    async def exclusive(self, name: str, work: Callable[[], Awaitable[None]],
                        on_standby: Callable[[LeaseRow | None], None] | None = None) -> None:
        """Run ``work`` while this process holds lease ``name``; wait as a standby while another
        does. Losing the lease (another holder, or no renewal within the deadline) cancels ``work``
        and goes back to waiting. Returns when ``work`` returns. Raises StoreError. Cancelled: the
        lease is released (expires at once) so that another process takes over without waiting."""
        if not self.enabled:
            await work()
            return
        while True:
            row = await self._acquire(name, on_standby)
            done = await self._hold(name, row, work)
            if done:
                return

    async def _acquire(self, name: str, on_standby: Callable[[LeaseRow | None], None] | None) -> LeaseRow:
        waiting_logged = False
        while True:
            try:
                current = await offload(self.store, self.store.lease, name)
                dead = current is not None and current.host == self.holder.host and not _alive(current.pid)
                take_from = current.token if current is not None and dead else None
                got = await offload(self.store, self.store.acquire_lease, name, self.holder.id, self.holder.host,
                                    self.holder.pid, now=time.time(), ttl=self.ttl, take_from=take_from)
            except StoreError as exc:  # the database is away (a restart, a failover): try again
                log.warning("lease.acquire_failed", lease=name, error=str(exc))
                await trio.sleep(min(self.renew_every, 1.0))
                continue
            if got is not None:
                taken = current is not None and current.holder != self.holder.id
                self.metrics.lease_held.labels(name).set(1)
                self.metrics.lease_acquired.labels(name, "takeover" if taken else "free").inc()
                if taken:
                    assert current is not None
                    log.warning("lease.taken_over", lease=name, token=got.token, previous_holder=current.holder,
                                previous_token=current.token, expired=not dead, holder_dead=dead)
                log.info("lease.acquired", lease=name, token=got.token, holder=self.holder.id)
                return got
            if on_standby is not None:
                on_standby(current)
            if not waiting_logged:
                log.info("lease.standby", lease=name, holder=current.holder if current else None,
                         token=current.token if current else None)
                waiting_logged = True
            self.metrics.lease_held.labels(name).set(0)
            await trio.sleep(min(self.renew_every, 1.0))

    async def _hold(self, name: str, row: LeaseRow, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` under the lease; True when it returned, False when the lease was lost."""
        self.store.hold_fence(name, row.token)
        lost: list[str] = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._renew, name, row, nursery.cancel_scope, lost)
                try:
                    await work()
                except LeaseLost as exc:  # a fenced write found another holder first
                    lost.append(str(exc))
                    self.metrics.lease_lost.labels(name).inc()
                    log.error("lease.lost", lease=name, token=row.token, reason=f"a fenced write was refused: {exc}")
                nursery.cancel_scope.cancel()
            return not lost
        finally:
            self.store.drop_fence(name)
            self.metrics.lease_held.labels(name).set(0)
            if not lost:
                self._release(name, row)  # synchronous: done even when cancelled

    async def _renew(self, name: str, row: LeaseRow, scope: trio.CancelScope, lost: list[str]) -> None:
        last_ok = trio.current_time()
        while True:
            await trio.sleep_until(last_ok + self.renew_every)  # renew_every < renew_deadline
            if trio.current_time() >= last_ok + self.renew_deadline:
                return self._self_fence(name, row, scope, lost, last_ok)
            started = trio.current_time()
            with trio.move_on_at(last_ok + self.renew_deadline):
                try:
                    renewed = await trio.to_thread.run_sync(self._renew_once, name, row, abandon_on_cancel=True)
                    # abandoned at the deadline: a renewal that never answers must not hold up self-fencing
                except StoreError as exc:
                    log.warning("lease.renew_failed", lease=name, token=row.token, error=str(exc))
                    await trio.sleep_until(last_ok + self.renew_deadline)
                    continue
                if not renewed:
                    lost.append("another process holds it")
                    self.metrics.lease_lost.labels(name).inc()
                    log.error("lease.lost", lease=name, token=row.token,
                              reason="taken over: the renewal found another holder")
                    scope.cancel()
                    return
                last_ok = started
                self.metrics.lease_renewals.labels(name).inc()
                log.debug("lease.renewed", lease=name, token=row.token)
                continue
            # the renewal did not answer before the deadline
            return self._self_fence(name, row, scope, lost, last_ok)

    def _renew_once(self, name: str, row: LeaseRow) -> bool:
        return self.store.renew_lease(name, self.holder.id, row.token, now=time.time(), ttl=self.ttl)

    def _self_fence(self, name: str, row: LeaseRow, scope: trio.CancelScope, lost: list[str], last_ok: float) -> None:
        lost.append("no renewal within the deadline")
        self.metrics.lease_self_fenced.labels(name).inc()
        log.error("lease.self_fenced", lease=name, token=row.token,
                  since_renewal_s=round(trio.current_time() - last_ok, 1),
                  deadline_s=round(self.renew_deadline, 1), ttl_s=self.ttl,
                  action="the state database did not answer in time: this process stopped the work of the lease "
                         "before it can expire; it takes it again (or another process does) once the database answers")
        scope.cancel()

    def _release(self, name: str, row: LeaseRow) -> None:
        try:
            self.store.release_lease(name, self.holder.id, row.token)
            log.info("lease.released", lease=name, token=row.token)
        except StoreError as exc:
            log.warning("lease.release_failed", lease=name, error=str(exc))

    def rows(self) -> list[dict[str, Any]]:
        """Every lease row of the operator (relayer status)."""
        return [r.describe() for r in self.store.leases()]
