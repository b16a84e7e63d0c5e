"""Build validly signed Clique chains (tests, devnets, a vendor's conformance checks).

Not used by the verifier. ``CliqueChainBuilder`` starts from an epoch-0 genesis listing the
addresses of its keys and appends blocks signed by a chosen (default: the in-turn or the
first allowed) signer, with the difficulty that signer's turn gives, votes through coinbase
and nonce, and the signer list at epoch blocks. It tracks the voting state with the
verifier's own ``Snapshot``, so tests state the expected signer sets explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from light_clients.bft.common import address_of, sign_hash
from light_clients.clique import rules
from light_clients.clique.snapshot import Snapshot
from light_clients.evm.header import Header

ZERO32 = b"\x00" * 32
EMPTY_TRIE = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def clique_header(
    number: int,
    parent_hash: bytes,
    *,
    listed: Iterable[bytes] = (),
    coinbase: bytes = b"\x00" * 20,
    nonce: bytes = rules.NONCE_DROP,
    difficulty: int = rules.DIFF_IN_TURN,
    timestamp: int | None = None,
) -> Header:
    """An unsigned Clique header (frontier layout) with a zero seal."""
    extra = ZERO32 + b"".join(sorted(listed)) + b"\x00" * rules.EXTRA_SEAL
    return Header(
        parent_hash=parent_hash, uncles_hash=rules.EMPTY_UNCLES_HASH, coinbase=coinbase, state_root=ZERO32,
        transactions_root=EMPTY_TRIE, receipts_root=EMPTY_TRIE, logs_bloom=b"\x00" * 256, difficulty=difficulty,
        number=number, gas_limit=8_000_000, gas_used=0,
        timestamp=1_600_000_000 + 15 * number if timestamp is None else timestamp,
        extra_data=extra, mix_hash=ZERO32, nonce=nonce,
    )  # fmt: skip


def sign_clique(header: Header, key: bytes) -> Header:
    """``header`` with its seal made by ``key``."""
    unsigned = header.replace(extra_data=header.extra_data[: -rules.EXTRA_SEAL] + b"\x00" * rules.EXTRA_SEAL)
    seal = sign_hash(key, rules.seal_hash(unsigned))
    return unsigned.replace(extra_data=unsigned.extra_data[: -rules.EXTRA_SEAL] + seal)


@dataclass
class CliqueChainBuilder:
    """A Clique chain grown from a genesis whose signers are the addresses of ``keys``."""

    keys: list[bytes]
    epoch: int = 30000
    headers: list[Header] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_address = {address_of(k): k for k in self.keys}
        signers = tuple(sorted(self.by_address))
        genesis = clique_header(0, ZERO32, listed=signers, difficulty=1)
        self.headers.append(genesis)
        self.snap = Snapshot(0, genesis.hash, signers)

    def add_key(self, key: bytes) -> bytes:
        """Make a key known (a candidate to vote in); returns its address."""
        self.by_address[address_of(key)] = key
        return address_of(key)

    def allowed_signer(self) -> bytes:
        """The in-turn signer if it may sign, else the first signer that has not signed recently."""
        number = self.snap.number + 1
        in_turn = self.snap.signers[number % len(self.snap.signers)]
        candidates = [in_turn, *self.snap.signers]
        return next(s for s in candidates if not self.snap.recently_signed(number, s))

    def make(self, signer: bytes | None = None, vote: tuple[bytes, bool] | None = None, **fields: object) -> Header:
        """The next block signed by ``signer`` (an address) without appending it."""
        number, signer = self.snap.number + 1, signer or self.allowed_signer()
        epoch_block = rules.is_epoch(number, self.epoch)
        header = clique_header(
            number, self.snap.hash,
            listed=self.snap.signers if epoch_block else (),
            coinbase=vote[0] if vote else b"\x00" * 20,
            nonce=rules.NONCE_AUTH if vote and vote[1] else rules.NONCE_DROP,
            difficulty=rules.DIFF_IN_TURN if self.snap.in_turn(number, signer) else rules.DIFF_NO_TURN,
        )  # fmt: skip
        if fields:
            header = header.replace(**fields)
        return sign_clique(header, self.by_address[signer])

    def next(self, signer: bytes | None = None, vote: tuple[bytes, bool] | None = None) -> Header:
        """Append the next block (see ``make``); raises VerificationError if geth would reject it."""
        header = self.make(signer, vote)
        self.snap = self.snap.apply(header, rules.read_seal(header, self.epoch), self.epoch)
        self.headers.append(header)
        return header


__all__ = ["CliqueChainBuilder", "clique_header", "sign_clique"]
