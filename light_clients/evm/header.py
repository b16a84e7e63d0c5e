"""Execution-layer block headers: per-fork layouts as data, parsing, RLP and hashing.

A header's fork is chosen by which optional fields it carries: the fields are read in
canonical order and the layout stops at the first absent one. Every newer layout extends
the older one (``LONDON = BASE + baseFeePerGas`` ...), so a new fork is one line here.

The hash is always ``keccak(rlp(header))`` recomputed from the fields; a ``hash`` sent
by an RPC is never trusted, only compared (see ``client.EvmLightClient.verify_header``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import rlp
from eth_utils import keccak
from rlp.sedes import Binary, big_endian_int, binary

from relayer.errors import RpcAnswerError, VerificationError

hash32 = Binary.fixed_length(32)
address = Binary.fixed_length(20)
bloom = Binary.fixed_length(256)
nonce8 = Binary.fixed_length(8)

Layout = tuple[tuple[str, Any], ...]

BASE: Layout = (
    ("parent_hash", hash32),
    ("uncles_hash", hash32),
    ("coinbase", address),
    ("state_root", hash32),
    ("transactions_root", hash32),
    ("receipts_root", hash32),
    ("logs_bloom", bloom),
    ("difficulty", big_endian_int),
    ("number", big_endian_int),
    ("gas_limit", big_endian_int),
    ("gas_used", big_endian_int),
    ("timestamp", big_endian_int),
    ("extra_data", binary),
    ("mix_hash", hash32),
    ("nonce", nonce8),
)
LONDON: Layout = BASE + (("base_fee", big_endian_int),)
SHANGHAI: Layout = LONDON + (("withdrawals_root", hash32),)
CANCUN: Layout = SHANGHAI + (
    ("blob_gas_used", big_endian_int),
    ("excess_blob_gas", big_endian_int),
    ("parent_beacon_block_root", hash32),
)
PRAGUE: Layout = CANCUN + (("requests_hash", hash32),)

#: Fork name of each layout, keyed by its field count (the count identifies the layout).
LAYOUTS: dict[int, tuple[str, Layout]] = {
    len(layout): (name, layout)
    for name, layout in (
        ("frontier", BASE),
        ("london", LONDON),
        ("shanghai", SHANGHAI),
        ("cancun", CANCUN),
        ("prague", PRAGUE),
    )
}
ALL_FIELDS: tuple[str, ...] = tuple(name for name, _ in PRAGUE)

#: eth_getBlockByNumber key of each field.
RPC_NAMES: dict[str, str] = dict(
    zip(
        ALL_FIELDS,
        (
            "parentHash sha3Uncles miner stateRoot transactionsRoot receiptsRoot logsBloom"
            " difficulty number gasLimit gasUsed timestamp extraData mixHash nonce baseFeePerGas"
            " withdrawalsRoot blobGasUsed excessBlobGas parentBeaconBlockRoot requestsHash"
        ).split(),
        strict=True,
    )
)
#: ethereum/tests (and ethereumjs ``blocks_*.json``) key of each field.
FIXTURE_NAMES: dict[str, str] = RPC_NAMES | {
    "uncles_hash": "uncleHash",
    "coinbase": "coinbase",
    "transactions_root": "transactionsTrie",
    "receipts_root": "receiptTrie",
    "logs_bloom": "bloom",
}


@dataclass(frozen=True)
class Header:
    """An execution-layer block header; fields after ``nonce`` are None before their fork.

    Raises VerificationError on construction when a field does not fit its RLP type or
    the optional fields do not form a known fork layout.
    """

    parent_hash: bytes
    uncles_hash: bytes
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    difficulty: int
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    mix_hash: bytes
    nonce: bytes
    base_fee: int | None = None
    withdrawals_root: bytes | None = None
    blob_gas_used: int | None = None
    excess_blob_gas: int | None = None
    parent_beacon_block_root: bytes | None = None
    requests_hash: bytes | None = None

    def __post_init__(self) -> None:
        self.rlp  # noqa: B018 - validates every field once, eagerly

    @cached_property
    def layout(self) -> Layout:
        """The fork layout of this header; raises VerificationError if none fits."""
        present = _present_prefix(lambda name: getattr(self, name) is not None, self.number)
        return LAYOUTS[present][1]

    @property
    def fork(self) -> str:
        """Name of the oldest fork whose layout this header has (``frontier`` ... ``prague``)."""
        return LAYOUTS[len(self.layout)][0]

    @cached_property
    def rlp(self) -> bytes:
        """The canonical RLP encoding; raises VerificationError if a field is ill-typed."""
        return rlp.encode([_serialize(self, name, sedes) for name, sedes in self.layout])

    @cached_property
    def hash(self) -> bytes:
        """keccak256 of the RLP encoding, recomputed from the fields."""
        return keccak(self.rlp)

    def replace(self, **changes: Any) -> Header:
        """A copy with some fields changed (used to prove that any change alters the hash)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return Header(**values)


def _serialize(header: Header, name: str, sedes: Any) -> Any:
    try:
        return sedes.serialize(getattr(header, name))
    except rlp.exceptions.SerializationError as exc:
        raise VerificationError(f"header field {name} is ill-typed", block=header.number) from exc


