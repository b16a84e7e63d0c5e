"""``relayer plugins [--json]`` lists every entry-point group the core loads (issue 9): adapters,
light clients, update policies, destinations, signers, chain histories and commands, each with the
first-party plugins this package registers."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from test_cli_config import relayer

from relayer import plugins

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def registered() -> dict[str, set[str]]:
    """The ``relayer.*`` entry-point groups of this package's pyproject, with their names."""
    groups = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    return {g: set(names) for g, names in groups.items() if g.startswith("relayer.")}


def test_every_group_the_core_loads_is_listed() -> None:
    constants = {v for k, v in vars(plugins).items() if k.endswith("_GROUP")}
    assert constants == set(plugins.GROUPS), "a *_GROUP of relayer.plugins is missing from GROUPS"
    assert set(registered()) <= set(plugins.GROUPS), "pyproject registers a group relayer plugins does not list"
    assert {"relayer.adapters", "relayer.light_clients", "relayer.update_policies", "relayer.destinations",
            "relayer.signers", "relayer.chain_history", "relayer.commands"} <= set(plugins.GROUPS)


def test_relayer_plugins_lists_every_group_with_its_plugins() -> None:
    as_json = relayer("plugins", "--json")
    assert as_json.returncode == 0, as_json
    table = json.loads(as_json.stdout)
    assert list(table) == list(plugins.GROUPS)
    for group, names in registered().items():
        assert names <= {p["name"] for p in table[group]}, (group, table[group])
    text = relayer("plugins")
    assert text.returncode == 0, text
    for group in plugins.GROUPS:
        assert f"{group}:" in text.stdout.splitlines(), text.stdout
    assert "  devnet       relayer.devnet.commands:add_devnet" in text.stdout.splitlines()
