"""``relayer send`` refuses bad arguments with one line and exit status 2, before it sends anything.

The folder's deployment.json names RPC endpoints where nothing listens: a check that reached a node
would fail with exit 1 instead, so each case shows the refusal happens first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from relayer.devnet.network import save_deployment
from relayer.devnet.send import SendResult, ack_due, describe, parse_body
from relayer.errors import UsageError

LAYER = "0x" + "11" * 20
RECIPIENT = "0x" + "22" * 20


def relayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    chains = {name: {"name": name, "chain_id": chain_id, "rpc": "http://127.0.0.1:9", "message_layer": LAYER}
              for name, chain_id in (("alpha", 1001), ("beta", 1002))}
    save_deployment(tmp_path, {"chains": chains, "users": [{"address": RECIPIENT, "key": "0x" + "33" * 32}],
                               "operators": []})
    return tmp_path


@pytest.mark.parametrize("change,expected", [
    ({"--to": "gamma"}, "--to 'gamma': unknown chain (devnet chains: alpha, beta)"),
    ({"--from": "delta"}, "--from 'delta': unknown chain"),
    ({"--to": "alpha"}, "--from and --to must be different chains"),
    ({"--body": "0xzz"}, "--body '0xzz' is not hex"),
    ({"--body": "0xabc"}, "--body '0xabc' is not hex"),
    ({"--recipient": "0x1234"}, "--recipient '0x1234' is not an address"),
    ({"--recipient": "beta"}, "--recipient 'beta' is not an address"),
    ({"--user": "7"}, "--user 7 out of range 0..0"),
    ({"--timeout": "0"}, "--timeout 0: expected seconds > 0"),
])
def test_bad_arguments_are_one_line_and_exit_2(folder: Path, change: dict[str, str], expected: str) -> None:
    args = {"--devnet": str(folder), "--from": "alpha", "--to": "beta", "--recipient": RECIPIENT, "--body": "0x01",
            **change}
    out = relayer("send", *[part for pair in args.items() for part in pair], "--wait", "--json")
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and expected in out.stderr, out.stderr


@pytest.mark.parametrize("args", [["--ack", "sometimes"], ["--expiry", "-5"], ["--gas-limit", "lots"]])
def test_bad_option_values_are_refused_by_the_parser(folder: Path, args: list[str]) -> None:
    out = relayer("send", "--devnet", str(folder), "--from", "alpha", "--to", "beta", "--recipient", RECIPIENT,
                  "--body", "0x", *args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and args[0] in out.stderr, out.stderr


def test_a_folder_without_a_devnet_is_a_usage_error(tmp_path: Path) -> None:
    out = relayer("send", "--devnet", str(tmp_path / "none"), "--from", "alpha", "--to", "beta",
                  "--recipient", RECIPIENT, "--body", "0x")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no devnet in" in out.stderr, out.stderr


def test_a_devnet_without_a_message_layer_is_named(folder: Path) -> None:
    deployment = json.loads((folder / "deployment.json").read_text())
    del deployment["chains"]["beta"]["message_layer"]
    save_deployment(folder, deployment)
    out = relayer("send", "--devnet", str(folder), "--from", "alpha", "--to", "beta", "--recipient", RECIPIENT,
                  "--body", "0x")
    assert out.returncode == 2
    assert "--to 'beta': the devnet has no message layer" in out.stderr


def test_unreachable_nodes_are_an_operational_failure(folder: Path) -> None:
    out = relayer("send", "--devnet", str(folder), "--from", "alpha", "--to", "beta", "--recipient", RECIPIENT,
                  "--body", "0x")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "RPC transport failed" in out.stderr, out.stderr


def test_body_hex_with_or_without_prefix() -> None:
    assert parse_body("0xABcd") == parse_body("abcd") == b"\xab\xcd"
    assert parse_body("0x") == parse_body("") == b""
    with pytest.raises(UsageError):
        parse_body("0x0g")


@pytest.mark.parametrize("ack,outcome,due", [
    ("none", "failed", False), ("on-failure", "delivered", False), ("on-failure", "failed", True),
    ("on-failure", "expired", True), ("always", "delivered", True), ("always", "expired", True)])
def test_acknowledgement_due(ack: str, outcome: str, due: bool) -> None:
    assert ack_due(ack, outcome) is due


def test_human_lines_of_a_failed_message_with_its_acknowledgement() -> None:
    sent = SendResult(message_id="0x" + "ab" * 32, nonce=7, source="alpha", destination="beta",
                      sender=RECIPIENT, recipient=RECIPIENT, body="0x6869", gas_limit=200_000, expiry=0,
                      ack="on-failure", source_tx="0x" + "01" * 32, source_block=10)
    assert describe(sent).endswith("not waiting for delivery (use --wait)")
    done = replace(sent, destination_tx="0x" + "02" * 32, destination_block=12, outcome="failed",
                   result="0x6f6b", reason="NotYet()", latency_s=3.5, ack_id="0x" + "cd" * 32,
                   ack_tx="0x" + "03" * 32, ack_outcome="delivered", ack_latency_s=6.5)
    lines = describe(done).splitlines()
    assert lines[0] == f"sent message 0x{'ab' * 32} (nonce 7) from alpha to beta"
    assert "  outcome         failed: NotYet()" in lines
    assert "  result          0x6f6b ('ok')" in lines
    assert f"  ack tx          0x{'03' * 32} on alpha (delivered), 6.50 s after the send" in lines
    delivered = replace(done, outcome="delivered", reason=None, ack_id=None, ack_tx=None, ack_outcome=None)
    assert "  acknowledgement none due (ack on-failure, outcome delivered)" in describe(delivered).splitlines()
