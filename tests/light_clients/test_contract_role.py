"""The first-party light clients play the contract's LightClient role (relayer.contract) over their
own API: headers checked and accepted through neutral values, validator-set changes of BFT chains,
broken links and misbehaviour as the neutral error types the follower decides by."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp
from rlp.codec import consume_item

from adapters.evm.messaging import Envelope as LayerEnvelope
from adapters.evm.messaging import address_word, decode_envelope
from adapters.evm.source import decode_locator, encode_locator, message_id
from light_clients.bft.codec import IBFT2, QBFT, ExtraCodec, Vote
from light_clients.bft.common import address_of
from light_clients.bft.testing import BftChainBuilder, seal_header
from light_clients.clique import CliqueLightClient
from light_clients.evm.client import EvmLightClient
from light_clients.evm.header import Header, decode_header
from light_clients.ibft2 import Ibft2LightClient
from light_clients.qbft import QbftLightClient
from relayer.contract import CandidateHeader, LightClient, SetChange
from relayer.errors import BrokenLinkError, MisbehaviourError

KEYS = [bytes([i]) * 32 for i in range(1, 5)]
E_KEY = b"\x05" * 32


def _candidate(header: Header, claimed: bytes | None) -> CandidateHeader:
    return CandidateHeader(header.number, claimed, header.rlp, header)


@pytest.fixture(scope="module")
def evm_chain(vectors: Path) -> list[Header]:
    data, position, headers = (vectors / "execution-apis/tests/chain.rlp").read_bytes(), 0, []
    while position < len(data):
        block, _, position = consume_item(data, position)
        headers.append(decode_header(rlp.encode(block[0])))
    return headers


def _bft(cls: type[QbftLightClient] | type[Ibft2LightClient], codec: ExtraCodec) -> tuple[BftChainBuilder, LightClient]:
    builder = BftChainBuilder(codec, list(KEYS))
    builder.add_key(E_KEY)
    for number in range(1, 10):
        builder.next(Vote(address_of(E_KEY), add=True), passes=True) if number == 3 else builder.next()
    client = cls.from_options("poa", 2024, 0, {"validators": ["0x" + v.hex() for v in sorted(
        address_of(k) for k in KEYS)]})
    return builder, client


def test_every_first_party_client_is_a_light_client(evm_chain: list[Header]) -> None:
    _, qbft = _bft(QbftLightClient, QBFT)
    clients = [EvmLightClient("dev", 1, 12), qbft, CliqueLightClient.from_options(
        "clique", 5, 0, {"validators": ["0x" + address_of(KEYS[0]).hex()]})]
    assert all(isinstance(c, LightClient) for c in clients)
    assert [c.lookahead for c in clients] == [1, 0, 0]
    assert [c.proves_equivocation for c in clients] == [False, True, True]


def test_evm_headers_through_the_role(evm_chain: list[Header]) -> None:
    client = EvmLightClient("dev", 1, 12, evm_chain[0])
    verified = [client.check_header(_candidate(h, h.hash)) for h in evm_chain[1:6]]
    assert [v.number for v in verified] == [2, 3, 4, 5, 6] and verified[0].commitment == evm_chain[1].receipts_root
    assert client.set_changes(verified) == []
    client.accept(verified)
    assert client.head_number == 6
    again = client.known_header(verified[-1].encoded, verified[-1].hash)
    assert again == verified[-1] and again.native == evm_chain[5]
    forged = evm_chain[7].replace(parent_hash=b"\x11" * 32)
    with pytest.raises(BrokenLinkError) as caught:
        client.accept([client.check_header(_candidate(evm_chain[6], None)),
                       client.check_header(_candidate(forged, None))])
    assert caught.value.fields["block"] == 8 and client.head_number == 6


@pytest.mark.parametrize(("cls", "codec"), [(QbftLightClient, QBFT), (Ibft2LightClient, IBFT2)], ids=["qbft", "ibft2"])
def test_bft_set_changes_and_links(cls: type[QbftLightClient], codec: ExtraCodec) -> None:
    builder, client = _bft(cls, codec)
    headers = builder.headers[1:]
    verified = [client.check_header(_candidate(h, builder.block_hash(h))) for h in headers[:2]]
    client.accept(verified)  # 1, 2: the set at the head is now known
    rest = [client.check_header(_candidate(h, builder.block_hash(h))) for h in headers[2:]]
    assert client.set_changes(rest) == [SetChange(4, 5)]
    client.accept(rest)
    assert client.head_number == 9
    builder.headers[-1] = builder.headers[-1].replace(parent_hash=b"\x22" * 32)  # block 10 builds on a stranger
    stray = seal_header(codec, builder.next(), builder.signing_keys())
    with pytest.raises(BrokenLinkError) as caught:
        client.accept([client.known_header(stray.rlp, builder.block_hash(stray))])
    assert caught.value.fields["block"] == 10 and client.head_number == 9


def test_a_second_sealed_header_is_the_neutral_misbehaviour() -> None:
    builder, client = _bft(QbftLightClient, QBFT)
    verified = [client.check_header(_candidate(h, builder.block_hash(h))) for h in builder.headers[1:4]]
    client.accept(verified)
    twin = builder.headers[3].replace(timestamp=builder.headers[3].timestamp + 1)
    twin = seal_header(QBFT, twin, builder.signing_keys([address_of(k) for k in KEYS]))  # the set at block 3
    with pytest.raises(MisbehaviourError) as caught:
        client.check_equivocation(verified[-1], _candidate(twin, None))
    evidence = caught.value.evidence_json()
    assert caught.value.number == 3 and evidence["number"] == 3 and len(evidence["headers"]) == 2


def test_evm_body_and_locator_round_trip() -> None:
    layer = "0x" + "1a" * 20
    envelope = LayerEnvelope(nonce=7, source_chain=1, source_layer=address_word(layer), sender=b"\x22" * 32,
                             destination_chain=2, destination_layer=b"\x00" * 12 + b"\x2b" * 20,
                             recipient=b"\x33" * 32, gas_limit=100_000, expiry=0, ack_mode=1, body=b"payload")
    assert decode_envelope(envelope.encode()) == envelope
    assert message_id(1, layer, 7) == "0x" + envelope.id.hex()
    tx_hash = "0x" + "ab" * 32
    assert decode_locator(encode_locator(tx_hash, 3, 1)) == (tx_hash, 3, 1)
