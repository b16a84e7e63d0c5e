"""Ibft2LightClient: the qbft-tests IBFT 2.0 codec and hashing vectors, and generated chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from light_clients.bft import rules
from light_clients.bft.codec import IBFT2, QBFT, BftExtra, Vote, decode_extra, encode_extra
from light_clients.bft.common import address_of
from light_clients.bft.testing import BftChainBuilder, with_extra
from light_clients.evm.header import Header, header_from_rpc
from light_clients.ibft2 import Ibft2LightClient
from relayer.errors import VerificationError

EXTRA = "qbft-tests/BftExtraDataRLPTests/bft_extra_data.json"
HASHES = "qbft-tests/BftBlockHeaderHashTests/bft_block_headers_data.json"
KEYS = [bytes([i]) * 32 for i in range(1, 5)]
SMALL_KEYS = [i.to_bytes(32, "big") for i in range(1, 5)]  # the vector's private keys 1, 2, 3, 4


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _extra_of(case: dict[str, Any]) -> BftExtra:
    vote = case["vote"]
    return BftExtra(
        vanity=_hex(case["vanityData"]),
        validators=tuple(_hex(v) for v in case["validators"]),
        vote=None if vote is None else Vote(_hex(vote["recipient"]), vote["voteType"] == "0xff"),
        round=case["round"],
        seals=tuple(_hex(s) for s in case["seals"]),
    )


@pytest.fixture(scope="module")
def extra_cases(vectors: Path) -> dict[str, Any]:
    cases: dict[str, Any] = json.loads((vectors / EXTRA).read_text())
    assert len(cases) == 4
    return cases


@pytest.fixture(scope="module")
def hash_case(vectors: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((vectors / HASHES).read_text())["hash_of_qbft_block_header"]
    return case


@pytest.fixture(scope="module")
def hash_header(hash_case: dict[str, Any]) -> Header:
    """The vector's header: JSON ints as RPC quantities, ``ommersHash`` as ``sha3Uncles``, nonce as 8 bytes."""
    fields = dict(hash_case["qbft_block_header"])
    fields["sha3Uncles"] = fields.pop("ommersHash")
    fields["miner"] = fields.pop("coinbase")
    fields["nonce"] = "0x" + fields["nonce"].to_bytes(8, "big").hex()
    return header_from_rpc(fields)


# --------------------------------------------------------------------------- codec


@pytest.mark.parametrize(
    "name",
    [
        "fully_populated_qbft_extra_data_with_add_vote",
        "fully_populated_qbft_extra_data_with_drop_vote",
        "qbft_extra_data_with_null_vote_and_empty_lists",
        "qbft_extra_data_with_drop_vote_and_empty_lists",
    ],
)
def test_extra_data_vectors_encode_and_decode(extra_cases: dict[str, Any], name: str) -> None:
    case = extra_cases[name]
    expected, data = _extra_of(case["qbft_extra_data"]), _hex(case["rlp"])
    assert encode_extra(IBFT2, expected) == data
    assert decode_extra(IBFT2, data) == expected


def test_the_ibft2_encoding_is_not_final_qbft(extra_cases: dict[str, Any]) -> None:
    data = _hex(extra_cases["fully_populated_qbft_extra_data_with_drop_vote"]["rlp"])
    with pytest.raises(VerificationError):
        decode_extra(QBFT, data)  # 4-byte round with a leading zero is no QBFT scalar


def test_bad_vote_type_is_rejected(extra_cases: dict[str, Any]) -> None:
    extra = _extra_of(extra_cases["fully_populated_qbft_extra_data_with_add_vote"]["qbft_extra_data"])
    data = encode_extra(IBFT2, extra).replace(b"\x81\xff", b"\x81\xfe")
    with pytest.raises(VerificationError, match="neither add nor drop"):
        decode_extra(IBFT2, data)


# --------------------------------------------------------------------------- hashes and seals


def test_block_hash_and_committed_seal_hash(hash_case: dict[str, Any], hash_header: Header) -> None:
    extra = decode_extra(IBFT2, hash_header.extra_data)
    assert Ibft2LightClient.hash_of(hash_header) == _hex(hash_case["on_chain_hash"])
    assert rules.commit_hash(IBFT2, hash_header, extra) == _hex(hash_case["committed_seal_hash"])


