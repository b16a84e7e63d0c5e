"""Proto3 wire format for the few ChainMaker messages a light client needs, declared as data.

A :class:`Schema` lists a message's fields (number, name, kind). Three functions work from it:
``from_json`` (a message as the node's JSON serves it: names as in the .proto, bytes in base64,
integers as numbers or decimal strings), ``encode`` (the bytes Go's ``proto.Marshal`` produces:
fields in number order, zero scalars left out, a set sub-message always written, repeated
messages and strings element by element, repeated numbers packed) and ``decode`` (wire bytes
back to values; an unknown field is refused, since a re-encoding without it would not be what
the signer signed).

Values are plain dicts: scalars as int/bool/str/bytes (absent: zero value), a sub-message as a
dict or None, a repeated field as a list. Map fields are declared as repeated entry messages
(key = 1, value = 2), which is what they are on the wire; they are only ever decoded here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

Msg = dict[str, Any]

_VARINT, _LEN = 0, 2
_U64 = (1 << 64) - 1


class Kind(Enum):
    """A field's proto3 type, as far as the encoding differs."""

    UINT = "uint"  # uint32, uint64, enums with no negative values
    INT = "int"  # int32, int64: negative values as ten-byte two's complement varints
    BOOL = "bool"
    STRING = "string"
    BYTES = "bytes"
    MESSAGE = "message"


@dataclass(frozen=True)
class Field:
    """One field: its number, its .proto name (the JSON key), its kind; a sub-message's schema."""

    number: int
    name: str
    kind: Kind
    message: Schema | None = None
    repeated: bool = False


@dataclass(frozen=True)
class Schema:
    """A message type: its name (for error messages) and its fields in number order."""

    name: str
    fields: tuple[Field, ...]

    def field(self, number: int) -> Field | None:
        """The field with ``number``; None when this schema has none."""
        return next((f for f in self.fields if f.number == number), None)


class ProtoError(ValueError):
    """Bytes or JSON that are not the declared message; the text names where."""


# --------------------------------------------------------------------------- JSON in


def from_json(schema: Schema, obj: object, path: str) -> Msg:
    """The message ``obj`` (a JSON object) as values of ``schema``. Raises ProtoError naming the key
    path (``path`` is where ``obj`` sits) for an unknown key or a value of the wrong type."""
    if not isinstance(obj, Mapping):
        raise ProtoError(f"{path} is not an object ({schema.name})")
    names = {f.name for f in schema.fields}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise ProtoError(f"{path}.{unknown[0]} is not a field of {schema.name}")
    out: Msg = {}
    for f in schema.fields:
        value = obj.get(f.name)
        where = f"{path}.{f.name}"
        if f.repeated:
            items = [] if value is None else value
            if not isinstance(items, list):
                raise ProtoError(f"{where} is not a list")
            out[f.name] = [_json_value(f, item, f"{where}[{i}]") for i, item in enumerate(items)]
        else:
            out[f.name] = _json_value(f, value, where)
    return out


def _json_value(f: Field, value: object, where: str) -> Any:
    if value is None:
        return None if f.kind is Kind.MESSAGE else _zero(f.kind)
    if f.kind is Kind.MESSAGE:
        assert f.message is not None
        return from_json(f.message, value, where)
    if f.kind in (Kind.UINT, Kind.INT):
        return _json_int(f, value, where)
    if f.kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise ProtoError(f"{where} is not true or false")
        return value
    if not isinstance(value, str):
        raise ProtoError(f"{where} is not a string")
    if f.kind is Kind.STRING:
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtoError(f"{where} is not base64") from exc


def _json_int(f: Field, value: object, where: str) -> int:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtoError(f"{where} is not an integer")
    low = -(1 << 63) if f.kind is Kind.INT else 0
    high = (1 << 63) - 1 if f.kind is Kind.INT else _U64
    if not low <= value <= high:
        raise ProtoError(f"{where} is out of range: {value}")
    return value


