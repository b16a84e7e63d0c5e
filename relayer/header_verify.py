"""``relayer header verify``: judge one block's seals against a PoA/BFT validator set.

Reads a block object as ``eth_getBlockByNumber`` returns it (from ``--header FILE`` or
fetched with ``--rpc URL --block N``), recomputes its hash by the chain's rule, recovers the
seal signers and prints one JSON object::

    {"kind", "number", "hash", "valid", "signers", "validators", "quorum", "reason"?}

``--validators`` is the set in force at that block (BFT: what ``qbft_getValidatorsByBlockNumber``
answers; Clique: the authorised signers). Without it the block's own list is used: the
extraData list of a BFT block, the signer list of a Clique epoch block (any other Clique
block is then invalid for want of a set). Exit 0 valid, 1 invalid (JSON still printed) or
an RPC failure, 2 bad arguments or an unreadable file (UsageError, one line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from light_clients.bft.common import Verdict, hex0x
from light_clients.evm.header import Header, header_from_rpc, parse_data
from relayer.errors import ConfigError, RelayerError, RpcAnswerError, UsageError, VerificationError
from relayer.plugins import LIGHT_CLIENT_GROUP, installed, load

#: What a light client plugin must offer to judge a header on its own (class methods
#: ``listed_validators``, ``hash_of``, ``signers_of`` and an instance ``verify``).
JUDGING = ("listed_validators", "hash_of", "signers_of", "verify")
BLOCK_TAGS = frozenset({"latest", "safe", "finalized", "earliest", "pending"})
CHAIN_NAME = "header-verify"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to ``parser`` (``relayer header verify`` uses the same)."""
    parser.add_argument("--kind", required=True,
                        help="consensus of the chain: a light client plugin of group relayer.light_clients that "
                             "judges seals (first-party: qbft, ibft2, clique; `relayer plugins` lists them)")
    parser.add_argument("--header", type=Path, default=None, help="JSON file: a block as eth_getBlockByNumber returns it")
    parser.add_argument("--validators", default=None, help="comma-separated addresses of the set in force")
    parser.add_argument("--rpc", default=None, help="JSON-RPC URL to fetch the block from (instead of --header)")
    parser.add_argument("--block", default=None, help="block number (decimal or 0x-hex) or tag, with --rpc")
    parser.add_argument("--epoch", type=int, default=None, help="epoch length (default 30000)")


def main(args: argparse.Namespace) -> int:
    """Print the verdict as one JSON object; 0 when valid, 1 when not.

    Raises UsageError on bad arguments or an unreadable block file, RpcError or
    RpcAnswerError when fetching with ``--rpc`` fails.
    """
    client_class = _client_class(args.kind)
    epoch = _epoch(getattr(args, "epoch", None))
    validators = _validators(args.validators)
    block = _fetch_block(args) if args.rpc else _read_block(args)
    header, claimed = _parse_block(block, str(args.header or args.rpc))
    verdict = _judge(client_class, header, claimed, validators, epoch)
    print(json.dumps({"kind": args.kind} | verdict.to_json()))
    return 0 if verdict.valid else 1


def _judge(
    client_class: Any, header: Header, claimed: bytes | None, validators: tuple[bytes, ...] | None, epoch: int
) -> Verdict:
    if validators is None:
        try:
            validators = client_class.listed_validators(header, epoch=epoch)
        except VerificationError as exc:
            return _unjudged(client_class, header, (), exc.message, epoch)
    try:
        client = client_class(CHAIN_NAME, 0, 0, validators=[hex0x(v) for v in validators], epoch=epoch)
    except RelayerError as exc:  # e.g. an empty list read from the block
        return _unjudged(client_class, header, validators, exc.message, epoch)
    verdict: Verdict = client.verify(header, claimed)
    return verdict


def _unjudged(client_class: Any, header: Header, validators: tuple[bytes, ...], reason: str, epoch: int) -> Verdict:
    """An invalid verdict for a header no client could be set up for, with what is known of it."""
    try:
        hash_, signers = client_class.hash_of(header), client_class.signers_of(header, epoch=epoch)
    except VerificationError:
        hash_, signers = None, ()
    return Verdict(False, signers, validators, 0, reason, hash_, header.number)


# --------------------------------------------------------------------------- arguments


