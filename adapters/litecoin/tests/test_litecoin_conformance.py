"""The Litecoin family passes the conformance kit (relayer.testing) as a source: the route ltc (a real litecoind
regtest node) -> alpha (anvil with the EVM family's MessageLayer, whose remote for ltc is the operators'
CommitteeHashLightClient and the LitecoinDepositVerifier, and WrappedLitecoin minting deposits), as the devnet
deploys it (relayer/devnet/litecoin.py). A message is a deposit to the 2-of-3 custody with the relayer's
OP_RETURN for alpha.

Every role is opened where the daemon opens it: the Source (the ``relayer.adapters`` entry point ``litecoin``),
the light client (``relayer.light_clients`` ``litecoin``), the FamilyConfig (the adapter), each chain's
ChainAdapter by its own family's entry point, alpha's Destination (``relayer.destinations`` ``evm``), the update
policy ``committee`` (what alpha's adapter names for a CommitteeHashLightClient; a 1-of-1 committee) and its
Signer (the operator's EVM key). Litecoin as a destination: test_litecoin_destination_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_account import Account

from adapters.evm import committee as cm
from adapters.evm.adapter import EvmAdapter
from adapters.evm.committee import KeySigner
from adapters.evm.sync_client import SyncEvm
from relayer.contract import BlockContents, CandidateHeader, OutcomeStatus, PolicyHost, Proof, RouteRef
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.metrics import Metrics
from relayer.plugins import ADAPTER_GROUP, DESTINATION_GROUP, LIGHT_CLIENT_GROUP, UPDATE_POLICY_GROUP, load
from relayer.store import Store
from relayer.testing import ConformanceSuite, Connection, Family, Kit, Produced
from relayer_litecoin.adapter import LitecoinAdapter
from relayer_litecoin.block import Block
from relayer_litecoin.client import encode
from relayer_litecoin.source import LitecoinSource
from relayer_litecoin.testing import ALPHA, CUSTODY, RECIPIENT, Devnet

CHAIN_ID = 7001
DEPLOYER, OPERATOR = ANVIL_KEYS[0], ANVIL_KEYS[1]
ADAPTERS = {"ltc": "litecoin", "gamma": "litecoin", "alpha": "evm"}  # chains.NAME.adapter
PROGRAM = CUSTODY.script_pubkey[2:]
GAS_LIMIT = 200_000  # the LitecoinDepositVerifier's gas limit for WrappedLitecoin's mint


class Adapters:
    """The daemon's choice of adapter class per chain (``chains.NAME.adapter``): the route joins two families,
    so the kit's ``chain_adapter`` connects each chain with its own."""

    def connect(self, name: str, chain_id: int, urls: tuple[str, ...], family: Any) -> Any:
        adapter_class = load(ADAPTER_GROUP, ADAPTERS[name], key=f"chains.{name}.adapter")
        return adapter_class.connect(name, chain_id, urls, family)


