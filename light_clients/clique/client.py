"""Off-chain light client for Clique (geth PoA, EIP-225) chains: a pure verifier.

Trust starts at an epoch block (``checkpoint_number % epoch == 0``), where the signer list
is in the header and no vote is pending, so the snapshot is exact: ``checkpoint_number``,
``checkpoint_hash`` and ``validators`` (the signers listed there). From there each header
must hash to its claim, link to the head, and pass geth's rules (``rules.read_seal`` and
``Snapshot.apply``): an authorised signer that has not signed recently, in-turn difficulty 2
or out-of-turn 1, votes tallied through coinbase and nonce, the listed signers at epoch
blocks. Clique forks are normal, so a block is final ``confirmations`` blocks deep.

A header at an accepted height with another hash is a reorg past finality or a lie
(VerificationError); when the same signer sealed both headers it is an equivocation and
raises ``MisbehaviourError`` carrying both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from light_clients.bft.common import CheckpointMismatchError, Verdict, hex0x, option_key, parse_options
from light_clients.bft.judging import SealJudge
from light_clients.bft.misbehaviour import Misbehaviour, MisbehaviourError
from light_clients.clique import rules
from light_clients.clique.rules import CliqueSeal
from light_clients.clique.snapshot import Snapshot
from light_clients.evm.header import Header
from light_clients.evm.role import EvmHeaderRole
from light_clients.finality import ConfirmationsFinality
from relayer.errors import BrokenLinkError, ConfigError, VerificationError

KIND = "clique"
CLIQUE_OPTIONS = frozenset({"validators", "checkpoint_number", "checkpoint_hash", "epoch", "period"})


@dataclass(frozen=True)
class _Accepted:
    header: Header
    signer: bytes
    signers: tuple[bytes, ...]  # the set that authorised it


class CliqueLightClient(SealJudge, EvmHeaderRole, ConfirmationsFinality):
    """Follows one Clique chain from a trusted epoch-block checkpoint."""

    kind: ClassVar[str] = KIND
    WINDOW: ClassVar[int] = 256

    def __init__(
        self, chain_name: str, chain_id: int, confirmations: int, trusted: Header | None = None, **options: Any
    ) -> None:
        """``trusted``: an epoch-block header trusted as is (its listed signers are taken).

        Options: ``validators`` (the signers at the checkpoint; required without
        ``trusted``), ``checkpoint_number`` (an epoch block) with ``checkpoint_hash``,
        ``epoch`` (default 30000), ``period`` (seconds between blocks, checked when given).
        Raises ConfigError naming the key of a missing or malformed option.
        """
        if confirmations < 0:
            raise ConfigError(f"chains.{chain_name}.confirmations", "must be >= 0")
        opts = parse_options(chain_name, options, CLIQUE_OPTIONS)
        self.chain_name, self.chain_id, self.confirmations = chain_name, chain_id, confirmations
        self.epoch, self.period = opts.epoch, opts.period
        self._recent: dict[int, _Accepted] = {}
        self._head_time: int | None = None
        self._checkpoint = (opts.checkpoint_number, opts.checkpoint_hash)
        if opts.checkpoint_number is not None and not rules.is_epoch(opts.checkpoint_number, self.epoch):
            raise ConfigError(
                option_key(chain_name, "checkpoint_number"),
                f"must be an epoch block (a multiple of epoch = {self.epoch}): only there is the signer list exact",
            )
        if trusted is not None:
            self._snap: Snapshot | None = self._trust_header(trusted, opts.validators)
            self._signers = self._snap.signers
        elif opts.validators is None:
            raise ConfigError(option_key(chain_name, "validators"), "required by the clique light client: the signers")
        else:
            self._signers = opts.validators
            number, hash_ = self._checkpoint
            self._snap = None if number is None or hash_ is None else Snapshot(number, hash_, opts.validators)

    @classmethod
    def from_options(
        cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]
    ) -> Self:
        """A client configured by a ``[chains.X.light_client_options]`` table; raises ConfigError."""
        return cls(chain_name, chain_id, confirmations, **dict(options))

    def _trust_header(self, trusted: Header, validators: tuple[bytes, ...] | None) -> Snapshot:
        key = option_key(self.chain_name, "checkpoint_number")
        if not rules.is_epoch(trusted.number, self.epoch):
            raise ConfigError(key, f"the trusted header {trusted.number} is not an epoch block (epoch {self.epoch})")
        listed = tuple(sorted(rules.listed_signers(trusted)))
        if not listed or (validators is not None and validators != listed):
            raise CheckpointMismatchError(
                "the trusted header lists no or other signers than configured",
                key=option_key(self.chain_name, "validators"),
                block=trusted.number,
            )
        number, hash_ = self._checkpoint
        if number is not None and (number, hash_) != (trusted.number, trusted.hash):
            raise CheckpointMismatchError("the trusted header is not the configured checkpoint", key=key)
        self._checkpoint = (trusted.number, trusted.hash)
        self._head_time = trusted.timestamp
        return Snapshot(trusted.number, trusted.hash, listed)

    @classmethod
    def listed_validators(cls, header: Header, epoch: int = 30000, **options: Any) -> tuple[bytes, ...]:
        """The signers listed by an epoch block; raises VerificationError for any other block."""
        if not rules.is_epoch(header.number, epoch):
            raise VerificationError(
                f"block {header.number} is not an epoch block (epoch {epoch}): it lists no signers; "
                "give the signer set", block=header.number
            )
        return tuple(sorted(rules.listed_signers(header)))

    @classmethod
    def signers_of(cls, header: Header, epoch: int = 30000, **options: Any) -> tuple[bytes | None, ...]:
        """The signer of ``header`` (None for an invalid seal); raises VerificationError on a bad header."""
        return (rules.read_seal(header, epoch).signer,)

    @classmethod
    def hash_of(cls, header: Header) -> bytes:
        """The block hash of ``header`` (keccak of its RLP, seal included)."""
        return header.hash

    @contextmanager
    def _naming_chain(self) -> Iterator[None]:
        try:
            yield
        except VerificationError as exc:
            exc.fields.setdefault("chain", self.chain_name)
            raise

    # ----------------------------------------------------------------- verification

    def _read(self, header: Header, claimed_hash: bytes | None) -> CliqueSeal:
        seal = rules.read_seal(header, self.epoch)
        if claimed_hash is not None and claimed_hash != header.hash:
            raise VerificationError(
                f"header hash mismatch: claimed {hex0x(claimed_hash)}, the fields hash to {hex0x(header.hash)}",
                block=header.number,
            )
        return seal

    def verify_header(self, header: Header, claimed_hash: bytes | None = None) -> bytes:
        """The recomputed hash of ``header`` after checking its seal.

        The head's successor gets every geth check against the snapshot; a header further
        ahead only the history-free ones (``accept_range`` applies the rest). Raises
        VerificationError, MisbehaviourError (a signer sealed two headers at an accepted
        height), CheckpointMismatchError (the chain contradicts the configured checkpoint).
        """
        with self._naming_chain():
            seal = self._read(header, claimed_hash)
            if self._check_known(header, seal):
                return header.hash
            snap = self._snap_before(header)
            if snap is not None:
                snap.check(header, seal)
            elif seal.signer is None:
                raise VerificationError("the seal is not a valid signature", block=header.number)
            return header.hash

    def verify(self, header: Header, claimed_hash: bytes | None = None) -> Verdict:
        """Judge ``header`` against the trusted signers without raising or learning: a Verdict.

        The head's successor is judged against the snapshot (recent signers included); any
        other header against the trusted signer set (authorised, difficulty by turn).
        """
        signers: tuple[bytes | None, ...] = ()
        snap = self._snap_before(header) or Snapshot(header.number - 1, header.parent_hash, self._signers)
        try:
            seal = self._read(header, claimed_hash)
            signers = (seal.signer,)
            if not self._check_known(header, seal):
                snap.check(header, seal)
        except VerificationError as exc:
            return Verdict(False, signers, snap.signers, 1, exc.message, header.hash, header.number)
        return Verdict(True, signers, snap.signers, 1, None, header.hash, header.number)

    def _snap_before(self, header: Header) -> Snapshot | None:
        """The snapshot ``header`` is checked against when it is the head's successor."""
        if self._snap is None:
            return Snapshot(header.number - 1, header.parent_hash, self._signers)
        return self._snap if header.number == self._snap.number + 1 else None

    def _check_known(self, header: Header, seal: CliqueSeal) -> bool:
        """True when ``header`` is an accepted one; raises when it conflicts with one."""
        snap = self._snap
        if snap is None or header.number > snap.number:
            return False
        known = self._recent.get(header.number)
        known_hash = known.header.hash if known else (snap.hash if header.number == snap.number else None)
        if known_hash is None:
            return False
        if known_hash == header.hash:
            self._check_checkpoint_list(header, seal)
            return True
        if known is None:
            raise CheckpointMismatchError(
                f"block {header.number} of the chain hashes to {hex0x(header.hash)}, "
                f"not to the trusted {hex0x(known_hash)}",
                key=option_key(self.chain_name, "checkpoint_hash"),
                block=header.number,
            )
        evidence = self._evidence(known, header, seal)
        if evidence is not None:
            raise MisbehaviourError(evidence)
        raise VerificationError(
            "header conflicts with the accepted one at its height (reorg past finality or lying RPC)",
            block=header.number,
            accepted_hash=hex0x(known_hash),
            hash=hex0x(header.hash),
        )

    def _check_checkpoint_list(self, header: Header, seal: CliqueSeal) -> None:
        snap = self._snap
        if snap is None or header.number != snap.number or seal.listed is None:
            return
        if tuple(sorted(seal.listed)) != snap.signers:
            raise CheckpointMismatchError(
                "the checkpoint block lists other signers than configured",
                key=option_key(self.chain_name, "validators"),
                block=header.number,
            )

    # ----------------------------------------------------------------- misbehaviour

    def _evidence(self, known: _Accepted, header: Header, seal: CliqueSeal) -> Misbehaviour | None:
        if seal.signer != known.signer:
            return None  # two signers at one height: an ordinary Clique fork
        return Misbehaviour(
            self.kind, self.chain_name, header.number, known.header, header, known.header.hash, header.hash,
            (known.signer,), (known.signer,), known.signers,
        )  # fmt: skip

    def find_misbehaviour(self, header_a: Header, header_b: Header) -> Misbehaviour | None:
        """Evidence when one authorised signer sealed two different headers at one height.

        The signer must be authorised at that height as far as the client knows (an
        accepted height, or the head's successor). Two different signers at one height is
        an ordinary fork: None. Raises VerificationError when a header breaks Clique's rules.
        """
        if header_a.number != header_b.number or header_a.hash == header_b.hash:
            return None
        seal_a, seal_b = rules.read_seal(header_a, self.epoch), rules.read_seal(header_b, self.epoch)
        signers = self._signers_at(header_a.number)
        if seal_a.signer is None or seal_a.signer != seal_b.signer or signers is None or seal_a.signer not in signers:
            return None
        return Misbehaviour(
            self.kind, self.chain_name, header_a.number, header_a, header_b, header_a.hash, header_b.hash,
            (seal_a.signer,), (seal_b.signer,), signers,
        )  # fmt: skip

    def _signers_at(self, number: int) -> tuple[bytes, ...] | None:
        if number in self._recent:
            return self._recent[number].signers
        if self._snap is None or number == self._snap.number + 1:
            return self._signers
        return None

    def check_misbehaviour(self, header_a: Header, header_b: Header) -> None:
        """Raises MisbehaviourError (carrying both headers) when ``find_misbehaviour`` finds evidence."""
        with self._naming_chain():
            evidence = self.find_misbehaviour(header_a, header_b)
        if evidence is not None:
            raise MisbehaviourError(evidence)

    # ----------------------------------------------------------------- following

    def accept_range(self, headers: Sequence[Header]) -> None:
        """Accept consecutive headers that extend the accepted head (the checkpoint at first).

        A leading header equal to the head is allowed. Without a checkpoint the first
        header is judged against the configured signers with no recent-signer history.
        Raises VerificationError on a gap, a broken link, a too-early timestamp (when
        ``period`` is set) or a seal geth would reject (nothing of the range is accepted
        then); MisbehaviourError and CheckpointMismatchError as ``verify_header``.
        """
        saved = (self._snap, self._signers, dict(self._recent), self._head_time)
        try:
            with self._naming_chain():
                for header in headers:
                    self._accept(header)
        except BaseException:
            self._snap, self._signers, self._recent, self._head_time = saved
            raise
        self._trim()

    def _accept(self, header: Header) -> None:
        seal = rules.read_seal(header, self.epoch)
        if self._check_known(header, seal):
            if self._snap is not None and header.number == self._snap.number:
                self._head_time = header.timestamp
                return
            raise VerificationError("header does not follow the accepted head", block=header.number)
        snap = self._snap_before(header)
        if snap is None:
            head = self._snap.number if self._snap else None
            raise VerificationError("header does not follow the accepted head", block=header.number, head=head)
        self._check_link(snap, header)
        self._check_period(header)
        signers = snap.signers
        self._snap = snap.apply(header, seal, self.epoch)
        self._signers = self._snap.signers
        self._recent[header.number] = _Accepted(header, seal.signer or b"", signers)
        self._head_time = header.timestamp

    def _check_link(self, snap: Snapshot, header: Header) -> None:
        if header.parent_hash == snap.hash:
            return
        if (snap.number, snap.hash) == self._checkpoint:
            raise CheckpointMismatchError(
                f"block {header.number} does not link to the checkpoint: its parent is "
                f"{hex0x(header.parent_hash)}, the checkpoint_hash is {hex0x(snap.hash)}",
                key=option_key(self.chain_name, "checkpoint_hash"),
                block=header.number,
            )
        raise BrokenLinkError(
            "broken parent link (reorg or lying RPC)",
            block=header.number,
            parent_hash=hex0x(header.parent_hash),
            accepted_hash=hex0x(snap.hash),
        )

    def _check_period(self, header: Header) -> None:
        if self.period is None or self._head_time is None:
            return
        if header.timestamp < self._head_time + self.period:
            raise VerificationError(
                f"timestamp {header.timestamp} is less than {self.period}s after the parent's", block=header.number
            )

    def _trim(self) -> None:
        if self._snap is not None:
            for number in [n for n in self._recent if n <= self._snap.number - self.WINDOW]:
                del self._recent[number]

    # ----------------------------------------------------------------- state

    @property
    def head_number(self) -> int | None:
        """Number of the latest accepted header (or the checkpoint), None before the first."""
        return self._snap.number if self._snap else None

    @property
    def head_hash(self) -> bytes | None:
        """Hash of the latest accepted header (or the checkpoint), None before the first."""
        return self._snap.hash if self._snap else None

    @property
    def validators(self) -> tuple[bytes, ...]:
        """The authorised signers after the head (ascending 20-byte addresses)."""
        return self._signers

    def trusted_state(self) -> dict[str, Any]:
        """JSON-able state for the store: the snapshot (signers, recents, votes, tally) and options."""
        snapshot = self._snap.to_json() if self._snap else {"number": None, "hash": None}
        return snapshot | {
            "kind": KIND,
            "chain_id": self.chain_id,
            "validators": [hex0x(s) for s in self._signers],
            "epoch": self.epoch,
            "period": self.period,
            "timestamp": self._head_time,
        }

    @classmethod
    def from_trusted_state(
        cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]
    ) -> Self:
        """Restore a client persisted by ``trusted_state``.

        Raises VerificationError on a malformed state or one of another chain or kind.
        """
        if state.get("kind", KIND) != KIND or state.get("chain_id", chain_id) != chain_id:
            raise VerificationError("trusted state belongs to another chain or light client", chain=chain_name)
        options = {"validators": state.get("validators"), "epoch": state.get("epoch", 30000),
                   "period": state.get("period")}
        try:
            client = cls(chain_name, chain_id, confirmations, **options)
        except ConfigError as exc:
            raise VerificationError(f"malformed trusted state: {exc.message}", chain=chain_name) from exc
        if state.get("number") is not None or state.get("hash") is not None:
            client._snap = Snapshot.from_json({"signers": state.get("validators")} | dict(state))
            client._signers = client._snap.signers
            client._checkpoint = (client._snap.number, client._snap.hash)
        timestamp = state.get("timestamp")
        client._head_time = timestamp if isinstance(timestamp, int) else None
        return client


__all__ = ["CLIQUE_OPTIONS", "KIND", "CliqueLightClient"]
