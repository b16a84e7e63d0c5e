"""The committee a route's on-chain ``CommitteeLightClient`` trusts, against the configured one.

At start every committee route's light client is read (epoch, members, threshold) and compared
with ``[committee]``; a difference is a ``ConfigError`` naming the key (exit 2), so an operator
who missed a rotation learns it before anything is signed. While the daemon runs, a rotation
on-chain is followed (``follow_rotations``).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
import trio

from adapters.evm.adapter import EvmAdapter
from relayer.attester import Attester
from relayer.config import Config
from relayer.errors import ConfigError, ContractRevert, RetryableError
from relayer.routes import Route
from relayer.store import Store

log = structlog.get_logger("relayer.committee")


@dataclass(frozen=True)
class OnChainCommittee:
    """What a ``CommitteeLightClient`` holds now."""

    epoch: int
    members: tuple[str, ...]  # checksummed, ascending as the contract keeps them
    threshold: int


def check_configured(config: Config, src: str, dst: str, light_client: str, chain: OnChainCommittee) -> None:
    """Raise ConfigError (key ``committee.threshold``, ``committee.members`` or ``committee.epoch``)
    when the configured committee is not the one the light client of ``src`` on ``dst`` trusts."""
    committee = config.committee
    where = f"the light client of {src} on {dst} ({light_client})"
    problems: list[tuple[str, str]] = []
    configured = {m.address.lower() for m in committee.members}
    on_chain = {a.lower() for a in chain.members}
    missing = [a for a in chain.members if a.lower() not in configured]
    extra = [f"{m.name} ({m.address})" for m in committee.members if m.address.lower() not in on_chain]
    if missing or extra:
        parts = ([f"it trusts {', '.join(missing)}, which no [[committee.members]] names"] if missing else []) \
            + ([f"it does not trust {', '.join(extra)}"] if extra else [])
        problems.append(("committee.members", f"differ from {where} at epoch {chain.epoch}: " + "; ".join(parts)
                         + "; list the on-chain committee (a rotation happened?)"))
    if committee.threshold != chain.threshold:
        problems.append(("committee.threshold", f"is {committee.threshold} but {where} requires {chain.threshold}; "
                         f"set threshold = {chain.threshold}"))
    if committee.epoch is not None and committee.epoch != chain.epoch:
        problems.append(("committee.epoch", f"is {committee.epoch} but {where} is at epoch {chain.epoch}; "
                         f"set epoch = {chain.epoch} once the committee listed matches it"))
    if problems:
        key, message = problems[0]
        more = "".join(f"; also {k}: {m}" for k, m in problems[1:])
        raise ConfigError(key, message + more, file=str(config.path))


WATCH_SECONDS = 5.0  # how often each committee route's light client is read for a rotation


async def follow_rotations(routes: list[Route], adapters: dict[str, EvmAdapter], attester: Attester,
                           store: Store, *, interval: float = WATCH_SECONDS) -> None:
    """Follow committee rotations on-chain without a restart: every ``interval`` s read each route's
    light client; on a new epoch update the route's live committee (what the collector asks for and
    the follower signs with), re-sign the headers of the route's open messages for the new epoch,
    and say so (``rotation.followed``; ``rotation.rotated_out`` when this operator is no member any
    more). RPC failures are logged and retried next round; cancellation stops it between reads."""
    while True:
        await trio.sleep(interval)
        for route in routes:
            try:
                epoch, members, threshold = await adapters[route.dst].committee(route.light_client)
            except (RetryableError, ContractRevert) as exc:
                log.warning("rotation.check_failed", route=route.name, error=str(exc))
                continue
            live = route.committee
            if live is None or epoch == live.epoch:
                continue
            live.epoch, live.members, live.threshold = epoch, tuple(members), threshold
            _rotated(route, attester, store)


def _rotated(route: Route, attester: Attester, store: Store) -> None:
    live = route.committee
    assert live is not None
    if not live.has(attester.address):
        log.error("rotation.rotated_out", route=route.name, epoch=live.epoch, members=list(live.members),
                  threshold=live.threshold, alarm=True,
                  action=f"the light client of {route.src} on {route.dst} no longer counts this operator's "
                         "signature: it stops signing for this route; remove it from the route or have the "
                         "committee rotate it back in, and update [committee] in the configuration")
        return
    numbers = sorted({m.block_number for m in store.open_messages(route.dst) if m.src_chain == route.src})
    for number in numbers:
        header = store.header(route.src, number)
        if header is not None:
            store.add_attestation(attester.attest(route, number, bytes.fromhex(header.hash[2:]),
                                                  bytes.fromhex(header.receipts_root[2:])))
    log.warning("rotation.followed", route=route.name, epoch=live.epoch, members=list(live.members),
                threshold=live.threshold, resigned=len(numbers),
                action="update [committee] in the configuration before the next restart")
