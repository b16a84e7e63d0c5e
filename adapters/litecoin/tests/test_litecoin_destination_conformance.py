"""Litecoin as a route's destination passes the conformance kit (relayer.testing): the route alpha (anvil, the
EVM family's MessageLayer) -> litecoin (litecoind regtest, a 2-of-3 custody funded by deposits). A message is a
burn: a version 1 burn body (``0x01 || amount || address``) sent by alpha's layer to the custody program from
the account configured as the application (``[chains.litecoin.litecoin.burns] alpha``), as
``WrappedLitecoin.burn`` sends it (test_litecoin_destination.py and the devnet's release e2e burn real wLTC).

Every role is opened where the daemon opens it: the source is the EVM family's (its adapter, Source, light
client ``evm``); the destination is the ``relayer.destinations`` entry point ``litecoin`` (the 7-argument
opener, the route resolved by ``LitecoinAdapter.resolve_route``), the update policy the
``relayer.update_policies`` entry point ``custody``. The destination's ``cosigners`` are the two other
operators, each with its own Litecoin destination, store and light client of alpha, reached through the
core's ``relayer.cosign.CoSignService`` (what their API runs): a peer co-signs only a block its own light
client verified, a proof ``Source.verify`` accepts and a message its own follower recorded. Regtest blocks are
mined by a background miner while a destination is open (a delivery waits until its release is in a block).

Each check's trio run is one lifetime of the three operators: fresh stores and release journals (the custody,
its keys and the chains are the module's)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_utils import keccak

from adapters.evm import committee as cm
from adapters.evm.adapter import EvmAdapter
from adapters.evm.source import EvmSource
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.client import EvmLightClient
from relayer.contract import Batch, BlockContents, CandidateHeader, CoSigners, Proof, RouteRef
from relayer.cosign import CoSignRoute, CoSignService
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.metrics import Metrics
from relayer.plugins import ADAPTER_GROUP, DESTINATION_GROUP, UPDATE_POLICY_GROUP, load
from relayer.store import Message, Store, StoredHeader
from relayer.testing import ConformanceSuite, Connection, Family, Kit, Produced
from relayer.testing.suite import delivered_by
from relayer_litecoin.adapter import LitecoinAdapter
from relayer_litecoin.destination import LitecoinDestination
from relayer_litecoin.keys import LitecoinSigner, write_keystore
from relayer_litecoin.testing import CUSTODY, OPERATORS, Devnet
from tests.conformance.test_evm_family import tamper_evm_header, tamper_layer_receipts, tamper_receipt_proof

ALPHA_CHAIN, LTC_CHAIN = 31337, 7001
PROGRAM = CUSTODY.script_pubkey[2:]
DEPLOYER, APPLICATION = ANVIL_KEYS[0], ANVIL_KEYS[2]
ADAPTERS = {"alpha": "evm", "gamma": "evm", "litecoin": "litecoin"}  # chains.NAME.adapter
AMOUNT = 1_000_000  # litoshis a burn releases (0.01 LTC)
CONFIRMATIONS = 2  # alpha's
MINE_EVERY = 0.3  # s between regtest blocks while a destination is open
FAST = 1 << 10  # scrypt cost of the test keystores


class Adapters:
    """The daemon's choice of adapter class per chain (``chains.NAME.adapter``): the route joins two families,
    so the kit's ``chain_adapter`` connects each chain with its own."""

    def connect(self, name: str, chain_id: int, urls: tuple[str, ...], family: Any) -> Any:
        adapter_class = load(ADAPTER_GROUP, ADAPTERS[name], key=f"chains.{name}.adapter")
        return adapter_class.connect(name, chain_id, urls, family)


