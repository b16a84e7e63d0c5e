"""CliqueLightClient on real Goerli headers (ethereumjs) and on generated Clique chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from light_clients.bft.common import CheckpointMismatchError, address_of
from light_clients.clique import CliqueLightClient
from light_clients.clique.rules import NONCE_AUTH, seal_hash
from light_clients.clique.testing import CliqueChainBuilder, clique_header, sign_clique
from light_clients.evm.header import Header, header_from_fixture, header_from_rpc
from relayer.errors import ConfigError, VerificationError

TESTDATA = Path("ethereumjs/packages/block/test/testdata")
SIGNERS = Path("ethereumjs/derived/clique_signers.json")
GOERLI_SIGNER = "0xe0a2bd4258d2768837baa26a28fe71dc079f84c7"  # the sole signer in Goerli's genesis extraData
KEYS = [bytes([i]) * 32 for i in range(1, 4)]
D_KEY = b"\x04" * 32
A, B, C = sorted(address_of(k) for k in KEYS)  # ascending: A is the in-turn signer at multiples of 3
D = address_of(D_KEY)


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


@pytest.fixture(scope="module")
def expected(vectors: Path) -> dict[tuple[str, int], dict[str, Any]]:
    rows = json.loads((vectors / SIGNERS).read_text())["vectors"]
    return {(row["file"], row["number"]): row for row in rows}


@pytest.fixture(scope="module")
def goerli(vectors: Path) -> list[Header]:
    blocks = json.loads((vectors / TESTDATA / "blocks_goerli.json").read_text())
    return [header_from_fixture(block["header"]) for block in blocks]


def _goerli_client(goerli: list[Header], **more: Any) -> CliqueLightClient:
    options = {"validators": [GOERLI_SIGNER], "checkpoint_number": 0,
               "checkpoint_hash": "0x" + goerli[0].parent_hash.hex()}
    return CliqueLightClient.from_options("goerli", 5, 0, options | more)


# --------------------------------------------------------------------------- Goerli


def test_goerli_blocks_1_to_7_are_followed_from_the_genesis_signer(
    goerli: list[Header], expected: dict[tuple[str, int], dict[str, Any]]
) -> None:
    client = _goerli_client(goerli, period=15)
    for header in goerli:
        row = expected[("blocks_goerli.json", header.number)]
        verdict = client.verify(header)
        assert verdict.valid, verdict.reason
        assert verdict.signers == (_hex(row["signer"]),) and verdict.hash == _hex(row["hash"])
        assert client.verify_header(header, _hex(row["hash"])) == _hex(row["hash"])
        client.accept_range([header])
    assert client.head_number == 7 and client.head_hash == _hex(expected[("blocks_goerli.json", 7)]["hash"])


@pytest.mark.parametrize("file", ["testdata-from-rpc-goerli.json", "testdata-from-rpc-goerli-london.json"])
def test_single_goerli_rpc_blocks_recover_their_signer(
    vectors: Path, expected: dict[tuple[str, int], dict[str, Any]], file: str
) -> None:
    block = json.loads((vectors / TESTDATA / file).read_text())
    header = header_from_rpc(block)
    row = expected[(file, header.number)]
    signer = _hex(row["signer"])
    # The real signer set of that time is not in the vectors: a two-signer set in which the
    # signer is out of turn (both numbers are even, the signer sorts second) matches difficulty 1.
    out_of_turn = CliqueLightClient("goerli", 5, 0, validators=["0x" + "00" * 19 + "01", row["signer"]])
    verdict = out_of_turn.verify(header, _hex(block["hash"]))
    assert verdict.valid and verdict.signers == (signer,) and row["difficulty"] == "0x1", verdict.reason
    in_turn = CliqueLightClient("goerli", 5, 0, validators=[row["signer"]])
    assert "difficulty 1" in (in_turn.verify(header).reason or "")


@pytest.mark.parametrize(
    ("field", "value"),
    [("state_root", b"\x01" * 32), ("timestamp", 1), ("gas_limit", 1), ("coinbase", b"\x01" * 20)],
)
def test_one_altered_goerli_field_is_rejected(goerli: list[Header], field: str, value: Any) -> None:
    client = _goerli_client(goerli)
    altered = goerli[0].replace(**{field: value})
    assert "not authorised" in (client.verify(altered).reason or "")
    assert "hash mismatch" in (client.verify(altered, goerli[0].hash).reason or "")
    with pytest.raises(VerificationError):
        client.accept_range([altered])


def test_one_altered_goerli_seal_is_rejected(goerli: list[Header]) -> None:
    extra = goerli[0].extra_data
    for position in (-65, -40, -2):
        flipped = bytearray(extra)
        flipped[position] ^= 1
        verdict = _goerli_client(goerli).verify(goerli[0].replace(extra_data=bytes(flipped)))
        assert not verdict.valid and verdict.reason
    bad_v = goerli[0].replace(extra_data=extra[:-1] + b"\x1b")
    assert "not a valid signature" in (_goerli_client(goerli).verify(bad_v).reason or "")


def test_one_altered_goerli_signer_is_rejected(goerli: list[Header]) -> None:
    client = _goerli_client(goerli, validators=["0x" + "11" * 20])
    with pytest.raises(VerificationError, match="not authorised"):
        client.accept_range(goerli[:1])


def test_a_wrong_goerli_checkpoint_hash_is_named(goerli: list[Header]) -> None:
    client = _goerli_client(goerli, checkpoint_hash="0x" + "22" * 32)
    with pytest.raises(CheckpointMismatchError, match="does not link to the checkpoint") as caught:
        client.accept_range(goerli[:1])
    assert caught.value.key == "chains.goerli.light_client_options.checkpoint_hash"


def test_the_seal_hash_cuts_the_seal_only(goerli: list[Header]) -> None:
    assert seal_hash(goerli[0]) == goerli[0].replace(extra_data=goerli[0].extra_data[:-65]).hash != goerli[0].hash


# --------------------------------------------------------------------------- generated chains


@pytest.fixture
def chain() -> CliqueChainBuilder:
    builder = CliqueChainBuilder(list(KEYS), epoch=10)
    builder.add_key(D_KEY)
    return builder


def _client(chain: CliqueChainBuilder, **more: Any) -> CliqueLightClient:
    return CliqueLightClient("poa", 7, 0, trusted=chain.headers[0], epoch=chain.epoch, **more)


def test_in_turn_and_out_of_turn_signers_are_accepted(chain: CliqueChainBuilder) -> None:
    chain.next(A)  # block 1: B is in turn, A signs out of turn
    chain.next(C)  # block 2: C in turn
    assert [h.difficulty for h in chain.headers[1:]] == [1, 2]
    client = _client(chain)
    client.accept_range(chain.headers[1:])
    assert client.head_number == 2


def test_a_signer_may_not_sign_again_too_soon(chain: CliqueChainBuilder) -> None:
    chain.next(B)  # block 1
    client = _client(chain)
    client.accept_range(chain.headers[1:])
    again = chain.make(B)  # three signers: one block in any two
    assert "signed one of the last 2 blocks" in (client.verify(again).reason or "")
    with pytest.raises(VerificationError, match="signed one of the last"):
        client.accept_range([again])
    chain.next(C)
    client.accept_range(chain.headers[2:])
    client.accept_range([chain.make(B)])  # two blocks later B may sign again


@pytest.mark.parametrize("difficulty", [1, 2])
def test_the_difficulty_must_say_the_turn(chain: CliqueChainBuilder, difficulty: int) -> None:
    signer = B if difficulty == 1 else A  # B is in turn at block 1; A is not
    forged = chain.make(signer, difficulty=difficulty)
    assert "turn" in (_client(chain).verify(forged).reason or "")


def test_an_unauthorised_signer_is_rejected(chain: CliqueChainBuilder) -> None:
    outsider = sign_clique(clique_header(1, chain.headers[0].hash, difficulty=1), b"\x09" * 32)
    assert "not authorised" in (_client(chain).verify(outsider).reason or "")


def test_votes_add_a_signer_then_drop_one(chain: CliqueChainBuilder) -> None:
    client = _client(chain)
    chain.next(B, vote=(D, True))  # 1: 1 vote of 3, not more than half
    client.accept_range(chain.headers[-1:])
    assert client.validators == (A, B, C)
    assert client.trusted_state()["tally"] == {"0x" + D.hex(): {"authorize": True, "votes": 1}}
    chain.next(C, vote=(D, True))  # 2: 2 votes of 3: D is in
    client.accept_range(chain.headers[-1:])
    assert client.validators == tuple(sorted((A, B, C, D))) and client.trusted_state()["tally"] == {}
    for signer in (D, A, B):  # 3 votes of 4 are needed to drop C
        chain.next(signer, vote=(C, False))
        client.accept_range(chain.headers[-1:])
    assert client.validators == (A, B, D)
    assert client.verify(chain.make(C)).reason == f"signer 0x{C.hex()} is not authorised"


def test_a_vote_against_the_set_or_a_repeated_vote_counts_once(chain: CliqueChainBuilder) -> None:
    client = _client(chain)
    chain.next(B, vote=(A, True))  # adding a signer that is one: no vote
    chain.next(C, vote=(D, True))
    chain.next(A)
    chain.next(C, vote=(D, True))  # C again for D: replaces its own vote
    client.accept_range(chain.headers[1:])
    assert client.validators == (A, B, C)
    assert client.trusted_state()["tally"] == {"0x" + D.hex(): {"authorize": True, "votes": 1}}


def test_an_epoch_block_lists_the_signers_and_resets_the_votes(chain: CliqueChainBuilder) -> None:
    for number in range(1, 10):
        chain.next(vote=(D, True) if number == 9 else None)
    client = _client(chain)
    client.accept_range(chain.headers[1:])
    assert client.trusted_state()["tally"] != {}
    b_key = next(k for k in KEYS if address_of(k) == B)
    forged = sign_clique(clique_header(10, chain.snap.hash, listed=(A, B, D), difficulty=1), b_key)
    assert "lists other signers" in (client.verify(forged).reason or "")
    chain.next()  # block 10: lists A, B, C; the pending vote for D is dropped
    client.accept_range(chain.headers[-1:])
    assert client.trusted_state()["tally"] == {} and client.validators == (A, B, C)


def test_an_epoch_block_may_not_vote(chain: CliqueChainBuilder) -> None:
    for _ in range(9):
        chain.next()
    voting = chain.make(nonce=NONCE_AUTH)
    assert "epoch block carries no vote" in (_client(chain).verify(voting).reason or "")


def test_the_clique_state_survives_a_restart_mid_vote(chain: CliqueChainBuilder) -> None:
    client = _client(chain)
    chain.next(B, vote=(D, True))
    client.accept_range(chain.headers[1:])
    restored = CliqueLightClient.from_trusted_state("poa", 7, 0, json.loads(json.dumps(client.trusted_state())))
    assert "signed one of the last" in (restored.verify(chain.make(B)).reason or ""), "recents survived"
    chain.next(C, vote=(D, True))
    restored.accept_range(chain.headers[2:])
    assert restored.validators == tuple(sorted((A, B, C, D))), "the tally survived"


def test_a_checkpoint_must_be_an_epoch_block() -> None:
    with pytest.raises(ConfigError) as caught:
        CliqueLightClient.from_options(
            "poa", 7, 0, {"validators": [GOERLI_SIGNER], "checkpoint_number": 5, "checkpoint_hash": "0x" + "00" * 32}
        )
    assert caught.value.key == "chains.poa.light_client_options.checkpoint_number"


def test_a_checkpoint_header_with_other_signers_is_named(chain: CliqueChainBuilder) -> None:
    options = {"validators": ["0x" + a.hex() for a in (A, B, D)], "checkpoint_number": 0,
               "checkpoint_hash": "0x" + chain.headers[0].hash.hex(), "epoch": 10}  # fmt: skip
    client = CliqueLightClient.from_options("poa", 7, 0, options)
    with pytest.raises(CheckpointMismatchError) as caught:
        client.verify_header(chain.headers[0])
    assert caught.value.key.endswith(".validators")


def test_finality_is_by_confirmations(chain: CliqueChainBuilder) -> None:
    client = CliqueLightClient("poa", 7, 5, trusted=chain.headers[0], epoch=10)
    assert client.final_number(20) == 15 and client.is_final(15, 20) and not client.is_final(16, 20)


def test_the_period_is_enforced_when_given(chain: CliqueChainBuilder) -> None:
    client = _client(chain, period=30)
    with pytest.raises(VerificationError, match="less than 30s"):
        client.accept_range([chain.next()])  # the builder spaces blocks 15 s apart
