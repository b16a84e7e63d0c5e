"""``relayer messages list|show|retry|export|verify``: the messages of one operator's state database.

``show`` gives the whole life of one message: where it was found on the source and in which
block, what its proof rests on (the verified header's commitment, the attestations of that
block), every refused attempt with its reason, and every destination transaction that carried
it. What a message's opaque body and locator say is shown in its family's words: the
``relayer.message_views`` plugin named like the source chain's adapter (hex without one).
``retry`` puts ``failed`` messages back in line with a fresh attempt budget (their history is
kept); a running daemon picks them up at its next step.
``export`` writes one delivery's evidence bundle, ``verify`` checks one with no network
(``relayer.bundles``). The others read and write the state database directly, with the daemon up or down.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from relayer import bundles, plugins
from relayer.cli_common import login_name, open_store, utc
from relayer.config import Config, load_config
from relayer.contract import MessageDescriber, MessageView
from relayer.errors import UsageError, VerificationError
from relayer.logging import configure_logging
from relayer.store import STATES, Message, Store

__all__ = ["add_parser"]

log = structlog.get_logger("relayer.messages")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``messages`` and its actions on ``subparsers``; returns it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "messages", help="cross-chain messages this operator knows: list, show, retry")
    actions = parser.add_subparsers(dest="messages_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="messages, newest first")
    listing.add_argument("--state", choices=STATES, default=None)
    listing.add_argument("--route", default=None, help="SOURCE->DESTINATION, e.g. alpha->beta")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(handler=_cmd_list)
    show = actions.add_parser("show", help="the whole life of one message")
    show.add_argument("id", help="message id (0x-hex)")
    show.set_defaults(handler=_cmd_show)
    retry = actions.add_parser("retry", help="deliver failed messages again (a fresh attempt budget)")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", default=None, help="message id (0x-hex) of a failed message")
    which.add_argument("--state", choices=["failed"], default=None, help="every failed message")
    retry.add_argument("--route", default=None, help="with --state: only this SOURCE->DESTINATION route")
    retry.set_defaults(handler=_cmd_retry)
    export = actions.add_parser("export", help="write the evidence bundle of one delivered message")
    export.add_argument("id", help="message id (0x-hex)")
    export.add_argument("--out", required=True, type=Path, help="bundle file to write (JSON)")
    export.set_defaults(handler=_cmd_export)
    for action in (listing, show, retry, export):
        action.add_argument("--config", required=True, type=Path, help="operator TOML file")
        action.add_argument("--json", action="store_true", help="print JSON")
    check = actions.add_parser("verify", help="check an evidence bundle with no network")
    check.add_argument("file", type=Path, help="bundle file (relayer messages export)")
    check.add_argument("--members", default=None,
                       help="trust anchor: committee members A,B,C (default: the bundle's)")
    check.add_argument("--threshold", type=int, default=None, help="with --members: signatures needed")
    check.add_argument("--validators", default=None,
                       help="trust anchor: validator set A,B,C of a sealed (QBFT) source chain (default: the bundle's)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(handler=_cmd_verify)
    return parser


def _cmd_export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as store:
        m = _message(store, args.id)
        bundle = bundles.export(store, config, m)
    try:
        args.out.write_text(json.dumps(bundle, indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write it ({exc.strerror or exc})") from exc
    configure_logging("info", json=True, stream=sys.stderr)
    log.info("message.exported", message_id=m.id, route=bundle["route"], out=str(args.out))
    if args.json:
        print(json.dumps({"id": m.id, "out": str(args.out), "outcome": bundle.get("outcome")}))
    else:
        print(f"evidence bundle of {m.id} written to {args.out}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    if (args.members is None) != (args.threshold is None):
        raise UsageError("--members and --threshold go together")
    if args.validators is not None and args.members is not None:
        raise UsageError("--validators and --members are two kinds of trust anchor: give one")
    members, validators = _addresses(args.members, "--members"), _addresses(args.validators, "--validators")
    bundle = bundles.read_bundle(args.file)
    anchor = "command line" if members is not None or validators is not None else "bundle"
    try:
        held = bundles.verify(bundle, members, args.threshold, validators)
    except VerificationError as exc:
        if args.json:
            print(json.dumps({"ok": False, "anchor": anchor, "reason": str(exc)}))
        else:
            print(f"REJECTED ({args.file}, trust anchor from the {anchor}): {exc}")
        return 1
    found = bundle.get("outcome")
    outcome: dict[str, Any] = found if isinstance(found, dict) else {}
    if args.json:
        print(json.dumps({"ok": True, "anchor": anchor, "outcome": outcome.get("status"), "checks": held}))
    else:
        print(f"OK: {args.file} holds (trust anchor from the {anchor}): outcome {outcome.get('status')}")
        for line in held:
            print(f"  {line}")
    return 0


def _addresses(text: str | None, flag: str) -> list[str] | None:
    """The comma-separated addresses of ``flag`` (None when not given). Raises UsageError for none."""
    if text is None:
        return None
    found = [a.strip() for a in text.split(",") if a.strip()]
    if not found:
        raise UsageError(f"{flag} names no address")
    return found


def _cmd_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    route = _route(config, args.route)
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    with open_store(config) as store:
        found = store.messages(state=args.state, route=route, limit=args.limit)
        acks = {m.id: store.ack_state(m) for m in found}
    if args.json:
        print(json.dumps({"messages": [_summary(m, view(config, m), acks[m.id]) for m in found]}, indent=2))
        return 0
    if not found:
        print("no messages" + "".join(f" {k} {v}" for k, v in (("in state", args.state), ("on", args.route)) if v))
    for m in found:
        print(f"{m.id}  {m.src_chain}->{m.dst_chain}  nonce {m.nonce:<5} {m.state:<17} "
              f"attempts {m.attempts}" + (f"  outcome {m.outcome}" if m.outcome else "")
              + (f"  ack {acks[m.id]}" if acks[m.id] not in (None, "none") else "")
              + (f"  reason: {m.reason}" if m.reason else ""))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with open_store(config) as store:
        doc = life(store, config, _message(store, args.id))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(render_life(doc))
    return 0


def _cmd_retry(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    by = login_name()
    with open_store(config) as store:
        if args.id is not None:
            if args.route is not None:
                raise UsageError("--route goes with --state failed, not with a message id")
            m = _message(store, args.id)
            if m.state != "failed":
                raise UsageError(f"message {m.id} is {m.state}, not failed: only failed messages are retried")
            ids = [m.id]
        else:
            ids = [m.id for m in store.messages(state="failed", route=_route(config, args.route), limit=10**9)]
        retried = store.retry_failed(ids, by=by, now=time.time())
    if retried:
        configure_logging("info", json=True, stream=sys.stderr)
        for mid in retried:
            log.info("message.retry_requested", message_id=mid, requested_by=by)
    if args.json:
        print(json.dumps({"retried": retried}))
    else:
        print(f"{len(retried)} failed message(s) back in line for delivery" if retried else "no failed messages")
        for mid in retried:
            print(f"  {mid}")
    return 0


def life(store: Store, config: Config, m: Message) -> dict[str, Any]:
    """The whole life of ``m`` as one JSON-able document."""
    header = store.header(m.src_chain, m.block_number)
    src_id, dst_id = config.chains[m.src_chain].chain_id, config.chains[m.dst_chain].chain_id
    attestations = store.attestations_of(src_id, dst_id, m.block_number)
    shown = view(config, m)
    return {
        **_summary(m, shown, store.ack_state(m)),
        "what": shown.what,
        "source": {"chain": m.src_chain, **shown.locator, "block": m.block_number, "block_hash": m.block_hash,
                   "final_at": m.final_at, "where": shown.where},
        "proof": {"header_verified": header is not None and header.hash.lower() == m.block_hash.lower(),
                  "commitment": header.commitment if header else None,
                  "attestations": attestations},
        "attempts": store.message_history(m.id),
        "destination": {"chain": m.dst_chain, "tx": m.delivered_tx, "cost": m.cost,
                        "transactions": store.message_txs(m.id)},
    }


def render_life(doc: dict[str, Any]) -> str:
    """Readable lines of a ``life`` document."""
    src, proof, dst = doc["source"], doc["proof"], doc["destination"]
    lines = [f"message {doc['id']}  {doc['route']}  nonce {doc['nonce']}  {doc['state']}",
             f"  what         {doc['what']}",
             f"  source       {src['chain']} {src['where']} block {src['block']} ({src['block_hash']}), "
             f"final {utc(src['final_at'])}",
             f"  proof        under commitment {proof['commitment'] or '-'} "
             f"(header {'verified' if proof['header_verified'] else 'not stored'}"
             f", {len(proof['attestations'])} attestations)"]
    for a in doc["attempts"]:
        lines.append(f"  attempt      {utc(a['at'])} {a['outcome']}: {a['reason'] or ''}")
    for t in dst["transactions"]:
        lines.append(f"  transaction  {dst['chain']} {t['hash']} nonce {t['nonce']} {t['state']}"
                     + (f" cost {t['cost']}" if t["cost"] else "") + (f" ({t['error']})" if t["error"] else ""))
    lines.append(f"  destination  {dst['chain']} tx {dst['tx'] or '-'}"
                 + (f" cost {dst['cost']}" if dst["cost"] else ""))
    if doc.get("outcome"):
        lines.append(f"  outcome      {doc['outcome']}" + (f" ({doc['outcome_result']})"
                                                          if doc.get("outcome_result") not in (None, "0x") else ""))
    if doc.get("ack") not in (None, "none"):
        lines.append(f"  ack          {doc['ack']}")
    if doc.get("acknowledges"):
        lines.append(f"  acknowledges {doc['acknowledges']}")
    if doc["reason"]:
        lines.append(f"  last reason  {doc['reason']}")
    return "\n".join(lines)


def view(config: Config, m: Message) -> MessageView:
    """``m``'s body and locator in its family's words (the ``relayer.message_views`` plugin named like the
    source chain's adapter), or as hex when the family has none or does not know their shape.
    Raises ConfigError when that plugin fails to load."""
    adapter = config.chains[m.src_chain].adapter if m.src_chain in config.chains else None
    describe = _describer(adapter) if adapter is not None else None
    shown = describe(m.body, m.locator) if describe is not None else None
    if shown is not None:
        return shown
    body, locator = "0x" + m.body.hex(), "0x" + m.locator.hex()
    return MessageView(body={"body": body}, locator={"locator": locator}, what=f"body {body}",
                       where=f"locator {locator}")


@cache
def _describer(adapter: str) -> MessageDescriber | None:
    if adapter not in plugins.installed(plugins.MESSAGE_VIEW_GROUP):
        return None
    describer: MessageDescriber = plugins.load(plugins.MESSAGE_VIEW_GROUP, adapter,
                                               key=f"{plugins.MESSAGE_VIEW_GROUP}.{adapter}")
    return describer


def _summary(m: Message, shown: MessageView, ack: str | None) -> dict[str, Any]:
    fields = {k: v for k, v in asdict(m).items() if k not in ("body", "locator", "labels", "ack_sent")}
    return {**fields, **shown.body, **shown.locator, "route": f"{m.src_chain}->{m.dst_chain}", "ack": ack}


def _message(store: Store, message_id: str) -> Message:
    m = store.message(message_id.lower()) or store.message(message_id)
    if m is None:
        raise UsageError(f"no message {message_id} in {store.where} (relayer messages list shows the ids)")
    return m


def _route(config: Config, text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    known = [f"{r.source}->{r.destination}" for r in config.routes]
    if text not in known:
        raise UsageError(f"--route {text!r} is not a configured route (routes: {', '.join(known)})")
    source, destination = text.split("->")
    return source, destination
