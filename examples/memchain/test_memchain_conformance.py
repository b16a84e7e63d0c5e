"""How a vendor runs the conformance kit against its family: a Family for the devnet, the
``relayer_family`` fixture, and a ConformanceSuite subclass. (``make test`` runs this module through
tests/conformance/test_example_family.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from memchain import (
    Devnet,
    Header,
    MemAdapter,
    MemDestination,
    MemLightClient,
    MemSigner,
    MemSource,
    Message,
    SealedHeaderPolicy,
)

from relayer.contract import BlockContents, CandidateHeader, PolicyHost, Proof, RouteRef
from relayer.testing import ConformanceSuite, Connection, Family, Produced


class MemchainFamily(Family):
    """sun -> moon, two blocks of confirmations on sun."""

    name = "memchain"
    confirmations = 2
    destination_depth = 1
    cancel_deliver_after = 0.01  # a transaction waits 0.05 s in the pool: cancelled in flight

    def start(self) -> None:
        self.devnet = Devnet()

    def stop(self) -> None:
        self.devnet.close()
        del self.devnet

    # chains and roles
    def route(self) -> RouteRef:
        sun, moon = self.devnet.sun, self.devnet.moon.chain
        return RouteRef("sun->moon", "sun", "moon", sun.chain_id, moon.chain_id, "moon-client-of-sun")

    async def open_source(self) -> MemSource:
        return MemSource(self.devnet.sun)

    def light_client_factory(self) -> Any:
        return MemLightClient

    def light_client_options(self, start_block: int) -> Mapping[str, Any]:
        return {"sealer": self.devnet.sun.sealer_key}

    async def open_destination(self) -> MemDestination:
        return MemDestination(self.devnet.moon)

    async def open_policy(self, route: RouteRef, host: PolicyHost) -> SealedHeaderPolicy:
        assert isinstance(host.destination, MemDestination)  # type: ignore[attr-defined]
        return await SealedHeaderPolicy.open(route, host.destination, host)  # type: ignore[attr-defined]

    def signer(self) -> MemSigner:
        return MemSigner(b"\x07" * 32)

    def family_config(self) -> Any:
        return MemAdapter

    def chain_adapter(self) -> Any:
        return MemAdapter

    def connection(self, chain: str) -> Connection:
        node = {"sun": self.devnet.sun, "moon": self.devnet.moon.chain, "mars": self.devnet.mars}[chain]
        return Connection(chain, node.chain_id, ("memchain://nowhere/" + chain, self.devnet.url(chain)),
                          MemAdapter.parse_config({"sealer": node.sealer_key}, f"chains.{chain}.memchain"))

    def untrusted_connection(self) -> Connection:
        return self.connection("mars")  # moon keeps no client of mars

    def config_table(self) -> Mapping[str, Any]:
        return {"sealer": self.devnet.sun.sealer_key}

    def bad_config_table(self) -> Mapping[str, Any]:
        return {"sealer": "sun"}

    # making things happen
    async def produce_message(self) -> Produced:
        number, nonce = self.devnet.sun.send(self.devnet.moon.chain.chain_id, b"hello moon")
        return Produced(number, nonce)

    async def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            self.devnet.sun.mine()

    async def advance_destination(self, blocks: int) -> None:
        for _ in range(blocks):
            self.devnet.moon.mine()

    # lies
    def tamper_header(self, header: CandidateHeader) -> CandidateHeader:
        lied = replace(header.native, commitment=b"\x11" * 32)
        return CandidateHeader(header.number, header.claimed_hash, lied.encoded(), lied)

    def tamper_contents(self, contents: BlockContents) -> BlockContents:
        first, *rest = contents.data
        return replace(contents, data=[Message(first.nonce, first.dst_chain_id, b"hello mars"), *rest])

    def tamper_proof(self, proof: Proof) -> Proof:
        data = json.loads(proof.data)
        message = json.loads(data["message"])
        message["body"] = b"hello mars".hex()
        data["message"] = json.dumps(message, sort_keys=True, separators=(",", ":"))
        return replace(proof, data=json.dumps(data).encode())


@pytest.fixture(scope="module")
def relayer_family() -> Iterator[MemchainFamily]:
    yield MemchainFamily()


class TestMemchainFamily(ConformanceSuite):
    """Every check of the kit against memchain."""


_ = Header  # re-exported for readers of the example
