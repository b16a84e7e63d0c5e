"""Building and sealing Besu QBFT / IBFT 2.0 headers, for tests, the benchmark and the devnet.

Anvil cannot seal BFT blocks, so a header taken from anvil (``header_from_rpc``) gets a
BFT ``extraData`` here: its validator list, an optional vote, the round and the committed
seals of validator keys the caller holds. Every other field keeps anvil's real value, so the
receipts root still matches anvil's receipts and a Bridge proof against it verifies.

Encodings (Besu ``QbftExtraDataCodec`` / ``IbftExtraDataCodec``)::

    extraData = RLP([vanity, [validators], vote, round, [seals]])
    QBFT:     vote none 0xc0, add [addr, 0x81ff], drop [addr, 0x80]; round an RLP scalar
    IBFT 2.0: vote none 0x80, add [addr, 0x81ff], drop [addr, 0x00]; round 4 bytes big-endian

Hashes (Besu ``BftBlockHashing``), each keccak(RLP(header with extraData replaced))::

    committed-seal digest  QBFT [vanity, validators, vote, round, []]   IBFT 2.0 [vanity, validators, vote, round]
    block hash (on-chain)  QBFT [vanity, validators, vote, 0x80, []]    IBFT 2.0 [vanity, validators, vote]

A seal is 65 bytes ``r‖s‖v`` with ``v`` in {0, 1}. ``QbftLightClient.sol`` implements the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import to_checksum_address

from light_clients.evm.header import Header
from relayer.errors import VerificationError

FLAVOURS = ("qbft", "ibft2")
FLAVOUR_ID = {"qbft": 0, "ibft2": 1}  # the QbftLightClient constructor argument
VANITY = bytes(32)
SEAL_BYTES = 65
ADD, DROP = b"\xff", b""  # QBFT vote kinds as RLP strings (0x81ff, 0x80)
IBFT2_DROP = b"\x00"


@dataclass(frozen=True)
class Vote:
    """A proposer's vote to add (``add=True``) or drop ``recipient``."""

    recipient: str
    add: bool


@dataclass(frozen=True)
class BftExtra:
    """A decoded BFT extraData."""

    vanity: bytes = VANITY
    validators: tuple[bytes, ...] = ()
    vote: Vote | None = None
    round: int = 0
    seals: tuple[bytes, ...] = field(default=())


def quorum(n: int) -> int:
    """Committed seals a header of an ``n``-validator set needs: ceil(2n/3) (Besu)."""
    return (2 * n + 2) // 3


# ---------------------------------------------------------------------- extraData codec


def encode_extra(extra: BftExtra, flavour: str = "qbft", *, part: str = "full") -> bytes:
    """RLP extraData. ``part``: ``full``; ``commit`` (the committed-seal form: QBFT seals emptied,
    IBFT 2.0 seals omitted); ``onchain`` (the block-hash form: QBFT round 0 and no seals, IBFT 2.0
    round and seals omitted)."""
    _check_flavour(flavour)
    qbft = flavour == "qbft"
    items: list[Any] = [extra.vanity, [_address(v) for v in extra.validators], _vote_item(extra.vote, qbft)]
    if part == "full":
        items += [_round_item(extra.round, qbft), list(extra.seals)]
    elif part == "commit":
        items += [_round_item(extra.round, qbft), []] if qbft else [_round_item(extra.round, qbft)]
    elif part == "onchain":
        items += [b"", []] if qbft else []
    else:
        raise ValueError(f"unknown extraData part {part!r}")
    return rlp.encode(items)


def decode_extra(data: bytes, flavour: str = "qbft") -> BftExtra:
    """Decode a BFT extraData. Raises VerificationError when it is not the 5-item structure."""
    _check_flavour(flavour)
    try:
        items = rlp.decode(bytes(data), strict=True)
    except (rlp.exceptions.RLPException, TypeError, RecursionError) as exc:
        raise VerificationError("extraData is not RLP") from exc
    if not isinstance(items, list) or len(items) != 5:
        raise VerificationError("extraData is not a 5-item BFT list")
    vanity, validators, vote, round_, seals = items
    if not isinstance(vanity, bytes) or not isinstance(validators, list) or not isinstance(seals, list):
        raise VerificationError("extraData items have the wrong shape")
    if any(not isinstance(v, bytes) or len(v) != 20 for v in validators):
        raise VerificationError("a validator is not 20 bytes")
    if any(not isinstance(s, bytes) or len(s) != SEAL_BYTES for s in seals):
        raise VerificationError("a committed seal is not 65 bytes")
    if not isinstance(round_, bytes):
        raise VerificationError("round is not a string")
    return BftExtra(vanity, tuple(validators), _decode_vote(vote), int.from_bytes(round_, "big"), tuple(seals))


# ---------------------------------------------------------------------- hashes


def committed_seal_hash(header: Header, flavour: str = "qbft") -> bytes:
    """The digest validators seal: the header with extraData in its committed-seal form."""
    extra = decode_extra(header.extra_data, flavour)
    return header.replace(extra_data=encode_extra(extra, flavour, part="commit")).hash


