"""The EVM family passes the conformance kit (relayer.testing) on a real devnet: two automining anvil
nodes (alpha 1001 -> beta 1002), each with a MessageLayer, an EvmReceiptVerifier and a
CommitteeLightClient of the other chain (a 1-of-1 committee), the layers knowing each other as
remotes; a message is a layer envelope sent to a MsgRecorder on beta that asks for an
acknowledgement, so a delivery also shows the outcome and the acknowledgement the family reports.

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
from eth_utils import keccak

from adapters.evm.adapter import OUTCOME_BATCH, EvmAdapter
from adapters.evm.committee import KeySigner
from adapters.evm.messaging import ACK_ALWAYS, MESSAGE_SENT_TOPIC, address_word
from adapters.evm.messaging import Envelope as LayerEnvelope
from adapters.evm.rpc import RpcClient
from adapters.evm.source import EvmSource
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.client import EvmLightClient
from relayer.contract import (
    BlockContents,
    CandidateHeader,
    MessageOutcome,
    OutcomeStatus,
    PolicyHost,
    Proof,
    RouteRef,
    VerifiedHeader,
)
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.errors import ConfigError, ContractRevert, RpcAnswerError
from relayer.metrics import Metrics
from relayer.store import Store
from relayer.testing import ConformanceSuite, Connection, Family, Kit, Produced

DEPLOYER, OPERATOR, USER = ANVIL_KEYS[0], ANVIL_KEYS[1], ANVIL_KEYS[2]
USER_A = Account.from_key(USER).address
CHAINS = {"alpha": 1001, "beta": 1002}
MAX_GAS_LIMIT, GAS_LIMIT = 5_000_000, 200_000


def deploy_layers(evms: Mapping[str, SyncEvm], members: list[str], threshold: int) -> dict[str, dict[str, Any]]:
    """On each chain a MessageLayer (owner DEPLOYER), an EvmReceiptVerifier and a CommitteeLightClient of
    the other chain (``members`` ascending, ``threshold``), each layer knowing the other as its remote;
    and a MsgRecorder on each. ``{name: {"name", "chain_id", "message_layer", "light_client", "verifier",
    "recorder"}}``."""
    owner = Account.from_key(DEPLOYER).address
    out: dict[str, dict[str, Any]] = {}
    for name, evm in evms.items():
        (other,) = [n for n in evms if n != name]
        layer = evm.deploy(DEPLOYER, "MessageLayer", owner, MAX_GAS_LIMIT)
        out[name] = {"name": name, "chain_id": CHAINS[name], "message_layer": layer,
                     "light_client": evm.deploy(DEPLOYER, "CommitteeLightClient", CHAINS[other], members, threshold),
                     "verifier": evm.deploy(DEPLOYER, "EvmReceiptVerifier"),
                     "recorder": evm.deploy(DEPLOYER, "MsgRecorder", layer)}
    for name, evm in evms.items():
        (other,) = [n for n in evms if n != name]
        here, there = out[name], out[other]
        evm.transact(DEPLOYER, here["message_layer"], "MessageLayer", "setRemote", there["chain_id"],
                     address_word(there["message_layer"]), here["light_client"], here["verifier"])
    return out


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
        for name, chain_id in CHAINS.items():
            self.nodes[name] = start_anvil(chain_id, block_time=None)
        with SyncEvm(self.nodes["alpha"].url) as alpha, SyncEvm(self.nodes["beta"].url) as beta:
            self.deployed = deploy_layers({"alpha": alpha, "beta": beta}, [Account.from_key(OPERATOR).address], 1)

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
        return EvmSource("alpha", alpha["chain_id"], self._rpc("alpha"), alpha["message_layer"])

    def light_client_factory(self) -> Any:
        return EvmLightClient

    def family_config(self) -> Any:
        return EvmAdapter

    def config_table(self) -> Mapping[str, Any]:
        return {"message_layer": self.deployed["alpha"]["message_layer"], "fees": {"max_fee_gwei": 50}}

    def bad_config_table(self) -> Mapping[str, Any]:
        return {"message_layer": "0x1234"}

    def chain_adapter(self) -> Any:
        return EvmAdapter

    def connection(self, chain: str) -> Connection:
        deployed = self.deployed[chain]
        family = EvmAdapter.parse_config({"message_layer": deployed["message_layer"]}, f"chains.{chain}.evm")
        return Connection(chain, deployed["chain_id"], (self.nodes[chain].url,), family)

    def untrusted_connection(self) -> Connection:
        """alpha's node and layer under a chain id beta's layer knows no remote for."""
        return replace(self.connection("alpha"), name="gamma", chain_id=4242)

    def _adapter(self) -> EvmAdapter:
        beta = self.deployed["beta"]
        return EvmAdapter("beta", beta["chain_id"], self._rpc("beta"), beta["message_layer"])

    async def open_destination(self) -> Any:
        (named,) = [ep for ep in entry_points(group="relayer.destinations") if ep.name == "evm"]
        beta = self.deployed["beta"]
        family = EvmAdapter.parse_config({"message_layer": beta["message_layer"], "fees": {"max_fee_gwei": 100}},
                                         "chains.beta.evm")
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

        def send() -> dict[str, Any]:
            with SyncEvm(self.nodes["alpha"].url) as evm:
                return evm.transact(USER, alpha["message_layer"], "MessageLayer", "send", beta["chain_id"],
                                    address_word(beta["recorder"]), b"conformance", GAS_LIMIT, 0, ACK_ALWAYS)

        receipt = await trio.to_thread.run_sync(send)
        source = await self.open_source()
        (event,) = source.layer_events([receipt])
        return Produced(int(receipt["blockNumber"], 16), event.envelope.nonce)

    async def _mine(self, chain: str, blocks: int) -> None:
        await self._rpc(chain).call("anvil_mine", hex(blocks))

    async def advance(self, blocks: int) -> None:
        await self._mine("alpha", blocks)

    async def advance_destination(self, blocks: int) -> None:
        await self._mine("beta", blocks)

    # lies ----------------------------------------------------------------------------------
    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        return tamper_evm_header(header)

    def tamper_contents(self, contents: BlockContents) -> BlockContents:
        return tamper_layer_receipts(contents, self.deployed["alpha"]["message_layer"])

    def tamper_proof(self, proof: Proof) -> Proof:
        return tamper_receipt_proof(proof)


# The EVM family's lies, shared with the conformance modules of routes that have an EVM source
# (adapters/litecoin/tests/test_litecoin_destination_conformance.py).

def tamper_evm_header(header: CandidateHeader) -> CandidateHeader:
    """The header with its state root changed, claiming the original's hash."""
    lied = replace(header.native, state_root=bytes(reversed(header.native.state_root)) + b"")
    if lied.state_root == header.native.state_root:
        lied = replace(header.native, state_root=b"\x11" * 32)
    return CandidateHeader(header.number, header.claimed_hash, lied.rlp, lied)


