"""The EVM family passes the conformance kit (relayer.testing) on a real devnet: two automining anvil
nodes (alpha 1001 -> beta 1002) with the bridge contracts deployed and a 1-of-1 committee.

The roles are opened where the daemon opens them: the Source (adapters.evm.source.EvmSource), the
light client (the ``relayer.light_clients`` entry point ``evm``), the FamilyConfig (the adapter
entry point ``evm``), the Destination (the ``relayer.destinations`` entry point ``evm``, with the
[chains.beta.evm] table parsed by the adapter), the update policy (the ``relayer.update_policies``
entry point ``committee``) and the Signer (adapters.evm.committee.KeySigner, what the daemon lends
the policies).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account

from adapters.evm.adapter import EvmAdapter
from adapters.evm.committee import KeySigner
from adapters.evm.rpc import RpcClient
from adapters.evm.source import EvmSource
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.client import EvmLightClient
from relayer.contract import BlockContents, CandidateHeader, PolicyHost, Proof, RouteRef
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.devnet.deploy import deploy_pair
from relayer.metrics import Metrics
from relayer.store import Store
from relayer.testing import ConformanceSuite, Connection, Family, Produced

DEPLOYER, OPERATOR, USER = ANVIL_KEYS[0], ANVIL_KEYS[1], ANVIL_KEYS[2]
RECIPIENT = "0x" + "42" * 20


def _quiet(line: str) -> None:
    pass


class EvmFamily(Family):
    """alpha -> beta on anvil; confirmations 2 on the source, depth 1 on the destination."""

    name = "evm"
    confirmations = 2
    destination_depth = 1
    cancel_deliver_after = 0.005  # a delivery to anvil (automine) can take under 50 ms: cancel it in flight

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.nodes: dict[str, AnvilNode] = {}
        self.deployed: dict[str, dict[str, Any]] = {}
        self._opened: list[Any] = []

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        for name, chain_id in (("alpha", 1001), ("beta", 1002)):
            self.nodes[name] = start_anvil(chain_id, block_time=None)
        with SyncEvm(self.nodes["alpha"].url) as alpha, SyncEvm(self.nodes["beta"].url) as beta:
            self.deployed = deploy_pair(alpha, beta, [Account.from_key(OPERATOR).address], 1, DEPLOYER,
                                        report=_quiet)

    def stop(self) -> None:
        for node in self.nodes.values():
            stop_anvil(node)

    async def aclose(self) -> None:
        for rpc in self._opened:
            await rpc.aclose()
        self._opened.clear()

    def _rpc(self, chain: str) -> Any:
        rpc = RpcClient(chain, (self.nodes[chain].url,))
        self._opened.append(rpc)
        return rpc

    # chains and roles ------------------------------------------------------------------
    def route(self) -> RouteRef:
        alpha, beta = self.deployed["alpha"], self.deployed["beta"]
        return RouteRef("alpha->beta", "alpha", "beta", alpha["chain_id"], beta["chain_id"], beta["light_client"])

    async def open_source(self) -> EvmSource:
        alpha = self.deployed["alpha"]
        return EvmSource("alpha", alpha["chain_id"], self._rpc("alpha"), alpha["bridge"])

    def light_client_factory(self) -> Any:
        return EvmLightClient

    def family_config(self) -> Any:
        return EvmAdapter

    def config_table(self) -> Mapping[str, Any]:
        return {"bridge": self.deployed["alpha"]["bridge"], "fees": {"max_fee_gwei": 50}}

    def bad_config_table(self) -> Mapping[str, Any]:
        return {"bridge": "0x1234"}

    def chain_adapter(self) -> Any:
        return EvmAdapter

    def connection(self, chain: str) -> Connection:
        deployed = self.deployed[chain]
        family = EvmAdapter.parse_config({"bridge": deployed["bridge"]}, f"chains.{chain}.evm")
        return Connection(chain, deployed["chain_id"], (self.nodes[chain].url,), family)

    def untrusted_connection(self) -> Connection:
        """alpha's node and bridge under a chain id beta's bridge has no light client for."""
        return replace(self.connection("alpha"), name="gamma", chain_id=4242)

    def _adapter(self) -> EvmAdapter:
        beta = self.deployed["beta"]
        return EvmAdapter("beta", beta["chain_id"], self._rpc("beta"), beta["bridge"])

    async def open_destination(self) -> Any:
        (named,) = [ep for ep in entry_points(group="relayer.destinations") if ep.name == "evm"]
        beta = self.deployed["beta"]
        family = EvmAdapter.parse_config({"bridge": beta["bridge"], "fees": {"max_fee_gwei": 100}}, "chains.beta.evm")
        store = Store(self.state_dir / f"state-{len(list(self.state_dir.iterdir()))}.db")
        return named.load()(self._adapter(), Account.from_key(OPERATOR), store, family, Metrics(), trio.Event())

    async def open_policy(self, route: RouteRef, host: PolicyHost) -> Any:
        (named,) = [ep for ep in entry_points(group="relayer.update_policies") if ep.name == "committee"]
        return await named.load().open(route, self._adapter(), host)

    def signer(self) -> KeySigner:
        return KeySigner(OPERATOR)

    # making things happen ----------------------------------------------------------------
    async def produce_message(self) -> Produced:
        alpha, beta = self.deployed["alpha"], self.deployed["beta"]

        def lock() -> dict[str, Any]:
            with SyncEvm(self.nodes["alpha"].url) as evm:
                return evm.transact(USER, alpha["bridge"], "Bridge", "lockNative", beta["chain_id"], RECIPIENT,
                                    value=10**15)

        receipt = await trio.to_thread.run_sync(lock)
        source = await self.open_source()
        (event,) = source.bridge_events([receipt])
        return Produced(int(receipt["blockNumber"], 16), event.nonce)

    async def _mine(self, chain: str, blocks: int) -> None:
        await self._rpc(chain).call("anvil_mine", hex(blocks))

    async def advance(self, blocks: int) -> None:
        await self._mine("alpha", blocks)

    async def advance_destination(self, blocks: int) -> None:
        await self._mine("beta", blocks)

    # lies ----------------------------------------------------------------------------------
    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        lied = replace(header.native, state_root=bytes(reversed(header.native.state_root)) + b"")
        if lied.state_root == header.native.state_root:
            lied = replace(header.native, state_root=b"\x11" * 32)
        return CandidateHeader(header.number, header.claimed_hash, lied.rlp, lied)

    def tamper_contents(self, contents: BlockContents) -> BlockContents:
        receipts = copy.deepcopy(contents.data)
        bridge = self.deployed["alpha"]["bridge"].lower()
        log = next(lg for r in receipts for lg in r["logs"] if lg["address"].lower() == bridge)
        data = bytearray.fromhex(log["data"][2:])
        data[-1] ^= 1  # the last word of the event: one wei more or less
        log["data"] = "0x" + data.hex()
        return BlockContents(contents.number, contents.block_hash, receipts)

    def tamper_proof(self, proof: Proof) -> Proof:
        key, nodes, log_index = abi_decode(["bytes", "bytes[]", "uint256"], proof.data)
        nodes = [bytes(n) for n in nodes]
        last = bytearray(nodes[-1])
        last[-1] ^= 1  # a byte of the receipt itself
        nodes[-1] = bytes(last)
        return replace(proof, data=abi_encode(["bytes", "bytes[]", "uint256"], [bytes(key), nodes, log_index]))


@pytest.fixture(scope="module")
def relayer_family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvmFamily]:
    yield EvmFamily(tmp_path_factory.mktemp("evm-family"))


class TestEvmFamily(ConformanceSuite):
    """Every check of the kit against the EVM family."""
