"""Store calls from trio tasks that do not hold up the event loop on a PostgreSQL store.

A SQLite call is a sub-millisecond local read or write and runs in place, as it always did. A
PostgreSQL call is one or more network round trips (and up to store_postgres.POOL_TIMEOUT while
the server is away), so it runs in a worker thread (``trio.to_thread``), at most ``pool_size``
at a time per store (a CapacityLimiter: as many threads as the pool has connections). Used for
the calls of the follower's scan loop and the submitter's round; the chain families' Destination
calls the journal synchronously (a plain Store method, see relayer.contract).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

import trio

from relayer.store import Store

T = TypeVar("T")
_LIMITERS: WeakKeyDictionary[Store, trio.CapacityLimiter] = WeakKeyDictionary()


async def offload(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, a call of ``store``: in place on SQLite, in a worker thread on PostgreSQL.
    Raises what ``fn`` raises (StoreError). Cancelled while in a thread: waits for the call to finish
    (a store call is never left half-done), then raises Cancelled."""
    if store.backend == "sqlite":
        return fn(*args, **kwargs)
    limiter = _LIMITERS.get(store)
    if limiter is None:
        limiter = _LIMITERS[store] = trio.CapacityLimiter(store.pool_size)
    return await trio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)
