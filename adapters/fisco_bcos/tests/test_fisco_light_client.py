"""The FISCO BCOS light client on generated chains (sealer keys of our own, headers built and signed
with the real codec): following from a trusted checkpoint, weighted quorum, sealer-set changes (no
recorded chain has one), links, equivocation, contents, stored state; keccak256 and SM chains."""

from __future__ import annotations

from pathlib import Path

import pytest
from fisco_vectors import load

from relayer.contract import BlockContents, CandidateHeader, LightClient, LightClientFactory, SetChange
from relayer.errors import BrokenLinkError, ConfigError, MisbehaviourError, VerificationError
from relayer_fisco_bcos.client import FiscoBcosLightClient
from relayer_fisco_bcos.contents import receipt_hash
from relayer_fisco_bcos.hashing import Crypto
from relayer_fisco_bcos.header import BlockHeader
from relayer_fisco_bcos.testing import Sealer, as_rpc, child, genesis

CRYPTOS = [Crypto.SECP256K1, Crypto.SM]


def candidate(header: BlockHeader) -> CandidateHeader:
    assert header.claimed_hash is not None
    return CandidateHeader(header.number, header.claimed_hash, b"", as_rpc(header))


def client_at(checkpoint: BlockHeader, sealers: list[Sealer], crypto: Crypto,
              weights: list[int] | None = None) -> FiscoBcosLightClient:
    assert checkpoint.claimed_hash is not None
    options: dict[str, object] = {"crypto": crypto.value, "sealers": ["0x" + s.node_id.hex() for s in sealers],
                                  "checkpoint_number": checkpoint.number,
                                  "checkpoint_hash": "0x" + checkpoint.claimed_hash.hex()}
    if weights:
        options["weights"] = weights
    return FiscoBcosLightClient.from_options("fisco", 7, 0, options)


def follow(client: FiscoBcosLightClient, headers: list[BlockHeader]) -> list[SetChange]:
    verified = [client.check_header(candidate(h)) for h in headers]
    changes = client.set_changes(verified)
    client.accept(verified)
    return changes


@pytest.fixture(params=CRYPTOS, ids=lambda c: c.value)
def crypto(request: pytest.FixtureRequest) -> Crypto:
    found: Crypto = request.param
    return found


def test_the_client_plays_the_contract_roles() -> None:
    a, b = Sealer.generate(Crypto.SECP256K1), Sealer.generate(Crypto.SECP256K1)
    client = client_at(genesis([a, b]), [a, b], Crypto.SECP256K1)
    assert isinstance(client, LightClient)
    assert isinstance(FiscoBcosLightClient, LightClientFactory)
    assert client.lookahead == 0 and client.final_number(9) == 9 and client.proves_equivocation


def test_follows_from_a_checkpoint_and_restores_its_state(crypto: Crypto) -> None:
    nodes = [Sealer.generate(crypto) for _ in range(4)]
    block = genesis(nodes, crypto=crypto, number=100)
    client = client_at(block, nodes, crypto)
    chain = []
    for _ in range(3):
        block = child(block, nodes, nodes[:3], crypto=crypto)
        chain.append(block)
    assert follow(client, chain) == []
    assert client.head_number == 103
    state = client.trusted_state()
    again = FiscoBcosLightClient.from_trusted_state("fisco", 7, 0, state)
    assert again.trusted_state() == state and again.head_number == 103
    nxt = child(block, nodes, nodes[1:], crypto=crypto)
    follow(again, [nxt])
    with pytest.raises(VerificationError, match="not of fisco-bcos chain 8"):
        FiscoBcosLightClient.from_trusted_state("fisco", 8, 0, state)


def test_known_header_rebuilds_what_was_verified(crypto: Crypto) -> None:
    nodes = [Sealer.generate(crypto) for _ in range(4)]
    first = genesis(nodes, crypto=crypto)
    client = client_at(first, nodes, crypto)
    verified = client.check_header(candidate(child(first, nodes, crypto=crypto)))
    assert client.known_header(verified.encoded, verified.hash) == verified
    with pytest.raises(VerificationError, match="does not decode"):
        client.known_header(b"{not json", verified.hash)


def test_below_quorum_is_refused(crypto: Crypto) -> None:
    nodes = [Sealer.generate(crypto) for _ in range(4)]
    first = genesis(nodes, crypto=crypto)
    client = client_at(first, nodes, crypto)
    with pytest.raises(VerificationError, match="block 1: signed weight 2 is below the quorum 3 of total weight 4"):
        client.check_header(candidate(child(first, nodes, nodes[:2], crypto=crypto)))


