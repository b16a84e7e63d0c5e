"""QbftLightClient on the real Besu QBFT header (besu-qbft-elc, block 7528) and generated chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils import keccak

from light_clients.bft import rules
from light_clients.bft.codec import IBFT2, QBFT, decode_extra, encode_extra
from light_clients.bft.common import CheckpointMismatchError
from light_clients.bft.testing import BftChainBuilder, with_extra
from light_clients.evm.header import Header, decode_header
from light_clients.qbft import QbftLightClient
from relayer.errors import ConfigError, VerificationError

ELC = "besu-qbft-elc/qbft_header_vectors.json"


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


@pytest.fixture(scope="module")
def elc(vectors: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((vectors / ELC).read_text())
    return vector


@pytest.fixture(scope="module")
def header(elc: dict[str, Any]) -> Header:
    return decode_header(_hex(elc["qbft_header"]["header_rlp_with_seals"]))


@pytest.fixture(scope="module")
def asserted(elc: dict[str, Any]) -> dict[str, Any]:
    return elc["qbft_header"]["upstream_asserted"]


@pytest.fixture(scope="module")
def validators(asserted: dict[str, Any]) -> list[str]:
    return list(asserted["validators"])


@pytest.fixture(scope="module")
def onchain_hash(elc: dict[str, Any]) -> bytes:
    return _hex(elc["qbft_header"]["derived"]["onchain_block_hash"])


def _client(validators: list[str], **options: Any) -> QbftLightClient:
    return QbftLightClient("besu", 1337, 0, validators=validators, **options)


# --------------------------------------------------------------------------- codec and hashes


def test_extra_data_decodes_to_the_asserted_values(header: Header, asserted: dict[str, Any]) -> None:
    extra = decode_extra(QBFT, header.extra_data)
    assert header.number == asserted["number"] and header.timestamp == asserted["timestamp"]
    assert extra.round == asserted["round"] and extra.vote is None and extra.vanity == b"\x00" * 32
    assert ["0x" + v.hex() for v in extra.validators] == asserted["validators"]
    assert ["0x" + s.hex() for s in extra.seals] == asserted["committed_seals"]
    assert encode_extra(QBFT, extra) == header.extra_data, "re-encoding is byte-identical"


def test_extra_data_only_vectors_round_trip(elc: dict[str, Any]) -> None:
    for case in elc["qbft_extra_data_only"]:
        data, expected = _hex(case["extra_rlp"]), case["upstream_asserted"]
        extra = decode_extra(QBFT, data)
        assert (extra.round, len(extra.vanity), len(extra.validators), len(extra.seals)) == (
            expected["round"], expected["vanity_len"], expected["validators_len"], expected["committed_seals_len"],
        )  # fmt: skip
        assert encode_extra(QBFT, extra) == data


def test_commit_hash_is_the_upstream_commit_hash(header: Header, elc: dict[str, Any], asserted: dict[str, Any]) -> None:
    extra = decode_extra(QBFT, header.extra_data)
    payload = _hex(elc["qbft_header"]["header_rlp_commit_payload"])
    assert rules.commit_hash(QBFT, header, extra) == keccak(payload) == _hex(asserted["commit_hash"])


def test_block_hash_leaves_out_round_and_seals(header: Header, onchain_hash: bytes) -> None:
    fields = rlp.decode(header.rlp)
    vanity, validators, vote, _, _ = rlp.decode(header.extra_data)
    fields[12] = rlp.encode([vanity, validators, vote, b"", []])  # written by hand: round 0x80, seals 0xc0
    assert QbftLightClient.hash_of(header) == keccak(rlp.encode(fields)) == onchain_hash
    assert QbftLightClient.hash_of(with_extra(QBFT, header, round=7, seals=())) == onchain_hash
    assert onchain_hash != header.hash, "the block hash is not keccak of the sealed header"


def test_ibft2_codec_does_not_read_the_qbft_header(header: Header) -> None:
    with pytest.raises(VerificationError, match="round is not 4 bytes|vote"):
        decode_extra(IBFT2, header.extra_data)


# --------------------------------------------------------------------------- the valid vector


def test_the_real_header_is_accepted_with_its_signers(
    header: Header, validators: list[str], onchain_hash: bytes, elc: dict[str, Any]
) -> None:
    client = _client(validators)
    verdict = client.verify(header, onchain_hash)
    assert verdict.valid, verdict.reason
    assert ["0x" + s.hex() for s in verdict.signers if s] == elc["qbft_header"]["derived"]["seal_signers_in_order"]
    assert verdict.quorum == 3 and verdict.hash == onchain_hash and len(verdict.validators) == 4
    assert client.verify_header(header, onchain_hash) == onchain_hash


def test_checkpoint_at_the_real_header_learns_its_vote(header: Header, validators: list[str],
                                                       onchain_hash: bytes) -> None:
    client = _client(validators, checkpoint_number=7528, checkpoint_hash="0x" + onchain_hash.hex())
    assert client.trusted_state()["vote"] == "unknown"
    client.accept_range([header])
    assert client.trusted_state()["vote"] is None and client.head_number == 7528 and client.head_hash == onchain_hash


def test_a_checkpoint_hash_that_is_not_the_chain_is_named(header: Header, validators: list[str]) -> None:
    client = _client(validators, checkpoint_number=7528, checkpoint_hash="0x" + "ab" * 32)
    with pytest.raises(CheckpointMismatchError) as caught:
        client.verify_header(header)
    assert caught.value.key == "chains.besu.light_client_options.checkpoint_hash" and "ab" * 32 in str(caught.value)


def test_configured_validators_that_are_not_the_checkpoints_are_named(
    header: Header, validators: list[str], onchain_hash: bytes
) -> None:
    others = validators[:3] + ["0x" + "11" * 20]
    client = _client(others, checkpoint_number=7528, checkpoint_hash="0x" + onchain_hash.hex())
    with pytest.raises(CheckpointMismatchError) as caught:
        client.accept_range([header])
    assert caught.value.key.endswith("light_client_options.validators")


# --------------------------------------------------------------------------- altered vectors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state_root", b"\x01" * 32),
        ("receipts_root", b"\x02" * 32),
        ("parent_hash", b"\x03" * 32),
        ("timestamp", 1715495308),
        ("gas_used", 1),
        ("coinbase", bytes.fromhex("647bfdd19655e51e69d35454ff3a92f8828e6302")),
    ],
)
def test_one_altered_field_is_rejected(
    header: Header, validators: list[str], onchain_hash: bytes, field: str, value: Any
) -> None:
    altered = header.replace(**{field: value})
    client = _client(validators)
    claimed = client.verify(altered, onchain_hash)
    assert not claimed.valid and "hash mismatch" in (claimed.reason or "")
    unclaimed = client.verify(altered)
    assert not unclaimed.valid and "not a validator" in (unclaimed.reason or ""), unclaimed.reason
    with pytest.raises(VerificationError):
        client.verify_header(altered)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_altered_seal_is_rejected(header: Header, validators: list[str], index: int) -> None:
    seals = list(decode_extra(QBFT, header.extra_data).seals)
    seals[index] = seals[index][:10] + bytes([seals[index][10] ^ 1]) + seals[index][11:]
    verdict = _client(validators).verify(with_extra(QBFT, header, seals=tuple(seals)))
    assert not verdict.valid and verdict.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda seals: seals[:2], "quorum is 3 of 4"),
        (lambda seals: seals[:2] + seals[:1], "sealed twice"),
        (lambda seals: seals[:2] + (seals[2][:64] + b"\x1b",), "not a valid signature"),
    ],
    ids=["missing", "duplicate", "v=27"],
)
def test_seal_set_changes_are_rejected(header: Header, validators: list[str], change: Any, reason: str) -> None:
    seals = decode_extra(QBFT, header.extra_data).seals
    verdict = _client(validators).verify(with_extra(QBFT, header, seals=change(seals)))
    assert not verdict.valid and reason in (verdict.reason or "")


def test_one_altered_validator_in_the_header_is_rejected(header: Header, validators: list[str]) -> None:
    listed = decode_extra(QBFT, header.extra_data).validators
    altered = with_extra(QBFT, header, validators=tuple(sorted(listed[:3] + (b"\x11" * 20,))))
    against_trusted = _client(validators).verify(altered)
    assert not against_trusted.valid and "differ from the trusted" in (against_trusted.reason or "")
    own_list = decode_extra(QBFT, altered.extra_data).validators
    against_itself = _client(["0x" + v.hex() for v in own_list]).verify(altered)
    assert not against_itself.valid, "the seals do not sign the altered list"


def test_one_altered_trusted_validator_is_rejected(header: Header, validators: list[str]) -> None:
    verdict = _client(validators[:3] + ["0x" + "11" * 20]).verify(header)
    assert not verdict.valid


def test_empty_validator_list_is_not_contract_mode_by_accident(header: Header) -> None:
    altered = with_extra(QBFT, header, validators=())
    assert "no validators" in (_client(["0x" + "11" * 20]).verify(altered).reason or "")


@pytest.mark.parametrize(
    "extra",
    [b"", b"\xc0", rlp.encode([b"\x00" * 31, [], [], b"", []]), rlp.encode([b"\x00" * 32, [], [], b"\x00", []])],
    ids=["empty", "empty-list", "short-vanity", "round-leading-zero"],
)
def test_malformed_extra_data_is_rejected(header: Header, validators: list[str], extra: bytes) -> None:
    verdict = _client(validators).verify(header.replace(extra_data=extra))
    assert not verdict.valid and "extraData" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("difficulty", 2, "difficulty 1"), ("mix_hash", b"\x00" * 32, "mixHash"), ("uncles_hash", b"\x00" * 32, "ommers")],
)
def test_bft_constants_are_required(header: Header, validators: list[str], field: str, value: Any, reason: str) -> None:
    verdict = _client(validators).verify(header.replace(**{field: value}))  # checked before the seals
    assert not verdict.valid and reason in (verdict.reason or "")


# --------------------------------------------------------------------------- options and state


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "validators"),
        ({"validators": ["0x12"]}, "validators"),
        ({"validators": ["0x" + "11" * 20], "checkpoint_number": 5}, "checkpoint_hash"),
        ({"validators": ["0x" + "11" * 20], "checkpoint_number": -1, "checkpoint_hash": "0x" + "00" * 32},
         "checkpoint_number"),
        ({"validators": ["0x" + "11" * 20], "epoch": 0}, "epoch"),
        ({"validators": ["0x" + "11" * 20], "colour": "blue"}, "colour"),
    ],
)
def test_options_errors_name_their_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        QbftLightClient.from_options("besu", 1337, 0, options)
    assert caught.value.key == f"chains.besu.light_client_options.{key}"


def test_finality_is_instant_unless_confirmations_are_asked() -> None:
    instant = QbftLightClient("c", 1, 0, validators=["0x" + "11" * 20])
    assert instant.final_number(100) == 100 and instant.is_final(100, 100)
    held = QbftLightClient("c", 1, 2, validators=["0x" + "11" * 20])
    assert held.final_number(100) == 98 and not held.is_final(99, 100)


def test_generated_chain_and_trusted_state_round_trip() -> None:
    chain = BftChainBuilder(QBFT, [bytes([i]) * 32 for i in range(1, 5)])
    for _ in range(6):
        chain.next()
    client = QbftLightClient("c", 1, 0, trusted=chain.headers[0])
    client.accept_range(chain.headers[1:4])
    restored = QbftLightClient.from_trusted_state("c", 1, 0, json.loads(json.dumps(client.trusted_state())))
    restored.accept_range(chain.headers[4:])
    assert restored.head_number == 6 and restored.head_hash == chain.block_hash(chain.headers[6])
    with pytest.raises(VerificationError, match="another chain"):
        QbftLightClient.from_trusted_state("c", 2, 0, client.trusted_state())


def test_a_broken_range_is_not_accepted_at_all() -> None:
    chain = BftChainBuilder(QBFT, [bytes([i]) * 32 for i in range(1, 5)])
    for _ in range(4):
        chain.next()
    client = QbftLightClient("c", 1, 0, trusted=chain.headers[0])
    forged = with_extra(QBFT, chain.headers[3], seals=decode_extra(QBFT, chain.headers[3].extra_data).seals[:2])
    with pytest.raises(VerificationError, match="quorum"):
        client.accept_range([chain.headers[1], chain.headers[2], forged])
    assert client.head_number == 0
    with pytest.raises(VerificationError, match="does not follow"):
        client.accept_range([chain.headers[2]])


def test_header_claiming_another_hash_is_rejected() -> None:
    chain = BftChainBuilder(QBFT, [bytes([i]) * 32 for i in range(1, 5)])
    block = chain.next()
    client = QbftLightClient("c", 1, 0, trusted=chain.headers[0])
    assert client.verify_header(block, chain.block_hash(block)) == chain.block_hash(block)
    with pytest.raises(VerificationError, match="hash mismatch"):
        client.verify_header(block, block.hash)  # keccak of the sealed header is not Besu's hash


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("qbft", "light_clients.qbft.client:QbftLightClient"),
        ("ibft2", "light_clients.ibft2.client:Ibft2LightClient"),
        ("clique", "light_clients.clique.client:CliqueLightClient"),
    ],
)
def test_entry_points_name_the_clients(name: str, target: str) -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="relayer.light_clients") if ep.name == name]
    assert found, f"entry point {name!r} is not installed: run `make setup` (pip install -e .)"
    assert found[0].value == target and found[0].load().kind == name