def test_seals_recover_to_the_keys_1_to_4(hash_header: Header) -> None:
    signers = Ibft2LightClient.signers_of(hash_header)
    assert signers == tuple(address_of(k) for k in SMALL_KEYS)
    assert signers[0] == bytes.fromhex("7e5f4552091a69125d5dfcb7b8c2659029395bdf")


def test_vector_seals_are_not_from_its_listed_validators(hash_case: dict[str, Any], hash_header: Header) -> None:
    """The vector tests hashing and recovery only: its 4 sealers are not its 2 validators."""
    listed = decode_extra(IBFT2, hash_header.extra_data).validators
    client = Ibft2LightClient("ibft", 1, 0, validators=["0x" + v.hex() for v in listed])
    verdict = client.verify(hash_header, _hex(hash_case["on_chain_hash"]))
    assert not verdict.valid and "not a validator" in (verdict.reason or "")
    assert verdict.hash == _hex(hash_case["on_chain_hash"]) and len(verdict.signers) == 4


# --------------------------------------------------------------------------- generated chains


@pytest.fixture
def chain() -> BftChainBuilder:
    builder = BftChainBuilder(IBFT2, list(KEYS))
    for _ in range(5):
        builder.next()
    return builder


def test_generated_chain_is_accepted_with_its_signers(chain: BftChainBuilder) -> None:
    client = Ibft2LightClient("ibft", 1, 0, trusted=chain.headers[0])
    for header in chain.headers[1:]:
        verdict = client.verify(header, chain.block_hash(header))
        assert verdict.valid and set(verdict.signers) == {address_of(k) for k in KEYS}, verdict.reason
        assert client.verify_header(header, chain.block_hash(header)) == chain.block_hash(header)
        client.accept_range([header])
    assert client.head_hash == chain.block_hash(chain.headers[-1])


def test_round_and_seals_do_not_change_the_block_hash(chain: BftChainBuilder) -> None:
    header = chain.headers[3]
    assert chain.block_hash(with_extra(IBFT2, header, round=3, seals=())) == chain.block_hash(header)


@pytest.mark.parametrize(("field", "value"), [("state_root", b"\x01" * 32), ("gas_limit", 1), ("timestamp", 5)])
def test_one_altered_field_is_rejected(chain: BftChainBuilder, field: str, value: Any) -> None:
    client = Ibft2LightClient("ibft", 1, 0, trusted=chain.headers[0])
    verdict = client.verify(chain.headers[1].replace(**{field: value}))
    assert not verdict.valid and "not a validator" in (verdict.reason or "")


def test_one_altered_seal_is_rejected(chain: BftChainBuilder) -> None:
    client = Ibft2LightClient("ibft", 1, 0, trusted=chain.headers[0])
    seals = list(decode_extra(IBFT2, chain.headers[1].extra_data).seals)
    seals[2] = bytes(32) + seals[2][32:]  # r = 0
    verdict = client.verify(with_extra(IBFT2, chain.headers[1], seals=tuple(seals)))
    assert not verdict.valid and "not a valid signature" in (verdict.reason or "")


def test_one_altered_validator_is_rejected(chain: BftChainBuilder) -> None:
    client = Ibft2LightClient("ibft", 1, 0, trusted=chain.headers[0])
    listed = decode_extra(IBFT2, chain.headers[1].extra_data).validators
    altered = with_extra(IBFT2, chain.headers[1], validators=tuple(sorted(listed[1:] + (b"\x22" * 20,))))
    with pytest.raises(VerificationError):
        client.accept_range([altered])


# --------------------------------------------------------------------------- property


addresses = st.binary(min_size=20, max_size=20)


@given(
    vanity=st.binary(min_size=32, max_size=32),
    validators=st.lists(addresses, max_size=6),
    vote=st.none() | st.builds(Vote, addresses, st.booleans()),
    round_=st.integers(min_value=0, max_value=2**31 - 1),
    seals=st.lists(st.binary(min_size=65, max_size=65), max_size=4),
    codec=st.sampled_from([IBFT2, QBFT]),
)
@settings(max_examples=200, deadline=None)
def test_both_codecs_round_trip(
    vanity: bytes, validators: list[bytes], vote: Vote | None, round_: int, seals: list[bytes], codec: Any
) -> None:
    extra = BftExtra(vanity, tuple(validators), vote, round_, tuple(seals))
    assert decode_extra(codec, encode_extra(codec, extra)) == extra
