"""The committee a route's on-chain client trusts, against the configured one.

At start the update policy of every route whose destination counts the operators' own signatures
reads the committee (epoch, members, threshold) and has it compared with ``[committee]``
(``PolicyHost.check_committee``); a difference is a ``ConfigError`` naming the key (exit 2), so an
operator who missed a rotation learns it before anything is signed. While the daemon runs, the
policy follows a rotation on-chain (``UpdatePolicy.watch``).
"""

from __future__ import annotations

from dataclasses import dataclass

from relayer.config import Config
from relayer.errors import ConfigError


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
