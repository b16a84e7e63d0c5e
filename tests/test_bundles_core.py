"""The chain-neutral part of evidence bundles (``relayer.bundles``): what is not a bundle is refused
with one line (exit 2 at the command line), a family's malformed-part errors become a rejection with
a reason, the trust anchor reaches the family as given, and ``export`` hands out only a bundle that
holds. The family here is an in-tree fake plugin; the EVM family's bundles are tested on real chains
(tests/contracts/test_message_bundles.py, tests/e2e/test_bundles*.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from relayer import bundles
from relayer.errors import FatalError, VerificationError
from relayer.store import Message


class FakeFamily:
    """Exports ``part``; verify records the anchor it got and raises ``fails`` when set."""

    def __init__(self, part: dict[str, Any], fails: Exception | None = None) -> None:
        self.part, self.fails = part, fails
        self.anchors: list[tuple[Any, ...]] = []

    def export(self, config: Any, message: Any, header: Any, attestations: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return dict(self.part)

    def verify(self, bundle: dict[str, Any], members: Sequence[str] | None, threshold: int | None,
               validators: Sequence[str] | None = None) -> list[str]:
        self.anchors.append((members, threshold, validators))
        if self.fails is not None:
            raise self.fails
        return ["fake: held"]


def use(monkeypatch: pytest.MonkeyPatch, family: FakeFamily) -> None:
    monkeypatch.setattr(bundles, "_family", lambda name: family)


def export_with(family_part: dict[str, Any]) -> dict[str, Any]:
    chains = {"a": SimpleNamespace(adapter="fake", chain_id=1), "b": SimpleNamespace(adapter="fake", chain_id=2)}
    store = SimpleNamespace(header=lambda chain, number: None, attestations_of=lambda s, d, n: [])
    message = Message(id="0x" + "ab" * 32, src_chain="a", dst_chain="b", nonce=7, block_number=9,
                      block_hash="0x" + "cd" * 32, body=b"\x01", locator=b"\x02")
    return bundles.export(store, SimpleNamespace(chains=chains), message)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "says"), [
    ("hello", "not JSON"),
    ('{"format": "other"}', 'no "format"'),
    ('{"format": "relayer-evidence-bundle", "version": 1, "family": "evm"}', "version 1, this release reads 2"),
    ('{"format": "relayer-evidence-bundle", "version": 2}', "without its family"),
])
def test_what_is_not_a_bundle_is_refused_in_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(bundles.NotABundle, match=says) as info:
        bundles.read_bundle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(bundles.NotABundle, match="cannot read it"):
        bundles.read_bundle(tmp_path / "missing.json")


def test_a_bundle_of_a_family_not_installed_is_not_a_bundle_here() -> None:
    with pytest.raises(bundles.NotABundle, match="no relayer.bundles plugin for family 'martian'"):
        bundles.verify({"family": "martian"}, None, None)


def test_the_anchor_reaches_the_family_and_a_malformed_part_is_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    family = FakeFamily({})
    use(monkeypatch, family)
    assert bundles.verify({"family": "fake"}, ["0x1"], 2) == ["fake: held"]
    assert bundles.verify({"family": "fake"}, None, None, ["0x2"]) == ["fake: held"]
    assert family.anchors == [(["0x1"], 2, None), (None, None, ["0x2"])]
    family.fails = KeyError("receipt")
    with pytest.raises(VerificationError, match="malformed bundle .KeyError: 'receipt'."):
        bundles.verify({"family": "fake"}, None, None)


def test_export_hands_out_only_a_bundle_that_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, FakeFamily({"outcome": {"status": "delivered"}}))
    doc = export_with({})
    assert doc["format"] == bundles.FORMAT and doc["version"] == bundles.VERSION and doc["route"] == "a->b"
    assert doc["message"]["nonce"] == 7 and doc["message"]["body"] == "0x01" and doc["outcome"]["status"] == "delivered"
    json.dumps(doc)
    use(monkeypatch, FakeFamily({}, fails=VerificationError("receipt: proof node does not hash")))
    with pytest.raises(FatalError, match="does not hold, not written: receipt: proof node does not hash"):
        export_with({})
