"""The devnet's subcommands of ``relayer``: ``devnet up|down``, ``transfer`` and ``send``.

Registered through the ``relayer.commands`` entry-point group (``pyproject.toml``), the same
door a chain vendor's package uses for its own subcommands: each entry is a function that adds
its subparser to the ``relayer`` command line. The core's ``relayer.cli`` never imports this
module by name. Registering imports nothing heavy; a handler imports its work when it runs.
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from relayer.errors import UsageError

ASSETS = ("native", "token", "wrapped-native", "wrapped-token")
ACK_MODES = ("none", "on-failure", "always")


def add_devnet(subparsers: Any) -> None:
    """Add ``relayer devnet up|down`` to the ``relayer`` subparsers."""
    devnet = subparsers.add_parser("devnet", help="local two-chain development network")
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
    up.add_argument("--operators", type=int, default=3, metavar="N", help="committee members (default 3)")
    up.add_argument("--threshold", type=int, default=2, metavar="M", help="signatures a header needs (default 2)")
    up.add_argument("--fleet", type=int, default=1, metavar="K",
                    help="relayer processes per operator sharing its store (default 1; >1 needs --store postgresql)")
    up.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                    help="operator store: sqlite (default) or postgresql (a PostgreSQL server in DIR/postgres)")
    up.add_argument("--with", dest="with_chains", action="append", default=[], choices=["litecoin"],
                    help="also run a Litecoin regtest chain named litecoin (litecoind), its custody and "
                         "wrapped LTC on alpha; the operators relay litecoin->alpha (deposits) and "
                         "alpha->litecoin (burns released from the custody)")
    up.add_argument("--json", action="store_true", help="print the deployment as one JSON object")
    up.set_defaults(handler=_cmd_devnet_up)
    down = devnet_sub.add_parser("down", help="stop everything `devnet up` started")
    down.add_argument("--dir", required=True, type=Path)
    down.add_argument("--json", action="store_true", help='print {"dir", "stopped"}')
    down.set_defaults(handler=_cmd_devnet_down)


def add_transfer(subparsers: Any) -> None:
    """Add ``relayer transfer`` to the ``relayer`` subparsers."""
    transfer = subparsers.add_parser("transfer", help="lock or burn an asset on the devnet as a user")
    transfer.add_argument("--devnet", required=True, type=Path, help="devnet folder")
    transfer.add_argument("--from", dest="source", required=True)
    transfer.add_argument("--to", dest="destination", required=True)
    transfer.add_argument("--asset", required=True, choices=list(ASSETS))
    transfer.add_argument("--amount", required=True, type=_amount)
    transfer.add_argument("--recipient", default=None,
                          help="default: the sender's own address (--to litecoin: a fresh address of the "
                               "devnet's Litecoin user wallet)")
    transfer.add_argument("--user", type=int, default=0, help="act as devnet user N (default 0)")
    transfer.add_argument("--wait", action="store_true",
                          help="wait for delivery (--to litecoin: until the release is final; the devnet's "
                               "Litecoin chain has no miner, so one regtest block is mined about every "
                               "second while waiting, counted in the JSON's mined_blocks)")
    transfer.add_argument("--json", action="store_true")
    transfer.add_argument("--timeout", type=float, default=120.0)
    transfer.add_argument("--expiry", type=_seconds, default=3600, metavar="SECONDS",
                          help="the destination refuses (and the source refunds) the transfer after this many "
                               "seconds past the source chain's latest block (default 3600)")
    transfer.set_defaults(handler=_cmd_transfer)


def add_send(subparsers: Any) -> None:
    """Add ``relayer send`` to the ``relayer`` subparsers."""
    send = subparsers.add_parser("send", help="send a message through the devnet's message layer as a user")
    send.add_argument("--devnet", required=True, type=Path, help="devnet folder")
    send.add_argument("--from", dest="source", required=True, metavar="CHAIN")
    send.add_argument("--to", dest="destination", required=True, metavar="CHAIN")
    send.add_argument("--recipient", required=True, metavar="ADDRESS", help="contract on the destination chain")
    send.add_argument("--body", required=True, metavar="HEX", help="message body, 0x-hex (0x = empty)")
    send.add_argument("--ack", choices=list(ACK_MODES), default="none",
                      help="acknowledgement back to the sender: none (default), on-failure, always")
    send.add_argument("--expiry", type=_whole, default=0, metavar="SECONDS",
                      help="refused on the destination after this many seconds (default 0: never)")
    send.add_argument("--gas-limit", type=_whole, default=200_000, metavar="N",
                      help="gas the recipient's handler gets (default 200000)")
    send.add_argument("--user", type=int, default=0, help="act as devnet user N (default 0)")
    send.add_argument("--wait", action="store_true", help="wait for the outcome (and a due acknowledgement)")
    send.add_argument("--timeout", type=float, default=120.0, metavar="S", help="give up waiting after S seconds")
    send.add_argument("--json", action="store_true", help="print one JSON object")
    send.set_defaults(handler=_cmd_send)


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use whole units, e.g. 1 or 0.25)") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive amount")
    return value


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _cmd_devnet_up(args: argparse.Namespace) -> int:
    from relayer.devnet.cli import devnet_up

    return devnet_up(args.dir, detach=args.detach, policy=args.policy,
                     nodes=_pairs(args.node, "--node", "beta=hardhat"),
                     hardforks=_pairs(args.hardfork, "--hardfork", "alpha=berlin"), as_json=args.json,
                     operators=args.operators, threshold=args.threshold, fleet=args.fleet, store=args.store,
                     with_litecoin="litecoin" in args.with_chains)


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
    if args.source == "litecoin":  # a deposit to the custody of `devnet up --with litecoin`
        from relayer.devnet.litecoin_transfer import main as deposit_main

        return deposit_main(args)
    if args.destination == "litecoin":  # a burn of wrapped LTC, released from the custody
        from relayer.devnet.litecoin_burn import main as burn_main

        return burn_main(args)
    from relayer.devnet.transfer import main as transfer_main

    return transfer_main(args)


def _cmd_send(args: argparse.Namespace) -> int:
    from relayer.devnet.send import main as send_main

    return send_main(args)


__all__ = ["add_devnet", "add_send", "add_transfer"]
