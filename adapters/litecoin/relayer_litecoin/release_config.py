"""What a Litecoin chain needs to be a route's destination (releases from the custody), parsed from
``[chains.NAME.litecoin.release]`` and ``[chains.NAME.litecoin.burns]``::

    [chains.litecoin.litecoin.release]          # the fee keys (relayer_litecoin.policy) and:
    keystore = "/abs/keys/operator-1.litecoin.json"   # this operator's custody key (relayer_litecoin.keys)
    password_file = "/abs/keys/operator-1.password"   # opens it; mode 0600 (no access for group or others)
    journal = "/abs/state/litecoin-releases.json"     # the release journal (operator and submitter records)
    confirmations = 6                           # blocks deep a custody output must be before it is spent
    start_block = 1                             # height the operators' verified chain (and the custody's
                                                # history search) starts at: at most the first deposit's
    [chains.litecoin.litecoin.burns]
    alpha = "0x<WrappedLitecoin on alpha>"      # per source chain: the application whose burns are released

``parse_config`` checks the form of each key (an absolute path, an application as ``0x`` + 40 hex digits
or 64 hex digits); which keys a route needs is checked when the route is resolved (:func:`required`), and
the keystore is opened then (:func:`open_signer`), so a wrong password stops the daemon at start (exit 2)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relayer.config_schema import Invalid, Table, integer_in, string_value
from relayer.errors import ConfigError
from relayer_litecoin.custody import Custody
from relayer_litecoin.keys import KeystoreError, LitecoinSigner, load_signer
from relayer_litecoin.network import Network

RELEASE_KEYS = ("keystore", "password_file", "journal", "confirmations", "start_block")


@dataclass(frozen=True)
class ReleaseSetup:
    """The release keys of ``[chains.NAME.litecoin.release]`` (None: not set) and the burns table
    (source chain name -> the application, a 32-byte word: an EVM address left-padded)."""

    keystore: Path | None = None
    password_file: Path | None = None
    journal: Path | None = None
    confirmations: int = 6
    start_block: int = 1
    burns: Mapping[str, bytes] = field(default_factory=dict)


def absolute_path(value: Any) -> Path:
    """An absolute file path. Raises Invalid."""
    text = string_value(value)
    if "\x00" in text or not Path(text).is_absolute():
        raise Invalid(f"expected an absolute path, got {text!r}")
    return Path(text)


def application(value: Any) -> bytes:
    """An application on a source chain: ``0x`` + 40 hex digits (an EVM address) or 64 hex digits (a
    non-EVM chain's word), as the 32-byte word of a message's ``sender``. Raises Invalid."""
    text = string_value(value)
    digits = text.removeprefix("0x")
    try:
        word = bytes.fromhex(digits)
    except ValueError:
        word = b""
    if len(word) not in (20, 32) or (len(word) == 20 and not text.startswith("0x")) or len(digits) != 2 * len(word):
        raise Invalid(f"expected an application: 0x + 40 hex digits or 64 hex digits, got {text!r}")
    return word.rjust(32, b"\0")


def parse_setup(release: Table | None, burns: Table | None) -> ReleaseSetup:
    """The setup of the two tables (reported into their report; absent keys None or default)."""
    values: dict[str, Any] = {}
    if release is not None:
        for name in ("keystore", "password_file", "journal"):
            if name in release.data:
                values[name] = release.get(name, absolute_path)
        values["confirmations"] = release.get("confirmations", integer_in(1, 1000), 6)
        values["start_block"] = release.get("start_block", integer_in(1, 1 << 43), 1)
    found = {}
    if burns is not None:
        for chain in burns.data:
            word = burns.report.check(burns.key(str(chain)), burns.data[chain], application)
            if word is not None:
                found[str(chain)] = word
    return ReleaseSetup(**{k: v for k, v in values.items() if v is not None}, burns=found)


def required(setup: ReleaseSetup, chain: str, source: str) -> bytes:
    """The application whose burns on ``source`` chain ``chain`` releases; every release key a destination
    needs must be set. Raises ConfigError naming the first missing key's full path."""
    base = f"chains.{chain}.litecoin"
    app = setup.burns.get(source)
    if app is None:
        raise ConfigError(f"{base}.burns.{source}", f"missing: the application on {source} whose burns are "
                          f"released (e.g. {source} = \"0x<WrappedLitecoin on {source}>\")")
    for name in ("keystore", "password_file", "journal"):
        if getattr(setup, name) is None:
            raise ConfigError(f"{base}.release.{name}", "required when Litecoin is a route's destination "
                              "(an absolute path)")
    return app


def open_signer(setup: ReleaseSetup, chain: str, custody: Custody, net: Network) -> LitecoinSigner:
    """This operator's custody key from the keystore and password file. Raises ConfigError naming
    ``chains.CHAIN.litecoin.release.password_file`` (unreadable, readable by group or others) or ``.keystore``
    (unreadable, wrong password, not one of the custody's keys)."""
    base = f"chains.{chain}.litecoin.release"
    assert setup.keystore is not None and setup.password_file is not None
    try:
        mode = os.stat(setup.password_file).st_mode
        password = setup.password_file.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"{base}.password_file", f"cannot read {setup.password_file}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"{base}.password_file", f"{setup.password_file} is readable by group or others "
                          f"(mode {mode & 0o777:o}); chmod 600 it")
    try:
        signer = load_signer(setup.keystore, password, net)
    except KeystoreError as exc:
        raise ConfigError(f"{base}.keystore", str(exc)) from None
    if signer.public_key not in custody.keys:
        raise ConfigError(f"{base}.keystore", f"its key {signer.public_key.hex()} is not one of "
                          f"chains.{chain}.litecoin.custody.keys")
    return signer


__all__ = ["RELEASE_KEYS", "ReleaseSetup", "absolute_path", "application", "open_signer", "parse_setup", "required"]
