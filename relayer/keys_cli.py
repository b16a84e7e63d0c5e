"""``relayer keys new|import|list|show-address``: operator keystores from the command line.

The password of a new keystore comes from ``--password-file`` (mode 0600), else the
environment variable RELAYER_KEYSTORE_PASSWORD, else an interactive prompt (twice, not
echoed) when stdin is a terminal. ``import`` reads the hex key from ``--key-file`` or from
stdin (not echoed on a terminal). Keys and passwords are never printed; ``new`` and
``import`` print only the address on stdout, so ``ADDR=$(relayer keys new ...)`` works.
Errors are UsageError (exit 2 through relayer.cli).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from relayer import plugins
from relayer.errors import UsageError

__all__ = ["add_parser"]

MAX_KEY_INPUT = 4096  # a hex key is 66 characters; never read an unbounded stdin


def _keys() -> Any:
    """The operator's key store (the ``relayer.signers`` plugin of its family). Raises ConfigError."""
    return plugins.operator_keys()


PASSWORD_HELP = ("file holding the password (default: the key store's password variable, "
                 "$RELAYER_KEYSTORE_PASSWORD for the EVM key store, or a prompt)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``keys`` and its actions on ``subparsers`` (from ``add_subparsers``); returns it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "keys", help="operator keys in encrypted V3 keystores",
        description="Create, import and inspect operator keystores (Ethereum V3, encrypted).")
    actions = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    new = actions.add_parser("new", help="create a key in a new keystore (mode 0600) and print its address")
    new.add_argument("--keystore", required=True, type=Path, help="keystore file to create (never overwritten)")
    new.add_argument("--password-file", type=Path, default=None,
                     help=PASSWORD_HELP)
    new.set_defaults(handler=_cmd_new)

    imp = actions.add_parser("import", help="encrypt an existing hex private key into a new keystore")
    imp.add_argument("--keystore", required=True, type=Path, help="keystore file to create (never overwritten)")
    imp.add_argument("--key-file", type=Path, default=None,
                     help="file holding the hex private key (default: read it from stdin)")
    imp.add_argument("--password-file", type=Path, default=None,
                     help=PASSWORD_HELP)
    imp.set_defaults(handler=_cmd_import)

    listing = actions.add_parser("list", help="print the address of each keystore in a folder")
    listing.add_argument("dir", nargs="?", type=Path, default=Path("."), help="folder (default: .)")
    listing.set_defaults(handler=_cmd_list)

    show = actions.add_parser("show-address", help="print a keystore's address (no password needed)")
    show.add_argument("path", type=Path, help="keystore file")
    show.set_defaults(handler=_cmd_show_address)
    for action in (new, imp, listing, show):
        action.add_argument("--json", action="store_true", help="print JSON (addresses and paths only)")
    return parser


# ---------------------------------------------------------------- actions


def _cmd_new(args: argparse.Namespace) -> int:
    password = _prompted_password(args.password_file)
    address = _keys().new_keystore(args.keystore, args.password_file, password=password)
    _print_address(args, address, args.keystore)
    print(f"wrote keystore {args.keystore} (mode 0600); keep a backup of it and of its password",
          file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    key_hex = _read_key(args.key_file)
    password = _prompted_password(args.password_file)
    address = _keys().import_key(args.keystore, key_hex, args.password_file, password=password)
    del key_hex
    _print_address(args, address, args.keystore)
    note = f"; securely delete the plain key file {args.key_file}" if args.key_file else ""
    print(f"wrote keystore {args.keystore} (mode 0600){note}", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    found = _keys().list_keystores(args.dir)
    if args.json:
        print(json.dumps({"keystores": [{"path": str(path), "address": address} for path, address in found]}))
        return 0
    for path, address in found:
        print(f"{address or '(no address field)'}  {path}")
    if not found:
        print(f"no keystores in {args.dir}", file=sys.stderr)
    return 0


def _cmd_show_address(args: argparse.Namespace) -> int:
    _print_address(args, _keys().show_address(args.path), args.path)
    return 0


def _print_address(args: argparse.Namespace, address: str, path: Path) -> None:
    print(json.dumps({"address": address, "keystore": str(path)}) if args.json else address)


# ---------------------------------------------------------------- secrets from the user


def _prompted_password(password_file: Path | None) -> str | None:
    """A password typed twice at a terminal, or None when a file or the environment gives it."""
    if password_file is not None or os.environ.get(_keys().PASSWORD_ENV) or not _interactive():
        return None  # the key store reads the file or the environment, or reports that none is given
    first = getpass.getpass("keystore password: ")
    if not first:
        raise UsageError("the password must not be empty")
    if getpass.getpass("repeat the password: ") != first:
        raise UsageError("the passwords differ; nothing was written")
    return first


def _read_key(key_file: Path | None) -> str:
    """The hex key from ``key_file`` or stdin (not echoed at a terminal); raises UsageError."""
    if key_file is not None:
        try:
            with open(key_file, encoding="ascii", errors="replace") as handle:
                return handle.read(MAX_KEY_INPUT)
        except FileNotFoundError:
            raise UsageError(f"key file {key_file} does not exist") from None
        except IsADirectoryError:
            raise UsageError(f"key file {key_file} is a folder") from None
        except OSError as exc:
            raise UsageError(f"cannot read key file {key_file}: {exc.strerror or 'error'}") from None
    if _interactive():
        return getpass.getpass("private key (hex, not echoed): ")
    return sys.stdin.read(MAX_KEY_INPUT)


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
