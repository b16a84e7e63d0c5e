"""``relayer litecoin``: the Litecoin family's operator commands, registered through the ``relayer.commands``
entry-point group (this distribution's pyproject), the door any vendor's package uses; the core does not
know them.

``relayer litecoin return --config FILE --chain NAME --deposit TXID --block HEIGHT --to ADDRESS
[--fee-rate N] [--json]`` builds the unsigned PSBT returning a refused deposit (``deposit.refused`` names
its transaction and block) to the address the operator names: the deposit proven against the headers the
light client verifies from the configured checkpoint (or from the deposit's block when none is set), its
custody outputs all spent, the fee stated. The operators then sign it (each rebuilds and checks it,
:mod:`relayer_litecoin.operator`); nothing here holds a key. Exit 2 for a wrong argument or configuration,
1 for an operational failure (the node unreachable or lying, a valid deposit, an output spent already)."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

from relayer.errors import ConfigError, UsageError


def add_litecoin(subparsers: Any) -> None:
    """Add ``relayer litecoin return`` to the ``relayer`` subparsers."""
    litecoin = subparsers.add_parser("litecoin", help="Litecoin family: custody operations")
    sub = litecoin.add_subparsers(dest="litecoin_command", required=True, metavar="ACTION")
    ret = sub.add_parser("return", help="build the PSBT returning a refused deposit to an address")
    ret.add_argument("--config", required=True, type=Path, help="the relayer's configuration file")
    ret.add_argument("--chain", required=True, help="the Litecoin chain's name in [chains]")
    ret.add_argument("--deposit", required=True, help="the refused deposit's txid (from deposit.refused)")
    ret.add_argument("--block", required=True, type=int, help="the height of its block (from deposit.refused)")
    ret.add_argument("--to", required=True, dest="address", help="the address to return the coins to")
    ret.add_argument("--fee-rate", type=int, default=None, help="litoshis per vbyte (default: the release fee_rate)")
    ret.add_argument("--json", action="store_true", help="print one JSON object")
    ret.set_defaults(handler=_cmd_return)


def _chain_table(path: Path, chain: str) -> dict[str, Any]:
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc}") from exc
    table = config.get("chains", {}).get(chain)
    if not isinstance(table, dict):
        raise ConfigError(f"chains.{chain}", f"no such chain in {path}")
    if table.get("adapter") != "litecoin":
        raise ConfigError(f"chains.{chain}.adapter", "not a Litecoin chain")
    return table


def _cmd_return(args: argparse.Namespace) -> int:
    import trio

    from relayer_litecoin.adapter import LitecoinAdapter
    from relayer_litecoin.address import AddressError, script_of
    from relayer_litecoin.client import LitecoinLightClient
    from relayer_litecoin.returns import build_return, refused_deposit
    from relayer_litecoin.rpc import LitecoinRpc
    from relayer_litecoin.source import LitecoinSource
    from relayer_litecoin.spv import HeaderChain

    table = _chain_table(args.config, args.chain)
    family = LitecoinAdapter.parse_config(table.get("litecoin", {}), f"chains.{args.chain}.litecoin")
    try:
        txid = bytes.fromhex(args.deposit.removeprefix("0x"))
        if len(txid) != 32:
            raise ValueError
    except ValueError:
        raise UsageError(f"--deposit {args.deposit!r} is not a txid (64 hex digits)") from None
    try:
        script_of(args.address, family.network)
    except AddressError as exc:
        raise UsageError(f"--to: {exc}") from exc
    urls = table.get("rpc")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"chains.{args.chain}.rpc", "expected a list of litecoind RPC URLs")
    options = dict(table.get("light_client_options", {"network": family.network.name}))
    fee_rate = family.release.fee_rate if args.fee_rate is None else args.fee_rate

    async def run() -> dict[str, Any]:
        rpc = LitecoinRpc(tuple(urls))
        try:
            first = args.block
            if options.get("checkpoint"):
                first = int((await rpc.call("getblockheader", str(options["checkpoint"]).removeprefix("0x")))["height"])
            client = LitecoinLightClient.from_options(args.chain, int(table.get("chain_id", 0)),
                                                      int(table.get("confirmations", 6)), options)
            chain = HeaderChain(LitecoinSource(args.chain, int(table.get("chain_id", 0)), rpc, family.custody),
                                client, first)
            utxos = await refused_deposit(rpc, chain, family.custody, txid, args.block)
            release = build_return(utxos, args.address, family.custody, family.network, fee_rate)
            return dict(release.summary(), psbt=str(release.psbt(family.custody).to_base64()))
        finally:
            await rpc.aclose()

    result = trio.run(run)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"return of {args.deposit}: {result['amount']} litoshis to {args.address}, fee {result['fee']} "
              f"({result['fee_rate']} litoshis/vbyte x {result['vsize']} vbytes), paid {result['paid']}")
        print(f"txid {result['txid']}; have the operators sign this PSBT:")
        print(result["psbt"])
    return 0


__all__ = ["add_litecoin"]
