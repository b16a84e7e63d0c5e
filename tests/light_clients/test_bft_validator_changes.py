"""QBFT and IBFT 2.0 light clients follow validator-set changes from a checkpoint.

The generated chain: validators V1..V4 (keys 1..4); block 3 votes E in (the vote passes),
so blocks 4.. list and are sealed by five validators (quorum 4); block 6 votes V1 out, so
blocks 7.. list V2, V3, V4, E (quorum 3). The expected sets are written out here, not
taken from the builder.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from light_clients.bft.client import BftLightClient
from light_clients.bft.codec import IBFT2, QBFT, ExtraCodec, Vote, decode_extra
from light_clients.bft.common import CheckpointMismatchError, address_of
from light_clients.bft.testing import BftChainBuilder, seal_header, unsealed_header
from light_clients.evm.header import Header
from light_clients.ibft2 import Ibft2LightClient
from light_clients.qbft import QbftLightClient
from relayer.errors import VerificationError

OLD_KEYS = [bytes([i]) * 32 for i in range(1, 5)]
E_KEY = b"\x05" * 32
V1, E = address_of(OLD_KEYS[0]), address_of(E_KEY)
OLD_SET = tuple(sorted(address_of(k) for k in OLD_KEYS))
GROWN_SET = tuple(sorted((*OLD_SET, E)))
SHRUNK_SET = tuple(sorted(a for a in GROWN_SET if a != V1))

KINDS = [(QbftLightClient, QBFT), (Ibft2LightClient, IBFT2)]


@pytest.fixture(params=KINDS, ids=["qbft", "ibft2"])
def kind(request: pytest.FixtureRequest) -> tuple[type[BftLightClient], ExtraCodec]:
    value: tuple[type[BftLightClient], ExtraCodec] = request.param
    return value


@pytest.fixture
def chain(kind: tuple[type[BftLightClient], ExtraCodec]) -> BftChainBuilder:
    builder = BftChainBuilder(kind[1], list(OLD_KEYS))
    builder.add_key(E_KEY)
    builder.next()  # 1
    builder.next()  # 2
    builder.next(Vote(E, add=True), passes=True)  # 3: E voted in
    builder.next()  # 4: five validators
    builder.next()  # 5
    builder.next(Vote(V1, add=False), passes=True)  # 6: V1 voted out
    for _ in range(3):
        builder.next()  # 7, 8, 9
    return builder


def _listed(codec: ExtraCodec, header: Header) -> tuple[bytes, ...]:
    return decode_extra(codec, header.extra_data).validators


def _checkpoint_client(cls: type[BftLightClient], chain: BftChainBuilder, number: int, **more: Any) -> BftLightClient:
    options = {
        "validators": ["0x" + v.hex() for v in _listed(chain.codec, chain.headers[number])],
        "checkpoint_number": number,
        "checkpoint_hash": "0x" + chain.block_hash(chain.headers[number]).hex(),
    }
    return cls.from_options("poa", 2024, 0, options | more)


def test_the_chain_lists_the_expected_sets(chain: BftChainBuilder) -> None:
    sets = [_listed(chain.codec, h) for h in chain.headers]
    assert sets[:4] == [OLD_SET] * 4 and sets[4:7] == [GROWN_SET] * 3 and sets[7:] == [SHRUNK_SET] * 3


def test_started_at_block_2_it_verifies_block_9_across_both_changes(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    client = _checkpoint_client(kind[0], chain, 2)
    client.accept_range(chain.headers[2:])  # the checkpoint itself first: its vote is learned
    assert client.head_number == 9 and client.head_hash == chain.block_hash(chain.headers[9])
    assert client.validators == SHRUNK_SET


def test_without_the_checkpoint_header_the_first_step_is_still_followed(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    client = _checkpoint_client(kind[0], chain, 3)  # block 3's vote (E in) is not known
    client.accept_range(chain.headers[4:])
    assert client.validators == SHRUNK_SET


def test_quorum_follows_the_set_size(kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder) -> None:
    client = _checkpoint_client(kind[0], chain, 3)
    verdicts = [client.verify(chain.headers[4])]
    client.accept_range(chain.headers[4:8])
    verdicts.append(client.verify(chain.headers[8]))
    assert [(len(v.validators), v.quorum) for v in verdicts] == [(5, 4), (4, 3)]
    assert all(v.valid for v in verdicts)


def test_a_header_sealed_by_the_old_set_is_rejected_after_the_change(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    cls, codec = kind
    client = _checkpoint_client(cls, chain, 2)
    client.accept_range(chain.headers[2:8])  # head 7: V1 is out
    parent = chain.block_hash(chain.headers[7])
    old_list = unsealed_header(codec, number=8, parent_hash=parent, validators=OLD_SET, proposer=V1)
    with pytest.raises(VerificationError, match="lost|gained|without a vote|more than one"):
        client.accept_range([seal_header(codec, old_list, OLD_KEYS)])
    new_list_old_seals = unsealed_header(codec, number=8, parent_hash=parent, validators=SHRUNK_SET,
                                         proposer=OLD_SET[1])
    with pytest.raises(VerificationError, match="not a validator"):
        client.accept_range([seal_header(codec, new_list_old_seals, OLD_KEYS)])
    assert client.head_number == 7


def test_too_few_seals_after_growth_are_rejected(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    client = _checkpoint_client(kind[0], chain, 3)
    three_of_five = seal_header(chain.codec, chain.headers[4], OLD_KEYS[:3])
    with pytest.raises(VerificationError, match="quorum is 4 of 5"):
        client.accept_range([three_of_five])


def _forged_successor(codec: ExtraCodec, chain: BftChainBuilder, number: int, listed: tuple[bytes, ...]) -> Header:
    parent = chain.block_hash(chain.headers[number - 1])
    header = unsealed_header(codec, number=number, parent_hash=parent, validators=listed, proposer=listed[0])
    return seal_header(codec, header, chain.signing_keys(listed))


@pytest.mark.parametrize(
    ("number", "listed", "reason"),
    [
        (2, GROWN_SET, "without a vote"),  # block 1 voted for nobody
        (4, tuple(sorted((*OLD_SET, b"\x77" * 20))), "more than one|without a vote"),  # block 3 voted E, not 0x77
        (4, SHRUNK_SET, "more than one"),  # E in and V1 out at once
        (4, OLD_SET[1:], "without a vote"),  # a drop where block 3 voted to add
    ],
    ids=["no-vote", "other-subject", "two-changes", "wrong-direction"],
)
def test_changes_that_no_vote_allows_are_rejected(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder, number: int, listed: tuple[bytes, ...],
    reason: str,
) -> None:
    chain.add_key(b"\x77" * 32)  # irrelevant key; the subject address 0x77.. has no key
    client = _checkpoint_client(kind[0], chain, 0)
    client.accept_range(chain.headers[0:number])
    with pytest.raises(VerificationError, match=reason):
        client.accept_range([_forged_successor(kind[1], chain, number, listed)])


def test_a_vote_in_an_epoch_block_changes_nothing(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    client = _checkpoint_client(kind[0], chain, 0, epoch=3)  # block 3 (E in) is an epoch block
    client.accept_range(chain.headers[:4])
    with pytest.raises(VerificationError, match="epoch block"):
        client.accept_range([chain.headers[4]])


def test_the_set_is_persisted_and_restored_mid_way(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    cls = kind[0]
    client = _checkpoint_client(cls, chain, 2)
    client.accept_range(chain.headers[2:7])  # head 6 carries the drop vote
    state = json.loads(json.dumps(client.trusted_state()))
    assert state["vote"] == {"recipient": "0x" + V1.hex(), "add": False}
    assert state["validators"] == ["0x" + v.hex() for v in GROWN_SET]
    restored = cls.from_trusted_state("poa", 2024, 0, state)
    restored.accept_range(chain.headers[7:])
    assert restored.validators == SHRUNK_SET


def test_a_header_far_ahead_must_be_reachable(kind: tuple[type[BftLightClient], ExtraCodec],
                                              chain: BftChainBuilder) -> None:
    client = _checkpoint_client(kind[0], chain, 2)
    assert client.verify(chain.headers[9]).valid, "two changes in seven blocks are reachable"
    client_at_6 = _checkpoint_client(kind[0], chain, 6)
    far = _forged_successor(kind[1], chain, 8, tuple(sorted((*SHRUNK_SET[1:], b"\x66" * 20, b"\x67" * 20))))
    with pytest.raises(VerificationError, match="cannot be reached"):
        client_at_6.verify_header(far)


def test_a_checkpoint_whose_validators_cannot_lead_to_the_chain_is_named(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    cls = kind[0]
    options = {
        "validators": ["0x" + v.hex() for v in (b"\x11" * 20, b"\x12" * 20, b"\x13" * 20)],
        "checkpoint_number": 4,
        "checkpoint_hash": "0x" + chain.block_hash(chain.headers[4]).hex(),
    }
    client = cls.from_options("poa", 2024, 0, options)
    with pytest.raises(CheckpointMismatchError) as caught:
        client.accept_range(chain.headers[5:])
    assert caught.value.key == "chains.poa.light_client_options.validators"


def test_a_chain_that_does_not_link_to_the_checkpoint_is_named(
    kind: tuple[type[BftLightClient], ExtraCodec], chain: BftChainBuilder
) -> None:
    client = _checkpoint_client(kind[0], chain, 4)
    with pytest.raises(CheckpointMismatchError, match="does not link to the checkpoint") as caught:
        client.accept_range([chain.headers[5].replace(parent_hash=b"\x01" * 32)])
    assert caught.value.key.endswith("checkpoint_hash")