class LitecoinFamily(Family):
    """ltc (regtest) -> alpha (anvil); two confirmations on ltc, depth 1 on alpha."""

    name = "litecoin"
    confirmations = 2
    destination_depth = 1
    cancel_deliver_after = 0.005  # a delivery to anvil (automine) can take under 50 ms: cancel it in flight

    def __init__(self, state: Path) -> None:
        self.state = state
        self.anvil: AnvilNode | None = None
        self._opened: list[Any] = []

    def start(self) -> None:
        self.devnet = Devnet()
        try:
            self.anvil = start_anvil(ALPHA, block_time=None)
            with SyncEvm(self.anvil.url) as evm:
                self.layer = evm.deploy(DEPLOYER, "MessageLayer", cm.signer_address(DEPLOYER), 5_000_000)
                self.light_client = evm.deploy(DEPLOYER, "CommitteeHashLightClient", CHAIN_ID,
                                               [cm.signer_address(OPERATOR)], 1)
                self.wrapped = evm.deploy(DEPLOYER, "WrappedLitecoin", self.layer, CHAIN_ID, PROGRAM)
                verifier = evm.deploy(DEPLOYER, "LitecoinDepositVerifier", self.layer, self.wrapped, GAS_LIMIT)
                evm.transact(DEPLOYER, self.layer, "MessageLayer", "setRemote", CHAIN_ID, PROGRAM, self.light_client,
                             verifier)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.anvil is not None:
            stop_anvil(self.anvil)
        self.devnet.stop()

    async def aclose(self) -> None:
        for adapter in self._opened:
            await adapter.aclose()
        self._opened.clear()

    def route(self) -> RouteRef:
        return RouteRef("ltc->alpha", "ltc", "alpha", CHAIN_ID, ALPHA, self.light_client)

    def chain_adapter(self) -> Adapters:
        return Adapters()

    def connection(self, chain: str) -> Connection:
        if chain == "alpha":
            assert self.anvil is not None
            evm = EvmAdapter.parse_config({"message_layer": self.layer}, "chains.alpha.evm")
            return Connection("alpha", ALPHA, (self.anvil.url,), evm)
        family = LitecoinAdapter.parse_config(self.config_table(), f"chains.{chain}.litecoin")
        return Connection(chain, CHAIN_ID, (self.devnet.node.url,), family)

    def untrusted_connection(self) -> Connection:
        """The regtest node under a chain id alpha's layer knows no remote for."""
        return replace(self.connection("ltc"), name="gamma", chain_id=CHAIN_ID + 1)

    def _connect(self, chain: str) -> Any:
        c = self.connection(chain)
        adapter = Adapters().connect(c.name, c.chain_id, c.urls, c.family)
        self._opened.append(adapter)
        return adapter

    async def open_source(self) -> LitecoinSource:
        source: LitecoinSource = self._connect("ltc").source
        return source

    async def open_destination(self) -> Any:
        opener = load(DESTINATION_GROUP, "evm", key="chains.alpha.adapter")
        family = EvmAdapter.parse_config({"message_layer": self.layer, "fees": {"max_fee_gwei": 100}},
                                         "chains.alpha.evm")
        store = Store(self.state / f"state-{len(list(self.state.iterdir()))}.db")
        return opener(self._connect("alpha"), Account.from_key(OPERATOR), store, family, Metrics(), trio.Event(), None)

    async def open_policy(self, route: RouteRef, host: PolicyHost) -> Any:
        alpha = self._connect("alpha")
        assert await alpha.resolve_route(self._connect("ltc"), "routes[ltc->alpha]") == (self.light_client,
                                                                                         "committee")
        policy_class = load(UPDATE_POLICY_GROUP, "committee", key="routes[ltc->alpha].update_policy")
        return await policy_class.open(route, alpha, host)

    def signer(self) -> KeySigner:
        return KeySigner(OPERATOR)

    def light_client_factory(self) -> Any:
        return load(LIGHT_CLIENT_GROUP, "litecoin", key="chains.ltc.light_client")

    def light_client_options(self, start_block: int) -> Mapping[str, Any]:
        return {"network": "regtest", "checkpoint": self.devnet.node.call("getblockhash", start_block)}

    def family_config(self) -> Any:
        return LitecoinAdapter

    def config_table(self) -> Mapping[str, Any]:
        keys = [k.hex() for k in CUSTODY.keys]
        return {"network": "regtest", "custody": {"threshold": CUSTODY.threshold, "keys": keys}}

    def bad_config_table(self) -> Mapping[str, Any]:
        return {"network": "regtest", "custody": {"threshold": 5, "keys": [k.hex() for k in CUSTODY.keys]}}

    async def produce_message(self) -> Produced:
        txid = self.devnet.deposit(Decimal("0.1"))
        self.devnet.mine(1)
        return Produced(self.devnet.height_of(txid))

    async def advance(self, blocks: int) -> None:
        self.devnet.mine(blocks)

    async def advance_destination(self, blocks: int) -> None:
        await self._connect("alpha").rpc.call("anvil_mine", hex(blocks))

    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        lied = replace(header.native, merkle_root=bytes(range(32)))
        return CandidateHeader(header.number, header.claimed_hash, encode(header.number, lied), lied)

    def tamper_contents(self, contents: BlockContents) -> BlockContents:
        block = contents.data
        txs = list(block.txs)
        deposit = txs[-1]  # the produced block holds the coinbase and the deposit
        changed = type(deposit).parse(deposit.serialize())
        changed.vout[0].value += 1
        return replace(contents, data=Block(block.header, (*txs[:-1], changed)))

    def tamper_proof(self, proof: Proof) -> Proof:
        data = bytearray(proof.data)
        data[-5] ^= 1  # the transaction's last output's last byte or its lock time: no longer the proven txid
        return replace(proof, data=bytes(data))


@pytest.fixture(scope="module")
def relayer_family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LitecoinFamily]:
    yield LitecoinFamily(tmp_path_factory.mktemp("ltc-source-family"))


class TestLitecoinFamily(ConformanceSuite):
    """Every check of the kit on the route ltc -> alpha."""




def test_a_delivered_deposit_is_minted(relayer_kit: Kit) -> None:
    """Beyond the kit: a delivered deposit's outcome is WrappedLitecoin's mint (not a failed handler, which
    the kit also counts delivered), and the deposit's recipient holds its amount in wLTC."""

    family = relayer_kit.family
    assert isinstance(family, LitecoinFamily) and family.anvil is not None
    url, wrapped = family.anvil.url, family.wrapped

    def balance() -> int:
        with SyncEvm(url) as evm:
            return int(evm.call(wrapped, "WrappedLitecoin", "balanceOf", "0x" + RECIPIENT.hex()))

    async def check(kit: Kit) -> None:
        destination = await kit.destination()
        source = await kit.family.open_source()
        host = kit.host(destination)
        policy = await kit.policy(host)
        before = await trio.to_thread.run_sync(balance)
        found = await kit.find(source)
        (message,) = found.messages
        delivery = await destination.deliver(await kit.batch(source, policy, host, found))
        assert delivery.result is not None and delivery.result.delivered == {message.id}
        assert delivery.result.outcomes[message.id].status == OutcomeStatus.DELIVERED
        assert await trio.to_thread.run_sync(balance) == before + 10_000_000  # the 0.1 LTC deposit

    relayer_kit.run(check)
