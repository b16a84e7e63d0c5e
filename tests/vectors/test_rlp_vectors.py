"""ethereum/tests RLPTests with the ``rlp`` package: encodings, round trips, strict rejection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp

RLP_TESTS = Path("ethereum-tests/RLPTests")


def _load(vectors: Path, name: str) -> dict[str, Any]:
    return json.loads((vectors / RLP_TESTS / name).read_text())  # type: ignore[no-any-return]


def _hex(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)


def _sedes_value(item: Any) -> Any:
    """The test's ``in`` as the rlp package's input: ``#``-strings are big integers."""
    if isinstance(item, list):
        return [_sedes_value(x) for x in item]
    if isinstance(item, str) and item.startswith("#"):
        return int(item[1:])
    return item.encode() if isinstance(item, str) else item


def _decoded_form(item: Any) -> Any:
    """What ``rlp.decode`` returns for the test's ``in``: bytes everywhere, ints big-endian."""
    value = _sedes_value(item)
    if isinstance(value, list):
        return [_decoded_form(x) for x in item]
    if isinstance(value, int):
        return value.to_bytes((value.bit_length() + 7) // 8, "big")
    return value


def test_valid_vectors_encode_and_round_trip(vectors: Path) -> None:
    cases = _load(vectors, "rlptest.json")
    assert len(cases) == 28
    for name, case in cases.items():
        expected = _hex(case["out"])
        assert rlp.encode(_sedes_value(case["in"])) == expected, name
        decoded = rlp.decode(expected, strict=True)
        assert decoded == _decoded_form(case["in"]), name
        assert rlp.encode(decoded) == expected, name


def test_invalid_vectors_are_rejected(vectors: Path) -> None:
    cases = _load(vectors, "invalidRLPTest.json")
    assert len(cases) == 26
    for name, case in cases.items():
        with pytest.raises(rlp.exceptions.DecodingError):
            rlp.decode(_hex(case["out"]), strict=True)
            pytest.fail(f"{name} decoded")


@pytest.mark.parametrize("name", ["bigint", "mediumint5"])
def test_big_integers_decode_with_the_int_sedes(vectors: Path, name: str) -> None:
    case = _load(vectors, "rlptest.json")[name]
    value = rlp.decode(_hex(case["out"]), sedes=rlp.sedes.big_endian_int)
    assert value == int(case["in"][1:])
