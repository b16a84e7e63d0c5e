"""Evidence bundles on a real devnet (anvil chains alpha and beta, 3 operators, committee 2 of 3):
``relayer messages export`` writes the bundle of a delivered lock, ``relayer messages verify`` accepts it
with no network and rejects it after any byte of its header encoding, its signatures, its receipt,
its receipt proof or the destination's header, receipt and proof is changed (every byte of each, each
time with a reason), when the trust anchor given
on the command line is another committee, and refuses a file that is no bundle with exit 2. A message
not yet delivered has no bundle (exit 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import chain, wait_for
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.cli import main
from relayer.devnet import network
from relayer.devnet.anvil import ANVIL_KEYS
from relayer.devnet.transfer import transfer

pytestmark = pytest.mark.slow


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


@pytest.fixture(scope="module")
def exported(devnet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The bundle of one lock alpha->beta, delivered by the operators, as operator-1 exports it."""
    sent = transfer(devnet, "alpha", "beta", "native", "0.013", recipient=Account.create().address, wait=True)
    assert sent.destination_tx
    wait_for(lambda: known(devnet, sent.message_id), 30, "operator-1 to know the message")
    out = tmp_path_factory.mktemp("bundle") / "bundle.json"
    relayer("messages", "export", sent.message_id, "--config", config(devnet), "--out", str(out), expect=0)
    yield out, json.loads(out.read_text())


def verify(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    """``relayer messages verify`` in this process (thousands of runs): exit status and its JSON."""
    status = main(["messages", "verify", str(path), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_an_exported_bundle_holds_offline(devnet: Path, exported: tuple[Path, dict[str, Any]]) -> None:
    path, doc = exported
    assert doc["format"] == "relayer-evidence-bundle" and doc["version"] == 1 and doc["family"] == "evm"
    assert doc["route"] == "alpha->beta" and doc["outcome"]["status"] == "delivered"
    acceptance = doc["acceptance"]
    assert acceptance["threshold"] == 2 and len(acceptance["members"]) == 3 and len(acceptance["signatures"]) == 2
    assert acceptance["domain_chain_id"] == chain(devnet, "beta")["chain_id"]
    out = relayer("messages", "verify", str(path), expect=0).stdout
    assert "trust anchor from the bundle" in out and "Delivered(" in out
    members = ",".join(acceptance["members"])
    out = relayer("messages", "verify", str(path), "--members", members, "--threshold", "2", expect=0).stdout
    assert "trust anchor from the command line" in out


def _flip_each(path: Path, doc: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str],
               where: list[tuple[str, ...]]) -> int:
    """Flip every byte of the hex fields at ``where`` (key paths), one at a time; each must be rejected."""
    runs = 0
    for keys in where:
        holder: Any = doc
        for k in keys[:-1]:
            holder = holder[int(k)] if isinstance(holder, list) else holder[k]
        last: Any = int(keys[-1]) if isinstance(holder, list) else keys[-1]
        original = holder[last]
        raw = bytes.fromhex(original[2:])
        for i in range(len(raw)):
            holder[last] = "0x" + (raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]).hex()
            bad = tmp / "bad.json"
            bad.write_text(json.dumps(doc))
            status, answer = verify(bad, capsys)
            assert status == 1 and not answer["ok"] and answer["reason"], (keys, i, answer)
            runs += 1
        holder[last] = original
    status, _ = verify(path, capsys)
    assert status == 0
    return runs


def test_any_changed_byte_is_rejected(exported: tuple[Path, dict[str, Any]], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, doc = exported
    doc = json.loads(json.dumps(doc))
    parts = [("header", "encoded"), ("receipt", "encoded")]
    parts += [("receipt", "proof", str(i)) for i in range(len(doc["receipt"]["proof"]))]
    parts += [("acceptance", "signatures", str(i), "signature") for i in range(len(doc["acceptance"]["signatures"]))]
    delivery = doc["destination_receipt"]
    parts += [("destination_receipt", "header"), ("destination_receipt", "encoded")]
    parts += [("destination_receipt", "proof", str(i)) for i in range(len(delivery["proof"]))]
    runs = _flip_each(path, doc, tmp_path, capsys, parts)
    size = sum(len(bytes.fromhex(v[2:])) for v in (doc["header"]["encoded"], doc["receipt"]["encoded"],
                                                    *doc["receipt"]["proof"],
                                                    *(s["signature"] for s in doc["acceptance"]["signatures"]),
                                                    delivery["header"], delivery["encoded"], *delivery["proof"]))
    assert runs == size and size > 1000


def test_another_committee_or_a_wrong_delivery_is_rejected(exported: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path, doc = exported
    strangers = ",".join(Account.create().address for _ in range(3))
    status, answer = verify(path, capsys, "--members", strangers, "--threshold", "2")
    assert status == 1 and answer["anchor"] == "command line" and "not a member" in answer["reason"]
    one = doc["acceptance"]["members"][0]
    status, answer = verify(path, capsys, "--members", one, "--threshold", "1")  # a committee of one signer
    assert status == 1 and "not a member" in answer["reason"]
    changed = json.loads(json.dumps(doc))
    changed["destination_bridge"] = Account.create().address  # a Delivered log of another contract counts for nothing
    bad = tmp_path / "undelivered.json"
    bad.write_text(json.dumps(changed))
    status, answer = verify(bad, capsys)
    assert status == 1 and "no Delivered log" in answer["reason"]
    changed = json.loads(json.dumps(doc))
    changed["message"]["body"] = changed["message"]["body"][:-2] + "ff"
    bad.write_text(json.dumps(changed))
    status, answer = verify(bad, capsys)
    assert status == 1 and "body" in answer["reason"]


def test_a_file_that_is_no_bundle_exits_2(tmp_path: Path) -> None:
    for name, text in (("notes.txt", "hello"), ("other.json", '{"format": "something-else"}'),
                       ("future.json", '{"format": "relayer-evidence-bundle", "version": 99}')):
        (tmp_path / name).write_text(text)
        out = relayer("messages", "verify", str(tmp_path / name), expect=2)
        assert out.stderr.count("\n") == 1
        assert "not an evidence bundle" in out.stderr or "version 99" in out.stderr
    relayer("messages", "verify", str(tmp_path / "missing.json"), expect=2)


def test_a_message_not_yet_delivered_has_no_bundle(devnet: Path, tmp_path: Path) -> None:
    beta = chain(devnet, "beta")
    SyncEvm(beta["rpc"]).transact(ANVIL_KEYS[0], beta["bridge"], "Bridge", "setPaused", True)
    try:
        held = transfer(devnet, "alpha", "beta", "native", "0.007", recipient=Account.create().address)
        wait_for(lambda: known(devnet, held.message_id), 30, "operator-1 to know the message")
        out = relayer("messages", "export", held.message_id, "--config", config(devnet), "--out",
                      str(tmp_path / "b.json"), expect=1)
        assert "not yet delivered" in out.stderr and not (tmp_path / "b.json").exists()
    finally:
        SyncEvm(beta["rpc"]).transact(ANVIL_KEYS[0], beta["bridge"], "Bridge", "setPaused", False)
