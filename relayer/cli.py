"""The ``relayer`` command line: argument parsing and error-to-exit-status mapping.

Each subcommand's work lives in its own module, imported lazily so that
``relayer config check`` stays fast. Developer tooling (``relayer devnet``, ``relayer transfer``)
and plugins add their subcommands through the ``relayer.commands`` entry-point group; this
module never imports them. User errors print one line and exit 2;
operational failures print one line and exit 1; tracebacks only for bugs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from relayer.errors import ConfigError, RelayerError, StoreRefused, UsageError
from relayer.plugins import COMMAND_GROUP, describe_plugins, entries, plugin_table

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    plugin_commands: list[str] | None = None

    def error(self, message: str) -> NoReturn:
        hint = ""
        if self.plugin_commands == []:  # the package's own entry points are missing: a stale install
            hint = f"; no {COMMAND_GROUP} entry points are installed (reinstall the package: make setup)"
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help){hint}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="relayer", description="Proof-backed cross-chain relayer.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run the relayer daemon")
    run.add_argument("--config", required=True, type=Path, help="operator TOML file")
    run.set_defaults(handler=_cmd_run)

    status = sub.add_parser("status", help="show routes, messages, cursors and pending transactions")
    status.add_argument("--config", required=True, type=Path)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_cmd_status)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a configuration file and list every problem")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help='print {"file", "valid", "problems"}')
    check.set_defaults(handler=_cmd_config_check)

    header = sub.add_parser("header", help="header tools")
    header_sub = header.add_subparsers(dest="header_command", required=True, metavar="ACTION")
    verify = header_sub.add_parser("verify", help="check that the relayer understands a chain's sealed header")
    from relayer import header_verify

    header_verify.add_arguments(verify)
    verify.add_argument("--json", action="store_true", help="accepted for uniformity: the verdict is always JSON")
    verify.set_defaults(handler=header_verify.main)

    plugins = sub.add_parser("plugins", help="list the installed plugins of every entry-point group the core loads")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")
    plugins.set_defaults(handler=_cmd_plugins)

    from relayer import evidence_cli, keys_cli, messages_cli  # noqa: PLC0415 - no daemon imports

    keys_cli.add_parser(sub)
    evidence_cli.add_parser(sub)
    messages_cli.add_parser(sub)
    parser.plugin_commands = add_plugin_commands(sub)
    return parser


def add_plugin_commands(subparsers: Any, group: str = COMMAND_GROUP) -> list[str]:
    """Let every entry point of ``group`` add its subcommand (``relayer devnet``, ``relayer transfer``
    and those of installed plugins); returns their names.

    Each entry point is a function taking the ``relayer`` subparsers. One that fails to import or
    to register is replaced by a command of its name that says so (exit 1) when it is used, so a
    broken plugin never breaks the other commands; one whose name a built-in command has is left
    out. Never raises.
    """
    names = []
    for ep in entries(group):
        if ep.name in subparsers.choices:
            continue
        try:
            ep.load()(subparsers)
        except Exception as exc:  # noqa: BLE001 - a vendor's command failing to load must not break the CLI
            if ep.name not in subparsers.choices:
                _unavailable(subparsers, ep.name, f"{ep.value} failed to load: {type(exc).__name__}: {exc}")
        names.append(ep.name)
    return names


def _unavailable(subparsers: Any, name: str, why: str) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise RelayerError(f"the {name!r} command ({why})")

    # no option prefix: whatever follows the command is taken, and the handler says why it cannot run
    command = subparsers.add_parser(name, help=f"unavailable: {why}", add_help=False, prefix_chars="\0")
    command.add_argument("rest", nargs="*")
    command.set_defaults(handler=fail)


def _cmd_run(args: argparse.Namespace) -> int:
    from relayer.daemon import run_from_config_file

    return run_from_config_file(args.config)


def _cmd_status(args: argparse.Namespace) -> int:
    from relayer.status import main as status_main

    return status_main(args.config, as_json=args.json)


def _cmd_config_check(args: argparse.Namespace) -> int:
    from relayer.config import check_config

    warnings: list[Any] = []
    problems = check_config(args.file, warnings=warnings)
    if args.json:
        print(json.dumps({"file": str(args.file), "valid": not problems, "problems": [str(p) for p in problems],
                          "warnings": [str(w) for w in warnings]}))
        return EXIT_USAGE if problems else EXIT_OK
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {args.file}", file=sys.stderr)
        return EXIT_USAGE
    print(f"ok: {args.file} is valid")
    return EXIT_OK


def _cmd_plugins(args: argparse.Namespace) -> int:
    print(json.dumps(plugin_table()) if args.json else describe_plugins())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage or config error)."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, UsageError, StoreRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RelayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`relayer ... | head`): nothing more to say to it.
        # Point stdout at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
