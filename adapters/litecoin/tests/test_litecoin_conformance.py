"""The Litecoin family passes the conformance kit (relayer.testing) for the roles it provides, on a real
litecoind regtest node: the Source (opened from the ``relayer.adapters`` entry point ``litecoin``), the
light client (entry point ``relayer.light_clients`` ``litecoin``), the FamilyConfig and the Signer (an
operator's Litecoin key). A message is a deposit to the 2-of-3 custody with the relayer's OP_RETURN.

Reported as not run: the kit's Destination and update-policy checks, which deliver this family's own
messages (Litecoin -> alpha) to a destination of the family; Litecoin's Destination releases burns from EVM
chains and is checked on real nodes in test_litecoin_destination.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from relayer.contract import BlockContents, CandidateHeader, Proof, RouteRef
from relayer.plugins import ADAPTER_GROUP, LIGHT_CLIENT_GROUP, load
from relayer.testing import ConformanceSuite, Family, Produced
from relayer_litecoin.adapter import LitecoinAdapter
from relayer_litecoin.block import Block
from relayer_litecoin.client import encode
from relayer_litecoin.keys import LitecoinSigner
from relayer_litecoin.source import LitecoinSource
from relayer_litecoin.testing import ALPHA, CUSTODY, OPERATORS, Devnet

CHAIN_ID = 7001


class LitecoinFamily(Family):
    """ltc (regtest) -> alpha; two confirmations on ltc."""

    name = "litecoin"
    confirmations = 2

    def __init__(self) -> None:
        self._opened: list[LitecoinAdapter] = []

    def start(self) -> None:
        self.devnet = Devnet()

    def stop(self) -> None:
        self.devnet.stop()

    async def aclose(self) -> None:
        for adapter in self._opened:
            await adapter.aclose()
        self._opened.clear()

    def route(self) -> RouteRef:
        return RouteRef("ltc->alpha", "ltc", "alpha", CHAIN_ID, ALPHA, "none: no on-chain client of Litecoin yet")

    async def open_source(self) -> LitecoinSource:
        adapter_class = load(ADAPTER_GROUP, "litecoin", key="chains.ltc.adapter")
        family = adapter_class.parse_config(self.config_table(), "chains.ltc.litecoin")
        adapter = adapter_class.connect("ltc", CHAIN_ID, (self.devnet.node.url,), family)
        self._opened.append(adapter)
        source: LitecoinSource = adapter.source
        return source

    def light_client_factory(self) -> Any:
        return load(LIGHT_CLIENT_GROUP, "litecoin", key="chains.ltc.light_client")

    def light_client_options(self, start_block: int) -> Mapping[str, Any]:
        return {"network": "regtest", "checkpoint": self.devnet.node.call("getblockhash", start_block)}

    def signer(self) -> LitecoinSigner:
        signer: LitecoinSigner = OPERATORS[0]
        return signer

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
def relayer_family() -> Iterator[LitecoinFamily]:
    yield LitecoinFamily()


class TestLitecoinFamily(ConformanceSuite):
    """Every check of the kit against Litecoin regtest; the destination's checks are reported as not run."""


