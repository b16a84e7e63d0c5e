"""Evidence bundles of a QBFT route on a real devnet (``devnet up --policy qbft``: anvil chains behind
sealing proxies, 4 validators each, 3 operators, the destination's QbftLightClient accepting the
source's sealed headers): the bundle of a delivered transfer carries the source header with its
committed seals and the validator set beta's client holds for that block; ``relayer messages verify``
accepts it against the bundle's set or the one given with ``--validators``, rejects another set or a
committee anchor, and rejects it after a representative byte of every part is changed: every header
field and each committed seal of the source and destination headers, the receipts and every node of
both receipt proofs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bundle_flips import flipped, flips
from devnet_helpers import wait_for
from eth_account import Account

from relayer import bundles
from relayer.devnet import network
from relayer.devnet.transfer import transfer
from relayer.errors import VerificationError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("qbftbundles")
    network.up(root, policy="qbft", report=lambda line: None)
    try:
        yield root
    finally:
        network.down(root, report=lambda line: None)


def relayer(*args: str, expect: int) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == expect, (args, out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out


@pytest.fixture(scope="module")
def exported(devnet: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    sent = transfer(devnet, "alpha", "beta", "native", "0.02", recipient=Account.create().address, wait=True,
                    timeout=90)
    assert sent.outcome == "delivered"
    cfg = str(network.load_deployment(devnet)["operators"][0]["config"])

    def known() -> bool:
        out = relayer("messages", "list", "--config", cfg, "--json", expect=0)
        return any(m["id"] == sent.message_id for m in json.loads(out.stdout)["messages"])

    wait_for(known, 30, "operator-1 to know the message")
    path = tmp_path_factory.mktemp("bundle") / "qbft.json"
    relayer("messages", "export", sent.message_id, "--config", cfg, "--out", str(path), expect=0)
    return path, json.loads(path.read_text())


def test_a_qbft_bundle_holds_against_the_validator_set(devnet: Path, exported: tuple[Path, dict[str, Any]]) -> None:
    path, doc = exported
    alpha = network.load_deployment(devnet)["chains"]["alpha"]
    acceptance = doc["acceptance"]
    assert acceptance["policy"] == "qbft" and acceptance["flavour"] == "qbft"
    assert acceptance["validators"] == alpha["qbft"]["validators"] and acceptance["seals"] >= acceptance["quorum"] == 3
    assert doc["header"]["hash"] == doc["message"]["block_hash"] and doc["outcome"]["status"] == "delivered"
    out = relayer("messages", "verify", str(path), expect=0).stdout
    assert "trust anchor from the bundle): outcome delivered" in out and "validators committed-sealed" in out
    assert "qbft, sealed by" in out  # beta's block header is checked against its own validators' seals
    given = ",".join(alpha["qbft"]["validators"])
    out = relayer("messages", "verify", str(path), "--validators", given, expect=0).stdout
    assert "trust anchor from the command line" in out
    others = ",".join(Account.create().address for _ in range(4))
    out = relayer("messages", "verify", str(path), "--validators", others, expect=1).stdout
    assert "not the 4 of the command line's set" in out
    out = relayer("messages", "verify", str(path), "--members", given, "--threshold", "3", expect=1).stdout
    assert "give --validators" in out


def test_a_changed_byte_of_a_qbft_bundle_is_rejected(exported: tuple[Path, dict[str, Any]]) -> None:
    _, doc = exported
    planned = flips(doc)
    labels = " | ".join(label for label, _, _ in planned)
    for part in ("source header field 12", "source header committed seal 2 v", "destination header committed seal 0 r",
                 "source receipt byte", "source receipt proof node 0", "destination receipt proof node 0"):
        assert part in labels, part
    reasons = set()
    for label, path, offset in planned:
        with pytest.raises(VerificationError) as info:
            bundles.verify(flipped(doc, path, offset), None, None)
        if "committed seal" in label:
            reasons.add(str(info.value).split(":")[0])
    assert reasons == {"acceptance", "destination"}  # a seal changed is caught by the seal check, not the hash
    assert bundles.verify(doc, None, None)