def tamper_layer_receipts(contents: BlockContents, layer: str) -> BlockContents:
    """The block's receipts with the first byte of the payload of the first log of ``layer`` changed."""
    receipts = copy.deepcopy(contents.data)
    log = next(lg for r in receipts for lg in r["logs"] if lg["address"].lower() == layer.lower())
    data = bytearray.fromhex(log["data"][2:])
    data[-32] ^= 1  # the envelope's last word: the first byte of its payload
    log["data"] = "0x" + data.hex()
    return BlockContents(contents.number, contents.block_hash, receipts)


def tamper_receipt_proof(proof: Proof) -> Proof:
    """An EvmReceiptVerifier proof with a byte of the proven receipt itself changed."""
    types = ["uint256", "bytes", "bytes[]", "uint256"]
    number, key, nodes, log_index = abi_decode(types, proof.data)
    nodes = [bytes(n) for n in nodes]
    last = bytearray(nodes[-1])
    last[-1] ^= 1  # a byte of the receipt itself
    nodes[-1] = bytes(last)
    return replace(proof, data=abi_encode(types, [number, bytes(key), nodes, log_index]))


@pytest.fixture(scope="module")
def relayer_family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvmFamily]:
    yield EvmFamily(tmp_path_factory.mktemp("evm-family"))


class TestEvmFamily(ConformanceSuite):
    """Every check of the kit against the EVM family."""


