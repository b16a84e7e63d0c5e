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

Chain-neutral: the light client plugin named by ``--kind`` reads the block, the validator
addresses and judges the seals (``parse_validator``, ``judge_block``); with ``--rpc`` the adapter
plugin named by ``--adapter`` fetches the block (``fetch_block``). ``--trust-roots FILE`` is read
as bytes and handed to the plugin as ``judge_block(..., trust_roots=BYTES)`` (what the bytes are,
certificates or anything else, is the plugin's business); a plugin whose ``judge_block`` takes no
``trust_roots`` makes it a usage error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from relayer.errors import ConfigError, RelayerError, RpcAnswerError, UsageError
from relayer.logging import configure_logging
from relayer.plugins import ADAPTER_GROUP, LIGHT_CLIENT_GROUP, installed, load

#: What a light client plugin must offer to judge a header on its own (class methods
#: ``parse_validator(text) -> bytes`` raising ValueError, and ``judge_block(block, validators,
#: epoch) -> verdict JSON`` raising RpcAnswerError for what is not a block; a plugin that takes
#: ``--trust-roots`` accepts the keyword ``trust_roots`` and raises UsageError for bytes it cannot read).
JUDGING = ("parse_validator", "judge_block")
#: What an adapter plugin must offer to fetch a block for ``--rpc`` (``fetch_block(url, tag)``).
FETCHING = "fetch_block"
BLOCK_TAGS = frozenset({"latest", "safe", "finalized", "earliest", "pending"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments to ``parser`` (``relayer header verify`` uses the same)."""
    parser.add_argument("--kind", required=True,
                        help="consensus of the chain: a light client plugin of group relayer.light_clients that "
                             "judges seals (first-party: qbft, ibft2, clique; litecoin judges a header's scrypt "
                             "proof of work; `relayer plugins` lists them)")
    parser.add_argument("--header", type=Path, default=None,
                        help="JSON file: a block (or header) as the chain's node returns it "
                             "(EVM: eth_getBlockByNumber; Litecoin: getblockheader HASH true, getblock HASH, or "
                             "{\"hex\": getblockheader HASH false}; the plugin of --kind reads it)")
    parser.add_argument("--validators", default=None,
                        help="comma-separated ids of the set in force, as the plugin of --kind reads them "
                             "(EVM: addresses; FISCO BCOS, ChainMaker: node ids; Litecoin: none, a usage error)")
    parser.add_argument("--rpc", default=None, help="JSON-RPC URL to fetch the block from (instead of --header)")
    parser.add_argument("--block", default=None, help="block number (decimal or 0x-hex) or tag, with --rpc")
    parser.add_argument("--epoch", type=int, default=None, help="epoch length (default 30000)")
    parser.add_argument("--trust-roots", type=Path, default=None, metavar="FILE",
                        help="file of trust roots handed to the light client as read (e.g. a ChainMaker chain's "
                             "org CA certificates), for kinds that take them")
    parser.add_argument("--adapter", default=None,
                        help="adapter plugin of group relayer.adapters that fetches the block with --rpc (default: the "
                             "adapter named like --kind when one is installed, e.g. litecoin; else evm)")


def main(args: argparse.Namespace) -> int:
    """Print the verdict as one JSON object; 0 when valid, 1 when not.

    Raises UsageError on bad arguments or an unreadable block file, RpcError or
    RpcAnswerError when fetching with ``--rpc`` fails.
    """
    # A plugin's log lines (e.g. a warning about an unconfigured trust root) go to stderr as JSON:
    # stdout is the verdict alone.
    configure_logging("info", json=True, stream=sys.stderr)
    client_class = _client_class(args.kind)
    epoch = _epoch(getattr(args, "epoch", None))
    validators = _validators(client_class, args.validators)
    extra = _trust_roots(client_class, args.kind, getattr(args, "trust_roots", None))
    block = _fetch_block(args) if args.rpc else _read_block(args)
    source = str(args.header) if args.header is not None else shown_url(args.rpc)
    try:
        verdict: dict[str, Any] = client_class.judge_block(block, validators, epoch, **extra)
    except RpcAnswerError as exc:
        raise UsageError(f"{source}: {exc}") from exc
    print(json.dumps({"kind": args.kind} | verdict))
    return 0 if verdict.get("valid") else 1


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


def _validators(client_class: Any, text: str | None) -> tuple[bytes, ...] | None:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise UsageError("--validators is empty: give comma-separated addresses")
    addresses = []
    for part in parts:
        try:
            addresses.append(client_class.parse_validator(part))
        except ValueError as exc:
            raise UsageError(f"--validators: {part!r} {exc}") from exc
    if len(set(addresses)) != len(addresses):
        raise UsageError("--validators lists an address twice")
    return tuple(sorted(addresses))


def _trust_roots(client_class: Any, kind: str, path: Path | None) -> dict[str, bytes]:
    """``{"trust_roots": the file's bytes}`` when ``--trust-roots`` is given, else {}. Raises UsageError
    when the plugin's ``judge_block`` takes no ``trust_roots`` or the file cannot be read."""
    if path is None:
        return {}
    parameters = inspect.signature(client_class.judge_block).parameters
    if "trust_roots" not in parameters and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        raise UsageError(f"--trust-roots: light client {kind!r} takes no trust roots")
    try:
        return {"trust_roots": Path(path).read_bytes()}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


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
    tag = _block_tag(args.block)
    name = getattr(args, "adapter", None) or (args.kind if args.kind in installed(ADAPTER_GROUP) else "evm")
    try:
        adapter_class = load(ADAPTER_GROUP, name, key="--adapter")
    except ConfigError as exc:
        raise UsageError(f"--adapter: {exc.message}") from exc
    if not hasattr(adapter_class, FETCHING):
        raise UsageError(f"--adapter: adapter {name!r} cannot fetch a block for --rpc")
    block = adapter_class.fetch_block(args.rpc, tag)
    if block is None:
        raise UsageError(f"{shown_url(args.rpc)} knows no block {args.block}")
    return _block_object(block, shown_url(args.rpc))


def shown_url(url: str) -> str:
    """``url`` as a message may show it: without the user and password a node's URL may carry."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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
