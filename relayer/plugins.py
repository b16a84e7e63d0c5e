"""Load a chain family's plugins by name through Python entry points.

First-party plugins are registered in this project's own ``pyproject.toml`` under the
same groups a chain vendor's package uses, so there is exactly one loading path. Every group
the core loads is named by a ``*_GROUP`` constant here and listed by ``relayer plugins``
(``GROUPS``).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from relayer.errors import ConfigError

ADAPTER_GROUP = "relayer.adapters"
LIGHT_CLIENT_GROUP = "relayer.light_clients"
UPDATE_POLICY_GROUP = "relayer.update_policies"
#: ``relayer.contract.ChainHistory`` openers by adapter name (operator commands outside the daemon).
HISTORY_GROUP = "relayer.chain_history"
#: Operator key stores by family: the entry point names a module offering ``load_account``,
#: ``check_key``, ``new_keystore``, ``import_key``, ``list_keystores``, ``show_address``,
#: ``KeyProblem`` and ``PASSWORD_ENV`` (see ``adapters.evm.keys``, the first-party one).
SIGNER_GROUP = "relayer.signers"
#: A family's Destination (relayer.contract): the entry point, named as the adapter, is called as
#: ``open_destination(adapter, account, store, family_config, metrics, stopping, cosigners)`` (see
#: ``adapters.evm.destination.open_destination``, the first-party one).
DESTINATION_GROUP = "relayer.destinations"
#: How operator commands show a family's messages (relayer.contract.MessageDescriber), named like the
#: adapter of the chain the message comes from; optional (without one a message is shown as hex).
MESSAGE_VIEW_GROUP = "relayer.message_views"
#: Evidence bundles of a family's messages (relayer.contract.BundleFamily), named like the adapter of
#: the chain the message comes from: ``relayer messages export|verify``.
BUNDLE_GROUP = "relayer.bundles"
#: Subcommands of ``relayer`` (developer tooling, a vendor's tools): ``name = "module:function"``,
#: called as ``function(subparsers)`` (``relayer.cli.add_plugin_commands``).
COMMAND_GROUP = "relayer.commands"
#: Every group the core loads, in the order ``relayer plugins`` lists them.
GROUPS = (ADAPTER_GROUP, LIGHT_CLIENT_GROUP, UPDATE_POLICY_GROUP, DESTINATION_GROUP, SIGNER_GROUP, HISTORY_GROUP,
          MESSAGE_VIEW_GROUP, BUNDLE_GROUP, COMMAND_GROUP)
OPERATOR_KEY_FAMILY = "evm"  # the family whose key store holds ``operator.key_file``


def entries(group: str) -> list[EntryPoint]:
    """Every entry point installed in ``group``, sorted by name; raises nothing."""
    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def installed(group: str) -> list[str]:
    """Names of every entry point installed in ``group``, sorted."""
    return [ep.name for ep in entries(group)]


def load(group: str, name: str, *, key: str) -> Any:
    """Load the entry point ``name`` of ``group``.

    Raises ConfigError naming ``key`` when nothing of that name is installed or it fails to import.
    """
    matches = [ep for ep in entry_points(group=group) if ep.name == name]
    if not matches:
        names = ", ".join(installed(group)) or "none"
        raise ConfigError(key, f"no {group} plugin named {name!r} is installed (installed: {names})")
    try:
        return matches[0].load()
    except Exception as exc:  # a vendor's package failing to import is a config problem here
        raise ConfigError(key, f"plugin {name!r} failed to load: {exc}") from exc


def operator_keys(*, key: str = "operator.key_file") -> Any:
    """The key-store module of the operator's key family. Raises ConfigError naming ``key``."""
    return load(SIGNER_GROUP, OPERATOR_KEY_FAMILY, key=key)


def describe_plugins() -> str:
    """Human-readable list of the plugins installed in every group the core loads (``none`` for an
    empty group)."""
    lines = []
    for group in GROUPS:
        lines.append(f"{group}:")
        found = entries(group)
        lines += [f"  {ep.name:<12} {ep.value}" for ep in found] or ["  none"]
    return "\n".join(lines)


def plugin_table() -> dict[str, list[dict[str, str]]]:
    """Installed plugins by group: ``{group: [{"name", "value"}, ...]}``."""
    return {group: [{"name": ep.name, "value": ep.value} for ep in entries(group)] for group in GROUPS}
