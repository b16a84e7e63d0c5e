"""Besu's BFT ``extraData`` codecs (QBFT and IBFT 2.0), declared as data.

Both are ``RLP([vanity32, [validators], vote, round, [seals]])``; they differ in how a
missing vote, a drop vote and the round are written, and in which items each hash sees:

=========  ==================  ================  =============  ==================================
codec      no vote             vote              round          hashed forms
=========  ==================  ================  =============  ==================================
qbft       ``0xc0`` (empty     ``[addr, 0x81ff]``  RLP scalar     commit seal: seals emptied (``0xc0``);
           list)               add, ``[addr,                      block hash: round 0 (``0x80``) and
                               0x80]`` drop                       seals emptied
ibft2      ``0x80`` (null)     ``[addr, 0x81ff]``  4-byte fixed   commit seal: ``[vanity, validators,
                               add, ``[addr,                      vote, round]``; block hash:
                               0x00]`` drop                       ``[vanity, validators, vote]``
=========  ==================  ================  =============  ==================================

(Besu ``QbftExtraDataCodec`` / ``IbftExtraDataCodec``, ``EncodingType``
``EXCLUDE_COMMIT_SEALS`` and ``EXCLUDE_COMMIT_SEALS_AND_ROUND_NUMBER``.) Hashes are
computed over a re-encoding of the decoded values, exactly as Besu does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rlp
from rlp.sedes import big_endian_int

from relayer.errors import VerificationError

VANITY_LENGTH = 32
ADDRESS_LENGTH = 20
SEAL_LENGTH = 65
ROUND_BYTES = 4  # Besu keeps the round in a Java int

#: The names of the items a form writes, in order (see ``ITEM_WRITERS``).
Form = tuple[str, ...]


@dataclass(frozen=True)
class Vote:
    """A proposal in a block: add (``add=True``) or drop ``recipient`` from the validators."""

    recipient: bytes
    add: bool

    def to_json(self) -> dict[str, Any]:
        return {"recipient": "0x" + self.recipient.hex(), "add": self.add}


@dataclass(frozen=True)
class BftExtra:
    """The decoded ``extraData`` of a BFT header."""

    vanity: bytes
    validators: tuple[bytes, ...]
    vote: Vote | None
    round: int
    seals: tuple[bytes, ...]


@dataclass(frozen=True)
class ExtraCodec:
    """How one BFT protocol writes its extra data; see the module docstring."""

    name: str
    no_vote: Any  # the RLP item of "no vote": [] (QBFT) or b"" (IBFT 2.0)
    add_byte: bytes
    drop_bytes: tuple[bytes, ...]  # accepted when decoding; the first is written
    round_width: int | None  # fixed byte width, or None for a minimal RLP scalar
    full_form: Form
    commit_form: Form
    block_form: Form


QBFT = ExtraCodec(
    name="qbft",
    no_vote=[],
    add_byte=b"\xff",
    drop_bytes=(b"", b"\x00"),
    round_width=None,
    full_form=("vanity", "validators", "vote", "round", "seals"),
    commit_form=("vanity", "validators", "vote", "round", "no_seals"),
    block_form=("vanity", "validators", "vote", "round_zero", "no_seals"),
)

IBFT2 = ExtraCodec(
    name="ibft2",
    no_vote=b"",
    add_byte=b"\xff",
    drop_bytes=(b"\x00",),
    round_width=ROUND_BYTES,
    full_form=("vanity", "validators", "vote", "round", "seals"),
    commit_form=("vanity", "validators", "vote", "round"),
    block_form=("vanity", "validators", "vote"),
)


# --------------------------------------------------------------------------- encoding


def _round_item(codec: ExtraCodec, value: int) -> bytes:
    if codec.round_width is None:
        return big_endian_int.serialize(value)
    return value.to_bytes(codec.round_width, "big")


def _vote_item(codec: ExtraCodec, vote: Vote | None) -> Any:
    if vote is None:
        return codec.no_vote
    return [vote.recipient, codec.add_byte if vote.add else codec.drop_bytes[0]]


ITEM_WRITERS: dict[str, Callable[[ExtraCodec, BftExtra], Any]] = {
    "vanity": lambda codec, extra: extra.vanity,
    "validators": lambda codec, extra: list(extra.validators),
    "vote": lambda codec, extra: _vote_item(codec, extra.vote),
    "round": lambda codec, extra: _round_item(codec, extra.round),
    "round_zero": lambda codec, extra: _round_item(codec, 0),
    "seals": lambda codec, extra: list(extra.seals),
    "no_seals": lambda codec, extra: [],
}


def encode_extra(codec: ExtraCodec, extra: BftExtra, form: Form | None = None) -> bytes:
    """RLP of ``extra`` in ``form`` (default: the full form with seals)."""
    names = codec.full_form if form is None else form
    return rlp.encode([ITEM_WRITERS[name](codec, extra) for name in names])


# --------------------------------------------------------------------------- decoding


def decode_extra(codec: ExtraCodec, data: bytes) -> BftExtra:
    """Decode a header's ``extraData``.

    Raises VerificationError (naming the item) unless ``data`` is exactly one RLP list of
    the codec's five items: a 32-byte vanity, a list of 20-byte validators, a vote, a round
    and a list of 65-byte seals.
    """
    items = _decode_items(codec, data)
    vanity, validators, vote, round_, seals = items
    return BftExtra(
        vanity=_vanity(vanity),
        validators=_byte_list(validators, ADDRESS_LENGTH, "validators"),
        vote=_vote(codec, vote),
        round=_round(codec, round_),
        seals=_byte_list(seals, SEAL_LENGTH, "committed seals"),
    )


# A 255-validator extraData with all seals is under 23 KB; anything far larger is a lie meant to
# make the (recursive, quadratic) RLP decoder stall or overflow the stack.
MAX_EXTRA_BYTES = 64 * 1024


def _decode_items(codec: ExtraCodec, data: bytes) -> list[Any]:
    if len(data) > MAX_EXTRA_BYTES:
        raise VerificationError(f"extraData of {len(data)} bytes is larger than any {codec.name} header's")
    try:
        items = rlp.decode(data, strict=True)
    except (rlp.exceptions.RLPException, TypeError, RecursionError) as exc:
        raise VerificationError(f"extraData is not RLP ({codec.name} extra data expected)") from exc
    if not isinstance(items, list) or len(items) != len(codec.full_form):
        raise VerificationError(f"extraData is not the {len(codec.full_form)}-item {codec.name} extra-data list")
    return items


def _vanity(item: Any) -> bytes:
    if not isinstance(item, bytes) or len(item) != VANITY_LENGTH:
        raise VerificationError(f"extraData vanity is not {VANITY_LENGTH} bytes")
    return item


def _byte_list(item: Any, size: int, what: str) -> tuple[bytes, ...]:
    if not isinstance(item, list) or not all(isinstance(x, bytes) and len(x) == size for x in item):
        raise VerificationError(f"extraData {what} are not a list of {size}-byte values")
    return tuple(item)


def _vote(codec: ExtraCodec, item: Any) -> Vote | None:
    if item == codec.no_vote and type(item) is type(codec.no_vote):
        return None
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], bytes)
            and len(item[0]) == ADDRESS_LENGTH):
        raise VerificationError(f"extraData vote is neither 'no vote' nor [recipient, type] ({codec.name})")
    if item[1] == codec.add_byte:
        return Vote(item[0], add=True)
    if item[1] in codec.drop_bytes:
        return Vote(item[0], add=False)
    raise VerificationError(f"extraData vote type {item[1]!r} is neither add nor drop ({codec.name})")


def _round(codec: ExtraCodec, item: Any) -> int:
    if not isinstance(item, bytes):
        raise VerificationError("extraData round is not a byte string")
    if codec.round_width is not None and len(item) != codec.round_width:
        raise VerificationError(f"extraData round is not {codec.round_width} bytes ({codec.name})")
    if codec.round_width is None and (len(item) > ROUND_BYTES or item[:1] == b"\x00"):
        raise VerificationError(f"extraData round is not a minimal scalar of at most {ROUND_BYTES} bytes")
    return int.from_bytes(item, "big")


__all__ = ["IBFT2", "QBFT", "BftExtra", "ExtraCodec", "Form", "Vote", "decode_extra", "encode_extra"]
