"""The Clique voting snapshot, applied header by header exactly as geth's ``Snapshot.apply``.

A snapshot at block N holds the authorised signers after N, the recent signers (a signer
may seal only once in any ``len(signers) // 2 + 1`` consecutive blocks), and the pending
votes with their tally (a vote passes with more than ``len(signers) // 2`` votes). Epoch
blocks drop every pending vote. ``apply`` also checks what geth checks against the parent
snapshot: the signer is authorised and not recent, the difficulty says in-turn (2) exactly
when ``number % len(signers)`` is the signer's index, and an epoch block lists the signers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from light_clients.bft.common import hex0x, parse_address_list, parse_hex
from light_clients.clique.rules import DIFF_IN_TURN, DIFF_NO_TURN, CliqueSeal, is_epoch
from light_clients.evm.header import Header
from relayer.errors import VerificationError


@dataclass(frozen=True)
class CliqueVote:
    """One pending vote: ``signer`` voted in ``block`` to add (or drop) ``address``."""

    signer: bytes
    block: int
    address: bytes
    authorize: bool


@dataclass
class Snapshot:
    """Voting state after block ``number`` (``hash``); ``signers`` ascending."""

    number: int
    hash: bytes
    signers: tuple[bytes, ...]
    recents: dict[int, bytes] = field(default_factory=dict)
    votes: list[CliqueVote] = field(default_factory=list)
    tally: dict[bytes, tuple[bool, int]] = field(default_factory=dict)

    def copy(self) -> Snapshot:
        return Snapshot(self.number, self.hash, self.signers, dict(self.recents), list(self.votes), dict(self.tally))

    # ----------------------------------------------------------------- checks

    def limit(self) -> int:
        """How many consecutive blocks one signer's seal blocks it for."""
        return len(self.signers) // 2 + 1

    def in_turn(self, number: int, signer: bytes) -> bool:
        """Whether ``signer`` is the in-turn signer of block ``number``."""
        return signer in self.signers and self.signers.index(signer) == number % len(self.signers)

    def recently_signed(self, number: int, signer: bytes) -> bool:
        """Whether ``signer`` sealed one of the blocks that still block it at ``number``."""
        return any(seen > number - self.limit() and who == signer for seen, who in self.recents.items())

    def check(self, header: Header, seal: CliqueSeal) -> bytes:
        """The signer of ``header`` (the block after this snapshot) once geth's checks pass.

        Raises VerificationError on an invalid seal, a signer that is not authorised or
        signed recently, a wrong difficulty, or an epoch block whose list is not the signers.
        """
        number, signer = header.number, seal.signer
        if signer is None:
            raise VerificationError("the seal is not a valid signature", block=number)
        if seal.listed is not None and seal.listed != self.signers:
            raise VerificationError("epoch block lists other signers than the tallied set", block=number)
        if signer not in self.signers:
            raise VerificationError(f"signer {hex0x(signer)} is not authorised", block=number)
        if self.recently_signed(number, signer):
            raise VerificationError(
                f"signer {hex0x(signer)} signed one of the last {self.limit()} blocks", block=number
            )
        expected = DIFF_IN_TURN if self.in_turn(number, signer) else DIFF_NO_TURN
        if header.difficulty != expected:
            raise VerificationError(
                f"difficulty {header.difficulty} but the signer is {'in' if expected == 2 else 'out of'} turn",
                block=number,
            )
        return signer

    # ----------------------------------------------------------------- applying

    def apply(self, header: Header, seal: CliqueSeal, epoch: int) -> Snapshot:
        """The snapshot after ``header``; raises VerificationError like ``check`` or on a gap."""
        if header.number != self.number + 1:
            raise VerificationError("header does not follow the snapshot", block=header.number, head=self.number)
        signer = self.check(header, seal)
        snap = self.copy()
        number = header.number
        if is_epoch(number, epoch):
            snap.votes, snap.tally = [], {}
        snap._forget_recents(number)
        snap.recents[number] = signer
        snap._vote(signer, header.coinbase, seal.authorize, number)
        snap.number, snap.hash = number, header.hash
        return snap

    def _forget_recents(self, number: int) -> None:
        for seen in [s for s in self.recents if s <= number - self.limit()]:
            del self.recents[seen]

    def _vote(self, signer: bytes, address: bytes, authorize: bool, number: int) -> None:
        for index, vote in enumerate(self.votes):
            if vote.signer == signer and vote.address == address:
                self._uncast(vote.address, vote.authorize)
                del self.votes[index]
                break
        if self._cast(address, authorize):
            self.votes.append(CliqueVote(signer, number, address, authorize))
        passed, count = self.tally.get(address, (authorize, 0))
        if count > len(self.signers) // 2:
            self._enact(address, passed, number)

    def _cast(self, address: bytes, authorize: bool) -> bool:
        if (address in self.signers) == authorize:
            return False  # a vote that would change nothing is no vote
        kind, count = self.tally.get(address, (authorize, 0))
        self.tally[address] = (kind, count + 1)
        return True

    def _uncast(self, address: bytes, authorize: bool) -> None:
        if address not in self.tally or self.tally[address][0] != authorize:
            return
        kind, count = self.tally[address]
        if count > 1:
            self.tally[address] = (kind, count - 1)
        else:
            del self.tally[address]

    def _enact(self, address: bytes, authorize: bool, number: int) -> None:
        if authorize:
            self.signers = tuple(sorted((*self.signers, address)))
        else:
            self.signers = tuple(s for s in self.signers if s != address)
            self._forget_recents(number)
            for vote in [v for v in self.votes if v.signer == address]:
                self._uncast(vote.address, vote.authorize)
                self.votes.remove(vote)
        self.votes = [v for v in self.votes if v.address != address]
        self.tally.pop(address, None)

    # ----------------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (geth's snapshot fields)."""
        return {
            "number": self.number,
            "hash": hex0x(self.hash),
            "signers": [hex0x(s) for s in self.signers],
            "recents": {str(n): hex0x(s) for n, s in sorted(self.recents.items())},
            "votes": [
                {"signer": hex0x(v.signer), "block": v.block, "address": hex0x(v.address), "authorize": v.authorize}
                for v in self.votes
            ],
            "tally": {hex0x(a): {"authorize": k, "votes": c} for a, (k, c) in sorted(self.tally.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        """Inverse of ``to_json``; raises VerificationError on a malformed snapshot."""
        try:
            return cls(
                number=_count(data["number"]),
                hash=parse_hex(data["hash"], "hash", 32),
                signers=tuple(sorted(parse_address_list(data["signers"], "signers"))),
                recents={_count(int(n)): parse_hex(s, "recent signer", 20) for n, s in data.get("recents", {}).items()},
                votes=[_vote_from_json(v) for v in data.get("votes", [])],
                tally={
                    parse_hex(a, "tally address", 20): (bool(t["authorize"]), _count(t["votes"]))
                    for a, t in data.get("tally", {}).items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VerificationError(f"malformed clique snapshot: {exc!r}") from exc


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _vote_from_json(data: Mapping[str, Any]) -> CliqueVote:
    return CliqueVote(
        parse_hex(data["signer"], "vote signer", 20),
        _count(data["block"]),
        parse_hex(data["address"], "vote address", 20),
        bool(data["authorize"]),
    )


__all__ = ["CliqueVote", "Snapshot"]
