"""Releases found by the Litecoin source as acknowledgements of their burns (relayer_litecoin.acks), against
a real litecoind regtest: the version 2 release marker (origin chain) and its equality with version 1; the
three operators' release found in its block with the transaction its input 0 spends, as an envelope
acknowledging the burn to the origin chain when routed; its version 2 proof verified by ``Source.verify``
and refused when altered; a marker in a transaction that spends no custody output is no release; the
custody's history finds a release whatever the marker's version; a node without -txindex is refused at
start-up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
import trio

from relayer.contract import Proof
from relayer.errors import FatalError, ProofError
from relayer_litecoin.acks import FundedBlock, ReleaseProof, require_txindex
from relayer_litecoin.marker import Kind, Marker, decode, markers_of
from relayer_litecoin.policy import submitters
from relayer_litecoin.release import ReleaseRequest
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.source import deposit_id, deposit_nonce
from relayer_litecoin.testing import ALPHA, CUSTODY, OPERATORS, Devnet, ReleaseTeam, header_chain

BURN_ID = hashlib.sha256(b"a burn on alpha").digest()
AMOUNT = 30_000_000


def test_a_release_marker_names_its_origin_chain_in_version_2() -> None:
    v2 = Marker(Kind.RELEASE, BURN_ID, ALPHA)
    assert v2.encode() == b"rr\x02\x01" + ALPHA.to_bytes(8, "big") + BURN_ID and len(v2.encode()) == 44
    assert v2.script() == b"\x6a\x2c" + v2.encode()
    got = decode(v2.encode())
    assert got is not None and got.origin == ALPHA and got.id == BURN_ID
    v1 = Marker(Kind.RELEASE, BURN_ID)
    assert decode(v1.encode()) == v1 == v2 and hash(v1) == hash(v2) and str(v1) == str(v2)  # one marker
    assert decode(b"rr\x02\x02" + ALPHA.to_bytes(8, "big") + BURN_ID) is None  # only a release names an origin
    assert decode(b"rr\x02\x01" + bytes(8) + BURN_ID) is None  # origin 0
    assert decode(v2.encode()[:-1]) is None
    with pytest.raises(ValueError):
        Marker(Kind.RETURN, BURN_ID, ALPHA)


@pytest.fixture(scope="module")
def ltc() -> Iterator[Devnet]:
    net = Devnet()
    yield net
    net.stop()


async def _release(ltc: Devnet, folder: Path, marker: Marker) -> str:
    me = [s.public_key for s in OPERATORS].index(submitters(CUSTODY, marker)[0])
    team = ReleaseTeam(ltc.node.url, folder, me)
    try:
        outcome = await team.submitter.release(ReleaseRequest(marker, ltc.call("getnewaddress"), AMOUNT))
        assert outcome.state == "broadcast"
        ltc.mine(1)
        # the custody's history finds the release by its id in either form
        for form in (Marker(Kind.RELEASE, BURN_ID), marker):
            found = (await team.submitter.ledger.in_blocks([form]))[form]
            assert found.txid == outcome.txid
        return outcome.txid
    finally:
        await team.aclose()


async def test_a_release_is_an_acknowledgement_of_its_burn(ltc: Devnet, tmp_path: Path) -> None:
    ltc.deposit(Decimal("1"))
    ltc.mine(2)
    marker = Marker(Kind.RELEASE, BURN_ID, ALPHA)
    txid = await _release(ltc, tmp_path, marker)
    # a marker in a wallet transaction (no custody input) in the same chain is no release
    forged = ltc.pay([{ltc.call("getnewaddress"): "0.1"}, {"data": marker.encode().hex()}])
    ltc.mine(1)
    chain = header_chain(ltc.node.url, confirmations=0)
    source = chain.source
    try:
        await chain.sync()
        height = ltc.height_of(txid)
        header = chain.at(height)
        contents = await source.block_contents(header)
        assert isinstance(contents.data, FundedBlock) and len(contents.data.fundings) == 1
        with structlog.testing.capture_logs() as logs:
            assert source.messages(header, contents, {}) == []
        assert [(e["event"], e["kind"]) for e in logs] == [("event.unroutable", "ack")]
        (ack,) = source.messages(header, contents, {ALPHA: "alpha"})
        index = next(i for i, t in enumerate(contents.data.txs) if t.txid().hex() == txid)
        release = contents.data.txs[index]
        assert ack.acknowledges == "0x" + BURN_ID.hex() and ack.dst_chain == "alpha"
        assert ack.nonce == deposit_nonce(height, index) and ack.id == deposit_id(source.chain_id,
                                                                                  source.custody_program, ack.nonce)
        assert ack.labels["kind"] == "ack" and ack.labels["tx"] == txid
        assert ack.body[:32] == BURN_ID and ack.body[-64:-32] == bytes.fromhex(txid)
        assert int.from_bytes(ack.body[-32:], "big") == release.vout[0].value < AMOUNT

        (proof,) = source.prove(header, contents, [ack])
        assert proof.data[8] == 2
        assert source.verify(header, proof, {ALPHA: "alpha"}) == ack
        with pytest.raises(ProofError, match="not routed"):
            source.verify(header, proof, {})
        parsed = ReleaseProof.decode(proof.data)
        other = replace(parsed.funding.proof, index=parsed.funding.proof.index ^ 1)
        bad = replace(parsed, funding=replace(parsed.funding, proof=other)).encode()
        with pytest.raises(ProofError, match="funding branch"):
            source.verify(header, Proof(proof.message_id, proof.block_number, bad), {ALPHA: "alpha"})
        # the forged marker: no acknowledgement in its block, and a proof of it is refused
        forged_height = ltc.height_of(forged)
        forged_header = chain.at(forged_height)
        forged_contents = await source.block_contents(forged_header)
        assert marker in markers_of(next(t for t in forged_contents.data.txs if t.txid().hex() == forged))
        assert [m for m in source.messages(forged_header, forged_contents, {ALPHA: "alpha"})
                if m.acknowledges] == []
    finally:
        await source.rpc.aclose()


def test_a_node_without_a_transaction_index_is_refused_at_start_up() -> None:
    net = Devnet("-txindex=0")
    try:
        async def check() -> None:
            rpc = LitecoinRpc((net.node.url,))
            try:
                with pytest.raises(FatalError, match="-txindex=1"):
                    await require_txindex(rpc, "litecoin")
            finally:
                await rpc.aclose()

        trio.run(check)
    finally:
        net.stop()
