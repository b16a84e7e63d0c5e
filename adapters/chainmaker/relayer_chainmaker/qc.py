"""The TBFT quorum certificate of a block: the PRECOMMIT ``VoteSet`` stored in the block's
``additional_data`` (not covered by the block hash, so everything in it is checked here).

Taken when: it is a PRECOMMIT set for the header's height whose ``maj23`` is the block hash; every
vote is a PRECOMMIT of that height and round, listed under its own voter, signed (ECDSA over
H(the vote's proto3 encoding without its endorsement)) by a consensus certificate of the org the
endorsement names (chained to that org's CA where one is configured); every voter is a configured
consensus node, no certificate key signs for two voters; ``votes_by_block`` and the sums agree
with the votes; and the votes for the block hash number at least quorum(n) = floor(2n/3) + 1 of
the n configured nodes.

Not checked (the block does not carry it): that the certificate belongs to the node id it votes
as. ChainMaker binds a node id (its TLS key) to its signing certificate through the p2p
handshake; a light client sees only a signed claim, so it relies on the org's CA (the certificate
is a consensus certificate of an org of the chain) and counts each certificate key once.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from relayer.errors import VerificationError
from relayer_chainmaker import messages
from relayer_chainmaker.block import Digest
from relayer_chainmaker.certs import TrustRoots, check_member, member_certificate, verify_signature
from relayer_chainmaker.node_id import parse_node_id
from relayer_chainmaker.proto import Msg, ProtoError, decode, encode


@dataclass(frozen=True)
class QcOutcome:
    """What a valid certificate showed: the node ids (multihash bytes) that voted for the block, in
    the order of their text, and warnings (orgs whose CA is not configured)."""

    signers: tuple[bytes, ...]
    warnings: tuple[str, ...]


def quorum(nodes: int) -> int:
    """Votes TBFT needs of ``nodes`` consensus nodes: floor(2n/3) + 1."""
    return 2 * nodes // 3 + 1


def check_qc(data: bytes, header: Msg, nodes: Collection[bytes], digest: Digest, roots: TrustRoots) -> QcOutcome:
    """Check quorum certificate ``data`` for ``header`` against consensus node ids ``nodes``.
    Raises VerificationError saying what does not hold."""
    try:
        vote_set = decode(messages.VOTE_SET, data, "qc")
    except ProtoError as exc:
        raise VerificationError(f"the quorum certificate does not decode: {exc}") from exc
    _check_set(vote_set, header)
    votes = _votes_by_voter(vote_set)
    signers, warnings, keys = [], [], set()
    for voter, vote in votes.items():
        warning, key = _check_vote(vote, voter, vote_set, header, nodes, digest, roots)
        if key in keys:
            raise VerificationError(f"vote of {voter}: its certificate key signed another node's vote too")
        keys.add(key)
        warnings += [warning] if warning else []
        if vote["hash"] == header["block_hash"]:
            signers.append(voter)
    _check_by_block(vote_set, votes)
    need = quorum(len(nodes))
    if len(signers) < need:
        raise VerificationError(f"{len(signers)} valid PRECOMMIT votes for the block, quorum is {need} of {len(nodes)}")
    return QcOutcome(tuple(parse_node_id(s) for s in sorted(signers)), tuple(warnings))


def _check_set(vote_set: Msg, header: Msg) -> None:
    if vote_set["type"] != messages.VOTE_PRECOMMIT:
        raise VerificationError("the quorum certificate is not a PRECOMMIT vote set")
    if vote_set["height"] != header["block_height"]:
        raise VerificationError(f"the quorum certificate is for height {vote_set['height']}, "
                                f"not {header['block_height']}")
    if vote_set["maj23"] != header["block_hash"]:
        raise VerificationError("the quorum certificate's majority (maj23) is not the block hash")


def _votes_by_voter(vote_set: Msg) -> dict[str, Msg]:
    votes: dict[str, Msg] = {}
    for entry in vote_set["votes"]:
        if entry["key"] in votes:
            raise VerificationError(f"the quorum certificate lists voter {entry['key']} twice")
        if entry["value"] is None:
            raise VerificationError(f"the quorum certificate has no vote for voter {entry['key']}")
        votes[entry["key"]] = entry["value"]
    if vote_set["sum"] != len(votes):
        raise VerificationError(f"the quorum certificate's sum {vote_set['sum']} is not its {len(votes)} votes")
    return votes


def _check_by_block(vote_set: Msg, votes: dict[str, Msg]) -> None:
    """``votes_by_block`` must group exactly the same votes by the hash they vote for."""
    grouped: dict[str, dict[str, Msg]] = {}
    for voter, vote in votes.items():
        grouped.setdefault(base64.b64encode(vote["hash"]).decode(), {})[voter] = vote
    listed: dict[str, dict[str, Msg]] = {}
    for entry in vote_set["votes_by_block"]:
        block_votes = entry["value"] or {"votes": [], "sum": 0}
        group = {item["key"]: item["value"] for item in block_votes["votes"]}
        if entry["key"] in listed or len(group) != len(block_votes["votes"]) or block_votes["sum"] != len(group):
            raise VerificationError("the quorum certificate's votes_by_block does not add up")
        listed[entry["key"]] = group
    if listed != grouped:
        raise VerificationError("the quorum certificate's votes_by_block is not its votes grouped by block")


def _check_vote(vote: Msg, voter: str, vote_set: Msg, header: Msg, nodes: Collection[bytes], digest: Digest,
                roots: TrustRoots) -> tuple[str | None, bytes]:
    """Check one vote; returns its warning (or None) and its certificate's public key."""
    where = f"vote of {voter}"
    if vote["voter"] != voter:
        raise VerificationError(f"{where}: the vote names voter {vote['voter']}")
    if vote["type"] != messages.VOTE_PRECOMMIT or vote["height"] != header["block_height"] \
            or vote["round"] != vote_set["round"]:
        raise VerificationError(f"{where}: not a PRECOMMIT of the set's height and round")
    try:
        node = parse_node_id(voter)
    except ValueError as exc:
        raise VerificationError(f"{where}: the voter {exc}") from exc
    if node not in nodes:
        raise VerificationError(f"{where}: not a configured consensus node")
    endorsement = vote["endorsement"]
    if endorsement is None or endorsement["signer"] is None:
        raise VerificationError(f"{where}: the vote is not endorsed")
    signer = endorsement["signer"]
    cert = member_certificate(signer, where)
    warning = check_member(cert, signer["org_id"], header["block_timestamp"], roots, where)
    verify_signature(cert, endorsement["signature"], encode(messages.VOTE, vote | {"endorsement": None}), digest, where)
    key = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return warning, key


__all__ = ["QcOutcome", "check_qc", "quorum"]