class Miner:
    """A regtest block every MINE_EVERY seconds in a thread, until stopped."""

    def __init__(self, ltc: Devnet) -> None:
        self.ltc, self.stopping = ltc, threading.Event()
        self.thread = threading.Thread(target=self._run, name="regtest-miner", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(MINE_EVERY):
            self.ltc.mine(1)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()


@dataclass
class Peer:
    """Another operator as its API answers a co-sign request: its own store (what its follower recorded), its
    own EVM source and light client of alpha, its own Litecoin destination, and the core's CoSignService."""

    name: str
    store: Store
    source: EvmSource
    service: CoSignService

    async def follow(self, number: int) -> None:
        """What its follower does for block ``number`` of alpha once its own light client finds it final:
        verify the header and the block's receipts, record the header and the block's messages."""
        client = EvmLightClient("alpha", ALPHA_CHAIN, CONFIRMATIONS)
        if client.final_number(await self.source.head_number()) < number:
            return
        (candidate,) = await self.source.headers(number, number)
        header = client.check_header(candidate)
        await self.source.scan_hints(number, number, {number: header})
        contents = await self.source.block_contents(header)
        client.check_contents(header, contents)
        found = self.source.messages(header, contents, {LTC_CHAIN: "litecoin"})
        stored = StoredHeader("alpha", number, "0x" + header.hash.hex(), "0x" + header.parent_hash.hex(),
                              "0x" + header.commitment.hex(), header.timestamp, "0x" + header.encoded.hex())
        self.store.record_scan("alpha", number + 1, [stored], [Message.from_envelope(m, final_at=time.time())
                                                               for m in found], [])


class InProcessCoSigners:
    """relayer.contract.CoSigners over the peers' CoSignService in this process: the JSON body
    ``relayer.cosign.PeerCoSigners`` posts, handled by each peer (its follower caught up first), every peer
    asked at once; the answers of those that answered 200."""

    def __init__(self, peers: list[Peer]) -> None:
        self.peers = peers
        self.statuses: list[tuple[str, int, dict[str, Any]]] = []

    async def ask(self, batch: Batch, request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        body = json.loads(json.dumps({
            "block": batch.header.number, "request": dict(request),
            "proofs": [{"message_id": p.message_id, "data": "0x" + p.data.hex()} for p in batch.proofs]}))
        answers: list[tuple[str, dict[str, Any]]] = []

        async def one(peer: Peer) -> None:
            await peer.follow(batch.header.number)
            status, answer = await peer.service.handle(batch.route.src_chain_id, batch.route.dst_chain_id, body)
            self.statuses.append((peer.name, status, answer))
            if status == 200:
                answers.append((peer.name, answer))

        async with trio.open_nursery() as nursery:
            for peer in self.peers:
                nursery.start_soon(one, peer)
        return answers


def cosign_service(store: Store, route: CoSignRoute, destination: LitecoinDestination) -> CoSignService:
    """What an operator's API runs for co-sign requests: its store, its one incoming route, its destination."""
    return CoSignService(store, lambda: [route], lambda name: destination)


class LitecoinDestinationFamily(Family):
    """alpha (anvil) -> litecoin (regtest): two confirmations on alpha, depth 2 on litecoin."""

    name = "litecoin"
    confirmations = CONFIRMATIONS
    destination_depth = 2
    cancel_deliver_after = 0.1  # a release is prepared (peers asked, their chains checked) and mined: longer

    def __init__(self, state: Path) -> None:
        self.state = state
        self.runs = 0
        self._opened: list[Any] = []
        self._stores: list[Store] = []
        self._miner: Miner | None = None
        self._submitter: LitecoinAdapter | None = None
        self.cosigners: InProcessCoSigners | None = None

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.ltc = Devnet()
        self.anvil: AnvilNode | None = None
        try:
            self.start_block = int(self.ltc.call("getblockcount")) + 1
            for _ in range(3):
                self.ltc.deposit(Decimal("1"))  # the custody's outputs, in blocks the operators verify
            self.ltc.mine(2)
            self.anvil = start_anvil(ALPHA_CHAIN, block_time=None)
            with SyncEvm(self.anvil.url) as evm:
                owner = cm.signer_address(DEPLOYER)
                self.layer = evm.deploy(DEPLOYER, "MessageLayer", owner, 5_000_000)
                members = sorted((cm.signer_address("0x" + keccak(text=f"c{i}").hex()) for i in range(3)),
                                 key=lambda a: int(a, 16))
                lc = evm.deploy(DEPLOYER, "CommitteeHashLightClient", LTC_CHAIN, members, 2)
                verifier = evm.deploy(DEPLOYER, "EvmReceiptVerifier")  # deliveries into alpha: not used here
                evm.transact(DEPLOYER, self.layer, "MessageLayer", "setRemote", LTC_CHAIN, PROGRAM, lc, verifier)
            self.application = cm.signer_address(APPLICATION)
            for index in range(3):
                write_keystore(self.state / f"key{index}.json", bytes([index + 1]) * 32, b"pw", n=FAST)
                password = self.state / f"password{index}"
                password.write_text("pw\n")
                password.chmod(0o600)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._miner is not None:
            self._miner.stop()
        if self.anvil is not None:
            stop_anvil(self.anvil)
        self.ltc.stop()

    async def aclose(self) -> None:
        if self._miner is not None:
            await trio.to_thread.run_sync(self._miner.stop)
            self._miner = None
        for opened in self._opened:
            await opened.aclose()
        self._opened.clear()
        for store in self._stores:
            store.close()
        self._stores.clear()
        self._submitter = None

    # the chains --------------------------------------------------------------------------------
    def route(self) -> RouteRef:
        return RouteRef("alpha->litecoin", "alpha", "litecoin", ALPHA_CHAIN, LTC_CHAIN, "operators")

    def table(self, index: int, journals: Path) -> dict[str, Any]:
        """Operator ``index``'s [chains.litecoin.litecoin] table, its release journal in ``journals``."""
        return {"network": "regtest", "custody": {"threshold": 2, "keys": [k.hex() for k in CUSTODY.keys]},
                "release": {"keystore": str(self.state / f"key{index}.json"),
                            "password_file": str(self.state / f"password{index}"),
                            "journal": str(journals / f"releases{index}.json"), "confirmations": 1,
                            "start_block": self.start_block},
                "burns": {"alpha": self.application}}

    def chain_adapter(self) -> Adapters:
        return Adapters()

    def connection(self, chain: str, index: int = 0, journals: Path | None = None) -> Connection:
        if chain == "litecoin":
            family = LitecoinAdapter.parse_config(self.table(index, journals or self.state),
                                                  "chains.litecoin.litecoin")
            return Connection("litecoin", LTC_CHAIN, (self.ltc.node.url,), family)
        assert self.anvil is not None
        evm = EvmAdapter.parse_config({"message_layer": self.layer}, f"chains.{chain}.evm")
        return Connection(chain, ALPHA_CHAIN, (self.anvil.url,), evm)

    def untrusted_connection(self) -> Connection:
        """alpha's node and layer under a name the custody's table lists no application of."""
        return replace(self.connection("alpha"), name="gamma", chain_id=4242)

    def _connect(self, chain: str, index: int = 0, journals: Path | None = None) -> Any:
        c = self.connection(chain, index, journals)
        adapter = Adapters().connect(c.name, c.chain_id, c.urls, c.family)
        self._opened.append(adapter)
        return adapter

    # roles ---------------------------------------------------------------------------------------
    async def open_source(self) -> EvmSource:
        source: EvmSource = self._connect("alpha").source
        return source

    def light_client_factory(self) -> Any:
        return load("relayer.light_clients", "evm", key="chains.alpha.light_client")

    async def _operator(self, index: int, folder: Path, cosigners: CoSigners) -> tuple[LitecoinDestination, Any]:
        """Operator ``index``'s destination as the daemon opens it (route resolved, entry point) and its
        adapter of alpha."""
        alpha, ltc = self._connect("alpha"), self._connect("litecoin", index, folder)
        assert await ltc.resolve_route(alpha, "routes[alpha->litecoin]") == ("operators", "custody")
        store = Store(folder / f"operator{index}.db")
        self._stores.append(store)
        opener = load(DESTINATION_GROUP, "litecoin", key="chains.litecoin.adapter")
        destination: LitecoinDestination = opener(ltc, None, store, ltc.config, Metrics(), trio.Event(), cosigners)
        return destination, alpha

    async def open_destination(self) -> LitecoinDestination:
        self.runs += 1
        folder = self.state / f"run{self.runs}"
        folder.mkdir()
        peers = []
        for index in (1, 2):
            destination, alpha = await self._operator(index, folder, InProcessCoSigners([]))
            store = Store(folder / f"follower{index}.db")
            self._stores.append(store)
            route = CoSignRoute(self.route(), alpha.source, {LTC_CHAIN: "litecoin"})
            peers.append(Peer(f"operator-{index}", store, alpha.source, cosign_service(store, route, destination)))
        self.cosigners = InProcessCoSigners(peers)
        destination, _ = await self._operator(0, folder, self.cosigners)
        self._submitter = destination.adapter
        if self._miner is None:
            self._miner = Miner(self.ltc)
        return destination

    async def open_policy(self, route: RouteRef, host: Any) -> Any:
        assert self._submitter is not None, "the kit opens the destination before the policy"
        policy_class = load(UPDATE_POLICY_GROUP, "custody", key="routes[alpha->litecoin].update_policy")
        return await policy_class.open(route, self._submitter, host)

    def signer(self) -> LitecoinSigner:
        signer: LitecoinSigner = OPERATORS[0]
        return signer

    def family_config(self) -> Any:
        return LitecoinAdapter

    def config_table(self) -> Mapping[str, Any]:
        return self.table(0, self.state)

    def bad_config_table(self) -> Mapping[str, Any]:
        return {**self.table(0, self.state), "burns": {"alpha": "0x1234"}}

    # making things happen --------------------------------------------------------------------------
    async def produce_message(self) -> Produced:
        address = await trio.to_thread.run_sync(self.ltc.call, "getnewaddress")
        body = b"\x01" + AMOUNT.to_bytes(8, "big") + str(address).encode()
        assert self.anvil is not None
        url = self.anvil.url

        def send() -> dict[str, Any]:
            with SyncEvm(url) as evm:
                receipt: dict[str, Any] = evm.transact(APPLICATION, self.layer, "MessageLayer", "send", LTC_CHAIN,
                                                       PROGRAM, body, 0, 0, 0)
                return receipt

        receipt = await trio.to_thread.run_sync(send)
        (event,) = (await self.open_source()).layer_events([receipt])
        return Produced(int(receipt["blockNumber"], 16), event.envelope.nonce)

    async def advance(self, blocks: int) -> None:
        source = await self.open_source()
        await source.rpc.call("anvil_mine", hex(blocks))

    async def advance_destination(self, blocks: int) -> None:
        await trio.to_thread.run_sync(self.ltc.mine, blocks)

    # lies (the EVM family's: the source is an EVM chain) ----------------------------------------------
    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        return tamper_evm_header(header)

    def tamper_contents(self, contents: BlockContents) -> BlockContents:
        return tamper_layer_receipts(contents, self.layer)

    def tamper_proof(self, proof: Proof) -> Proof:
        return tamper_receipt_proof(proof)


@pytest.fixture(scope="module")
def relayer_family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitecoinDestinationFamily]:
    yield LitecoinDestinationFamily(tmp_path_factory.mktemp("ltc-destination-family"))


class TestLitecoinDestinationFamily(ConformanceSuite):
    """Every check of the kit on the route alpha -> litecoin."""


def test_the_peers_cosign_only_what_they_verified(relayer_kit: Kit) -> None:
    """Beyond the kit: the other operators' signatures come through the core's CoSignService with its checks:
    a block a peer's follower has not verified yet is 409, a proof that does not hold 422, and the delivery
    the peers sign for once their followers recorded the burn gets 200 from both."""

    async def check(kit: Kit) -> None:
        destination = await kit.destination()
        family = kit.family
        assert isinstance(family, LitecoinDestinationFamily) and family.cosigners is not None
        source = await family.open_source()
        host = kit.host(destination)
        policy = await kit.policy(host)
        found = await kit.find(source)
        batch = await kit.batch(source, policy, host, found)
        route, peers = kit.route, family.cosigners.peers

        def body(proofs: Any) -> dict[str, Any]:
            return {"block": batch.header.number, "request": {},
                    "proofs": [{"message_id": p.message_id, "data": "0x" + p.data.hex()} for p in proofs]}

        status, answer = await peers[0].service.handle(route.src_chain_id, route.dst_chain_id, body(batch.proofs))
        assert status == 409 and "not verified by this operator" in answer["error"]
        await peers[0].follow(batch.header.number)
        lied = [family.tamper_proof(p) for p in batch.proofs]
        status, _ = await peers[0].service.handle(route.src_chain_id, route.dst_chain_id, body(lied))
        assert status == 422
        delivery = await destination.deliver(batch)
        assert delivered_by(delivery, [m.id for m in found.messages]) == {m.id for m in found.messages}
        assert sorted((name, status) for name, status, _ in family.cosigners.statuses) == [
            ("operator-1", 200), ("operator-2", 200)]

    relayer_kit.run(check)
