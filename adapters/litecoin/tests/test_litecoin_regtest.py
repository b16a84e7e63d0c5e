"""The Litecoin family against a real litecoind in regtest: the launcher, the custody script, the light
client following from a checkpoint, deposits found and proven, a lying node refused (altered answers
through an in-process transport in front of the real node), finality by confirmations and reorgs."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import structlog
from embit import compact
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput
from eth_abi import encode as abi_encode
from eth_utils import keccak

from relayer.contract import ChainAdapter, Source, VerifiedHeader
from relayer.errors import BrokenLinkError, ConfigError, ProofError, RpcAnswerError, RpcError, VerificationError
from relayer_litecoin.adapter import LitecoinAdapter, LitecoinConfig
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.evm_proof import deposit_proof
from relayer_litecoin.header import Header, bits_to_target
from relayer_litecoin.merkle import merkle_branch
from relayer_litecoin.network import MAIN, REGTEST
from relayer_litecoin.payload import MAGIC, DepositPayload
from relayer_litecoin.source import LitecoinSource, ParsedProof, deposit_id, deposit_nonce, verify_proof
from relayer_litecoin.testing import ALPHA, CUSTODY, CUSTODY_ADDRESS, OPERATORS, RECIPIENT, Devnet, LyingTransport

CHAIN_ID = 7001
ROUTES = {ALPHA: "alpha"}


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    net = Devnet()
    yield net
    net.stop()


def adapter(devnet: Devnet, transport: Any = None) -> LitecoinAdapter:
    return LitecoinAdapter.connect("ltc", CHAIN_ID, (devnet.node.url,), LitecoinConfig(REGTEST, CUSTODY),
                                   transport=transport)


def client(confirmations: int = 2) -> LitecoinLightClient:
    return LitecoinLightClient.from_options("ltc", CHAIN_ID, confirmations, {"network": "regtest"})


async def follow(source: LitecoinSource, lc: LitecoinLightClient, first: int) -> list[VerifiedHeader]:
    """What the follower does: headers up to the final block (and the child of the last), checked and linked."""
    final = lc.final_number(await source.head_number())
    start = first if lc.head_number is None else lc.head_number + 1
    if final < start:
        return []
    candidates = await source.headers(start, final + lc.lookahead)
    verified = [lc.check_header(c) for c in candidates]
    if lc.lookahead:
        child = verified.pop()
        if child.parent_hash != verified[-1].hash:
            raise BrokenLinkError("child does not link", block=child.number)
    lc.accept(verified)
    return verified


async def test_the_node_is_regtest_on_loopback_and_credentials_stay_out_of_status(devnet: Devnet) -> None:
    assert devnet.node.call("getblockhash", 0) == REGTEST.genesis
    a = adapter(devnet)
    try:
        assert await a.remote_chain_id() == CHAIN_ID
        (endpoint,) = a.endpoints()
        assert devnet.node.password not in json.dumps(endpoint) and endpoint["url"].startswith("http://127.0.0.1:")
    finally:
        await a.aclose()


def test_custody_is_the_nodes_own_2_of_3_multisig(devnet: Devnet) -> None:
    keys = sorted(s.public_key.hex() for s in OPERATORS)
    made = devnet.node.call("createmultisig", 2, keys, "bech32")
    assert made["address"] == CUSTODY_ADDRESS and made["redeemScript"] == CUSTODY.witness_script.hex()
    assert CUSTODY_ADDRESS.startswith("rltc1q")
    info = devnet.node.call("validateaddress", CUSTODY_ADDRESS)
    assert info["isvalid"] and info["scriptPubKey"] == CUSTODY.script_pubkey.hex()


async def test_the_client_follows_from_a_checkpoint_and_deposits_are_found_and_proven(devnet: Devnet) -> None:
    txid = devnet.deposit(Decimal("1.25"))
    devnet.mine(1)
    height = devnet.height_of(txid)
    a = adapter(devnet)
    try:
        source, lc = a.source, client(confirmations=2)
        first = height - 3
        await follow(source, lc, first)
        assert lc.head_number == height - 2  # the deposit's block is not final yet: 2 confirmations
        devnet.mine(2)
        verified = await follow(source, lc, first)
        assert [v.number for v in verified] == [height - 1, height] and lc.head_number == height
        header = verified[-1]
        assert header.hash.hex() == devnet.node.call("getblockhash", height)
        contents = await source.block_contents(header)
        lc.check_contents(header, contents)
        (message,) = source.messages(header, contents, ROUTES)
        assert message.nonce == deposit_nonce(height, int.from_bytes(message.locator, "big"))
        assert message.id == deposit_id(CHAIN_ID, CUSTODY.script_pubkey[2:], message.nonce) == "0x" + keccak(
            abi_encode(["uint64", "bytes32", "uint64"], [CHAIN_ID, CUSTODY.script_pubkey[2:], message.nonce])).hex()
        assert message.dst_chain == "alpha"
        assert message.labels["amount"] == "125000000" and message.labels["tx"] == txid
        version, tx, amount, dst, length = struct.unpack(">B32sQQB", message.body[:50])
        assert (version, tx.hex(), amount, dst, message.body[50:]) == (1, txid, 125_000_000, ALPHA, RECIPIENT)
        assert length == len(RECIPIENT) and message.nonce >> 20 == height
        (proof,) = source.prove(header, contents, [message])
        assert proof.data == deposit_proof(contents.data, height, int.from_bytes(message.locator, "big"))
        assert verify_proof(proof.data, header.commitment, height).hex() == txid
        with pytest.raises(ProofError):
            verify_proof(proof.data, header.commitment, height + 1)
        parsed = ParsedProof.decode(proof.data[8:])
        assert parsed.index == int.from_bytes(message.locator, "big") > 0 and parsed.branch
        lied = replace(parsed, tx=parsed.tx.replace(RECIPIENT, b"\x66" * 20)).encode()
        with pytest.raises(ProofError):
            verify_proof(lied, header.commitment)
        # Source.verify: the envelope the proof shows under the verified header, or ProofError
        shown = source.verify(header, proof, ROUTES)
        assert shown == message and shown.labels == message.labels and shown.dst_chain == "alpha"
        other = verified[-2]
        with pytest.raises(ProofError, match="names block"):
            source.verify(other, proof, ROUTES)
        with pytest.raises(ProofError, match="header is not the verified one"):
            source.verify(replace(header, hash=other.hash), proof, ROUTES)
        with pytest.raises(ProofError, match="merkle"):
            source.verify(header, replace(proof, data=proof.data[:8] + lied), ROUTES)
        with pytest.raises(ProofError, match="another message"):
            source.verify(header, replace(proof, message_id=deposit_id(CHAIN_ID, CUSTODY.script_pubkey[2:], 1)),
                          ROUTES)
        coinbase = ParsedProof(parsed.header, 0, tuple(merkle_branch(contents.data.txids(), 0)),
                               stripped(contents.data.txs[0])).encode()
        with pytest.raises(ProofError, match="no deposit"):
            source.verify(header, replace(proof, data=proof.data[:8] + coinbase), ROUTES)
        assert not source.messages(header, contents, {})  # a deposit to an unrouted chain is left out
        with pytest.raises(ProofError, match="not routed"):
            source.verify(header, proof, {})
    finally:
        await a.aclose()


async def test_a_payment_to_custody_without_a_valid_payload_is_kept_and_logged(devnet: Devnet) -> None:
    bare = devnet.pay([{CUSTODY_ADDRESS: "0.5"}])
    bad = devnet.deposit(Decimal("0.25"), MAGIC + b"\x02" + bytes(8) + b"\x01\x01")
    devnet.mine(1)
    height = devnet.height_of(bad)
    assert devnet.height_of(bare) == height
    a = adapter(devnet)
    try:
        source, lc = a.source, client(confirmations=0)
        (candidate,) = await source.headers(height, height)
        header = lc.check_header(candidate)
        contents = await source.block_contents(header)
        lc.check_contents(header, contents)
        with structlog.testing.capture_logs() as logs:
            assert source.messages(header, contents, ROUTES) == []
        refused = {e["tx"]: e for e in logs if e["event"] == "deposit.refused"}
        assert set(refused) == {bare, bad}
        assert refused[bare]["reason"] == "no relayer OP_RETURN payload" and refused[bare]["amount"] == 50_000_000
        assert "version 2" in refused[bad]["reason"] and "custody" in refused[bad]["action"]
    finally:
        await a.aclose()


def forge(header: Header, *, bad_pow: bool = False, **fields: Any) -> Header:
    """``header`` with ``fields`` changed and a nonce that passes (or, ``bad_pow``, fails) its target."""
    forged = replace(header, **fields)
    target = bits_to_target(forged.bits)
    while (forged.pow_hash > target) != bad_pow:
        forged = replace(forged, nonce=forged.nonce + 1)
    return forged


def liar(forged: dict[str, Header]) -> LyingTransport:
    """A node that serves ``forged[real hash]`` (claimed under its own hash) instead of the real header."""
    aliases = {f.hash.hex(): real for real, f in forged.items()}

    def alter(method: str, params: list[Any], result: Any) -> Any:
        if method == "getblockhash" and result in forged:
            return forged[result].hash.hex()
        if method == "getblockheader" and params[0] in forged:
            return forged[params[0]].serialize().hex()
        return result

    return LyingTransport(alter, aliases)


async def test_a_lying_node_is_refused(devnet: Devnet) -> None:
    devnet.mine(3)
    head = int(devnet.node.call("getblockcount"))
    real = {n: Header.parse(bytes.fromhex(devnet.node.call("getblockheader", devnet.node.call("getblockhash", n),
                                                           False))) for n in (head - 1, head)}
    cases = {
        "bad proof of work": forge(real[head], bad_pow=True, time=real[head].time + 1),
        "bad parent": forge(real[head], prev_hash=bytes(32)),
        "altered merkle root": forge(real[head], merkle_root=bytes(range(32))),
    }
    honest = adapter(devnet)
    try:
        for what, forged in cases.items():
            lying = adapter(devnet, liar({real[head].hash.hex(): forged}))
            try:
                lc = client(confirmations=0)
                lc.accept([lc.check_header(c) for c in await honest.source.headers(head - 1, head - 1)])
                (candidate,) = await lying.source.headers(head, head)
                assert candidate.native == forged, what
                if what == "bad proof of work":
                    with pytest.raises(VerificationError, match="proof of work"):
                        lc.check_header(candidate)
                elif what == "bad parent":
                    with pytest.raises(BrokenLinkError):
                        lc.accept([lc.check_header(candidate)])
                else:  # the header alone is well formed: the block's transactions give it away
                    header = lc.check_header(candidate)
                    lc.accept([header])
                    with pytest.raises(VerificationError):
                        lc.check_contents(header, await lying.source.block_contents(header))
            finally:
                await lying.aclose()

        def altered_tx(method: str, params: list[Any], result: Any) -> Any:  # the coinbase pays itself 1 litoshi more
            if method == "getblock":
                block = Block.parse(bytes.fromhex(result))
                block.txs[0].vout[0].value += 1
                txs = b"".join(t.serialize() for t in block.txs)
                return (block.header + compact.to_bytes(len(block.txs)) + txs).hex()
            return result

        lying = adapter(devnet, LyingTransport(altered_tx))
        try:
            lc = client(confirmations=0)
            (candidate,) = await honest.source.headers(head, head)
            header = lc.check_header(candidate)
            with pytest.raises(VerificationError, match="merkle root"):
                lc.check_contents(header, await lying.source.block_contents(header))
            lc.check_contents(header, await honest.source.block_contents(header))
        finally:
            await lying.aclose()
    finally:
        await honest.aclose()


async def test_a_reorg_below_finality_drops_the_deposit_and_one_deeper_halts(devnet: Devnet) -> None:
    a = adapter(devnet)
    try:
        source = a.source
        start = int(devnet.node.call("getblockcount"))
        lc = client(confirmations=2)
        await follow(source, lc, start - 2)
        txid = devnet.deposit(Decimal("2"))
        orphan = devnet.mine(1)[0]
        height = devnet.height_of(txid)
        (old,) = await source.headers(height, height)
        await follow(source, lc, start)
        assert lc.head_number is not None and lc.head_number < height  # not final: not accepted
        devnet.node.call("invalidateblock", orphan)
        new = [devnet.mine_empty(), devnet.mine_empty()]
        assert devnet.node.call("getblockhash", height) == new[0] != orphan
        devnet.node.call("reconsiderblock", orphan)  # the orphan is valid again, but has less work
        assert devnet.node.call("getbestblockhash") == new[1]
        branch_new = [lc.check_header(c) for c in await source.headers(height, height + 1)]
        await follow(source, lc, start)  # head height + 1: final up to height - 1, below the fork
        assert lc.head_number == height - 1
        branch_old = [lc.check_header(old)]
        assert lc.best_branch([branch_old, branch_new]) == branch_new
        for _ in range(2):
            devnet.mine_empty()
        await follow(source, lc, start)
        assert lc.head_number is not None and lc.head_number >= height
        for number in range(height, lc.head_number + 1):
            (candidate,) = await source.headers(number, number)
            header = lc.check_header(candidate)
            contents = await source.block_contents(header)
            assert source.messages(header, contents, ROUTES) == [], "the orphaned deposit was found"
        # a reorg deeper than finality: the accepted head is replaced
        accepted = lc.head_number
        devnet.node.call("invalidateblock", devnet.node.call("getblockhash", accepted))
        for _ in range(4):
            devnet.mine_empty()
        with pytest.raises(BrokenLinkError) as halted:
            await follow(source, lc, start)
        assert halted.value.fields["block"] == accepted + 1 and lc.head_number == accepted
    finally:
        await a.aclose()


async def test_two_of_three_operators_spend_a_custody_output_and_the_node_accepts_it(devnet: Devnet) -> None:
    txid = devnet.deposit(Decimal("0.75"))
    devnet.mine(1)
    tx = Transaction.parse(bytes.fromhex(devnet.node.call("getrawtransaction", txid, False,
                                                          devnet.node.call("getbestblockhash"))))
    (vout,) = [i for i, out in enumerate(tx.vout) if bytes(out.script_pubkey.data) == CUSTODY.script_pubkey]
    amount = tx.vout[vout].value
    to = Script.from_address(devnet.call("getnewaddress"))
    spend = Transaction(vin=[TransactionInput(bytes.fromhex(txid), vout)],
                        vout=[TransactionOutput(amount - 10_000, to)])
    digest = CUSTODY.sighash(spend, 0, amount)
    signatures = {s.public_key: s.sign_digest(digest) for s in (OPERATORS[2], OPERATORS[0])}
    with pytest.raises(ValueError, match="2 needed"):
        CUSTODY.witness({OPERATORS[1].public_key: OPERATORS[1].sign_digest(digest)})
    one_short = Transaction.parse(spend.serialize())
    one_short.vin[0].witness = Witness([b"", signatures[OPERATORS[0].public_key] + b"\x01", CUSTODY.witness_script])
    (refused,) = devnet.node.call("testmempoolaccept", [one_short.serialize().hex()])
    assert not refused["allowed"], "a custody output spent with one signature"
    spend.vin[0].witness = Witness(CUSTODY.witness(signatures))
    (accepted,) = devnet.node.call("testmempoolaccept", [spend.serialize().hex()])
    assert accepted["allowed"], accepted


async def test_the_adapter_is_a_chain_adapter(devnet: Devnet) -> None:
    a = adapter(devnet)
    try:
        assert isinstance(a, ChainAdapter) and a.source is a.source and isinstance(a.source, Source)
        with pytest.raises(ConfigError) as refused:  # a route into it needs the source's application
            await a.resolve_route(a, "routes[x->ltc]")
        assert refused.value.key == "chains.ltc.litecoin.burns.ltc"
    finally:
        await a.aclose()
    wrong = LitecoinAdapter.connect("ltc", CHAIN_ID, (devnet.node.url,), LitecoinConfig(MAIN, CUSTODY))
    try:
        with pytest.raises(RpcAnswerError, match="another network"):
            await wrong.remote_chain_id()
    finally:
        await wrong.aclose()
    unreachable = LitecoinAdapter.connect("ltc", CHAIN_ID, ("http://u:secret@127.0.0.1:1/",),
                                          LitecoinConfig(REGTEST, CUSTODY))
    try:
        with pytest.raises(RpcError) as failed:
            await unreachable.remote_chain_id()
        assert "secret" not in str(failed.value)
        (health,) = unreachable.endpoints()
        assert health["state"] == "failing" and health["errors"] == 1 and "secret" not in json.dumps(health)
    finally:
        await unreachable.aclose()


def test_the_deposit_payload_round_trips() -> None:
    from relayer_litecoin.payload import PayloadError, decode

    payload = DepositPayload(ALPHA, RECIPIENT)
    assert decode(payload.encode()) == payload and len(payload.encode()) == 32
    for bad in (b"rl\x01", payload.encode() + b"\x00", b"rl\x02" + payload.encode()[3:], b"xx"):
        with pytest.raises(PayloadError):
            decode(bad)
    with pytest.raises(PayloadError):
        DepositPayload(ALPHA, b"").encode()
