"""Every command that prints data takes ``--json``; usage errors are one line and exit 2.

The devnet-backed behaviour of ``evidence`` and ``messages`` is in tests/e2e/test_operator_commands.py;
here they run against a fresh state database, which needs no chain.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from test_cli_config import PASSWORD, good_config, relayer  # noqa: F401 - good_config is a fixture

from relayer.cli import build_parser

NO_OUTPUT_DATA = {("run",)}  # the daemon: JSON log lines, not a document


def leaf_commands(parser: argparse.ArgumentParser,
                  path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    out: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, child in subs[0].choices.items():
        out |= leaf_commands(child, (*path, name))
    return out


def test_every_command_that_prints_data_takes_json() -> None:
    leaves = leaf_commands(build_parser())
    assert {("evidence", "resolve"), ("messages", "retry"), ("keys", "list"), ("header", "verify")} <= set(leaves)
    missing = [" ".join(p) for p, parser in leaves.items()
               if p not in NO_OUTPUT_DATA and "--json" not in parser._option_string_actions]
    assert not missing, f"commands without --json: {missing}"


def test_plugins_and_config_check_as_json(good_config: Path) -> None:  # noqa: F811
    plugins = json.loads(relayer("plugins", "--json").stdout)
    assert {p["name"] for p in plugins["relayer.light_clients"]} >= {"evm", "qbft"}
    ok = relayer("config", "check", good_config, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"file": str(good_config), "valid": True, "problems": [],
                                                   "warnings": []}
    bad = good_config.with_name("bad.toml")
    bad.write_text(good_config.read_text().replace('rpc = ["http://127.0.0.1:8545"]', 'rpc = ["ftp://x"]'))
    out = relayer("config", "check", bad, "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 2 and not doc["valid"] and any("chains.alpha.rpc[0]" in p for p in doc["problems"])


def test_keys_as_json(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text(PASSWORD)
    password.chmod(0o600)
    new = json.loads(relayer("keys", "new", "--keystore", tmp_path / "k.json", "--password-file", password,
                             "--json").stdout)
    assert new["address"].startswith("0x") and new["keystore"] == str(tmp_path / "k.json")
    shown = json.loads(relayer("keys", "show-address", tmp_path / "k.json", "--json").stdout)
    assert shown["address"] == new["address"]
    listed = json.loads(relayer("keys", "list", tmp_path, "--json").stdout)["keystores"]
    assert [k["address"] for k in listed] == [new["address"]]


def test_state_commands_on_a_fresh_database(good_config: Path) -> None:  # noqa: F811
    assert json.loads(relayer("evidence", "list", "--config", good_config, "--json").stdout) == {"evidence": []}
    assert json.loads(relayer("messages", "list", "--config", good_config, "--json").stdout) == {"messages": []}
    for args, says in ((("messages", "show", "0x01"), "no message 0x01"), (("evidence", "show", "7"), "no evidence 7"),
                       (("messages", "list", "--route", "alpha->gamma"), "not a configured route"),
                       (("evidence", "resolve", "1", "--reason", "ok"), "no evidence 1")):
        out = relayer(*args, "--config", good_config)
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_usage_errors_are_one_line_with_exit_2() -> None:
    for args in (("messages", "list"), ("evidence", "resolve", "1", "--config", "x.toml"), ("transfer", "--user"),
                 ("nonsense",), ("messages", "retry", "--config", "x.toml")):
        out = relayer(*args)
        assert out.returncode == 2 and out.stdout == "", (args, out)
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: relayer"), out.stderr


def test_a_reader_that_goes_away_is_no_traceback() -> None:
    """`relayer plugins --json | head -c 0`: a pipe closed before the output ends the command quietly."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "relayer", "plugins", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child writes: its write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err, err