def qbft_block_hash(header: Header, flavour: str = "qbft") -> bytes:
    """Besu's block hash (what the child's parentHash names and what the light client stores)."""
    extra = decode_extra(header.extra_data, flavour)
    return header.replace(extra_data=encode_extra(extra, flavour, part="onchain")).hash


# ---------------------------------------------------------------------- seals


def sign_seal(key_hex: str, digest: bytes) -> bytes:
    """A committed seal: 65 bytes ``r‖s‖v`` with ``v`` in {0, 1}."""
    if len(digest) != 32:
        raise VerificationError("a digest is 32 bytes", length=len(digest))
    return keys.PrivateKey(_key_bytes(key_hex)).sign_msg_hash(bytes(digest)).to_bytes()


def recover_seal(digest: bytes, seal: bytes) -> str:
    """Checksummed signer of a committed seal. Raises VerificationError on a malformed seal."""
    try:
        return keys.Signature(bytes(seal)).recover_public_key_from_msg_hash(bytes(digest)).to_checksum_address()
    except (BadSignature, ValueError) as exc:
        raise VerificationError("committed seal does not recover") from exc


def seal_signers(header: Header, flavour: str = "qbft") -> list[str]:
    """Signers of the header's committed seals, in seal order."""
    digest = committed_seal_hash(header, flavour)
    return [recover_seal(digest, s) for s in decode_extra(header.extra_data, flavour).seals]


def address_of(key_hex: str) -> str:
    """Checksummed address of a private key."""
    return keys.PrivateKey(_key_bytes(key_hex)).public_key.to_checksum_address()


def sealed_header(header: Header, validators: Sequence[str], round: int = 0, flavour: str = "qbft",
                  vote: Vote | None = None, *, listed: Iterable[str] | None = None,
                  vanity: bytes = VANITY) -> Header:
    """``header`` with only its extraData replaced: ``listed`` validator addresses (default: the
    addresses of the ``validators`` keys), sorted ascending as Besu lists them, ``vote``, ``round``
    and one committed seal per key in ``validators``, in the given order."""
    _check_flavour(flavour)
    if listed is None:
        listed = [address_of(k) for k in validators]
    ordered = tuple(sorted((_address(a) for a in listed), key=lambda b: int.from_bytes(b, "big")))
    unsealed = BftExtra(vanity, ordered, vote, round)
    draft = header.replace(extra_data=encode_extra(unsealed, flavour))
    digest = committed_seal_hash(draft, flavour)
    seals = tuple(sign_seal(k, digest) for k in validators)
    return header.replace(extra_data=encode_extra(BftExtra(vanity, ordered, vote, round, seals), flavour))


def seal_header(header: Header, validators: Sequence[str], round: int = 0, flavour: str = "qbft",
                vote: Vote | None = None, *, listed: Iterable[str] | None = None,
                vanity: bytes = VANITY) -> bytes:
    """RLP of ``sealed_header(...)``: what ``QbftLightClient.updateHeader`` / ``submitUpdate`` take."""
    return sealed_header(header, validators, round, flavour, vote, listed=listed, vanity=vanity).rlp


def with_seals(header: Header, seals: Iterable[bytes], flavour: str = "qbft") -> Header:
    """``header`` with its committed seals replaced (the rest of extraData unchanged)."""
    extra = decode_extra(header.extra_data, flavour)
    new = BftExtra(extra.vanity, extra.validators, extra.vote, extra.round, tuple(seals))
    return header.replace(extra_data=encode_extra(new, flavour))


# ---------------------------------------------------------------------- helpers


def _vote_item(vote: Vote | None, qbft: bool) -> Any:
    if vote is None:
        return [] if qbft else b""
    kind = ADD if vote.add else (DROP if qbft else IBFT2_DROP)
    return [_address(vote.recipient), kind]


def _decode_vote(item: Any) -> Vote | None:
    if item in (b"", []):
        return None
    if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], bytes) or len(item[0]) != 20:
        raise VerificationError("vote is not [recipient, kind]")
    if item[1] == ADD:
        return Vote(to_checksum_address(item[0]), True)
    if item[1] in (DROP, IBFT2_DROP):
        return Vote(to_checksum_address(item[0]), False)
    raise VerificationError("vote kind is neither add nor drop", kind=item[1].hex())


def _round_item(round_: int, qbft: bool) -> bytes:
    if qbft:
        return round_.to_bytes((round_.bit_length() + 7) // 8, "big")  # RLP scalar: 0 -> 0x80
    return round_.to_bytes(4, "big")


def _address(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 20:
            raise VerificationError("an address is 20 bytes", length=len(value))
        return value
    return bytes.fromhex(to_checksum_address(value)[2:])


def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")


def _key_bytes(key_hex: str) -> bytes:
    text = key_hex[2:] if key_hex.startswith("0x") else key_hex
    key = bytes.fromhex(text)
    if len(key) != 32:
        raise VerificationError("a private key is 32 bytes", length=len(key))
    return key


__all__ = [
    "FLAVOURS",
    "FLAVOUR_ID",
    "BftExtra",
    "Vote",
    "address_of",
    "committed_seal_hash",
    "decode_extra",
    "encode_extra",
    "qbft_block_hash",
    "quorum",
    "recover_seal",
    "seal_header",
    "seal_signers",
    "sealed_header",
    "sign_seal",
    "with_seals",
]