def test_weights_decide_the_quorum() -> None:
    crypto = Crypto.SECP256K1
    a, b, c, d = nodes = [Sealer.generate(crypto) for _ in range(4)]
    weights = [2, 1, 1, 1]  # T = 5, f = 1, quorum 4
    first = genesis(nodes, weights)
    client = client_at(first, nodes, crypto, weights)
    ok = child(first, nodes, [a, b, c], weights=weights)
    follow(client, [ok])
    with pytest.raises(VerificationError, match="signed weight 3 is below the quorum 4 of total weight 5"):
        client.check_header(candidate(child(ok, nodes, [b, c, d], weights=weights)))


def test_sealer_set_changes_are_followed_and_the_old_set_is_refused_after(crypto: Crypto) -> None:
    a, b, c, d, e = (Sealer.generate(crypto) for _ in range(5))
    old, grown, shrunk = [a, b, c, d], [a, b, c, d, e], [b, c, d, e]
    block0 = genesis(old, crypto=crypto)
    client = client_at(block0, old, crypto)
    block1 = child(block0, old, crypto=crypto)
    block2 = child(block1, grown, crypto=crypto)  # e joins (old quorum 3 of a-d signs it, and all 5)
    block3 = child(block2, grown, [b, c, d, e], crypto=crypto)  # 4 of 5 is the new quorum
    block4 = child(block3, shrunk, crypto=crypto)  # a leaves; b-e are 4 of the 5 in force
    block5 = child(block4, shrunk, [c, d, e], crypto=crypto)
    changes = follow(client, [block1, block2, block3, block4, block5])  # one range: sets follow before accept
    assert changes == [SetChange(2, 5), SetChange(4, 4)]
    assert client.sealers.node_ids == tuple(s.node_id for s in shrunk)
    assert client.trusted_state()["sealers"] == ["0x" + s.node_id.hex() for s in shrunk]
    # the old set after the change: block 6 listing a-d again, sealed by a, b, c (a quorum of a-d, but of
    # the set in force b-e only b and c signed)
    stale = child(block5, old, [a, b, c], crypto=crypto)
    with pytest.raises(VerificationError, match="block 6: its sealer list differs from the set in force and the set "
                                                "in force signed only weight 2 of the 3 needed to follow the change"):
        client.check_header(candidate(stale))
    with pytest.raises(VerificationError, match=r"sealerIndex 4 is outside sealerList \(4 sealers\)"):
        client.check_header(candidate(child(block5, shrunk, [b, c, a], crypto=crypto)))
    follow(client, [child(block5, shrunk, [b, c, d], crypto=crypto)])


def test_a_change_replacing_more_than_the_old_quorum_allows_is_refused(crypto: Crypto) -> None:
    old = [Sealer.generate(crypto) for _ in range(4)]
    new = [Sealer.generate(crypto) for _ in range(4)]
    block0 = genesis(old, crypto=crypto)
    client = client_at(block0, old, crypto)
    takeover = child(block0, new, crypto=crypto)
    with pytest.raises(VerificationError, match="set in force signed only weight 0 of the 3 needed"):
        client.check_header(candidate(takeover))
    half = old[:2] + new[:2]
    with pytest.raises(VerificationError, match="set in force signed only weight 2 of the 3 needed"):
        client.check_header(candidate(child(block0, half, crypto=crypto)))


def test_links_gaps_and_the_set_check_at_accept(crypto: Crypto) -> None:
    nodes = [Sealer.generate(crypto) for _ in range(4)]
    block0 = genesis(nodes, crypto=crypto)
    client = client_at(block0, nodes, crypto)
    block1 = child(block0, nodes, crypto=crypto)
    block2 = child(block1, nodes, crypto=crypto)
    v1, v2 = client.check_header(candidate(block1)), client.check_header(candidate(block2))
    with pytest.raises(VerificationError, match="block 2 does not follow the head 0"):
        client.accept([v2])
    other1 = child(block0, nodes, crypto=crypto, salt=b"fork")  # another block 1
    forked = client.check_header(candidate(other1))
    client.accept([v1])
    forked2 = child(other1, nodes, crypto=crypto)
    with pytest.raises(BrokenLinkError) as broken:
        client.accept([client.check_header(candidate(forked2))])
    assert broken.value.fields["block"] == 2
    client.accept([v2])
    assert client.head_number == 2 and forked.number == 1