def _zero(kind: Kind) -> Any:
    return {Kind.UINT: 0, Kind.INT: 0, Kind.BOOL: False, Kind.STRING: "", Kind.BYTES: b""}[kind]


# --------------------------------------------------------------------------- bytes out


def encode(schema: Schema, msg: Mapping[str, Any]) -> bytes:
    """``msg`` as Go's ``proto.Marshal`` writes it (deterministic: no map fields are encoded)."""
    out = bytearray()
    for f in schema.fields:
        value = msg.get(f.name)
        if f.repeated and f.kind in _PACKED:
            packed = b"".join(_varint(int(item) & _U64) for item in value or [])
            out += _length_delimited(f.number, packed) if packed else b""
            continue
        for item in (value or []) if f.repeated else [value]:
            out += _encode_field(f, item, f.repeated)
    return bytes(out)


_PACKED = frozenset({Kind.UINT, Kind.INT, Kind.BOOL})  # proto3 packs repeated numbers


def _encode_field(f: Field, value: Any, repeated: bool) -> bytes:
    if f.kind is Kind.MESSAGE:
        if value is None:
            return b""
        assert f.message is not None
        return _length_delimited(f.number, encode(f.message, value))
    if not repeated and value in (None, 0, False, "", b""):
        return b""  # proto3: a zero scalar is not written
    if f.kind is Kind.STRING:
        return _length_delimited(f.number, str(value).encode())
    if f.kind is Kind.BYTES:
        return _length_delimited(f.number, bytes(value))
    return _varint((f.number << 3) | _VARINT) + _varint(int(value) & _U64)


def _length_delimited(number: int, data: bytes) -> bytes:
    return _varint((number << 3) | _LEN) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


# --------------------------------------------------------------------------- bytes in


def decode(schema: Schema, data: bytes, path: str) -> Msg:
    """The values of ``schema`` in ``data``. Raises ProtoError naming ``path`` for truncated or
    malformed bytes, an unknown field or a wire type that does not fit the declared kind."""
    out: Msg = {f.name: [] if f.repeated else (None if f.kind is Kind.MESSAGE else _zero(f.kind))
                for f in schema.fields}
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position, path)
        number, wire = key >> 3, key & 7
        f = schema.field(number)
        if f is None or (f.repeated and f.kind in _PACKED):  # packed numbers: never read here
            raise ProtoError(f"{path}: field {number} is not a field of {schema.name}")
        where = f"{path}.{f.name}"
        if wire != (_VARINT if f.kind in (Kind.UINT, Kind.INT, Kind.BOOL) else _LEN):
            raise ProtoError(f"{where} has wire type {wire}, not that of a {f.kind.value}")
        value, position = _read_value(f, data, position, where)
        if f.repeated:
            out[f.name].append(value)
        else:
            out[f.name] = value
    return out


def _read_value(f: Field, data: bytes, position: int, where: str) -> tuple[Any, int]:
    if f.kind in (Kind.UINT, Kind.INT, Kind.BOOL):
        raw, position = _read_varint(data, position, where)
        if f.kind is Kind.BOOL:
            return raw != 0, position
        return (raw - (1 << 64) if f.kind is Kind.INT and raw >> 63 else raw), position
    size, position = _read_varint(data, position, where)
    if position + size > len(data):
        raise ProtoError(f"{where} is truncated")
    chunk = data[position:position + size]
    position += size
    if f.kind is Kind.BYTES:
        return chunk, position
    if f.kind is Kind.STRING:
        try:
            return chunk.decode(), position
        except UnicodeDecodeError as exc:
            raise ProtoError(f"{where} is not UTF-8") from exc
    assert f.message is not None
    return decode(f.message, chunk, where), position


def _read_varint(data: bytes, position: int, where: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ProtoError(f"{where}: truncated or overlong varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if value > _U64:
                raise ProtoError(f"{where}: varint out of range")
            return value, position


__all__ = ["Field", "Kind", "Msg", "ProtoError", "Schema", "decode", "encode", "from_json"]