def _client_class(kind: str) -> Any:
    """The light client class of plugin ``kind``, loaded through its entry point.

    Raises UsageError when no such plugin is installed or it cannot judge seals (``evm``)."""
    try:
        client_class = load(LIGHT_CLIENT_GROUP, kind, key="--kind")
    except ConfigError as exc:
        raise UsageError(f"--kind: {exc.message}") from exc
    if not all(hasattr(client_class, name) for name in JUDGING):
        able = ", ".join(judging_kinds()) or "none"
        raise UsageError(f"--kind: light client {kind!r} does not judge seals on its own (kinds that do: {able})")
    return client_class


def judging_kinds() -> list[str]:
    """Installed light client plugins that can judge a header's seals, sorted (imports each plugin)."""
    out = []
    for name in installed(LIGHT_CLIENT_GROUP):
        try:
            client_class = load(LIGHT_CLIENT_GROUP, name, key="--kind")
        except ConfigError:
            continue
        if all(hasattr(client_class, attr) for attr in JUDGING):
            out.append(name)
    return out


def _epoch(value: int | None) -> int:
    if value is None:
        return 30000
    if value < 1:
        raise UsageError(f"--epoch must be a positive number of blocks, not {value}")
    return value


def _validators(text: str | None) -> tuple[bytes, ...] | None:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise UsageError("--validators is empty: give comma-separated 0x addresses")
    addresses = []
    for part in parts:
        try:
            addresses.append(parse_data(part, "--validators", size=20))
        except RpcAnswerError as exc:
            raise UsageError(f"--validators: {part!r} is not a 0x-hex address") from exc
    if len(set(addresses)) != len(addresses):
        raise UsageError("--validators lists an address twice")
    return tuple(sorted(addresses))


# --------------------------------------------------------------------------- the block


def _read_block(args: argparse.Namespace) -> Mapping[str, Any]:
    if args.header is None:
        raise UsageError("give --header FILE, or --rpc URL with --block N")
    if args.block is not None:
        raise UsageError("--block goes with --rpc, not with --header")
    try:
        document = json.loads(Path(args.header).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {args.header}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{args.header} is not JSON: {exc}") from exc
    return _block_object(document, str(args.header))


def _block_object(document: object, source: str) -> Mapping[str, Any]:
    """The block of a bare block object or of a JSON-RPC response holding one."""
    if isinstance(document, Mapping) and "result" in document and "number" not in document:
        document = document["result"]
    if not isinstance(document, Mapping):
        raise UsageError(f"{source} holds no block object")
    return document


def _fetch_block(args: argparse.Namespace) -> Mapping[str, Any]:
    if args.header is not None:
        raise UsageError("give either --header or --rpc, not both")
    from adapters.evm.sync_client import SyncEvm

    tag = _block_tag(args.block)
    with SyncEvm(args.rpc) as rpc:
        block = rpc.rpc("eth_getBlockByNumber", tag, False)
    if block is None:
        raise UsageError(f"{args.rpc} knows no block {args.block}")
    return _block_object(block, args.rpc)


def _block_tag(value: str | None) -> str:
    if value is None or value in BLOCK_TAGS:
        return value or "latest"
    try:
        number = int(value, 16) if value[:2].lower() == "0x" else int(value)
    except ValueError as exc:
        raise UsageError(f"--block must be a number or one of {', '.join(sorted(BLOCK_TAGS))}, not {value!r}") from exc
    if number < 0:
        raise UsageError(f"--block must not be negative: {value}")
    return hex(number)


def _parse_block(block: Mapping[str, Any], source: str) -> tuple[Header, bytes | None]:
    try:
        header = header_from_rpc(block)
        claimed = None if block.get("hash") is None else parse_data(block["hash"], "hash", size=32)
    except RpcAnswerError as exc:
        raise UsageError(f"{source}: {exc}") from exc
    return header, claimed


# --------------------------------------------------------------------------- python -m


def run(argv: Sequence[str] | None = None) -> int:
    """``python -m relayer.header_verify``: parse ``argv``, run, map errors to exit codes."""
    parser = argparse.ArgumentParser(prog="relayer header verify", description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return main(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RelayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())


__all__ = ["JUDGING", "add_arguments", "judging_kinds", "main", "run"]
