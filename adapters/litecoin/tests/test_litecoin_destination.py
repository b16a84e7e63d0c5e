"""Litecoin as a route's destination (relayer_litecoin.destination) on real nodes: burns of WrappedLitecoin on
an anvil chain (alpha) whose MessageLayer sends them to the custody on a litecoind regtest chain, found and
proven by the EVM family's Source and light client, released by three operators' destinations (2 of 3
custody signatures; the other operators asked through a CoSigners that calls their ``cosign`` as the core's
API does). A burn is released exactly once; what is no burn of the configured application to this chain's
custody, or to an address of another network, is refused before anything is signed; a peer refuses a PSBT
that is not the rules' transaction; a crash between journaling and broadcasting is recovered with the same
transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from embit.psbt import PSBT
from embit.transaction import Transaction
from eth_utils import keccak

from adapters.evm import committee as cm
from adapters.evm.messaging import address_word
from adapters.evm.rpc import RpcClient
from adapters.evm.source import EvmSource
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.client import EvmLightClient
from relayer.contract import (
    Batch,
    ConfirmationStatus,
    Delivery,
    DeliveryStatus,
    Destination,
    LightClientUpdate,
    OutcomeStatus,
    RouteRef,
    UpdatePolicy,
    UpdateStatus,
    VerifiedHeader,
)
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.errors import ContractRevert, FatalError
from relayer.plugins import DESTINATION_GROUP, UPDATE_POLICY_GROUP, load
from relayer.store import Store
from relayer.types import Envelope, MessageId
from relayer_litecoin import operators
from relayer_litecoin.adapter import LitecoinAdapter
from relayer_litecoin.block import Block
from relayer_litecoin.burn import decode_envelope
from relayer_litecoin.custody_policy import CustodyPolicy
from relayer_litecoin.destination import LitecoinDestination, open_destination
from relayer_litecoin.evm_proof import deposit_proof
from relayer_litecoin.header import Header
from relayer_litecoin.keys import write_keystore
from relayer_litecoin.marker import Kind, Marker, markers_of
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.release import build
from relayer_litecoin.testing import CUSTODY, Devnet
from relayer_litecoin.utxo import custody_utxos

LTC_CHAIN, ALPHA_CHAIN = 7001, 31337
PROGRAM = CUSTODY.script_pubkey[2:]
DEPLOYER, USER_KEY = ANVIL_KEYS[0], ANVIL_KEYS[1]
USER = cm.signer_address(USER_KEY)
COMMITTEE = sorted(("0x" + keccak(text=f"ltc-committee-{i}").hex() for i in range(3)),
                   key=lambda k: int(cm.signer_address(k), 16))
ROUTE = RouteRef("alpha->litecoin", "alpha", "litecoin", ALPHA_CHAIN, LTC_CHAIN, "operators")
AMOUNT = 30_000_000  # 0.3 LTC
FAST = 1 << 10


def tx_state(store: Store, txid: str) -> str | None:
    """Where the core's journal has transaction ``txid``."""
    rows = [t for s in ("signed", "sent", "mined", "dropped") for t in store.txs_in_state("litecoin", s)
            if t.hash == txid]
    return rows[0].state if rows else None


class Alpha:
    """The source chain's adapter as the Litecoin destination reads it (name, source, source_layer)."""

    def __init__(self, source: EvmSource, layer: str) -> None:
        self.name, self.source, self.source_layer = "alpha", source, address_word(layer)


@dataclass
class Env:
    ltc: Devnet
    evm: SyncEvm
    layer: str
    app: str
    alpha: Alpha
    folder: Path

    def burn(self, address: str, amount: int = AMOUNT) -> dict[str, Any]:
        return self.evm.transact(USER_KEY, self.app, "WrappedLitecoin", "burn", address, amount)

    async def batch(self, receipt: dict[str, Any]) -> Batch:
        """The batch of the (one) message ``receipt`` sent, as the core builds it: the header verified by the
        EVM light client, the message found in its checked receipts, its proof."""
        number = int(receipt["blockNumber"], 16)
        source = self.alpha.source
        (candidate,) = await source.headers(number, number)
        header = EvmLightClient("alpha", ALPHA_CHAIN, 0).check_header(candidate)
        await source.scan_hints(number, number, {number: header})
        contents = await source.block_contents(header)
        EvmLightClient("alpha", ALPHA_CHAIN, 0).check_contents(header, contents)
        messages = source.messages(header, contents, {LTC_CHAIN: "litecoin", LTC_CHAIN + 1: "other"})
        (message,) = [m for m in messages if m.labels.get("tx") == receipt["transactionHash"]]
        proofs = source.prove(header, contents, [message])
        return Batch(ROUTE, header, (message,), tuple(proofs), LightClientUpdate("custody", number))


