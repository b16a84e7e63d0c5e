"""deploy/install.sh: a dry run changes nothing; an install below --prefix lays out the
release venv, the unit and the configuration skeleton, and running it again changes
nothing (idempotent) and never touches an existing configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ops_support import ROOT, UNIT_FILE, run

INSTALL = ROOT / "deploy" / "install.sh"
SOURCE_ITEMS = ("pyproject.toml", "constraints.txt", "README.md", "relayer", "adapters", "light_clients", "deploy",
                "docs", "configs")


def _install(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(["bash", str(INSTALL), "--python", sys.executable, *args],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of the checkout, so that edits made meanwhile do not change the release."""
    src = tmp_path_factory.mktemp("source")
    for item in SOURCE_ITEMS:
        path = ROOT / item
        if path.is_dir():
            shutil.copytree(path, src / item, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif path.exists():
            shutil.copy2(path, src / item)
    return src


@pytest.fixture(scope="module")
def installed(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    prefix = tmp_path_factory.mktemp("prefix")
    result = _install("--source", str(source), "--prefix", str(prefix))
    assert result.returncode == 0, result.stdout + result.stderr
    return prefix, result


def test_script_syntax_and_lint() -> None:
    assert run(["bash", "-n", str(INSTALL)]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        result = run([shellcheck, str(INSTALL)])
        assert result.returncode == 0, result.stdout


def test_unknown_argument_is_a_usage_error() -> None:
    result = _install("--frobnicate")
    assert result.returncode == 2
    assert "unknown argument" in result.stderr


def test_dry_run_changes_nothing(tmp_path: Path, source: Path) -> None:
    prefix = tmp_path / "root"
    result = _install("--source", str(source), "--prefix", str(prefix), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert not prefix.exists()
    out = result.stdout
    assert f"-m venv {prefix}/opt/relayer/releases/" in out
    assert f"install -m 0644 {source}/deploy/relayer.service" not in out  # installed from the staged copy
    assert f"{prefix}/etc/systemd/system/relayer.service" in out
    assert f"{prefix}/etc/relayer/relayer.toml" in out
    assert "systemctl daemon-reload" not in out  # never with --prefix
    assert "relayer keys new --keystore /etc/relayer/keystore.json" in out
    assert "systemctl enable --now relayer" in out


def test_install_lays_out_release_unit_and_config(installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    prefix, _ = installed
    venv = prefix / "opt/relayer/venv"
    assert venv.is_symlink() and os.readlink(venv).startswith("releases/0.")
    relayer = venv / "bin" / "relayer"
    result = run([str(relayer), "--help"])
    assert result.returncode == 0 and "run" in result.stdout, result.stderr
    assert (venv / "share/relayer/relayer-alerts.yml").is_file()
    assert (venv / "share/relayer/README.md").is_file()
    assert (prefix / "etc/systemd/system/relayer.service").read_text() == UNIT_FILE.read_text()
    config = prefix / "etc/relayer/relayer.toml"
    operator = tomllib.loads(config.read_text())["operator"]
    assert operator["key_file"] == "${CREDENTIALS_DIRECTORY}/keystore"
    assert operator["password_file"] == "${CREDENTIALS_DIRECTORY}/keystore-password"
    assert operator["state_dir"] == "/var/lib/relayer"
    assert operator["api_listen"] == "127.0.0.1:7100"
    assert not any((prefix / "etc/relayer").glob("keystore*")), "the installer must never create keys"


def test_install_ships_the_chain_families(installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """The families packaged as their own distributions (adapters/*/pyproject.toml) are in the release."""
    prefix, _ = installed
    result = run([str(prefix / "opt/relayer/venv/bin/relayer"), "plugins", "--json"])
    assert result.returncode == 0, result.stderr
    light_clients = {entry["name"] for entry in json.loads(result.stdout)["relayer.light_clients"]}
    assert {"fisco-bcos", "chainmaker", "evm", "qbft"} <= light_clients, sorted(light_clients)


def test_second_run_is_idempotent_and_keeps_the_config(
        source: Path, installed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    prefix, _ = installed
    config = prefix / "etc/relayer/relayer.toml"
    config.write_text(config.read_text() + "\n# edited by the operator\n")
    before = os.readlink(prefix / "opt/relayer/venv")
    result = _install("--source", str(source), "--prefix", str(prefix))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already built" in result.stdout
    assert "unchanged" in result.stdout
    assert "keeping existing" in result.stdout
    assert "pip install" not in result.stdout
    assert os.readlink(prefix / "opt/relayer/venv") == before
    assert config.read_text().endswith("# edited by the operator\n")