def test_a_delivery_reports_each_outcome_and_the_acknowledgement(relayer_kit: Kit) -> None:
    """Beyond the kit: a delivery's result gives the layer's outcome of each message (the recorder's
    result) and whether the layer acknowledged it in the same transaction; the acknowledgement is
    itself a message of beta's layer back to alpha, whose ``acknowledges`` names the original."""

    async def check(kit: Kit) -> None:
        destination = await kit.destination()
        source = await kit.family.open_source()
        host = kit.host(destination)
        policy = await kit.policy(host)
        found = await kit.find(source)
        (message,) = found.messages
        assert message.acknowledges is None and message.labels["kind"] == "message"
        delivery = await destination.deliver(await kit.batch(source, policy, host, found))
        assert delivery.result is not None and delivery.result.delivered == {message.id}
        assert delivery.result.outcomes == {
            message.id: MessageOutcome(OutcomeStatus.DELIVERED, b"ok:conformance", acknowledged=True)}
        assert not delivery.result.failed
        family = kit.family
        assert isinstance(family, EvmFamily)
        beta = family.deployed["beta"]
        receipt = await family._rpc("beta").call("eth_getTransactionReceipt", delivery.ref)
        back = EvmSource("beta", beta["chain_id"], family._rpc("beta"), beta["message_layer"])
        (ack,) = back.layer_events([receipt])
        assert ack.kind == "ack" and ack.envelope.destination_chain == family.deployed["alpha"]["chain_id"]
        header = VerifiedHeader(int(receipt["blockNumber"], 16), b"\x01" * 32, b"", b"", 0, b"")
        (envelope,) = back.messages(header, BlockContents(header.number, header.hash, [receipt]), {1001: "alpha"})
        assert envelope.acknowledges == message.id and envelope.labels["kind"] == "ack"
        assert envelope.dst_chain == "alpha" and envelope.body == ack.raw

    relayer_kit.run(check)


def test_a_failed_handler_a_refused_proof_and_a_route_to_another_layer(relayer_kit: Kit) -> None:
    """A message whose recipient is no contract is processed as failed (counted delivered: the relayer's
    job is done; its revert data as result, no acknowledgement asked for); a tampered proof is refused
    before sending with the layer's decoded error; a source layer the destination does not trust is a
    ConfigError naming the source's ``message_layer`` key."""

    async def check(kit: Kit) -> None:
        family = kit.family
        assert isinstance(family, EvmFamily)
        alpha, beta = family.deployed["alpha"], family.deployed["beta"]

        def send() -> dict[str, Any]:
            with SyncEvm(family.nodes["alpha"].url) as evm:
                return evm.transact(USER, alpha["message_layer"], "MessageLayer", "send", beta["chain_id"],
                                    address_word("0x" + "42" * 20), b"nobody", GAS_LIMIT, 0, 0)

        receipt = await trio.to_thread.run_sync(send)
        source = await family.open_source()
        (event,) = source.layer_events([receipt])
        destination = await kit.destination()
        host = kit.host(destination)
        policy = await kit.policy(host)
        found = await kit.find(source, Produced(int(receipt["blockNumber"], 16), event.envelope.nonce))
        batch = await kit.batch(source, policy, host, found)
        with pytest.raises(ContractRevert) as refused:
            await destination.deliver(replace(batch, proofs=tuple(family.tamper_proof(p) for p in batch.proofs)))
        assert refused.value.reason == "InvalidProof()", refused.value.reason
        delivery = await destination.deliver(batch)
        (message,) = found.messages
        assert delivery.result is not None and delivery.result.delivered == {message.id}
        outcome = delivery.result.outcomes[message.id]
        assert outcome.status == OutcomeStatus.FAILED and not outcome.acknowledged
        assert outcome.result == keccak(text="RecipientNotContract(bytes32)")[:4] + address_word("0x" + "42" * 20)
        assert await destination.delivered(kit.route, [message.nonce]) == {message.nonce}
        many = list(range(1, 2 * OUTCOME_BATCH + 7))  # more than one JSON-RPC batch of outcomeOf reads
        done = await destination.delivered(kit.route, many)
        assert message.nonce in done
        assert done == frozenset().union(*[await destination.delivered(kit.route, many[i:i + 50])
                                           for i in range(0, len(many), 50)])

        # a receipt made here: a MessageProcessed that does not decode still counts as processed
        layer, other = beta["message_layer"], "0x" + "99" * 20
        good, bad, stranger = "0x" + "a1" * 32, "0x" + "b2" * 32, "0x" + "c3" * 32
        processed_topic = "0x" + keccak(text="MessageProcessed(bytes32,uint8,bytes)").hex()
        ack = LayerEnvelope(nonce=9, source_chain=beta["chain_id"], source_layer=address_word(layer),
                            sender=address_word(layer), destination_chain=alpha["chain_id"],
                            destination_layer=address_word(alpha["message_layer"]), recipient=address_word(USER_A),
                            gas_limit=GAS_LIMIT, kind=1,
                            body=abi_encode(["bytes32", "uint8", "bytes"], [bytes.fromhex(good[2:]), 1, b""]))
        receipt = {"transactionHash": "0x" + "55" * 32, "logs": [
            {"address": layer, "topics": [processed_topic, good], "data": "0x" + abi_encode(
                ["uint8", "bytes"], [3, b""]).hex()},
            {"address": layer, "topics": [processed_topic, bad], "data": "0x1234"},
            {"address": other, "topics": [processed_topic, stranger], "data": "0x" + abi_encode(
                ["uint8", "bytes"], [1, b""]).hex()},
            {"address": layer, "topics": ["0x" + MESSAGE_SENT_TOPIC.hex(), "0x" + ack.id.hex()],
             "data": "0x" + abi_encode(["bytes"], [ack.encode()]).hex()}]}
        processed, outcomes = destination.outcomes(receipt)
        assert processed == {good, bad}
        assert outcomes == {good: MessageOutcome(OutcomeStatus.EXPIRED, b"", acknowledged=True)}

        impostor = EvmAdapter("alpha", alpha["chain_id"], family._rpc("alpha"), alpha["light_client"])
        with pytest.raises(ConfigError) as wrong:
            await family._adapter().resolve_route(impostor, "routes[0]")
        assert wrong.value.key == "chains.alpha.evm.message_layer"
        assert f"trusts {alpha['message_layer']} for alpha, not {alpha['light_client']}" in wrong.value.message

    relayer_kit.run(check)


