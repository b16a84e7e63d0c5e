"""``relayer evidence list|show|resolve``: the halts an operator acts on.

Evidence (a reorg below finality, conflicting sealed headers) halts relaying from its chain
and stays in the state database. ``resolve`` keeps who released it, when and why, and the
halt ends once no open evidence names the chain: a running daemon resumes the follower
within a second (``relayer.halts``), a stopped one at its next start.

Resolving a ``reorg-below-finality`` first asks the chain whether the history this relayer
accepted is still there. If it is (the RPC lied, the endpoint was replaced), nothing else
changes. If it is not, the chain is rewound to the highest stored header the chain still
has: headers, attestations and undelivered messages above it are set aside (kept in the
resolution) and the follower scans the chain's current history from there. Only light
clients whose factory declares the capability (``relayer.contract.RewindableLightClientFactory``:
a trusted state that is a plain checkpoint) can be rewound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog

from relayer import plugins
from relayer.cli_common import login_name, open_store, utc
from relayer.config import Config, load_config
from relayer.contract import ChainHistory, LightClientFactory, RewindableLightClientFactory
from relayer.errors import ConfigError, RelayerError, UsageError
from relayer.logging import configure_logging
from relayer.store import EvidenceKind, Rewind, Store, StoredHeader

__all__ = ["add_parser"]

log = structlog.get_logger("relayer.evidence")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``evidence`` and its actions on ``subparsers``; returns it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evidence", help="evidence that halted relaying from a chain: list, show, resolve")
    actions = parser.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="evidence rows (open ones halt their chain)")
    listing.add_argument("--open", action="store_true", help="only the unresolved rows")
    show = actions.add_parser("show", help="one evidence row in full, with its resolution")
    show.add_argument("id", type=int)
    resolve = actions.add_parser("resolve", help="release the halt an evidence row holds, after looking at it")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--reason", required=True, help="why the halt may end (kept with the resolution)")
    resolve.add_argument("--by", default=None, help="who releases it (default: the login name)")
    for action, handler in ((listing, _cmd_list), (show, _cmd_show), (resolve, _cmd_resolve)):
        action.add_argument("--config", required=True, type=Path, help="operator TOML file")
        action.add_argument("--json", action="store_true", help="print JSON")
        action.set_defaults(handler=handler)
    return parser


def _cmd_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as store:
        rows = store.evidence(include_resolved=not args.open)
    if args.json:
        print(json.dumps({"evidence": rows}, indent=2))
        return 0
    if not rows:
        print("no evidence" + (" open" if args.open else ""))
    for e in rows:
        print(_line(e))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as store:
        item = _item(store, args.id)
    if args.json:
        print(json.dumps(item, indent=2))
    else:
        print(_line(item))
        print(f"  recorded {utc(item['recorded_at'])}")
        print("  detail   " + json.dumps(item["detail"], indent=2).replace("\n", "\n  "))
    return 0


def _cmd_resolve(args: argparse.Namespace) -> int:
    """Raises UsageError for an unknown or resolved row, RelayerError when no RPC of the chain answers."""
    config = load_config(args.config)
    by = args.by or login_name()
    if not args.reason.strip():
        raise UsageError("--reason must say why the halt may end")
    with open_store(config) as store:
        item = _item(store, args.id)
        if item["resolution"] is not None:
            raise UsageError(f"evidence {args.id} is already resolved by {item['resolution']['resolved_by']}")
        detail, rewind = _plan(config, store, item)
        detail = store.resolve_evidence(args.id, by=by, reason=args.reason, detail=detail, now=time.time(),
                                        rewind=rewind)
        resolved = _item(store, args.id)
        still_open = [e["id"] for e in store.evidence() if e["chain"] == item["chain"]]
    configure_logging("info", json=True, stream=sys.stderr)
    log.warning("evidence.resolved", evidence=args.id, chain=item["chain"], kind=item["kind"],
                block=item["number"], resolved_by=by, reason=args.reason, rewound_to=detail.get("rewound_to"),
                set_aside=len(detail.get("set_aside", [])))
    if args.json:
        print(json.dumps({**resolved, "still_open": still_open}, indent=2))
    else:
        print(_line(resolved))
        print("  " + detail["outcome"])
        for m in detail.get("set_aside", []):
            print(f"  set aside {m['id']} (block {m['block_number']}, {m['state']}): its block was replaced")
        print(f"  relaying from {item['chain']} is still halted by evidence {still_open}" if still_open else
              f"  relaying from {item['chain']} resumes (a running daemon within a second, else at its next start)")
    return 0


def _item(store: Store, evidence_id: int) -> dict[str, Any]:
    item = store.evidence_item(evidence_id)
    if item is None:
        known = [e["id"] for e in store.evidence(include_resolved=True)]
        raise UsageError(f"no evidence {evidence_id} in {store.where} (known: {known or 'none'})")
    return item


def _plan(config: Config, store: Store, item: dict[str, Any]) -> tuple[dict[str, Any], Rewind | None]:
    """What resolving ``item`` changes: nothing but the halt, or a rewind of its chain."""
    if item["kind"] != EvidenceKind.REORG_BELOW_FINALITY:
        return {"outcome": "released; the follower resumes from its stored state"}, None
    chain = item["chain"]
    if chain not in config.chains:
        raise UsageError(f"evidence {item['id']} names chain {chain!r}, which the configuration lacks")
    state = store.light_client_state(chain) or {}
    factory = _light_client_factory(config, chain)
    with _chain_history(config, chain) as history:
        accepted = _accepted_header(config, store, chain, factory, state)
        if accepted is not None and history.block_hash(accepted.number) == accepted.hash.lower():
            return {"outcome": f"{chain} still has the accepted block {accepted.number}; no rewind"}, None
        if not isinstance(factory, RewindableLightClientFactory):
            raise UsageError(f"the {config.chains[chain].light_client} light client of {chain} keeps more than a "
                             f"checkpoint and cannot be rewound; restore a backup of the state database taken "
                             f"before block {item['number']}")
        anchor = _anchor(history, store.headers_below(chain, item["number"]))
    if anchor is None:
        raise RelayerError(f"no stored header of {chain} below block {item['number']} is on the chain any more; "
                           f"restore a backup of the state database", chain=chain)
    rewound = factory.rewound_state(state, anchor.number, bytes.fromhex(anchor.hash.removeprefix("0x")))
    rewind = Rewind(chain, config.chains[chain].chain_id, anchor, rewound)
    return {"outcome": f"rewound {chain} to block {anchor.number} ({anchor.hash}), the highest stored header "
                       f"the chain still has", "rewound_to": anchor.number}, rewind


def _light_client_factory(config: Config, chain: str) -> LightClientFactory:
    """The chain's light-client plugin. Raises ConfigError naming ``chains.NAME.light_client``."""
    key = f"chains.{chain}.light_client"
    name = config.chains[chain].light_client
    factory = plugins.load(plugins.LIGHT_CLIENT_GROUP, name, key=key)
    if not isinstance(factory, LightClientFactory):
        raise ConfigError(key, f"plugin {name!r} is no relayer.contract.LightClientFactory")
    return factory