def test_two_sealed_headers_at_one_height_are_misbehaviour(crypto: Crypto) -> None:
    nodes = [Sealer.generate(crypto) for _ in range(4)]
    block0 = genesis(nodes, crypto=crypto)
    client = client_at(block0, nodes, crypto)
    one = child(block0, nodes, crypto=crypto, salt=b"one")
    two = child(block0, nodes, crypto=crypto, salt=b"two")
    assert two.claimed_hash is not None
    known = client.check_header(candidate(one))
    client.accept([known])
    with pytest.raises(MisbehaviourError, match="block 1: two validly sealed headers") as caught:
        client.check_header(candidate(two))
    evidence = caught.value.evidence_json()
    assert caught.value.number == 1 and evidence["hashes"] == ["0x" + known.hash.hex(), "0x" + two.claimed_hash.hex()]
    assert len(evidence["headers"]) == 2 and len(evidence["signers"][1]) == 4  # type: ignore[index, arg-type]
    with pytest.raises(MisbehaviourError):
        client.check_equivocation(known, candidate(two))
    unsealed = child(block0, nodes, nodes[:1], crypto=crypto, salt=b"three")
    client.check_equivocation(known, candidate(unsealed))  # not sealed: no evidence, no error


def test_contents_are_checked_against_receipts_root(fisco_dir: Path) -> None:
    receipt = load(fisco_dir, "bcos3_secp_block72_single_tx.json")["receipt"]
    root = receipt_hash(receipt, Crypto.SECP256K1.hasher)
    nodes = [Sealer.generate(Crypto.SECP256K1) for _ in range(4)]
    block0 = genesis(nodes)
    client = client_at(block0, nodes, Crypto.SECP256K1)
    verified = client.check_header(candidate(child(block0, nodes, receipts_root=root)))
    client.check_contents(verified, BlockContents(1, verified.hash, [receipt]))
    client.check_contents(verified, BlockContents(1, verified.hash, {"receipts": [receipt]}))
    with pytest.raises(VerificationError, match="block 1: the receipts do not rebuild receiptsRoot"):
        client.check_contents(verified, BlockContents(1, verified.hash, [dict(receipt, status=1)]))
    with pytest.raises(VerificationError, match="block 1: status must be a number"):
        client.check_contents(verified, BlockContents(1, verified.hash, [dict(receipt, status="x")]))


def test_a_signature_of_the_other_crypto_is_refused() -> None:
    sm_nodes = [Sealer.generate(Crypto.SM) for _ in range(4)]
    block0 = genesis(sm_nodes, crypto=Crypto.SM)
    client = client_at(block0, sm_nodes, Crypto.SM)
    secp_chain = child(genesis(sm_nodes, crypto=Crypto.SM), sm_nodes, crypto=Crypto.SECP256K1)
    with pytest.raises(VerificationError, match="is not the header's hash"):
        client.check_header(candidate(secp_chain))


@pytest.mark.parametrize(("options", "key"), [
    ({"sealers": []}, "sealers"),
    ({"sealers": ["0x12"]}, "sealers[0]"),
    ({"sealers": ["0x" + "11" * 64], "weights": [0]}, "weights"),
    ({"sealers": ["0x" + "11" * 64], "crypto": "rsa"}, "crypto"),
    ({"sealers": ["0x" + "11" * 64], "checkpoint_number": 3}, "checkpoint_hash"),
    ({"sealers": ["0x" + "11" * 64], "extra": 1}, "extra"),
])
def test_options_name_the_key_at_fault(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        FiscoBcosLightClient.from_options("fisco", 7, 0, options)
    assert refused.value.fields.get("key", str(refused.value)).endswith(key) or key in str(refused.value)


def test_the_sources_claimed_hash_is_checked_too() -> None:
    nodes = [Sealer.generate(Crypto.SECP256K1) for _ in range(4)]
    block0 = genesis(nodes)
    client = client_at(block0, nodes, Crypto.SECP256K1)
    block1 = child(block0, nodes)
    bare = {k: v for k, v in as_rpc(block1).items() if k != "hash"}
    assert block1.claimed_hash is not None
    client.check_header(CandidateHeader(1, block1.claimed_hash, b"", bare))
    with pytest.raises(VerificationError, match="block 1: the claimed hash 0x00"):
        client.check_header(CandidateHeader(1, bytes(32), b"", bare))
    with pytest.raises(VerificationError, match="block 1: the source's hash is not the header's"):
        client.check_header(CandidateHeader(1, bytes(32), b"", as_rpc(block1)))
