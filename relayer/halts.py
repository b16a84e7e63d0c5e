"""Halts of relaying from a source chain, as the daemon sees them.

A chain is halted while the state database holds an open evidence row for it (a reorg below
finality, conflicting sealed headers). ``relayer evidence resolve`` adds the row's resolution,
which releases it. The store is the one place both read, so a resolution written while the
daemon runs releases the halt within ``POLL_SECONDS`` (the follower is rebuilt from the stored
state, the submitter stops holding the chain's messages at its next step), and evidence still
open when the daemon starts halts the follower before it reads a block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio

from relayer.metrics import Metrics
from relayer.store import Store

POLL_SECONDS = 1.0


def open_evidence(store: Store, chain: str) -> list[dict[str, Any]]:
    """The unresolved evidence rows that halt ``chain``, oldest first. Raises StoreError."""
    return [e for e in store.evidence() if e["chain"] == chain]


def describe(evidence: list[dict[str, Any]]) -> str:
    """One line naming the open evidence rows, e.g. ``evidence 3 (reorg-below-finality at block 41)``."""
    return "; ".join(f"evidence {e['id']} ({e['kind']} at block {e['number']})" for e in evidence)


def refresh_gauge(metrics: Metrics, store: Store, chains: Iterable[str], halted_services: Iterable[str]) -> None:
    """Set ``relayer_misbehaviour_detected`` of each chain: 1 while open evidence halts it or its
    follower is halted by a fatal verification error, else 0. Raises StoreError."""
    halted = {e["chain"] for e in store.evidence()} | {s.split(":", 1)[1] for s in halted_services
                                                        if s.startswith("follower:")}
    for name in chains:
        metrics.misbehaviour.labels(name).set(1 if name in halted else 0)


async def wait_released(store: Store, chain: str, poll: float = POLL_SECONDS) -> list[dict[str, Any]]:
    """Return, once no open evidence names ``chain``, the resolutions of the rows that did (the
    newest first). Cancellable at every poll; raises StoreError."""
    held = {e["id"] for e in open_evidence(store, chain)}
    while open_evidence(store, chain):
        await trio.sleep(poll)
    resolved = [e for e in store.evidence(include_resolved=True) if e["id"] in held]
    return sorted(resolved, key=lambda e: -e["id"])
