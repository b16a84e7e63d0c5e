"""The ``relayer`` command line: argument parsing and error-to-exit-status mapping.

Each subcommand's work lives in its own module, imported lazily so that
``relayer config check`` stays fast. User errors print one line and exit 2;
operational failures print one line and exit 1; tracebacks only for bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from relayer.errors import ConfigError, RelayerError, StoreRefused, UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use whole units, e.g. 1 or 0.25)")
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive amount")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


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

    devnet = sub.add_parser("devnet", help="local two-chain development network")
    devnet_sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="ACTION")
    up = devnet_sub.add_parser("up", help="start anvil chains alpha and beta, deploy, start 3 operators")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument("--detach", action="store_true", help="return once everything is healthy")
    up.add_argument("--policy", choices=["committee", "qbft"], default="committee", help="header verification policy")
    up.add_argument("--node", action="append", default=[], metavar="CHAIN=NODE",
                    help="run CHAIN on another node: anvil (default) or hardhat; repeatable")
    up.add_argument("--hardfork", action="append", default=[], metavar="CHAIN=FORK",
                    help="run CHAIN at hardfork FORK (berlin ... osaka; default the node's latest), "
                         "e.g. alpha=berlin for a chain without a base fee; repeatable")
    up.add_argument("--json", action="store_true", help="print the deployment as one JSON object")
    up.set_defaults(handler=_cmd_devnet_up)
    down = devnet_sub.add_parser("down", help="stop everything `devnet up` started")
    down.add_argument("--dir", required=True, type=Path)
    down.add_argument("--json", action="store_true", help='print {"dir", "stopped"}')
    down.set_defaults(handler=_cmd_devnet_down)

    transfer = sub.add_parser("transfer", help="lock or burn an asset on the devnet as a user")
    transfer.add_argument("--devnet", required=True, type=Path, help="devnet folder")
    transfer.add_argument("--from", dest="source", required=True)
    transfer.add_argument("--to", dest="destination", required=True)
    transfer.add_argument("--asset", required=True,
                          choices=["native", "token", "wrapped-native", "wrapped-token"])
    transfer.add_argument("--amount", required=True, type=_amount)
    transfer.add_argument("--recipient", default=None)
    transfer.add_argument("--user", type=int, default=0, help="act as devnet user N (default 0)")
    transfer.add_argument("--wait", action="store_true", help="wait for delivery")
    transfer.add_argument("--json", action="store_true")
    transfer.add_argument("--timeout", type=float, default=120.0)
    transfer.set_defaults(handler=_cmd_transfer)

    header = sub.add_parser("header", help="header tools")
    header_sub = header.add_subparsers(dest="header_command", required=True, metavar="ACTION")
    verify = header_sub.add_parser("verify", help="check that the relayer understands a chain's sealed header")
    from relayer import header_verify

    header_verify.add_arguments(verify)
    verify.add_argument("--json", action="store_true", help="accepted for uniformity: the verdict is always JSON")
    verify.set_defaults(handler=header_verify.main)

    plugins = sub.add_parser("plugins", help="list installed adapters and light clients")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")
    plugins.set_defaults(handler=_cmd_plugins)

    from relayer import evidence_cli, keys_cli, messages_cli  # noqa: PLC0415 - no daemon imports

    keys_cli.add_parser(sub)
    evidence_cli.add_parser(sub)
    messages_cli.add_parser(sub)
    return parser


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


def _cmd_devnet_up(args: argparse.Namespace) -> int:
    from relayer.devnet.cli import devnet_up

    return devnet_up(args.dir, detach=args.detach, policy=args.policy,
                     nodes=_pairs(args.node, "--node", "beta=hardhat"),
                     hardforks=_pairs(args.hardfork, "--hardfork", "alpha=berlin"), as_json=args.json)


def _pairs(values: list[str], option: str, example: str) -> dict[str, str]:
    """``["alpha=hardhat", ...]`` as a dict; raises UsageError naming ``option`` when malformed."""
    out = {}
    for value in values:
        name, sep, choice = value.partition("=")
        if not sep or not name or not choice:
            raise UsageError(f"{option} {value!r}: expected CHAIN=VALUE, e.g. {option} {example}")
        out[name] = choice
    return out


def _cmd_devnet_down(args: argparse.Namespace) -> int:
    from relayer.devnet.cli import devnet_down

    return devnet_down(args.dir, as_json=args.json)


def _cmd_transfer(args: argparse.Namespace) -> int:
    from relayer.transfer import main as transfer_main

    return transfer_main(args)


def _cmd_plugins(args: argparse.Namespace) -> int:
    from relayer.plugins import describe_plugins, plugin_table

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
