"""Evidence bundles on a real devnet (anvil chains alpha and beta, 3 operators, committee 2 of 3, the
message layer): ``relayer messages export`` writes the bundle of a delivered transfer and of a message
that failed and was acknowledged (its acknowledgement is bundled too, on the reverse route);
``relayer messages verify`` accepts them with no network, printing the outcome, and rejects them
(exit 1, with a reason) after a byte of any part is changed: every field of the source and destination
headers, each committee signature, the receipts (the MessageSent and MessageProcessed logs included)
and every node of both receipt proofs (a representative set of bytes, checked in this process), or
when the trust anchor on the command line is another committee or of the wrong kind. A file that is
no bundle exits 2; a message not yet processed has no bundle (exit 1).
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
from devnet_helpers import chain, set_layer_paused, wait_for
from eth_account import Account

from relayer import bundles
from relayer.devnet import network
from relayer.devnet.send import SendRequest, send
from relayer.devnet.transfer import transfer
from relayer.errors import VerificationError

pytestmark = pytest.mark.slow
Bundles = dict[str, tuple[Path, dict[str, Any]]]  # name -> (file, its JSON)


def relayer(*args: str, expect: int) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == expect, (args, out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out


def config(root: Path, index: int = 1) -> str:
    return str(network.load_deployment(root)["operators"][index - 1]["config"])


def known(root: Path, message_id: str) -> bool:
    out = relayer("messages", "list", "--config", config(root), "--json", expect=0)
    return any(m["id"] == message_id for m in json.loads(out.stdout)["messages"])


def export(root: Path, message_id: str, out: Path) -> dict[str, Any]:
    wait_for(lambda: known(root, message_id), 30, "operator-1 to know the message")
    relayer("messages", "export", message_id, "--config", config(root), "--out", str(out), expect=0)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


@pytest.fixture(scope="module")
def exported(devnet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundles]:
    """Operator-1's bundles of a native transfer alpha->beta (delivered), of a message alpha->beta to an
    account (failed: no contract there) asking for an acknowledgement, and of that acknowledgement."""
    folder = tmp_path_factory.mktemp("bundle")
    sent = transfer(devnet, "alpha", "beta", "native", "0.013", recipient=Account.create().address, wait=True)
    assert sent.destination_tx
    failed = send(devnet, SendRequest("alpha", "beta", Account.create().address, b"to nobody", ack="always"),
                  wait=True, timeout=90)
    assert failed.outcome == "failed" and failed.ack_id
    found = {}
    for name, mid in (("transfer", sent.message_id), ("failed", failed.message_id), ("ack", failed.ack_id)):
        path = folder / f"{name}.json"
        found[name] = (path, export(devnet, mid, path))
    yield found


def verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    """``relayer messages verify --json`` in this process: exit status and its JSON."""
    from relayer.cli import main

    status = main(["messages", "verify", str(path), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_exported_bundles_hold_offline_with_their_outcome(devnet: Path,
                                                          exported: Bundles) -> None:
    path, doc = exported["transfer"]
    assert doc["format"] == "relayer-evidence-bundle" and doc["version"] == 2 and doc["family"] == "evm"
    assert doc["route"] == "alpha->beta" and doc["outcome"]["status"] == "delivered"
    assert doc["outcome"]["acknowledgement"] is None and doc["destination_receipt"]["ack_log_index"] is None
    assert doc["source_layer"] == chain(devnet, "alpha")["message_layer"]
    acceptance = doc["acceptance"]
    assert acceptance["policy"] == "committee" and acceptance["threshold"] == 2 and len(acceptance["members"]) == 3
    assert len(acceptance["signatures"]) == 2 and acceptance["domain_chain_id"] == chain(devnet, "beta")["chain_id"]
    out = relayer("messages", "verify", str(path), expect=0).stdout
    assert "trust anchor from the bundle): outcome delivered" in out and "MessageProcessed(" in out
    members = ",".join(acceptance["members"])
    out = relayer("messages", "verify", str(path), "--members", members, "--threshold", "2", expect=0).stdout
    assert "trust anchor from the command line" in out

    path, doc = exported["failed"]
    assert doc["outcome"]["status"] == "failed" and doc["outcome"]["acknowledgement"]["id"] == exported["ack"][1][
        "message"]["id"]
    out = json.loads(relayer("messages", "verify", str(path), "--json", expect=0).stdout)
    assert out["ok"] and out["outcome"] == "failed" and "acknowledges it to the sender" in out["checks"][-1]
    path, doc = exported["ack"]  # the acknowledgement is a message like any other, bundled on its route
    assert doc["route"] == "beta->alpha"
    out = json.loads(relayer("messages", "verify", str(path), "--json", expect=0).stdout)
    assert out["ok"] and any("MessageSent of acknowledgement" in line for line in out["checks"])


@pytest.mark.parametrize("which", ["transfer", "failed"])
def test_a_changed_byte_in_any_part_is_rejected(which: str, exported: Bundles) -> None:
    _, doc = exported[which]
    planned = flips(doc)
    labels = " | ".join(label for label, _, _ in planned)
    for part in ("source header field 0", "source header field 15", "committee signature 0 r",
                 "committee signature 1 v", "source receipt byte", "source receipt proof node 0",
                 "destination header field 14", "destination receipt byte", "destination receipt proof node 0"):
        assert part in labels, part
    for label, path, offset in planned:
        with pytest.raises(VerificationError) as info:
            bundles.verify(flipped(doc, path, offset), None, None)
        assert str(info.value), label
    assert bundles.verify(doc, None, None)


def test_a_changed_byte_exits_1_with_a_reason(exported: Bundles,
                                             tmp_path: Path) -> None:
    _, doc = exported["failed"]
    for path, offset in ((("acceptance", "signatures", 1, "signature"), 7), (("receipt", "proof", 0), 40),
                         (("destination_receipt", "encoded"), 3)):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(flipped(doc, path, offset)))
        out = relayer("messages", "verify", str(bad), expect=1).stdout
        assert out.startswith("REJECTED (") and out.count("\n") == 1


def test_another_anchor_or_a_wrong_claim_is_rejected(exported: Bundles,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, doc = exported["transfer"]
    strangers = ",".join(Account.create().address for _ in range(3))
    status, answer = verify(path, capsys, "--members", strangers, "--threshold", "2")
    assert status == 1 and answer["anchor"] == "command line" and "not a member" in answer["reason"]
    status, answer = verify(path, capsys, "--members", doc["acceptance"]["members"][0], "--threshold", "1")
    assert status == 1 and "not a member" in answer["reason"]
    status, answer = verify(path, capsys, "--validators", strangers)
    assert status == 1 and "give --members" in answer["reason"]
    bad = tmp_path / "claim.json"
    for key, value, reason in (("destination_layer", Account.create().address, "not between the bundled layers"),
                               ("outcome", {**doc["outcome"], "status": "expired"}, "MessageProcessed says"),
                               ("message", {**doc["message"], "body": doc["message"]["body"][:-2] + "ff"}, "body")):
        bad.write_text(json.dumps({**doc, key: value}))
        status, answer = verify(bad, capsys)
        assert status == 1 and reason in answer["reason"], (key, answer)


def test_a_file_that_is_no_bundle_exits_2(tmp_path: Path) -> None:
    for name, text in (("notes.txt", "hello"), ("other.json", '{"format": "something-else"}'),
                       ("bridge.json", '{"format": "relayer-evidence-bundle", "version": 1}')):
        (tmp_path / name).write_text(text)
        out = relayer("messages", "verify", str(tmp_path / name), expect=2)
        assert out.stderr.count("\n") == 1
        assert "not an evidence bundle" in out.stderr or "version 1, this release reads 2" in out.stderr
    relayer("messages", "verify", str(tmp_path / "missing.json"), expect=2)
    relayer("messages", "verify", str(tmp_path / "notes.txt"), "--members", "0x" + "11" * 20, expect=2)


def test_a_message_not_yet_processed_has_no_bundle(devnet: Path, tmp_path: Path) -> None:
    set_layer_paused(devnet, "beta", True)
    try:
        held = transfer(devnet, "alpha", "beta", "native", "0.007", recipient=Account.create().address)
        wait_for(lambda: known(devnet, held.message_id), 30, "operator-1 to know the message")
        out = relayer("messages", "export", held.message_id, "--config", config(devnet), "--out",
                      str(tmp_path / "b.json"), expect=1)
        assert "not yet delivered" in out.stderr and not (tmp_path / "b.json").exists()
    finally:
        set_layer_paused(devnet, "beta", False)