def _accepted_header(config: Config, store: Store, chain: str, factory: LightClientFactory,
                     state: dict[str, Any]) -> StoredHeader | None:
    """The stored header of the head the light client's saved ``state`` accepted (the follower stores
    it with the state), or None before the first. Raises VerificationError for a state the client
    does not take, UsageError when that header is not stored (nothing is changed then)."""
    if not state:
        return None
    chain_config = config.chains[chain]
    head = factory.from_trusted_state(chain, chain_config.chain_id, chain_config.confirmations, state).head_number
    if head is None:
        return None
    header = store.header(chain, head)
    if header is None:
        raise UsageError(f"the state database keeps no header of {chain}'s accepted block {head}, so whether the "
                         f"chain still has it cannot be told; restore a backup of the state database")
    return header


def _anchor(history: ChainHistory, headers: list[StoredHeader]) -> StoredHeader | None:
    """The highest of ``headers`` (highest first) whose hash the chain still has at its height."""
    return next((h for h in headers if history.block_hash(h.number) == h.hash.lower()), None)


@contextmanager
def _chain_history(config: Config, chain: str) -> Iterator[ChainHistory]:
    """The chain's history (its family's ``relayer.chain_history`` hook) at the first RPC endpoint of
    ``chain`` that answers. Raises ConfigError when the chain's adapter has no such hook installed,
    RelayerError when no endpoint answers."""
    adapter = config.chains[chain].adapter
    open_history = plugins.load(plugins.HISTORY_GROUP, adapter, key=f"chains.{chain}.adapter")
    errors = []
    for url in config.chains[chain].rpc:
        history: ChainHistory = open_history(url)
        try:
            history.head_number()
        except RelayerError as exc:  # down, refusing or malformed: try the next endpoint
            history.close()
            errors.append(type(exc).__name__)
            continue
        try:
            yield history
        finally:
            history.close()
        return
    raise RelayerError(f"no RPC endpoint of chains.{chain}.rpc answers ({', '.join(errors)}); the chain "
                       f"must be reachable to check which history it has", chain=chain)


def _line(e: dict[str, Any]) -> str:
    r = e["resolution"]
    state = (f"resolved {utc(r['resolved_at'])} by {r['resolved_by']}: {r['reason']}" if r
             else "OPEN: relaying from this chain is halted")
    return f"{e['id']:>4}  {e['chain']}  block {e['number']}  {e['kind']}  {state}"
