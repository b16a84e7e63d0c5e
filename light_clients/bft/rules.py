"""Besu's BFT header rules as small pure functions: hashes, quorum, seals, set changes.

* The block hash (what ``eth_getBlockByNumber`` reports and what ``parentHash`` links) is
  keccak of the header with ``extraData`` in the codec's *block form* (no seals, no round).
* Each committed seal signs keccak of the header with ``extraData`` in the *commit form*.
* ``quorum(n) = ceil(2n/3)`` (``BftHelpers.calculateRequiredValidatorQuorum``); the seals
  must come from distinct members of the set in force, at least ``quorum`` of them.
* With block-header validator selection (``BftValidatorsValidationRule``) the ``extraData``
  list of block N *is* the set in force at N (``getVoteTallyAfterBlock(parent)``), which
  sealed N; it is ascending. It differs from block N-1's list by at most the one address
  block N-1 voted on, in the direction of that vote (Besu's ``VoteTally.addVote`` changes
  only the subject of the vote just added), and not at all after an epoch block, whose
  vote is discarded (``VoteTallyUpdater.updateForBlock``). Whether the tally reached its
  threshold is not knowable from headers alone: a change is accepted when it is possible.
"""

from __future__ import annotations

from light_clients.bft.codec import BftExtra, ExtraCodec, Vote, encode_extra
from light_clients.bft.common import hex0x, recover_signer
from light_clients.evm.header import Header
from relayer.errors import VerificationError

#: Besu ``BftHelpers.EXPECTED_MIX_HASH`` ("ctical byzantine fault tolerance").
BFT_MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")
EMPTY_UNCLES_HASH = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")


class UnknownVote:
    """Marker: the vote of the trusted head is not known (checkpoint given by hash only)."""

    def __repr__(self) -> str:
        return "UNKNOWN_VOTE"


UNKNOWN_VOTE = UnknownVote()
HeadVote = Vote | None | UnknownVote


def quorum(validator_count: int) -> int:
    """Seals needed from a set of ``validator_count``: ``ceil(2n/3)`` as Besu computes it."""
    return (2 * validator_count + 2) // 3


def block_hash(codec: ExtraCodec, header: Header, extra: BftExtra) -> bytes:
    """Besu's block hash: the header hashed with ``extraData`` in the block form."""
    return header.replace(extra_data=encode_extra(codec, extra, codec.block_form)).hash


def commit_hash(codec: ExtraCodec, header: Header, extra: BftExtra) -> bytes:
    """The hash every committed seal of ``header`` signs (``extraData`` in the commit form)."""
    return header.replace(extra_data=encode_extra(codec, extra, codec.commit_form)).hash


def recover_committers(codec: ExtraCodec, header: Header, extra: BftExtra) -> tuple[bytes | None, ...]:
    """The signer of each committed seal, in seal order (None for an invalid signature)."""
    digest = commit_hash(codec, header, extra)
    return tuple(recover_signer(digest, seal) for seal in extra.seals)


# --------------------------------------------------------------------------- checks


def check_constant_fields(header: Header) -> None:
    """Raises VerificationError unless mixHash, ommers hash and difficulty have their BFT values."""
    if header.mix_hash != BFT_MIX_HASH:
        raise VerificationError("mixHash is not the BFT constant", block=header.number, mix_hash=hex0x(header.mix_hash))
    if header.uncles_hash != EMPTY_UNCLES_HASH:
        raise VerificationError("a BFT header has no ommers", block=header.number)
    if header.difficulty != 1:
        raise VerificationError("a BFT header has difficulty 1", block=header.number, difficulty=header.difficulty)


def check_validator_list(validators: tuple[bytes, ...], number: int) -> None:
    """Raises VerificationError unless the list is non-empty, ascending and without repeats."""
    if not validators:
        raise VerificationError(
            "extraData lists no validators (contract-based validator selection is not supported)", block=number
        )
    if list(validators) != sorted(set(validators)):
        raise VerificationError("extraData validators are not strictly ascending", block=number)


def check_committers(signers: tuple[bytes | None, ...], validators: tuple[bytes, ...], number: int) -> None:
    """Raises VerificationError unless the seals are valid, distinct, members, and a quorum."""
    for index, signer in enumerate(signers):
        if signer is None:
            raise VerificationError(f"committed seal {index} is not a valid signature", block=number)
        if signer not in validators:
            raise VerificationError(
                f"committed seal {index} is by {hex0x(signer)}, who is not a validator", block=number
            )
    if len(set(signers)) != len(signers):
        raise VerificationError("the same validator sealed twice", block=number)
    need = quorum(len(validators))
    if len(signers) < need:
        raise VerificationError(
            f"{len(signers)} committed seals, quorum is {need} of {len(validators)} validators", block=number
        )


def check_proposer(coinbase: bytes, validators: tuple[bytes, ...], number: int) -> None:
    """Raises VerificationError unless the proposer (coinbase) is in the set in force."""
    if coinbase not in validators:
        raise VerificationError(f"proposer (coinbase) {hex0x(coinbase)} is not a validator", block=number)


def check_transition(
    previous: tuple[bytes, ...], new: tuple[bytes, ...], vote: HeadVote, epoch_block: bool, number: int
) -> None:
    """Raises VerificationError unless ``new`` (block ``number``) may follow ``previous``.

    ``vote`` is the vote cast in block ``number - 1`` (UNKNOWN_VOTE when only the
    checkpoint hash is trusted: then any one-address change is possible), ``epoch_block``
    whether block ``number - 1`` is an epoch block (its vote is discarded).
    """
    if new == previous:
        return
    added, removed = set(new) - set(previous), set(previous) - set(new)
    if len(added) + len(removed) != 1:
        raise VerificationError("validator set changed by more than one address in one block", block=number)
    if epoch_block:
        raise VerificationError("validator set changed after an epoch block (its vote is discarded)", block=number)
    if isinstance(vote, UnknownVote):
        return
    subject, add = (added.pop(), True) if added else (removed.pop(), False)
    if vote is None or vote.recipient != subject or vote.add != add:
        raise VerificationError(
            f"validator set {'gained' if add else 'lost'} {hex0x(subject)} without a vote for it in the parent",
            block=number,
        )


def reachable(previous: tuple[bytes, ...], new: tuple[bytes, ...], blocks: int) -> bool:
    """Whether ``new`` can be ``blocks`` blocks after ``previous`` (one change per block at most)."""
    return len(set(previous) ^ set(new)) <= blocks


__all__ = [
    "BFT_MIX_HASH",
    "EMPTY_UNCLES_HASH",
    "UNKNOWN_VOTE",
    "HeadVote",
    "UnknownVote",
    "block_hash",
    "check_committers",
    "check_constant_fields",
    "check_proposer",
    "check_transition",
    "check_validator_list",
    "commit_hash",
    "quorum",
    "reachable",
    "recover_committers",
]