def release_table(folder: Path, journals: Path, index: int) -> dict[str, Any]:
    """Operator ``index``'s [chains.litecoin.litecoin] table (keystore and password file in ``folder``, its
    release journal in ``journals``)."""
    keystore, password = folder / f"key{index}.json", folder / f"password{index}"
    if not keystore.exists():
        write_keystore(keystore, bytes([index + 1]) * 32, b"pw", n=FAST)
        password.write_text("pw\n")
        password.chmod(0o600)
    return {"network": "regtest", "custody": {"threshold": 2, "keys": [k.hex() for k in CUSTODY.keys]},
            "release": {"keystore": str(keystore), "password_file": str(password), "confirmations": 1,
                        "journal": str(journals / f"releases{index}.json")}}


class PeerApi:
    """The other operators' APIs as CoSigners.ask reaches them: each answers with its destination's cosign, or
    not at all when it refuses (the core logs ``cosign.peer_failed``)."""

    def __init__(self, peers: Sequence[LitecoinDestination]) -> None:
        self.peers = list(peers)
        self.asked: list[Mapping[str, Any]] = []
        self.refusals: list[str] = []

    async def ask(self, batch: Batch, request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        self.asked.append(request)
        answers = []
        for i, peer in enumerate(self.peers):
            try:
                answers.append((f"operator-{i}", await peer.cosign(batch.route, batch.header, batch.messages, request)))
            except ContractRevert as exc:
                self.refusals.append(exc.reason)
        return answers


async def operator(env: Env, index: int, journals: Path, store: Any, cosigners: Any) -> LitecoinDestination:
    """Operator ``index``'s destination, opened as the daemon does (route resolved, entry point)."""
    table = release_table(env.folder, journals, index)
    table["burns"] = {"alpha": env.app}
    config = LitecoinAdapter.parse_config(table, "chains.litecoin.litecoin")
    adapter = LitecoinAdapter.connect("litecoin", LTC_CHAIN, (env.ltc.node.url,), config)
    assert await adapter.resolve_route(env.alpha, "routes[alpha->litecoin]") == ("operators", "custody")
    opener = load(DESTINATION_GROUP, "litecoin", key="chains.litecoin.adapter")
    return opener(adapter, None, store, config, None, trio.Event(), cosigners)  # type: ignore[no-any-return]


@dataclass
class Team:
    """Operator 0's destination (the submitter) asking operators 1 and 2 (their destinations)."""

    me: LitecoinDestination
    api: PeerApi
    journal: Store

    async def aclose(self) -> None:
        for d in [self.me, *self.api.peers]:
            await d.adapter.aclose()


async def team(env: Env, folder: Path) -> Team:
    """The three operators with their release journals and stores in ``folder``."""
    journal = Store(folder / "relayer.db")
    peers = [await operator(env, i, folder, Store(folder / f"peer{i}.db"), None) for i in (1, 2)]
    api = PeerApi(peers)
    return Team(await operator(env, 0, folder, journal, api), api, journal)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("ltcdest")
    ltc = Devnet("-mempoolreplacement=1")
    node: AnvilNode | None = None
    try:
        node = start_anvil(ALPHA_CHAIN, block_time=None)
        with SyncEvm(node.url) as evm:
            layer = evm.deploy(DEPLOYER, "MessageLayer", cm.signer_address(DEPLOYER), 5_000_000)
            app = evm.deploy(DEPLOYER, "WrappedLitecoin", layer, LTC_CHAIN, PROGRAM)
            verifier = evm.deploy(DEPLOYER, "LitecoinDepositVerifier", layer, app, 200_000)
            lc = evm.deploy(DEPLOYER, "CommitteeHashLightClient", LTC_CHAIN,
                            [cm.signer_address(k) for k in COMMITTEE], 2)
            evm.transact(DEPLOYER, layer, "MessageLayer", "setRemote", LTC_CHAIN, PROGRAM, lc, verifier)
            lc2 = evm.deploy(DEPLOYER, "CommitteeHashLightClient", LTC_CHAIN + 1,
                             [cm.signer_address(k) for k in COMMITTEE], 2)
            evm.transact(DEPLOYER, layer, "MessageLayer", "setRemote", LTC_CHAIN + 1, PROGRAM, lc2, verifier)
            mint(ltc, evm, layer, lc)
            ltc.deposit(Decimal("2"))  # more custody outputs, final at 1 confirmation
            ltc.mine(2)
            source = EvmSource("alpha", ALPHA_CHAIN, RpcClient("alpha", (node.url,)), layer)
            yield Env(ltc, evm, layer, app, Alpha(source, layer), folder)
    finally:
        if node is not None:
            stop_anvil(node)
        ltc.stop()


def mint(ltc: Devnet, evm: SyncEvm, layer: str, lc: str) -> None:
    """A deposit of 3 LTC to USER on Litecoin, minted on alpha through the layer (committee-accepted header)."""
    txid = ltc.deposit(Decimal("3"), DepositPayload(ALPHA_CHAIN, bytes.fromhex(USER[2:])).encode())
    (block_hash,) = ltc.mine(1)
    block = Block.parse(bytes.fromhex(ltc.call("getblock", block_hash, 0)))
    height = int(ltc.call("getblock", block_hash)["height"])
    index = next(i for i, tx in enumerate(block.txs) if tx.txid().hex() == txid)
    header = Header.parse(block.header)
    digest = cm.header_digest(cm.committee_domain_separator(ALPHA_CHAIN, lc), LTC_CHAIN, height, header.hash,
                              header.merkle_root, 0)
    update = cm.encode_committee_update(height, header.hash, header.merkle_root, cm.pack_signatures(
        [(cm.signer_address(k), cm.sign_digest(k, digest)) for k in COMMITTEE[:2]]))
    proof = deposit_proof(block, height, index)
    evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", LTC_CHAIN, update, [proof])


@pytest.fixture
async def miner(env: Env) -> AsyncIterator[None]:
    """A regtest block every 0.3 s while the test runs (someone must mine)."""
    async def mine() -> None:
        while True:
            await trio.to_thread.run_sync(env.ltc.mine, 1)
            await trio.sleep(0.3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(mine)
        yield
        nursery.cancel_scope.cancel()


def received(env: Env, address: str) -> int:
    return int(Decimal(str(env.ltc.call("getreceivedbyaddress", address, 0))) * 100_000_000)


def releases_of(env: Env, message_id: str) -> list[str]:
    """The txids of every transaction carrying the release marker of ``message_id`` in the chain or mempool."""
    marker = Marker(Kind.RELEASE, bytes.fromhex(message_id[2:]))
    found = []
    for height in range(1, int(env.ltc.node.call("getblockcount")) + 1):
        block = Block.parse(bytes.fromhex(env.ltc.node.call("getblock", env.ltc.node.call("getblockhash", height), 0)))
        found += [tx.txid().hex() for tx in block.txs if marker in markers_of(tx)]
    return found + [t for t in env.ltc.node.call("getrawmempool")
                    if marker in markers_of(_tx(env, t))]


def _tx(env: Env, txid: str) -> Transaction:
    """Transaction ``txid`` from the mempool or the last 50 blocks (the node keeps no transaction index)."""
    if txid in env.ltc.node.call("getrawmempool"):
        return Transaction.parse(bytes.fromhex(env.ltc.node.call("getrawtransaction", txid, False)))
    tip = int(env.ltc.node.call("getblockcount"))
    for height in range(tip, max(tip - 50, 0), -1):
        block = Block.parse(bytes.fromhex(env.ltc.node.call("getblock", env.ltc.node.call("getblockhash", height), 0)))
        for tx in block.txs:
            if tx.txid().hex() == txid:
                return tx
    raise AssertionError(f"no transaction {txid}")


def tampered(message: Envelope, **changes: Any) -> Envelope:
    """``message`` with fields of its layer envelope changed (body re-encoded canonically)."""
    e = decode_envelope(message.body)
    return replace(message, body=replace(e, **changes).encode())


def test_the_custody_policy_needs_nothing() -> None:
    policy_class = load(UPDATE_POLICY_GROUP, "custody", key="routes[alpha->litecoin].update_policy")
    assert policy_class is CustodyPolicy

    async def check() -> None:
        policy = await CustodyPolicy.open(ROUTE, None, None)  # type: ignore[arg-type]
        assert isinstance(policy, UpdatePolicy) and policy.name == "custody"
        header = VerifiedHeader(5, b"\1" * 32, b"\2" * 32, b"\3" * 32, 0, b"")
        assert policy.attest(ROUTE, header) is None
        assert await policy.update(ROUTE, header) == LightClientUpdate("custody", 5)
        assert not (await policy.update(ROUTE, header)).needed  # type: ignore[union-attr]
        assert await policy.follow(ROUTE, 5) is UpdateStatus.DONE
        await policy.watch(ROUTE)

    trio.run(check)


async def test_what_is_no_burn_to_release_is_refused_before_anything_is_signed(env: Env, tmp_path: Path) -> None:
    t = await team(env, tmp_path)
    try:
        mempool = set(env.ltc.node.call("getrawmempool"))
        # a message of the layer to the custody, but sent by another sender than the configured application
        body = b"\x01" + AMOUNT.to_bytes(8, "big") + env.ltc.call("getnewaddress").encode()
        sent = env.evm.transact(USER_KEY, env.layer, "MessageLayer", "send", LTC_CHAIN, PROGRAM, body, 0, 0, 0)
        batch = await env.batch(sent)
        with pytest.raises(ContractRevert, match="not the configured application"):
            await t.me.deliver(batch)
        # a real burn to an address of another network (mainnet's)
        other_network = await env.batch(env.burn("ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9"))
        with pytest.raises(ContractRevert, match="not a regtest"):
            await t.me.deliver(other_network)
        # a real burn, then its envelope altered: another destination chain, layer, recipient, body
        batch = await env.batch(env.burn(env.ltc.call("getnewaddress")))
        message = batch.messages[0]
        inner = decode_envelope(message.body).body
        altered: list[tuple[dict[str, Any], str]] = [
                               ({"destination_chain": LTC_CHAIN + 1}, "destination chain 7002"),
                               ({"destination_layer": b"\7" * 32}, "destination layer or recipient"),
                               ({"recipient": b"\7" * 32}, "destination layer or recipient"),
                               ({"sender": address_word(USER)}, "not the configured application"),
                               ({"body": b"\x02" + inner[1:]}, "not a version 1 burn body"),
                               ({"body": b"\x01" + bytes(8) + b"rltc1q"}, "burn of 0"),
                               ({"kind": 1}, "not a version 1 message")]
        for changes, words in altered:
            with pytest.raises(ContractRevert, match=words):
                await t.me.cosign(ROUTE, batch.header, [tampered(message, **changes)], {})
            with pytest.raises(ContractRevert, match="the proof shows another message"):
                await t.me.deliver(replace(batch, messages=(tampered(message, **changes),)))
        with pytest.raises(ContractRevert, match="not the canonical"):
            await t.me.cosign(ROUTE, batch.header, [replace(message, body=message.body + bytes(32))], {})
        with pytest.raises(ContractRevert, match="no proof"):
            await t.me.deliver(replace(batch, proofs=()))
        other_route = replace(ROUTE, src="beta")
        with pytest.raises(ContractRevert, match="no route from beta"):
            await t.me.cosign(other_route, batch.header, [message], {})
        # a message to another chain's id (another remote of the layer), however it reached this route
        to_other = await env.batch(env.evm.transact(USER_KEY, env.layer, "MessageLayer", "send", LTC_CHAIN + 1,
                                                    PROGRAM, body, 0, 0, 0))
        with pytest.raises(ContractRevert, match="destination chain 7002"):
            await t.me.cosign(ROUTE, to_other.header, list(to_other.messages), {})
        assert set(env.ltc.node.call("getrawmempool")) == mempool and not t.api.asked
        assert t.journal.open_transactions("litecoin") == []
        for d in [t.me, *t.api.peers]:
            assert d.signing.journal.keys() == []  # nothing signed, nothing built
    finally:
        await t.aclose()


async def test_a_burn_is_released_exactly_once(env: Env, tmp_path: Path, miner: None) -> None:
    t = await team(env, tmp_path)
    try:
        address = env.ltc.call("getnewaddress")
        batch = await env.batch(env.burn(address))
        message = batch.messages[0]
        assert isinstance(t.me, Destination)
        assert await t.me.delivered(ROUTE, [message.nonce]) == frozenset()
        delivery = await t.me.deliver(batch)
        assert delivery.status is DeliveryStatus.MINED and delivery.ref is not None and delivery.result is not None
        assert delivery.message_ids == (message.id,) and delivery.sequence == message.nonce
        assert delivery.result.delivered == {message.id}
        outcome = delivery.result.outcomes[message.id]
        assert outcome.status is OutcomeStatus.DELIVERED and outcome.result.hex() == delivery.ref
        assert 0 < delivery.cost < 10_000 and delivery.block_number is not None
        assert received(env, address) == AMOUNT - delivery.cost
        assert releases_of(env, message.id) == [delivery.ref]
        assert tx_state(t.journal, delivery.ref) == "sent"  # the core's submitter records it mined
        (asked,) = t.api.asked  # one ask gathered both peers
        assert (asked["marker"], asked["recipient"], asked["amount"]) == (f"release:{message.id}", address, AMOUNT)
        assert await t.me.delivered(ROUTE, [message.nonce, message.nonce + 1000]) == {message.nonce}
        # delivering it again finds the same release and sends nothing
        again = await t.me.deliver(batch)
        assert (again.status, again.ref, again.block_number) == (DeliveryStatus.MINED, delivery.ref,
                                                                 delivery.block_number)
        assert releases_of(env, message.id) == [delivery.ref] and len(t.api.asked) == 1
        # so does another operator taking over with its own journal and store
        (tmp_path / "other").mkdir()
        other = await operator(env, 1, tmp_path / "other", Store(tmp_path / "other.db"), PeerApi([]))
        try:
            by_other = await other.deliver(batch)
            assert (by_other.status, by_other.ref) == (DeliveryStatus.MINED, delivery.ref)
            assert by_other.result is not None and by_other.result.delivered == frozenset()  # by a peer
        finally:
            await other.adapter.aclose()
        assert received(env, address) == AMOUNT - delivery.cost
        # confirmation: waiting until `depth` blocks, then final with the delivery as the block has it
        tip = int(env.ltc.node.call("getblockcount"))
        depth = tip - delivery.block_number + 10
        assert (await t.me.confirmation(delivery, depth)).status is ConfirmationStatus.WAITING
        while int(env.ltc.node.call("getblockcount")) < delivery.block_number + depth - 1:
            await trio.sleep(0.2)
        final = await t.me.confirmation(delivery, depth)
        assert final.status is ConfirmationStatus.FINAL and final.delivery is not None
        assert (final.delivery.ref, final.delivery.cost, final.result) == (delivery.ref, delivery.cost, delivery.result)
        unknown = Delivery(DeliveryStatus.MINED, "00" * 32, (MessageId("0x" + "11" * 32),))
        assert (await t.me.confirmation(unknown, 1)).status is ConfirmationStatus.GONE
        with pytest.raises(FatalError):
            await t.me.send("x", b"", 0)
    finally:
        await t.aclose()


async def test_a_peer_refuses_a_psbt_that_is_not_the_rules_transaction(env: Env, tmp_path: Path) -> None:
    t = await team(env, tmp_path)
    try:
        address = env.ltc.call("getnewaddress")
        batch = await env.batch(env.burn(address))
        message = batch.messages[0]
        marker = Marker(Kind.RELEASE, bytes.fromhex(message.id[2:]), ROUTE.src_chain_id)  # version 2: the origin
        peer = t.api.peers[0]
        chain = peer.signing.operator.chain
        candidates = await custody_utxos(peer.adapter.rpc, chain, CUSTODY.script_pubkey)
        from relayer_litecoin.release import ReleaseRequest
        good = build(ReleaseRequest(marker, address, AMOUNT), candidates, CUSTODY, peer.net, 10)
        request = {"psbt": str(good.psbt(CUSTODY).to_base64()), "fee_rate": 10, "marker": str(marker),
                   "recipient": address, "amount": AMOUNT}
        # the same inputs paying another address: not what the rules build for this burn
        thief = build(ReleaseRequest(marker, env.ltc.call("getnewaddress"), AMOUNT), candidates, CUSTODY, peer.net, 10)
        with pytest.raises(ContractRevert, match="not the transaction the release rules build"):
            await peer.cosign(ROUTE, batch.header, batch.messages,
                              dict(request, psbt=str(thief.psbt(CUSTODY).to_base64())))
        with pytest.raises(ContractRevert, match="not the release the burn asks for"):
            await peer.cosign(ROUTE, batch.header, batch.messages, dict(request, amount=AMOUNT + 1))
        with pytest.raises(ContractRevert, match="fee rate 1000"):
            await peer.cosign(ROUTE, batch.header, batch.messages, dict(request, fee_rate=1000))
        with pytest.raises(ContractRevert, match="no PSBT"):
            await peer.cosign(ROUTE, batch.header, batch.messages, dict(request, psbt=None))
        with pytest.raises(ContractRevert, match="does not parse"):
            await peer.cosign(ROUTE, batch.header, batch.messages, dict(request, psbt="bm90IGEgcHNidA=="))
        assert peer.signing.journal.keys() == []
        signed = await peer.cosign(ROUTE, batch.header, batch.messages, request)
        sigs = PSBT.from_base64(signed["psbt"]).inputs[0].partial_sigs
        assert [bytes(k.sec()) for k in sigs] == [peer.signing.operator.public_key]
        # once signed for these inputs, other inputs for the same burn are refused
        others = [u for u in candidates if u.outpoint not in good.outpoints]
        moved = build(ReleaseRequest(marker, address, AMOUNT), others, CUSTODY, peer.net, 10)
        with pytest.raises(ContractRevert, match="already signed other inputs"):
            await peer.cosign(ROUTE, batch.header, batch.messages,
                              dict(request, psbt=str(moved.psbt(CUSTODY).to_base64())))
    finally:
        await t.aclose()


class Crash(BaseException):
    """The process dies (between journaling and broadcasting)."""


async def test_recover_after_a_crash_between_journal_and_broadcast_sends_the_same_release(
        env: Env, tmp_path: Path, miner: None) -> None:
    t = await team(env, tmp_path)
    address = env.ltc.call("getnewaddress")
    batch = await env.batch(env.burn(address))
    message = batch.messages[0]

    async def crash(marker: Marker) -> Any:
        raise Crash

    t.me.submitter.broadcast = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(Crash):
            await t.me.deliver(batch)
    finally:
        await t.aclose()
    ((txid, sequence, raw, ids),) = t.journal.open_transactions("litecoin")
    assert (sequence, ids) == (message.nonce, (message.id,)) and releases_of(env, message.id) == []
    operators._SIGNING.clear()  # a new process
    restarted = await team(env, tmp_path)
    try:
        (recovered,) = await restarted.me.recover()
        assert (recovered.status, recovered.ref, recovered.message_ids) == (DeliveryStatus.MINED, txid, (message.id,))
        assert releases_of(env, message.id) == [txid] and _tx(env, txid).serialize().hex() == raw
        assert received(env, address) == AMOUNT - recovered.cost and tx_state(restarted.journal, txid) == "sent"
        restarted.journal.set_tx_state(txid, "mined")  # what the core's submitter records of it
        assert await restarted.me.recover() == []
    finally:
        await restarted.aclose()


def test_the_destination_is_opened_by_its_entry_point() -> None:
    assert load(DESTINATION_GROUP, "litecoin", key="chains.litecoin.adapter") is open_destination


async def test_a_release_left_unconfirmed_is_replaced_by_fee_and_only_one_confirms(env: Env, tmp_path: Path) -> None:
    t = await team(env, tmp_path)
    address = env.ltc.call("getnewaddress")
    batch = await env.batch(env.burn(address))
    message = batch.messages[0]
    marker = Marker(Kind.RELEASE, bytes.fromhex(message.id[2:]))
    stuck: list[str] = []

    async def miner() -> None:
        """A block every 0.3 s; the first release of the burn is kept out of blocks (its fee priced down)."""
        while True:
            for txid in env.ltc.node.call("getrawmempool"):
                if not stuck and marker in markers_of(_tx(env, txid)):
                    env.ltc.node.call("prioritisetransaction", txid, 0, -10_000_000)
                    stuck.append(txid)
            await trio.to_thread.run_sync(env.ltc.mine, 1)
            await trio.sleep(0.3)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(miner)
            with trio.fail_after(120):
                delivery = await t.me.deliver(batch)
            nursery.cancel_scope.cancel()
        assert delivery.status is DeliveryStatus.MINED and delivery.ref is not None and stuck
        assert delivery.ref != stuck[0]  # the replacement, at the next fee rate, is what confirmed
        record = t.me.records.get(str(marker))
        assert record is not None and [x["txid"] for x in record["txs"]] == [stuck[0], delivery.ref]
        assert [x["fee_rate"] for x in record["txs"]] == [10, 15] and delivery.cost == record["txs"][1]["fee"]
        assert releases_of(env, message.id) == [delivery.ref] and received(env, address) == AMOUNT - delivery.cost
        assert tx_state(t.journal, stuck[0]) == "dropped" and tx_state(t.journal, delivery.ref) == "sent"
        assert len(t.api.asked) == 2  # once per transaction
    finally:
        await t.aclose()
