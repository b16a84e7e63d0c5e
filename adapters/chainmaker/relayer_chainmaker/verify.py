"""Verify one ChainMaker block against a trusted configuration: the checks in order, one verdict.

Order: block hash, proposer (certificate and signature), TBFT quorum certificate, then, where the
block carries them, its DAG and its transactions (``tx_root``). A block without a quorum
certificate is refused; one without transactions or DAG is judged on its header and certificate,
and the verdict says what was not checked (``rw_set_root`` never is: a served block has no
read-write sets).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import structlog

from relayer.errors import VerificationError
from relayer_chainmaker.block import Digest, check_block_hash, check_proposer
from relayer_chainmaker.blockinfo import ChainMakerBlock
from relayer_chainmaker.certs import TrustRoots
from relayer_chainmaker.node_id import format_node_id
from relayer_chainmaker.qc import check_qc, quorum
from relayer_chainmaker.txroot import check_dag_hash, check_tx_root

log = structlog.get_logger("relayer_chainmaker")


@dataclass(frozen=True)
class Trust:
    """What a block is judged against: the consensus node ids (multihash bytes), the orgs' CA
    certificates and the chain's hash."""

    nodes: frozenset[bytes]
    roots: TrustRoots
    digest: Digest
    hash_type: str = "SHA256"


@dataclass(frozen=True)
class Verdict:
    """The outcome for one block: ``reason`` is None when valid."""

    number: int
    hash: bytes
    reason: str | None
    signers: tuple[bytes, ...] = ()
    quorum: int = 0
    proposer: str | None = None
    warnings: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.reason is None

    def to_json(self, nodes: Collection[bytes]) -> dict[str, object]:
        """The verdict as ``relayer header verify`` prints it (node ids as text, hashes in hex)."""
        return {
            "number": self.number, "hash": self.hash.hex(), "valid": self.valid,
            "signers": [format_node_id(s) for s in self.signers],
            "validators": sorted(format_node_id(n) for n in nodes), "quorum": self.quorum,
            "proposer": self.proposer, "warnings": list(self.warnings), "unchecked": list(self.unchecked),
        } | ({} if self.reason is None else {"reason": self.reason})


def judge(block: ChainMakerBlock, trust: Trust) -> Verdict:
    """The verdict on ``block`` (never raises VerificationError: a refusal is a verdict). Logs one
    warning line per org whose CA is not configured (``chainmaker.ca_not_configured``)."""
    header = block.header
    need = quorum(len(trust.nodes))
    proposer = header["proposer"]["org_id"] if header["proposer"] else None
    base = Verdict(block.number, header["block_hash"], None, quorum=need, proposer=proposer)
    warnings: list[str] = []
    try:
        check_block_hash(header, trust.digest)
        proposer_warning = check_proposer(header, trust.digest, trust.roots)
        warnings += [] if proposer_warning is None else [proposer_warning]
        if block.qc is None:
            raise VerificationError("the block carries no TBFT quorum certificate (additional_data)")
        outcome = check_qc(block.qc, header, trust.nodes, trust.digest, trust.roots)
        warnings += outcome.warnings
        if block.dag is not None:
            check_dag_hash(header, block.dag, trust.digest)
        if block.txs is not None:
            check_tx_root(header, block.txs, trust.digest)
    except VerificationError as exc:
        return Verdict(**(base.__dict__ | {"reason": exc.message, "warnings": tuple(warnings)}))
    for warning in warnings:
        log.warning("chainmaker.ca_not_configured", block=block.number, warning=warning,
                    action="add the org's CA certificate to the trust roots (trust_roots_file)")
    unchecked = [name for name, part in (("dag_hash", block.dag), ("tx_root", block.txs)) if part is None]
    unchecked.append("rw_set_root")  # the read-write sets are not part of a served block
    return Verdict(**(base.__dict__ | {"signers": outcome.signers, "warnings": tuple(warnings),
                                       "unchecked": tuple(unchecked)}))


__all__ = ["Trust", "Verdict", "judge"]
