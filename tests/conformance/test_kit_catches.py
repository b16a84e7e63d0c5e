"""The conformance kit fails a family that breaks the contract, and says so when it cannot check:
broken variants of the example family (examples/memchain) run through the kit's checks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "memchain"))

import memchain  # noqa: E402
from test_memchain_conformance import MemchainFamily  # noqa: E402

from relayer.contract import CandidateHeader, VerifiedHeader  # noqa: E402
from relayer.errors import ConfigError  # noqa: E402
from relayer.testing import NOT_RUN, ConformanceSuite, Kit  # noqa: E402

SUITE = ConformanceSuite()
FAILED = (AssertionError, pytest.fail.Exception)


class TrustingClient(memchain.MemLightClient):
    """Takes the hash the source claims and never looks at the seal."""

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        native = memchain.Header.decode(header.encoded)
        return VerifiedHeader(native.number, header.claimed_hash or native.hash, native.parent_hash,
                              native.commitment, native.timestamp, header.encoded, native)


class ForgetfulClient(memchain.MemLightClient):
    """Its saved state restores a client without its head."""

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int, state: Any) -> Any:
        return cls(chain_name, chain_id, confirmations, state["sealer"])


class ReplayingChain(memchain.DestinationChain):
    """Its bridge executes a message every time it is delivered."""

    def mine(self) -> None:
        for bridge in self.bridges.values():
            bridge.delivered.clear()
        super().mine()


class PromiscuousAdapter(memchain.MemAdapter):
    """Resolves a route from any chain, set up for it or not."""

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        return f"{self.name}-client-of-{source.name}", "sealed"


class VagueAdapter(memchain.MemAdapter):
    """Refuses an unknown source, naming a key of its own table that says nothing of that source."""

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        if source.name != "sun":
            raise ConfigError(f"chains.{self.name}.{memchain.FAMILY}.rpc", "not set up for this source")
        return await super().resolve_route(source, key)


class Broken(MemchainFamily):
    def __init__(self, client: type[memchain.MemLightClient] = memchain.MemLightClient,
                 destination: bool = True, replaying: bool = False,
                 adapter: type[memchain.MemAdapter] | None = memchain.MemAdapter) -> None:
        self.client, self.destination, self.replaying, self.adapter = client, destination, replaying, adapter

    def chain_adapter(self) -> Any:
        return self.adapter

    def start(self) -> None:
        super().start()
        if self.replaying:
            chain = ReplayingChain(self.devnet.moon.chain)
            chain.bridges = self.devnet.moon.bridges
            self.devnet.moon = chain

    def light_client_factory(self) -> Any:
        return self.client

    async def open_destination(self) -> Any:
        return await super().open_destination() if self.destination else None


def kit(family: Broken) -> Iterator[Kit]:
    family.start()
    try:
        yield Kit(family)
    finally:
        family.stop()


def test_a_client_that_trusts_the_claimed_hash_fails_the_tampered_header_check() -> None:
    for k in kit(Broken(TrustingClient)):
        with pytest.raises(FAILED):
            SUITE.test_a_tampered_header_is_refused(k)


def test_a_client_that_forgets_its_head_fails_the_restart_check() -> None:
    for k in kit(Broken(ForgetfulClient)):
        with pytest.raises(FAILED):
            SUITE.test_saved_state_is_restored_after_a_restart(k)


def test_a_bridge_that_executes_a_message_twice_fails_the_idempotence_check() -> None:
    for k in kit(Broken(replaying=True)):
        with pytest.raises(FAILED):
            SUITE.test_delivery_and_idempotence(k)


def test_an_adapter_that_resolves_an_untrusted_route_fails_the_route_check() -> None:
    for k in kit(Broken(adapter=PromiscuousAdapter)):
        SUITE.test_chain_adapter_connects_and_resolves_the_route(k)  # the trusted route still resolves
        with pytest.raises(FAILED):
            SUITE.test_an_untrusted_route_is_refused(k)


def test_a_refusal_naming_an_unrelated_key_fails_the_route_check() -> None:
    """The refusal may name the destination's entry for the source (a destination that lists its sources),
    not any key of the destination."""
    for k in kit(Broken(adapter=VagueAdapter)):
        SUITE.test_chain_adapter_connects_and_resolves_the_route(k)
        with pytest.raises(FAILED):
            SUITE.test_an_untrusted_route_is_refused(k)


def test_a_check_whose_role_is_missing_is_reported_as_not_run() -> None:
    for k in kit(Broken(destination=False)):
        for check in (SUITE.test_delivery_and_idempotence, SUITE.test_a_tampered_proof_is_not_delivered,
                      SUITE.test_a_cancelled_delivery_is_settled_and_retryable):
            with pytest.raises(pytest.skip.Exception) as skipped:
                check(k)
            assert str(skipped.value.msg).startswith(NOT_RUN) and "Destination" in str(skipped.value.msg)
    for k in kit(Broken(adapter=None)):
        for check in (SUITE.test_chain_adapter_connects_and_resolves_the_route,
                      SUITE.test_an_untrusted_route_is_refused):
            with pytest.raises(pytest.skip.Exception) as skipped:
                check(k)
            assert str(skipped.value.msg).startswith(NOT_RUN) and "ChainAdapter" in str(skipped.value.msg)


def test_the_plugin_is_installed_as_a_pytest11_entry_point(pytestconfig: pytest.Config) -> None:
    from importlib.metadata import entry_points

    assert [ep.value for ep in entry_points(group="pytest11") if ep.name == "relayer"] == ["relayer.testing.plugin"]
    assert pytestconfig.pluginmanager.has_plugin("relayer")
