"""Off-chain light client for Besu BFT chains (QBFT, IBFT 2.0): a pure verifier.

Trust starts at a checkpoint: ``checkpoint_number``, ``checkpoint_hash`` (Besu's block
hash, as ``eth_getBlockByNumber`` reports it) and ``validators``, the set in force at the
checkpoint (the ``extraData`` list of that block, as ``qbft_getValidatorsByBlockNumber``
answers). From there every header must

1. decode per the codec and hash (Besu's block hash, seals and round excluded) to its claim;
2. link to the accepted head and list a validator set that may follow the head's set
   (``rules.check_transition``: one address at most, in the direction of the head's vote);
3. carry BFT constants (mixHash, no ommers, difficulty 1), a proposer (coinbase) from the
   set, and committed seals over the commit hash from distinct members, at least
   ``ceil(2n/3)`` of them.

The vote cast *in the checkpoint block* is unknown when only its hash is configured; the
client learns it when the checkpoint header itself passes through ``verify_header`` or
``accept_range`` (the follower's first range normally starts there). Until then, the first
following header may change the set by any one address (its seals still need a quorum of
the resulting set). Finality is instant: a sealed header is final; ``confirmations`` > 0
still holds blocks back.

Two validly sealed headers at one accepted height raise ``MisbehaviourError`` carrying both.

Not checked: timestamps, gas limits, Besu genesis ``transitions`` (validator overrides by
block number) and contract-based validator selection (an empty extraData list is refused).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

from light_clients.bft import rules
from light_clients.bft.codec import BftExtra, ExtraCodec, Vote, decode_extra
from light_clients.bft.common import (
    CheckpointMismatchError,
    Verdict,
    hex0x,
    option_key,
    parse_address_list,
    parse_hex,
    parse_options,
)
from light_clients.bft.judging import SealJudge
from light_clients.bft.misbehaviour import Misbehaviour, MisbehaviourError
from light_clients.bft.rules import UNKNOWN_VOTE, HeadVote, UnknownVote, quorum
from light_clients.evm.header import Header
from light_clients.evm.role import EvmHeaderRole
from light_clients.finality import ConfirmationsFinality
from relayer.contract import SetChange, VerifiedHeader
from relayer.errors import BrokenLinkError, ConfigError, VerificationError

BFT_OPTIONS = frozenset({"validators", "checkpoint_number", "checkpoint_hash", "epoch"})


@dataclass(frozen=True)
class _Head:
    """What is trusted: the head (None before the first header) and the set in force there."""

    number: int | None
    hash: bytes | None
    validators: tuple[bytes, ...]
    vote: HeadVote


@dataclass(frozen=True)
class _Seen:
    """A decoded header with its Besu block hash and recovered committed-seal signers."""

    header: Header
    extra: BftExtra
    hash: bytes
    signers: tuple[bytes | None, ...]

    @property
    def number(self) -> int:
        return self.header.number


class BftLightClient(SealJudge, EvmHeaderRole, ConfirmationsFinality):
    """Follows one Besu BFT chain from a trusted checkpoint; subclasses choose the codec."""

    kind: ClassVar[str] = "bft"
    codec: ClassVar[ExtraCodec]
    #: Accepted headers kept to judge conflicting ones (misbehaviour evidence).
    WINDOW: ClassVar[int] = 256

    def __init__(
        self, chain_name: str, chain_id: int, confirmations: int, trusted: Header | None = None, **options: Any
    ) -> None:
        """``trusted``: a checkpoint header trusted as is (its list and vote are taken).

        Options: ``validators`` (required without ``trusted``), ``checkpoint_number`` with
        ``checkpoint_hash``, ``epoch`` (default 30000). Raises ConfigError naming the key of
        a missing or malformed option, CheckpointMismatchError when ``trusted`` contradicts them.
        """
        if confirmations < 0:
            raise ConfigError(f"chains.{chain_name}.confirmations", "must be >= 0")
        opts = parse_options(chain_name, options, BFT_OPTIONS)
        self.chain_name = chain_name
        self.chain_id = chain_id
        self.confirmations = confirmations
        self.epoch = opts.epoch
        self._recent: dict[int, tuple[_Seen, tuple[bytes, ...]]] = {}
        self._checkpoint = (opts.checkpoint_number, opts.checkpoint_hash)
        if trusted is not None:
            self._head = self._trust_header(trusted, opts.validators)
        elif opts.validators is None:
            raise ConfigError(
                option_key(chain_name, "validators"),
                f"required by the {self.kind} light client: the validator set in force at the checkpoint",
            )
        else:
            self._head = _Head(opts.checkpoint_number, opts.checkpoint_hash, opts.validators, UNKNOWN_VOTE)

    @classmethod
    def from_options(
        cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]
    ) -> Self:
        """A client configured by a ``[chains.X.light_client_options]`` table; raises ConfigError."""
        return cls(chain_name, chain_id, confirmations, **dict(options))

    def _trust_header(self, trusted: Header, validators: tuple[bytes, ...] | None) -> _Head:
        seen = self._examine(trusted)
        rules.check_validator_list(seen.extra.validators, seen.number)
        number, hash_ = self._checkpoint
        if number is not None and (number, hash_) != (seen.number, seen.hash):
            raise CheckpointMismatchError(
                "the trusted header is not the configured checkpoint",
                key=option_key(self.chain_name, "checkpoint_hash"),
                block=seen.number,
                hash=hex0x(seen.hash),
            )
        if validators is not None and validators != seen.extra.validators:
            raise CheckpointMismatchError(
                "the trusted header lists other validators than configured",
                key=option_key(self.chain_name, "validators"),
                block=seen.number,
            )
        self._checkpoint = (seen.number, seen.hash)
        self._recent[seen.number] = (seen, seen.extra.validators)
        return _Head(seen.number, seen.hash, seen.extra.validators, seen.extra.vote)

    # ----------------------------------------------------------------- decoding

    def _examine(self, header: Header) -> _Seen:
        try:
            extra = decode_extra(self.codec, header.extra_data)
        except VerificationError as exc:
            exc.fields.setdefault("block", header.number)
            raise
        return _Seen(
            header,
            extra,
            rules.block_hash(self.codec, header, extra),
            rules.recover_committers(self.codec, header, extra),
        )

    @classmethod
    def listed_validators(cls, header: Header, **options: Any) -> tuple[bytes, ...]:
        """The validator list in ``header``'s extraData; raises VerificationError if it does not decode."""
        return decode_extra(cls.codec, header.extra_data).validators

    @classmethod
    def signers_of(cls, header: Header, **options: Any) -> tuple[bytes | None, ...]:
        """The committed-seal signers of ``header`` in seal order; raises VerificationError."""
        return rules.recover_committers(cls.codec, header, decode_extra(cls.codec, header.extra_data))

    @classmethod
    def hash_of(cls, header: Header) -> bytes:
        """Besu's block hash of ``header`` (seals and round excluded); raises VerificationError."""
        return rules.block_hash(cls.codec, header, decode_extra(cls.codec, header.extra_data))

    @contextmanager
    def _naming_chain(self) -> Iterator[None]:
        try:
            yield
        except VerificationError as exc:
            exc.fields.setdefault("chain", self.chain_name)
            raise

    # ----------------------------------------------------------------- verification

    def verify_header(self, header: Header, claimed_hash: bytes | None = None) -> bytes:
        """Besu's block hash of ``header`` after checking its seals against the set in force.

        The set in force is known exactly for the head's successor; a header further ahead
        is checked against its own list, which must be reachable from the trusted set
        (``accept_range`` checks every step). A header at an accepted height with another
        hash raises MisbehaviourError when validly sealed, VerificationError otherwise;
        CheckpointMismatchError when the chain contradicts the configured checkpoint.
        """
        with self._naming_chain():
            seen = self._examine(header)
            self._check_claim(seen, claimed_hash)
            self._check_sealed(seen, self._listed_set(seen))
            self._learn_head(seen)
            return seen.hash

    def verify(self, header: Header, claimed_hash: bytes | None = None) -> Verdict:
        """Judge ``header`` like ``verify_header`` without raising or learning: a Verdict."""
        validators = self._head.validators
        try:
            seen = self._examine(header)
        except VerificationError as exc:
            return Verdict(False, (), validators, quorum(len(validators)), exc.message, None, header.number)
        try:
            self._check_claim(seen, claimed_hash)
            validators = self._listed_set(seen)
            self._check_sealed(seen, validators)
        except VerificationError as exc:
            return self._verdict(seen, validators, exc.message)
        return self._verdict(seen, validators, None)

    def _verdict(self, seen: _Seen, validators: tuple[bytes, ...], reason: str | None) -> Verdict:
        return Verdict(reason is None, seen.signers, validators, quorum(len(validators)), reason, seen.hash,
                       seen.number)

    def _check_claim(self, seen: _Seen, claimed_hash: bytes | None) -> None:
        if claimed_hash is not None and claimed_hash != seen.hash:
            raise VerificationError(
                f"header hash mismatch: claimed {hex0x(claimed_hash)}, the fields hash to {hex0x(seen.hash)}",
                block=seen.number,
            )

    def _check_sealed(self, seen: _Seen, validators: tuple[bytes, ...]) -> None:
        rules.check_constant_fields(seen.header)
        rules.check_proposer(seen.header.coinbase, validators, seen.number)
        rules.check_committers(seen.signers, validators, seen.number)

    def _listed_set(self, seen: _Seen) -> tuple[bytes, ...]:
        """The header's own list, once it is shown to be the set in force at its height."""
        listed = seen.extra.validators
        rules.check_validator_list(listed, seen.number)
        self._check_conflict(seen)
        required = self._required_set(seen)
        if listed != required and seen.number == self._head.number and self._at_configured_checkpoint(self._head):
            raise CheckpointMismatchError(
                "the checkpoint header lists other validators than configured",
                key=option_key(self.chain_name, "validators"),
                block=seen.number,
            )
        if listed != required:
            raise VerificationError(
                "validators listed in the header differ from the trusted validator set", block=seen.number
            )
        return listed

    def _required_set(self, seen: _Seen) -> tuple[bytes, ...]:
        """The set that must seal ``seen``; raises VerificationError if its list cannot be it."""
        head, number, listed = self._head, seen.number, seen.extra.validators
        if head.number is None or number == head.number:
            return head.validators
        if number in self._recent:
            return self._recent[number][1]
        if number == head.number + 1:
            self._check_transition(head, listed, number)
            return listed
        if not rules.reachable(head.validators, listed, abs(number - head.number)):
            raise VerificationError(
                f"validators listed in the header cannot be reached from the trusted set at block {head.number}",
                block=number,
            )
        return listed

    def _check_transition(self, head: _Head, listed: tuple[bytes, ...], number: int) -> None:
        assert head.number is not None
        try:
            rules.check_transition(head.validators, listed, head.vote, self._is_epoch(head.number), number)
        except VerificationError as exc:
            if self._at_configured_checkpoint(head):
                raise CheckpointMismatchError(
                    f"{exc.message}: the chain does not follow the configured validators",
                    key=option_key(self.chain_name, "validators"),
                    block=number,
                ) from exc
            raise

    def _is_epoch(self, number: int) -> bool:
        return number % self.epoch == 0

    def _at_configured_checkpoint(self, head: _Head) -> bool:
        return (head.number, head.hash) == self._checkpoint and isinstance(head.vote, UnknownVote)

    # ----------------------------------------------------------------- conflicts

    def _check_conflict(self, seen: _Seen) -> None:
        """Raises when ``seen`` is at an accepted height with another hash."""
        head = self._head
        if head.number is None or seen.number > head.number:
            return
        known = self._recent.get(seen.number)
        known_hash = known[0].hash if known else (head.hash if seen.number == head.number else None)
        if known_hash is None or known_hash == seen.hash:
            return
        if known is None:
            raise CheckpointMismatchError(
                f"block {seen.number} of the chain hashes to {hex0x(seen.hash)}, "
                f"not to the trusted {hex0x(known_hash)}",
                key=option_key(self.chain_name, "checkpoint_hash"),
                block=seen.number,
            )
        evidence = self._evidence(known[0], seen, known[1])
        if evidence is not None:
            raise MisbehaviourError(evidence)
        raise VerificationError(
            "header conflicts with the accepted one at its height and is not validly sealed (lying RPC?)",
            block=seen.number,
            accepted_hash=hex0x(known_hash),
            hash=hex0x(seen.hash),
        )

    def _evidence(self, a: _Seen, b: _Seen, validators: tuple[bytes, ...]) -> Misbehaviour | None:
        if not (self._sealed_by(a, validators) and self._sealed_by(b, validators)):
            return None
        return Misbehaviour(
            self.kind, self.chain_name, a.number, a.header, b.header, a.hash, b.hash,
            tuple(s for s in a.signers if s), tuple(s for s in b.signers if s), validators,
        )  # fmt: skip

    @staticmethod
    def _sealed_by(seen: _Seen, validators: tuple[bytes, ...]) -> bool:
        try:
            rules.check_committers(seen.signers, validators, seen.number)
        except VerificationError:
            return False
        return True

    def find_misbehaviour(self, header_a: Header, header_b: Header) -> Misbehaviour | None:
        """Evidence when both headers are at one height, differ, and are validly sealed.

        Judged against the set known at that height (an accepted height, the head, or the
        head's successor whose list may follow the head's set); None at heights where the
        set is not known, or when either header is not validly sealed. Raises
        VerificationError only when a header does not decode.
        """
        a, b = self._examine(header_a), self._examine(header_b)
        if a.number != b.number or a.hash == b.hash:
            return None
        validators = self._judging_set(a, b)
        return None if validators is None else self._evidence(a, b, validators)

    def _judging_set(self, a: _Seen, b: _Seen) -> tuple[bytes, ...] | None:
        head, number = self._head, a.number
        if head.number is None or number == head.number:
            return head.validators
        if number in self._recent:
            return self._recent[number][1]
        if number != head.number + 1 or a.extra.validators != b.extra.validators:
            return None
        try:
            rules.check_transition(head.validators, a.extra.validators, head.vote, self._is_epoch(head.number), number)
        except VerificationError:
            return None
        return a.extra.validators

    def check_misbehaviour(self, header_a: Header, header_b: Header) -> None:
        """Raises MisbehaviourError (carrying both headers) when ``find_misbehaviour`` finds evidence."""
        with self._naming_chain():
            evidence = self.find_misbehaviour(header_a, header_b)
        if evidence is not None:
            raise MisbehaviourError(evidence)

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """The headers of a verified range (before ``accept``) that list another validator set than
        their parent; the first one is compared with the set at the head when the range starts right
        after it. An on-chain BFT light client must be given each, after its parent, to follow."""
        changes: list[SetChange] = []
        previous = self.validators if headers and self.head_number == headers[0].number - 1 else None
        for verified_header in headers:
            listed = self.listed_validators(verified_header.native)
            if previous is not None and listed != previous:
                changes.append(SetChange(verified_header.number, len(listed)))
            previous = listed
        return changes

    # ----------------------------------------------------------------- following

    def accept_range(self, headers: Sequence[Header]) -> None:
        """Accept consecutive headers that extend the accepted head.

        A leading header equal to the head is allowed (it teaches the checkpoint's vote).
        Without a checkpoint the first header must list exactly the configured validators.
        Raises VerificationError on a gap, a broken parent link, a bad seal, quorum or
        validator-set change (nothing of the range is accepted then), MisbehaviourError
        on a validly sealed conflicting header, CheckpointMismatchError when the chain does
        not match the configured checkpoint.
        """
        saved = (self._head, dict(self._recent))
        try:
            with self._naming_chain():
                for header in headers:
                    self._accept(header)
        except BaseException:
            self._head, self._recent = saved
            raise
        self._trim()

    def _accept(self, header: Header) -> None:
        seen = self._examine(header)
        head = self._head
        if head.number is not None and seen.number == head.number and seen.hash == head.hash:
            self._check_sealed(seen, self._listed_set(seen))
            self._learn_head(seen)
            return
        if head.number is not None:
            self._check_conflict(seen)
            self._check_link(head, seen)
        validators = self._listed_set(seen)
        self._check_sealed(seen, validators)
        self._head = _Head(seen.number, seen.hash, validators, seen.extra.vote)
        self._recent[seen.number] = (seen, validators)

    def _check_link(self, head: _Head, seen: _Seen) -> None:
        assert head.number is not None
        if seen.number != head.number + 1:
            raise VerificationError("header does not follow the accepted head", block=seen.number, head=head.number)
        if seen.header.parent_hash == head.hash:
            return
        if (head.number, head.hash) == self._checkpoint:
            raise CheckpointMismatchError(
                f"block {seen.number} does not link to the checkpoint: its parent is "
                f"{hex0x(seen.header.parent_hash)}, the checkpoint_hash is {hex0x(head.hash or b'')}",
                key=option_key(self.chain_name, "checkpoint_hash"),
                block=seen.number,
            )
        raise BrokenLinkError(
            "broken parent link (reorg or lying RPC)",
            block=seen.number,
            parent_hash=hex0x(seen.header.parent_hash),
            accepted_hash=hex0x(head.hash or b""),
        )

    def _learn_head(self, seen: _Seen) -> None:
        """Record the vote of the trusted head once its header has been verified."""
        head = self._head
        if seen.number == head.number and seen.hash == head.hash and isinstance(head.vote, UnknownVote):
            self._head = replace(head, vote=seen.extra.vote)
            self._recent[seen.number] = (seen, head.validators)

    def _trim(self) -> None:
        if self._head.number is not None:
            oldest = self._head.number - self.WINDOW
            for number in [n for n in self._recent if n <= oldest]:
                del self._recent[number]

    # ----------------------------------------------------------------- state

    @property
    def head_number(self) -> int | None:
        """Number of the latest accepted header (or the checkpoint), None before the first."""
        return self._head.number

    @property
    def head_hash(self) -> bytes | None:
        """Besu block hash of the latest accepted header (or the checkpoint), None before the first."""
        return self._head.hash

    @property
    def validators(self) -> tuple[bytes, ...]:
        """The validator set in force at the head (ascending 20-byte addresses)."""
        return self._head.validators

    def trusted_state(self) -> dict[str, Any]:
        """JSON-able state for the store: head, validator set in force there, the head's vote."""
        head = self._head
        vote: Any = "unknown" if isinstance(head.vote, UnknownVote) else head.vote and head.vote.to_json()
        return {
            "kind": self.kind,
            "chain_id": self.chain_id,
            "number": head.number,
            "hash": hex0x(head.hash) if head.hash is not None else None,
            "validators": [hex0x(v) for v in head.validators],
            "vote": vote,
            "epoch": self.epoch,
        }

    @classmethod
    def from_trusted_state(
        cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]
    ) -> Self:
        """Restore a client persisted by ``trusted_state``.

        Raises VerificationError on a malformed state or one of another chain or kind.
        """
        if state.get("kind", cls.kind) != cls.kind or state.get("chain_id", chain_id) != chain_id:
            raise VerificationError("trusted state belongs to another chain or light client", chain=chain_name)
        validators = parse_address_list(state.get("validators"), "validators")
        try:
            client = cls(chain_name, chain_id, confirmations, validators=list(validators),
                         epoch=state.get("epoch", 30000))
        except ConfigError as exc:
            raise VerificationError(f"malformed trusted state: {exc.message}", chain=chain_name) from exc
        number, hash_ = _parse_head(state)
        client._head = _Head(number, hash_, validators, _parse_vote(state.get("vote", "unknown")))
        client._checkpoint = (number, hash_)
        return client


def _parse_head(state: Mapping[str, Any]) -> tuple[int | None, bytes | None]:
    number, hash_ = state.get("number"), state.get("hash")
    if number is None and hash_ is None:
        return None, None
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise VerificationError("malformed trusted state: number", number=number)
    return number, parse_hex(hash_, "hash", 32)


def _parse_vote(value: object) -> HeadVote:
    if value == "unknown":
        return UNKNOWN_VOTE
    if value is None:
        return None
    if isinstance(value, Mapping) and isinstance(value.get("add"), bool):
        return Vote(parse_hex(value.get("recipient"), "vote recipient", 20), value["add"])
    raise VerificationError("malformed trusted state: vote", vote=value)


__all__ = ["BFT_OPTIONS", "BftLightClient"]
