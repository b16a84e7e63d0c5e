"""``relayer transfer --from alpha --to litecoin`` (a burn of wrapped LTC) refuses bad arguments with one line
and exit status 2 before it asks any node.

The folder's deployment.json names RPC endpoints where nothing listens: a check that reached a node would fail
with exit 1 instead, so each case shows the refusal happens first. (Too little wLTC is refused with exit 2
too, after reading the balance: tests/devnet/test_litecoin_devnet.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relayer.devnet.litecoin_burn import ltc
from relayer.devnet.network import save_deployment

NOWHERE = "http://relayer:secret@127.0.0.1:9"
USER = "0x" + "22" * 20
REGTEST_ADDRESS = "rltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnrwhxws"


def relayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    chains = {
        "alpha": {"name": "alpha", "chain_id": 1001, "rpc": "http://127.0.0.1:9", "message_layer": "0x" + "11" * 20,
                  "litecoin": {"wrapped": "0x" + "33" * 20}},
        "beta": {"name": "beta", "chain_id": 1002, "rpc": "http://127.0.0.1:9", "message_layer": "0x" + "11" * 20},
        "litecoin": {"name": "litecoin", "family": "litecoin", "chain_id": 7001, "rpc": NOWHERE,
                     "confirmations": 3, "user": {"wallet": "user", "address": REGTEST_ADDRESS}}}
    save_deployment(tmp_path, {"chains": chains, "users": [{"address": USER, "key": "0x" + "44" * 32}],
                               "operators": []})
    return tmp_path


@pytest.mark.parametrize("change,expected", [
    ({"--recipient": ""}, "--recipient is empty"),
    ({"--recipient": "ltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysn3s44dy"}, "is not a regtest Litecoin address"),
    ({"--recipient": "tltc1qqqqsyqcyq5rqwzqfpg9scrgwpugpzysnxzku7w"}, "is not a regtest Litecoin address"),
    ({"--recipient": "rltc1qnotanaddress"}, "is not a valid regtest bech32 address"),
    ({"--amount": "0.123456789"}, "amount 0.123456789 must be positive with at most 8 decimals"),
    ({"--asset": "native"}, "--asset native: to litecoin only wrapped-native (wLTC) is burned"),
    ({"--from": "beta"}, "wrapped LTC lives on alpha only, not 'beta'"),
    ({"--user": "3"}, "user index 3 out of range 0..0"),
])
def test_bad_arguments_are_one_line_and_exit_2(folder: Path, change: dict[str, str], expected: str) -> None:
    args = {"--devnet": str(folder), "--from": "alpha", "--to": "litecoin", "--asset": "wrapped-native",
            "--amount": "0.5", "--recipient": REGTEST_ADDRESS, **change}
    out = relayer("transfer", *[part for pair in args.items() for part in pair], "--wait", "--json")
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stdout == ""


def test_a_devnet_without_litecoin_is_refused(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "plain"
    other.mkdir()
    save_deployment(other, {"chains": {"alpha": {"name": "alpha"}}, "users": [], "operators": []})
    out = relayer("transfer", "--devnet", str(other), "--from", "alpha", "--to", "litecoin", "--asset",
                  "wrapped-native", "--amount", "1")
    assert out.returncode == 2 and "start it with: relayer devnet up --with litecoin" in out.stderr, out.stderr


def test_the_help_says_waiting_mines_regtest_blocks() -> None:
    out = relayer("transfer", "--help")
    assert out.returncode == 0 and "mined_blocks" in out.stdout and "no miner" in out.stdout


def test_ltc_strings() -> None:
    assert [ltc(v) for v in (50_000_000, 100_000_000, 1, 49_998_590)] == ["0.5", "1", "0.00000001", "0.4999859"]
