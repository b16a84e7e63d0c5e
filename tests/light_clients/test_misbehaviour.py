"""Two validly sealed headers at one height: MisbehaviourError carrying both headers."""

from __future__ import annotations

import json

import pytest

from light_clients.bft.client import BftLightClient
from light_clients.bft.codec import IBFT2, QBFT, ExtraCodec, decode_extra
from light_clients.bft.misbehaviour import Misbehaviour, MisbehaviourError
from light_clients.bft.testing import BftChainBuilder, seal_header, with_extra
from light_clients.clique import CliqueLightClient
from light_clients.clique.testing import CliqueChainBuilder, sign_clique
from light_clients.evm.header import Header, decode_header
from light_clients.ibft2 import Ibft2LightClient
from light_clients.qbft import QbftLightClient
from relayer.errors import VerificationError

KEYS = [bytes([i]) * 32 for i in range(1, 5)]


@pytest.fixture(params=[(QbftLightClient, QBFT), (Ibft2LightClient, IBFT2)], ids=["qbft", "ibft2"])
def bft(request: pytest.FixtureRequest) -> tuple[BftLightClient, BftChainBuilder]:
    cls, codec = request.param
    chain = BftChainBuilder(codec, list(KEYS))
    for _ in range(5):
        chain.next()
    client = cls("poa", 9, 0, trusted=chain.headers[0])
    client.accept_range(chain.headers[1:])
    return client, chain


def _sibling(codec: ExtraCodec, header: Header, keys: list[bytes]) -> Header:
    """Another block at the same height (a different timestamp), sealed by ``keys``."""
    return seal_header(codec, header.replace(timestamp=header.timestamp + 1), keys)


def test_misbehaviour_error_is_a_verification_error() -> None:
    assert issubclass(MisbehaviourError, VerificationError)


def test_a_sealed_sibling_of_an_accepted_header_is_misbehaviour(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    accepted, sibling = chain.headers[4], _sibling(chain.codec, chain.headers[4], KEYS[:3])
    for attempt in (client.verify_header, lambda h: client.accept_range([h])):
        with pytest.raises(MisbehaviourError) as caught:
            attempt(sibling)
        error = caught.value
        assert (error.header_a, error.header_b) == (accepted, sibling)
        assert error.evidence.number == 4 and error.evidence.hash_b == chain.block_hash(sibling)
        assert "chain=poa" in str(error) and "block=4" in str(error)
    assert client.head_number == 5, "nothing was accepted"


def test_evidence_serialises_both_headers(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    sibling = _sibling(chain.codec, chain.headers[3], KEYS[1:])
    with pytest.raises(MisbehaviourError) as caught:
        client.check_misbehaviour(chain.headers[3], sibling)
    evidence = json.loads(json.dumps(caught.value.evidence.to_json()))
    restored = [decode_header(bytes.fromhex(h["rlp"][2:])) for h in evidence["headers"]]
    assert restored == [chain.headers[3], sibling]
    assert evidence["kind"] == client.kind and len(evidence["headers"][1]["signers"]) == 3


def test_two_sealed_successors_of_the_head_are_misbehaviour(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    first = chain.next()
    second = _sibling(chain.codec, first, KEYS[:3])
    evidence = client.find_misbehaviour(first, second)
    assert isinstance(evidence, Misbehaviour) and evidence.validators == client.validators


def test_an_unsealed_sibling_is_a_plain_verification_error(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    sibling = _sibling(chain.codec, chain.headers[4], KEYS[:2])  # 2 of 4: no quorum
    with pytest.raises(VerificationError, match="not validly sealed") as caught:
        client.verify_header(sibling)
    assert not isinstance(caught.value, MisbehaviourError)
    assert client.find_misbehaviour(chain.headers[4], sibling) is None


def test_other_seals_on_the_same_block_are_no_misbehaviour(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    header = chain.headers[4]
    resealed = seal_header(chain.codec, with_extra(chain.codec, header, round=2), KEYS[1:])
    assert decode_extra(chain.codec, resealed.extra_data).seals != decode_extra(chain.codec, header.extra_data).seals
    assert client.find_misbehaviour(header, resealed) is None
    assert client.verify_header(resealed) == chain.block_hash(header)


def test_heights_with_an_unknown_set_are_not_judged(bft: tuple[BftLightClient, BftChainBuilder]) -> None:
    client, chain = bft
    for _ in range(3):
        chain.next()
    far = chain.headers[8]
    assert client.find_misbehaviour(far, _sibling(chain.codec, far, KEYS[:3])) is None


# --------------------------------------------------------------------------- clique


@pytest.fixture
def clique() -> tuple[CliqueLightClient, CliqueChainBuilder]:
    chain = CliqueChainBuilder(KEYS[:3], epoch=100)
    for _ in range(4):
        chain.next()
    client = CliqueLightClient("poa", 9, 0, trusted=chain.headers[0], epoch=100)
    client.accept_range(chain.headers[1:])
    return client, chain


def _clique_sibling(chain: CliqueChainBuilder, number: int, key: bytes) -> Header:
    header = chain.headers[number]
    return sign_clique(header.replace(timestamp=header.timestamp + 1), key)


def _key_of(chain: CliqueChainBuilder, header: Header) -> bytes:
    signer = CliqueLightClient.signers_of(header, epoch=chain.epoch)[0]
    assert signer is not None
    return chain.by_address[signer]


def test_a_clique_signer_sealing_two_blocks_at_one_height_is_misbehaviour(
    clique: tuple[CliqueLightClient, CliqueChainBuilder],
) -> None:
    client, chain = clique
    accepted = chain.headers[3]
    twin = _clique_sibling(chain, 3, _key_of(chain, accepted))
    with pytest.raises(MisbehaviourError) as caught:
        client.accept_range([twin])
    assert (caught.value.header_a, caught.value.header_b) == (accepted, twin)
    with pytest.raises(MisbehaviourError):
        client.check_misbehaviour(accepted, twin)


def test_two_clique_signers_at_one_height_are_a_fork_not_misbehaviour(
    clique: tuple[CliqueLightClient, CliqueChainBuilder],
) -> None:
    client, chain = clique
    accepted = chain.headers[3]
    other_key = next(k for k in KEYS[:3] if k != _key_of(chain, accepted))
    rival = _clique_sibling(chain, 3, other_key)
    assert client.find_misbehaviour(accepted, rival) is None
    with pytest.raises(VerificationError, match="reorg past finality") as caught:
        client.verify_header(rival)
    assert not isinstance(caught.value, MisbehaviourError)
