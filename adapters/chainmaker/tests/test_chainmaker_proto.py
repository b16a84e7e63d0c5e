"""The proto3 wire format of :mod:`relayer_chainmaker.proto`: Go's proto.Marshal rules, and the
recorded blocks' bytes reproduced."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from relayer_chainmaker import messages
from relayer_chainmaker.blockinfo import TBFT_KEY
from relayer_chainmaker.proto import Field, Kind, ProtoError, Schema, decode, encode, from_json

SAMPLE = Schema("Sample", (
    Field(1, "u", Kind.UINT), Field(2, "i", Kind.INT), Field(3, "s", Kind.STRING), Field(4, "b", Kind.BYTES),
    Field(5, "m", Kind.MESSAGE, Schema("Inner", (Field(1, "x", Kind.UINT),))),
    Field(6, "r", Kind.STRING, repeated=True), Field(7, "p", Kind.UINT, repeated=True), Field(8, "f", Kind.BOOL),
))


def test_zero_scalars_are_left_out_and_a_set_message_is_written_even_empty() -> None:
    assert encode(SAMPLE, {"u": 0, "i": 0, "s": "", "b": b"", "m": None, "r": [], "p": [], "f": False}) == b""
    assert encode(SAMPLE, {"m": {"x": 0}}) == b"\x2a\x00"


def test_scalars_in_field_order_with_go_varints() -> None:
    out = encode(SAMPLE, {"f": True, "u": 300, "i": -1, "s": "ab", "b": b"\x00", "r": ["", "z"], "p": [1, 300]})
    assert out == (b"\x08\xac\x02" + b"\x10" + b"\xff" * 9 + b"\x01" + b"\x1a\x02ab" + b"\x22\x01\x00"
                   + b"\x32\x00\x32\x01z" + b"\x3a\x03\x01\xac\x02" + b"\x40\x01")


def test_decode_reads_what_encode_wrote() -> None:
    values: dict[str, Any] = {"u": 7, "i": -5, "s": "x", "b": b"y", "m": {"x": 2}, "r": ["a"], "p": [], "f": True}
    unpacked = Schema("Sample", SAMPLE.fields[:6] + SAMPLE.fields[7:])  # packed numbers are never read
    assert decode(unpacked,
                  encode(SAMPLE, values), "s") == {k: v for k, v in values.items() if k != "p"}


@pytest.mark.parametrize(("data", "words"), [
    (b"\x08", "truncated or overlong varint"),
    (b"\x1a\x05ab", "s.s is truncated"),
    (b"\x48\x01", "field 9 is not a field of Sample"),
    (b"\x0a\x00", "s.u has wire type 2"),
    (b"\x1a\x01\xff", "s.s is not UTF-8"),
])
def test_malformed_bytes_are_refused_naming_where(data: bytes, words: str) -> None:
    with pytest.raises(ProtoError, match=words):
        decode(SAMPLE, data, "s")


@pytest.mark.parametrize(("obj", "words"), [
    ({"u": -1}, "h.u is out of range"), ({"u": "x"}, "h.u is not an integer"), ({"b": "not base64!"}, "h.b is not"),
    ({"zz": 1}, "h.zz is not a field of Sample"), ({"m": []}, "h.m is not an object"),
    ({"r": "a"}, "h.r is not a list"),
    ({"s": 5}, "h.s is not a string"), ({"f": 1}, "h.f is not true or false"),
])
def test_json_of_the_wrong_shape_is_refused_naming_the_key(obj: dict[str, Any], words: str) -> None:
    with pytest.raises(ProtoError, match=words):
        from_json(SAMPLE, obj, "h")


def test_integers_may_come_as_decimal_strings() -> None:
    assert from_json(SAMPLE, {"u": "18446744073709551615", "i": "-3"}, "h")["u"] == (1 << 64) - 1


def test_recorded_quorum_certificates_decode_and_votes_reencode(vector_blocks: dict[int, dict[str, Any]]) -> None:
    for number, block in vector_blocks.items():
        data = base64.b64decode(block["additional_data"]["extra_data"][TBFT_KEY])
        vote_set = decode(messages.VOTE_SET, data, "qc")
        assert vote_set["height"] == number and len(vote_set["votes"]) == 3
        for entry in vote_set["votes"]:
            vote = entry["value"]
            assert vote["voter"] == entry["key"] and vote["hash"] == base64.b64decode(block["header"]["block_hash"])
            assert decode(messages.VOTE, encode(messages.VOTE, vote), "vote") == vote


def test_recorded_headers_reencode_to_their_own_decoding(vector_blocks: dict[int, dict[str, Any]]) -> None:
    for block in vector_blocks.values():
        header = from_json(messages.BLOCK_HEADER, block["header"], "header")
        assert decode(messages.BLOCK_HEADER, encode(messages.BLOCK_HEADER, header), "header") == header
