"""`relayer config check` and `relayer run` on bad configurations: one line per problem, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "cli test password"


def relayer(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relayer", *map(str, args)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    """The example in a folder with operator-1's keystore and password file (mode 0600) beside it."""
    account = Account.create()
    (tmp_path / "keys").mkdir()
    keystore = Account.encrypt(account.key, PASSWORD, kdf="pbkdf2", iterations=1024)
    for name, text in (("operator-1.json", json.dumps(keystore)), ("operator-1.password", PASSWORD)):
        (tmp_path / "keys" / name).write_text(text)
        (tmp_path / "keys" / name).chmod(0o600)
    (tmp_path / "secret.hex").write_text(account.key.hex())  # for the leak checks only
    path = tmp_path / "operator.toml"
    path.write_text(EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, account.address))
    return path


def break_config(path: Path) -> Path:
    """Two problems: an unknown chain in routes[1].to and an ftp RPC URL."""
    text = path.read_text()
    text = text.replace('from = "beta"\nto = "alpha"', 'from = "beta"\nto = "gamma"')
    text = text.replace('rpc = ["http://127.0.0.1:8545"]', 'rpc = ["ftp://127.0.0.1:8545"]')
    bad = path.with_name("bad.toml")
    bad.write_text(text)
    return bad


def test_check_ok(good_config: Path) -> None:
    result = relayer("config", "check", good_config)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and result.stderr == ""


def test_check_lists_every_problem(good_config: Path) -> None:
    bad = break_config(good_config)
    result = relayer("config", "check", bad)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert f"error: {bad}: chains.alpha.rpc[0]: " in result.stderr
    assert f"error: {bad}: routes[1].to: unknown chain 'gamma'" in result.stderr
    assert len(errors) == 2


def test_check_syntax_error_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[operator\n")
    result = relayer("config", "check", broken)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{broken}: line 1, column 10: invalid TOML" in result.stderr
    missing = relayer("config", "check", tmp_path / "missing.toml")
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_check_refuses_an_open_key_file_without_leaking_it(good_config: Path) -> None:
    key = good_config.parent / "keys" / "operator-1.json"
    key.chmod(0o644)
    result = relayer("config", "check", good_config)
    assert result.returncode == 2
    assert "operator.key_file" in result.stderr and f"chmod 600 {key}" in result.stderr
    secret = (good_config.parent / "secret.hex").read_text().strip().removeprefix("0x")
    output = (result.stderr + result.stdout).lower()
    assert secret.lower() not in output and PASSWORD.lower() not in output


def test_run_with_bad_config_is_one_line(good_config: Path) -> None:
    bad = break_config(good_config)
    result = relayer("run", "--config", bad)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: ")


def test_check_says_where_each_key_of_the_old_layout_moved(good_config: Path) -> None:
    """A config written before the family tables (EVM keys directly under [chains.NAME], as
    `relayer devnet up` wrote it) is valid, and config check says exactly what to change."""
    text = good_config.read_text()
    for chain in ("alpha", "beta"):
        text = text.replace(f"[chains.{chain}.evm.fees]", f"[chains.{chain}.fees]")
    old = good_config.with_name("old.toml")
    old.write_text(text)
    result = relayer("config", "check", old)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    warnings = result.stderr.splitlines()
    assert warnings == [
        f"warning: {old}: chains.alpha.fees: moved to chains.alpha.evm.fees; still read from here for now: "
        "rename the table [chains.alpha.fees] to [chains.alpha.evm.fees]",
        f"warning: {old}: chains.beta.fees: moved to chains.beta.evm.fees; still read from here for now: "
        "rename the table [chains.beta.fees] to [chains.beta.evm.fees]",
    ]
    doc = json.loads(relayer("config", "check", old, "--json").stdout)
    assert doc["valid"] and doc["warnings"] == [line.removeprefix("warning: ") for line in warnings]


def test_check_names_the_full_key_path_in_a_family_table(good_config: Path) -> None:
    bad = good_config.with_name("bad.toml")
    bad.write_text(good_config.read_text().replace("max_fee_gwei = 200.0", "max_fee_gwei = -1"))
    result = relayer("config", "check", bad)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {bad}: chains.beta.evm.fees.max_fee_gwei: must be greater than 0 and at most 1000000000.0, got -1")


def test_a_config_naming_the_old_bridge_is_one_error(good_config: Path) -> None:
    """``bridge`` (the old Bridge contract) is refused with one line naming the key and its new name."""
    bad = good_config.with_name("bad.toml")
    bad.write_text(good_config.read_text().replace("message_layer = ", "bridge = ", 1))
    for args in (("config", "check", bad), ("run", "--config", bad)):
        result = relayer(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert [line for line in result.stderr.splitlines() if "error" in line] == [
            f"error: {bad}: chains.alpha.evm.bridge: renamed to message_layer (the relayer now delivers through the "
            "message layer); write `message_layer = \"0x...\"` with the address of the chain's MessageLayer contract"]
