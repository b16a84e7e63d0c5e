"""Subcommands from outside the core: the ``relayer.commands`` entry-point group.

``relayer devnet`` and ``relayer transfer`` are registered by the devnet tooling through the group,
as a vendor's package registers its own; building the command line imports none of the devnet
(only its small registration module), and a plugin command that fails to load is one line and exit 1 when used, never a
traceback and never a broken CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
def add_hello(subparsers):
    hello = subparsers.add_parser("hello", help="a vendor's command")
    hello.add_argument("--name", required=True)
    hello.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)
'''


def relayer(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "relayer", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def vendor_package(root: Path, entries: dict[str, str]) -> Path:
    """A tiny installed distribution on ``root`` (a path entry) declaring ``entries`` in relayer.commands."""
    (root / "hello_vendor.py").write_text(PLUGIN)
    info = root / "hello_vendor-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-vendor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[relayer.commands]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()))
    return root


def test_building_the_command_line_imports_none_of_the_devnet() -> None:
    code = ("import sys; from relayer.cli import build_parser; parser = build_parser(); "
            "bad = sorted(m for m in sys.modules if m.startswith('relayer.devnet.') "
            "and m != 'relayer.devnet.commands'); "
            "assert {'devnet', 'transfer'} <= set(parser.plugin_commands), parser.plugin_commands; "
            "print(bad)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    source = (REPO_ROOT / "relayer" / "cli.py").read_text()
    assert "relayer.devnet" not in source and "relayer.transfer" not in source


def test_devnet_and_transfer_keep_their_usage_errors() -> None:
    for args in (("transfer", "--user"), ("devnet", "up"), ("transfer", "--devnet", "x", "--from", "a", "--to", "b",
                                                            "--asset", "native", "--amount", "-1")):
        done = relayer(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    listed = relayer("--help").stdout
    assert "devnet" in listed and "transfer" in listed


def test_a_plugin_adds_its_command(tmp_path: Path) -> None:
    root = vendor_package(tmp_path, {"hello": "hello_vendor:add_hello"})
    assert "a vendor's command" in relayer("--help", pythonpath=root).stdout
    done = relayer("hello", "--name", "beta", pythonpath=root)
    assert (done.returncode, done.stdout) == (0, "hello beta\n"), done.stderr
    usage = relayer("hello", pythonpath=root)
    assert usage.returncode == 2 and "--name" in usage.stderr and "Traceback" not in usage.stderr


def test_a_broken_plugin_command_says_so_when_used_and_breaks_nothing(tmp_path: Path) -> None:
    root = vendor_package(tmp_path, {"broken": "hello_vendor_missing:add", "status": "hello_vendor:add_hello"})
    done = relayer("broken", "--anything", pythonpath=root)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "Traceback" not in done.stderr
    assert "'broken' command" in done.stderr and "hello_vendor_missing" in done.stderr
    # a plugin cannot replace a built-in command, and the others still work
    status = relayer("status", "--help", pythonpath=root).stdout
    assert "--config" in status and "--name" not in status
    assert relayer("plugins", pythonpath=root).returncode == 0