def _present_prefix(has: Callable[[str], bool], number: object, label: Mapping[str, str] | None = None) -> int:
    """Length of the run of present fields; raises VerificationError if it is no layout.

    ``label`` maps field names to the names shown in the error (the JSON keys).
    """
    count = next((i for i, name in enumerate(ALL_FIELDS) if not has(name)), len(ALL_FIELDS))
    stray = [name for name in ALL_FIELDS[count:] if has(name)]
    if stray or count not in LAYOUTS:
        shown = label or {name: name for name in ALL_FIELDS}
        missing = shown[ALL_FIELDS[count]] if count < len(ALL_FIELDS) else None
        raise VerificationError(
            "header fields form no known fork layout",
            block=number,
            missing=missing,
            yet_present=shown[stray[0]] if stray else None,
        )
    return count


# --------------------------------------------------------------------------- JSON parsing


def parse_quantity(value: object, what: str, block: object = None) -> int:
    """A JSON-RPC quantity: ``0x``-hex, a decimal string (ethereumjs-style) or an int.

    Raises RpcAnswerError naming ``what`` and ``block`` on anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        hex_form = value[:2] in ("0x", "0X")
        digits = value[2:] if hex_form else value
        if digits and digits.isascii() and digits.isalnum():
            try:
                return int(digits, 16 if hex_form else 10)
            except ValueError:
                pass
    raise RpcAnswerError(f"{what} is not a quantity: {value!r}", block=block)


def parse_data(value: object, what: str, block: object = None, size: int | None = None) -> bytes:
    """JSON-RPC data: ``0x``-prefixed hex of an even length (``size`` bytes if given).

    Raises RpcAnswerError naming ``what`` and ``block`` on anything else.
    """
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            data = bytes.fromhex(value[2:])
        except ValueError:
            data = None
        if data is not None and (size is None or len(data) == size):
            return data
    expected = f"{size} bytes of " if size else ""
    raise RpcAnswerError(f"{what} is not {expected}0x-hex data: {value!r}", block=block)


def _parse_field(key: str, sedes: Any, value: object, block: object) -> int | bytes:
    if sedes is big_endian_int:
        return parse_quantity(value, key, block)
    size = getattr(sedes, "min_length", 0) or None  # fixed-length binaries; 0 for binary
    return parse_data(value, key, block, size)


def _header_from_json(block: Mapping[str, Any], names: Mapping[str, str]) -> Header:
    """Read a header from a JSON object whose keys are given by ``names``."""
    if not isinstance(block, Mapping):
        raise RpcAnswerError(f"block is not a JSON object: {type(block).__name__}")
    number = _number_for_errors(block.get(names["number"]))
    try:
        _, layout = LAYOUTS[_present_prefix(lambda name: block.get(names[name]) is not None, number, names)]
        # each field parsed as its layout's sedes says: an int or bytes, as Header declares it
        values: dict[str, Any] = {name: _parse_field(names[name], sedes, block[names[name]], number)
                                  for name, sedes in layout}
        return Header(**values)
    except VerificationError as exc:
        raise RpcAnswerError(exc.message, **exc.fields) from exc


def _number_for_errors(value: object) -> object:
    """The block number as an int when it parses, else as given (errors name it either way)."""
    try:
        return parse_quantity(value, "number")
    except RpcAnswerError:
        return value


def header_from_rpc(block: Mapping[str, Any]) -> Header:
    """Header of an ``eth_getBlockByNumber``/``ByHash`` result; ignores ``hash`` and extras.

    Raises RpcAnswerError (naming the field and block number) on a malformed answer.
    """
    return _header_from_json(block, RPC_NAMES)


def header_from_fixture(block_header: Mapping[str, Any]) -> Header:
    """Header of an ethereum/tests ``blockHeader`` (``uncleHash``, ``coinbase``, ``receiptTrie``...).

    Raises RpcAnswerError (naming the field and block number) on a malformed object.
    """
    return _header_from_json(block_header, FIXTURE_NAMES)


# --------------------------------------------------------------------------- RLP decoding


def decode_header(encoded: bytes) -> Header:
    """Decode a canonical header RLP (any known fork layout).

    Raises VerificationError if ``encoded`` is not exactly one canonical RLP list of a
    known layout; never another exception type.
    """
    items = _decode_list(encoded)
    if len(items) not in LAYOUTS:
        raise VerificationError(f"header RLP has {len(items)} fields, no known fork layout")
    _, layout = LAYOUTS[len(items)]
    values = {name: _deserialize(name, sedes, item) for (name, sedes), item in zip(layout, items, strict=True)}
    return Header(**values)


def _decode_list(encoded: bytes) -> list[Any]:
    try:
        items = rlp.decode(encoded, strict=True)
    except (rlp.exceptions.RLPException, TypeError, RecursionError) as exc:
        raise VerificationError("header is not valid RLP") from exc
    if not isinstance(items, list):
        raise VerificationError("header RLP is not a list")
    return items


def _deserialize(name: str, sedes: Any, item: Any) -> Any:
    try:
        return sedes.deserialize(item)
    except (rlp.exceptions.DeserializationError, TypeError) as exc:
        raise VerificationError(f"header field {name} is malformed") from exc


__all__ = [
    "BASE",
    "CANCUN",
    "LAYOUTS",
    "LONDON",
    "PRAGUE",
    "SHANGHAI",
    "Header",
    "decode_header",
    "header_from_fixture",
    "header_from_rpc",
    "parse_data",
    "parse_quantity",
]
