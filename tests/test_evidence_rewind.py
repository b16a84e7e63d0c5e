"""``relayer evidence resolve`` decides whether a chain can be rewound by a capability its light
client's factory declares through the contract (``RewindableLightClientFactory``), never by the
client's name (issue 9). The chain's history is a stand-in here (a dict of block hashes); the
devnet-backed resolve is in tests/e2e/test_operator_commands.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from relayer import evidence_cli, plugins
from relayer.contract import LightClientFactory, RewindableLightClientFactory
from relayer.errors import UsageError
from relayer.store import EvidenceKind, Store, StoredHeader

CHAIN_ID = 1001


def h(number: int, fork: str = "a") -> str:
    return "0x" + (f"{fork}{number:x}".rjust(64, "0"))


def stored(number: int) -> StoredHeader:
    return StoredHeader("alpha", number, h(number), h(number - 1), "0x" + "ee" * 32, number)


class History:
    """A chain whose blocks above ``fork_above`` were replaced."""

    def __init__(self, fork_above: int) -> None:
        self.fork_above = fork_above

    def head_number(self) -> int:
        return 100

    def block_hash(self, number: int) -> str | None:
        return h(number, "b" if number > self.fork_above else "a")

    def close(self) -> None:
        pass


class Checkpoint:
    """A factory of some family (not named evm) whose state is a plain checkpoint; it declares the
    capability. Its clients play only ``head_number``."""

    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]) -> Any:
        return SimpleNamespace(head_number=None)

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]) -> Any:
        return SimpleNamespace(head_number=state["at"])

    @classmethod
    def rewound_state(cls, state: Mapping[str, Any], number: int, hash: bytes) -> dict[str, Any]:
        return {**state, "at": number, "id": hash.hex()}


class KeepsMore(Checkpoint):
    """The same client without the capability (its state holds more than a checkpoint)."""

    rewound_state = None  # type: ignore[assignment]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "relayer.db")
    s.record_scan("alpha", 11, [stored(n) for n in (4, 6, 8, 10)], [], [], light_client_state={"at": 10})
    yield s
    s.close()


def plan(store: Store, monkeypatch: pytest.MonkeyPatch, factory: Any, fork_above: int,
         light_client: str = "chk") -> tuple[dict[str, Any], Any]:
    config = SimpleNamespace(chains={"alpha": SimpleNamespace(chain_id=CHAIN_ID, confirmations=0, adapter="fam",
                                                              light_client=light_client, rpc=("http://x",))})
    monkeypatch.setattr(plugins, "load", lambda group, name, *, key: factory)

    @contextmanager
    def history(config: Any, chain: str) -> Iterator[History]:
        yield History(fork_above)

    monkeypatch.setattr(evidence_cli, "_chain_history", history)
    item = {"id": 1, "kind": "reorg-below-finality", "chain": "alpha", "number": 9}
    return evidence_cli._plan(config, store, item)  # type: ignore[arg-type]


def test_a_chain_that_still_has_the_accepted_block_is_not_rewound(store: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for factory in (Checkpoint, KeepsMore):
        detail, rewind = plan(store, monkeypatch, factory, fork_above=10)
        assert rewind is None and "still has the accepted block 10" in detail["outcome"]


def test_a_declared_checkpoint_client_is_rewound_whatever_its_name(store: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    detail, rewind = plan(store, monkeypatch, Checkpoint, fork_above=5)
    assert rewind is not None and rewind.anchor.number == 4 and detail["rewound_to"] == 4
    assert rewind.light_client_state == {"at": 4, "id": h(4)[2:]}  # as the family's rewound_state made it


def test_a_client_without_the_capability_is_refused(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as refused:
        plan(store, monkeypatch, KeepsMore, fork_above=5, light_client="evm")  # the name decides nothing
    assert "the evm light client of alpha keeps more than a checkpoint" in str(refused.value)
    assert "restore a backup" in str(refused.value)


def test_first_party_capabilities() -> None:
    declared = {name: isinstance(plugins.load(plugins.LIGHT_CLIENT_GROUP, name, key="t"), RewindableLightClientFactory)
                for name in ("evm", "qbft", "ibft2", "clique")}
    assert declared == {"evm": True, "qbft": False, "ibft2": False, "clique": False}
    evm = plugins.load(plugins.LIGHT_CLIENT_GROUP, "evm", key="t")
    state = {"kind": "evm", "chain_id": CHAIN_ID, "number": 10, "hash": h(10)}
    rewound = evm.rewound_state(state, 4, bytes.fromhex(h(4)[2:]))
    assert rewound == {**state, "number": 4, "hash": h(4)}  # what resolve wrote before the capability
    assert evm.from_trusted_state("alpha", CHAIN_ID, 0, rewound).head_number == 4
    assert isinstance(Checkpoint, RewindableLightClientFactory) and isinstance(KeepsMore, LightClientFactory)


def test_evidence_kinds_are_an_enum_with_the_stored_words(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The follower writes and resolve compares EvidenceKind members; their values are the words rows
    of every release hold, so old rows keep their meaning."""
    assert {k.value for k in EvidenceKind} == {"conflicting-sealed-headers", "reorg-below-finality"}
    store.add_evidence("alpha", 9, EvidenceKind.CONFLICTING_SEALED_HEADERS, {}, now=1.0)
    store.add_evidence("alpha", 9, EvidenceKind.REORG_BELOW_FINALITY, {}, now=2.0)
    rows = store.evidence()
    assert [r["kind"] for r in rows] == ["conflicting-sealed-headers", "reorg-below-finality"]
    config = SimpleNamespace(chains={"alpha": SimpleNamespace(chain_id=CHAIN_ID, light_client="chk")})
    detail, rewind = evidence_cli._plan(config, store, rows[0])  # type: ignore[arg-type]
    assert rewind is None and detail["outcome"].startswith("released")  # only a replaced final block rewinds