def test_an_event_whose_indexed_id_is_not_its_envelopes_is_refused() -> None:
    """``messages`` refuses a MessageSent whose indexed id is not the id of the envelope it carries, or
    whose data is no envelope, naming the chain and the block (no node needed: the receipt is made here)."""
    layer = "0x" + "1a" * 20
    envelope = LayerEnvelope(nonce=3, source_chain=1001, source_layer=address_word(layer), sender=address_word(USER_A),
                             destination_chain=1002, destination_layer=address_word("0x" + "2b" * 20),
                             recipient=address_word(USER_A), gas_limit=GAS_LIMIT)
    data = "0x" + abi_encode(["bytes"], [envelope.encode()]).hex()
    log = {"address": layer, "topics": ["0x" + MESSAGE_SENT_TOPIC.hex(), "0x" + envelope.id.hex()], "data": data}
    receipt = {"transactionHash": "0x" + "77" * 32, "transactionIndex": "0x0", "logs": [log]}
    source = EvmSource("alpha", 1001, RpcClient("alpha", ("http://127.0.0.1:9",)), layer)
    header = VerifiedHeader(12, b"\x01" * 32, b"", b"", 0, b"")
    source._reported = frozenset({12})

    def found(r: dict[str, Any]) -> list[Any]:
        return source.messages(header, BlockContents(12, header.hash, [r]), {1002: "beta"})

    (ok,) = found(receipt)
    assert ok.id == "0x" + envelope.id.hex() and ok.nonce == 3 and ok.body == envelope.encode()
    for lied in ({**log, "topics": [log["topics"][0], "0x" + "00" * 32]}, {**log, "data": "0x" + "00" * 64}):
        with pytest.raises(RpcAnswerError) as caught:
            found({**receipt, "logs": [lied]})
        assert caught.value.fields["chain"] == "alpha" and caught.value.fields["block"] == 12
    assert found({**receipt, "logs": [{**log, "address": "0x" + "99" * 20}]}) == []  # another contract's log
    assert source.messages(header, BlockContents(12, header.hash, [receipt]), {}) == []  # unroutable
