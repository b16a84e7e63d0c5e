"""Build validly sealed BFT headers (tests, devnets, a vendor's conformance checks).

Not used by the verifiers. ``BftChainBuilder`` grows a chain block by block: each block
lists the set in force, may carry a vote, and is sealed by the keys given; the set of the
next block follows Besu's rule for a vote that passed (the builder applies a vote when told
``passes=True``, as a tally reaching its threshold would).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from light_clients.bft import rules
from light_clients.bft.codec import BftExtra, ExtraCodec, Vote, decode_extra, encode_extra
from light_clients.bft.common import address_of, hex0x, sign_hash
from light_clients.evm.header import RPC_NAMES, Header

ZERO32 = b"\x00" * 32
EMPTY_TRIE = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def unsealed_header(
    codec: ExtraCodec,
    *,
    number: int,
    parent_hash: bytes,
    validators: Iterable[bytes],
    proposer: bytes,
    vote: Vote | None = None,
    round_: int = 0,
    **fields: Any,
) -> Header:
    """A BFT header (London layout) listing ``validators``, with an empty seal list."""
    extra = BftExtra(ZERO32, tuple(sorted(validators)), vote, round_, ())
    values: dict[str, Any] = {
        "parent_hash": parent_hash, "uncles_hash": rules.EMPTY_UNCLES_HASH, "coinbase": proposer,
        "state_root": ZERO32, "transactions_root": EMPTY_TRIE, "receipts_root": EMPTY_TRIE,
        "logs_bloom": b"\x00" * 256, "difficulty": 1, "number": number, "gas_limit": 30_000_000,
        "gas_used": 0, "timestamp": 1_700_000_000 + number, "extra_data": encode_extra(codec, extra),
        "mix_hash": rules.BFT_MIX_HASH, "nonce": b"\x00" * 8, "base_fee": 7,
    }  # fmt: skip
    return Header(**(values | fields))


def seal_header(codec: ExtraCodec, header: Header, keys: Sequence[bytes]) -> Header:
    """``header`` with committed seals by ``keys`` (replacing any seals it had)."""
    extra = decode_extra(codec, header.extra_data)
    digest = rules.commit_hash(codec, header, extra)
    seals = tuple(sign_hash(k, digest) for k in keys)
    sealed = BftExtra(extra.vanity, extra.validators, extra.vote, extra.round, seals)
    return header.replace(extra_data=encode_extra(codec, sealed))


def with_extra(codec: ExtraCodec, header: Header, **changes: Any) -> Header:
    """``header`` with some extraData items changed (``validators``, ``vote``, ``round``, ``seals``)."""
    extra = decode_extra(codec, header.extra_data)
    values = {name: getattr(extra, name) for name in ("vanity", "validators", "vote", "round", "seals")} | changes
    return header.replace(extra_data=encode_extra(codec, BftExtra(**values)))


@dataclass
class BftChainBuilder:
    """A BFT chain grown from a genesis listing the addresses of ``keys``."""

    codec: ExtraCodec
    keys: list[bytes]
    headers: list[Header] = field(default_factory=list)
    validators: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        self.validators = tuple(sorted(address_of(k) for k in self.keys))
        self.by_address = {address_of(k): k for k in self.keys}
        self.headers.append(self._make(0, ZERO32, None, self.signing_keys()))

    def signing_keys(self, validators: Iterable[bytes] | None = None) -> list[bytes]:
        """Keys of the members of ``validators`` (default: the set in force) known to the builder."""
        members = self.validators if validators is None else validators
        return [self.by_address[a] for a in sorted(members) if a in self.by_address]

    def add_key(self, key: bytes) -> bytes:
        """Make a key known (a candidate to vote in); returns its address."""
        self.by_address[address_of(key)] = key
        return address_of(key)

    def block_hash(self, header: Header) -> bytes:
        return rules.block_hash(self.codec, header, decode_extra(self.codec, header.extra_data))

    def next(self, vote: Vote | None = None, *, passes: bool = False, keys: Sequence[bytes] | None = None) -> Header:
        """Append a block sealed by ``keys`` (default: every key of the set in force).

        With ``passes`` the vote takes effect: the *next* block lists the changed set.
        """
        parent = self.headers[-1]
        header = self._make(parent.number + 1, self.block_hash(parent), vote, keys or self.signing_keys())
        self.headers.append(header)
        if passes and vote is not None:
            changed = set(self.validators) | {vote.recipient} if vote.add else set(self.validators) - {vote.recipient}
            self.validators = tuple(sorted(changed))
        return header

    def _make(self, number: int, parent_hash: bytes, vote: Vote | None, keys: Sequence[bytes]) -> Header:
        proposer = self.validators[number % len(self.validators)]
        header = unsealed_header(
            self.codec, number=number, parent_hash=parent_hash, validators=self.validators, proposer=proposer, vote=vote
        )
        return seal_header(self.codec, header, keys)


def header_to_rpc(header: Header, block_hash: bytes | None = None) -> dict[str, Any]:
    """An ``eth_getBlockByNumber``-style JSON object of ``header`` (``hash`` = ``block_hash``)."""
    out: dict[str, Any] = {}
    for name, _ in header.layout:
        value = getattr(header, name)
        out[RPC_NAMES[name]] = hex(value) if isinstance(value, int) else hex0x(value)
    out["hash"] = hex0x(block_hash if block_hash is not None else header.hash)
    out["transactions"] = []
    out["uncles"] = []
    return out


__all__ = ["BftChainBuilder", "header_to_rpc", "seal_header", "unsealed_header", "with_extra"]
