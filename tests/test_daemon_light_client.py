"""The daemon opens a chain's light client only through relayer.contract's LightClientFactory
(issue 9): ``from_options`` with ``chains.NAME.light_client_options`` at a first start,
``from_trusted_state`` with the stored state at every later one; a plugin that is no factory is a
ConfigError naming ``chains.NAME.light_client``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from relayer import daemon, plugins
from relayer.config import ChainConfig
from relayer.contract import LightClient, LightClientFactory
from relayer.errors import ConfigError
from relayer.routes import ChainRuntime
from relayer.store import Store
from relayer.types import BlockNumber, ChainId

STATE = {"kind": "evm", "chain_id": 1001, "number": 7, "hash": "0x" + "ab" * 32}


def chain(light_client: str, options: dict[str, Any] | None = None) -> ChainConfig:
    return ChainConfig(name="alpha", chain_id=ChainId(1001), adapter="evm", light_client=light_client,
                       rpc=("http://127.0.0.1:1",), confirmations=3, poll_interval=1.0, start_block=BlockNumber(0),
                       light_client_options=options or {})


RUNTIME = ChainRuntime("alpha", 1001, None, {}, [])


class Recording:
    """A factory that records how it was called (and plays no light client)."""

    calls: list[tuple[str, tuple[Any, ...]]] = []

    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]) -> Any:
        cls.calls.append(("from_options", (chain_name, chain_id, confirmations, dict(options))))
        return "made"

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]) -> Any:
        cls.calls.append(("from_trusted_state", (chain_name, chain_id, confirmations, dict(state))))
        return "restored"


class NoFactory:
    def __init__(self, chain_name: str, chain_id: int, confirmations: int) -> None:  # the old constructor path
        raise AssertionError("the daemon must not build a light client by its constructor")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "relayer.db")
    yield s
    s.close()


def test_first_start_uses_from_options_and_later_ones_from_trusted_state(store: Store,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    Recording.calls = []
    loaded: list[tuple[str, str, str]] = []

    def load(group: str, name: str, *, key: str) -> Any:
        loaded.append((group, name, key))
        return Recording

    monkeypatch.setattr(plugins, "load", load)
    assert daemon._light_client(RUNTIME, chain("rec", {"validators": ["v"]}), store) == "made"
    store.record_scan("alpha", 8, [], [], [], light_client_state=STATE)
    assert daemon._light_client(RUNTIME, chain("rec"), store) == "restored"
    assert Recording.calls == [("from_options", ("alpha", 1001, 3, {"validators": ["v"]})),
                               ("from_trusted_state", ("alpha", 1001, 3, STATE))]
    assert loaded == [(plugins.LIGHT_CLIENT_GROUP, "rec", "chains.alpha.light_client")] * 2


def test_a_plugin_that_is_no_factory_is_refused_naming_the_key(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "load", lambda group, name, *, key: NoFactory)
    with pytest.raises(ConfigError) as refused:
        daemon._light_client(RUNTIME, chain("old"), store)
    assert refused.value.key == "chains.alpha.light_client" and "LightClientFactory" in str(refused.value)


@pytest.mark.parametrize("name", ["evm", "qbft", "ibft2", "clique"])
def test_every_first_party_light_client_is_a_factory(name: str) -> None:
    factory = plugins.load(plugins.LIGHT_CLIENT_GROUP, name, key="test")
    assert isinstance(factory, LightClientFactory)


def test_the_evm_client_is_restored_from_the_store(store: Store) -> None:
    first = daemon._light_client(RUNTIME, chain("evm"), store)
    assert isinstance(first, LightClient) and first.head_number is None
    store.record_scan("alpha", 8, [], [], [], light_client_state=STATE)
    again = daemon._light_client(RUNTIME, chain("evm"), store)
    assert again.head_number == 7 and again.trusted_state() == STATE
