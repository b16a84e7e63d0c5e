"""The EVM family's options of one chain: the ``[chains.NAME.evm]`` table of an operator config.

The core validates the keys every chain has (``chain_id``, ``rpc``, ``confirmations``, ...; see
``relayer.config``) and hands this table to :func:`parse_evm_config` through the adapter's
``parse_config`` (``relayer.contract.FamilyConfig``). Problems carry the full key path, as the
core's do: ``chains.beta.evm.fees.max_fee_gwei: must be greater than 0 and at most 1000000000.0,
got -1``. ``fees`` (and ``bridge``) were once keys of ``[chains.NAME]`` itself (:data:`LEGACY_KEYS`);
the core still reads them there, with a warning saying where they moved.

``message_layer`` is the address of the chain's MessageLayer contract (issue 10). It replaced
``bridge`` (the old Bridge contract): a table that still has ``bridge`` gets one error naming that
key and the new one, wherever it is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address

from relayer.config_schema import Invalid, Report, Table, number_in, one_of, string_value

__all__ = ["EVM_KEYS", "FEE_KEYS", "FEE_MODES", "LEGACY_KEYS", "RENAMED", "EvmChainConfig", "FeeConfig",
           "parse_evm_config"]

EVM_KEYS = ("message_layer", "fees")
RENAMED = {"bridge": "message_layer"}  # old key -> the key that replaced it
FEE_KEYS = ("max_fee_gwei", "priority_fee_gwei", "gas_multiplier", "replace_after", "mode")
FEE_MODES = ("auto", "eip1559", "legacy")
# written directly under [chains.NAME] by releases before issue 9 (``bridge`` is read there only to be
# reported as renamed)
LEGACY_KEYS = frozenset(("bridge", "fees"))


@dataclass(frozen=True)
class FeeConfig:
    """Fee strategy of one destination chain (EIP-1559 caps in gwei)."""

    max_fee_gwei: float = 500.0
    priority_fee_gwei: float = 1.0
    gas_multiplier: float = 1.3
    replace_after: float = 15.0  # seconds without a receipt before a transaction is replaced
    mode: str = "auto"  # auto (legacy when the chain has no base fee) | eip1559 | legacy


@dataclass(frozen=True)
class EvmChainConfig:
    """What the EVM family needs of one chain beyond the common keys: its MessageLayer and its fees."""

    message_layer: str  # EIP-55 checksummed
    fees: FeeConfig = FeeConfig()


def parse_evm_config(table: Mapping[str, Any], path: str) -> EvmChainConfig:
    """The ``[chains.NAME.evm]`` table at key path ``path`` (``chains.beta.evm``), validated.

    Raises ConfigProblems (a ConfigError; ``errors`` holds every problem, each naming its full key
    path, e.g. ``chains.beta.evm.message_layer``) when anything is missing or wrong; a renamed key
    (``bridge``) is one problem saying what it is called now.
    """
    report = Report()
    t = Table({k: v for k, v in table.items() if k not in RENAMED}, path, report, EVM_KEYS)
    renamed = [old for old in RENAMED if old in table]
    for old in renamed:
        new = RENAMED[old]
        report.add(t.key(old), f"renamed to {new} (the relayer now delivers through the message layer); "
                               f"write `{new} = \"0x...\"` with the address of the chain's MessageLayer contract")
    layer = None
    if not renamed or "message_layer" in table:
        layer = t.get("message_layer", contract_address, example='message_layer = "0x..."')
    fees = _fees(t.table("fees", FEE_KEYS))
    report.raise_if_any()
    assert layer is not None and fees is not None  # nothing reported: every value was checked
    return EvmChainConfig(layer, fees)


def _fees(t: Table | None) -> FeeConfig | None:
    if t is None:
        return None
    max_fee = t.get("max_fee_gwei", number_in(0, 1e9), FeeConfig.max_fee_gwei)
    priority = t.get("priority_fee_gwei", number_in(0, 1e9, allow_minimum=True), FeeConfig.priority_fee_gwei)
    multiplier = t.get("gas_multiplier", number_in(1, 10, allow_minimum=True), FeeConfig.gas_multiplier)
    replace_after = t.get("replace_after", number_in(1, 3600, allow_minimum=True), FeeConfig.replace_after)
    mode = t.get("mode", one_of(FEE_MODES), FeeConfig.mode)
    if max_fee is None or priority is None or multiplier is None or replace_after is None or mode is None:
        return None
    if priority > max_fee:
        t.report.add(t.key("priority_fee_gwei"), f"must not exceed max_fee_gwei ({max_fee}), got {priority}")
        return None
    return FeeConfig(max_fee, priority, multiplier, replace_after, mode)


_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def address(value: Any) -> str:
    """An EVM address (EIP-55 checked when mixed case), returned checksummed; raises Invalid."""
    text = string_value(value)
    if not _HEX_ADDRESS.fullmatch(text):
        raise Invalid("expected an address: 0x followed by 40 hex digits")
    digits = text[2:]
    mixed = digits != digits.lower() and digits != digits.upper()
    if mixed and not is_checksum_address(text):
        raise Invalid("bad EIP-55 checksum (a typo?); copy the address again, or write it all lowercase")
    return str(to_checksum_address(text))


def contract_address(value: Any) -> str:
    """The address of a deployed contract (not zero); raises Invalid."""
    checked = address(value)
    if int(checked, 16) == 0:
        raise Invalid("is the zero address; set the address of the deployed contract")
    return checked
