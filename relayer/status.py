"""`relayer status`: routes, message counts per state, cursors, light-client heights and
pending transactions, read from the operator's state database (works with the daemon up or down)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from relayer.cli_common import open_store
from relayer.config import Config, load_config
from relayer.contract import OutcomeStatus
from relayer.store import STATES, Store


def snapshot(config: Config, store: Store, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """The status document; ``live`` adds what only the running daemon knows."""
    counts, outcomes = store.counts(), store.outcome_counts()
    now = time.time()
    routes = []
    for r in config.routes:
        states = {s: counts.get((r.source, r.destination), {}).get(s, 0) for s in STATES}
        oldest = store.oldest_open(r.source, r.destination)
        routes.append({"route": f"{r.source}->{r.destination}", "messages": states,
                       "outcomes": {o.value: outcomes.get((r.source, r.destination), {}).get(o.value, 0)
                                    for o in OutcomeStatus},
                       "oldest_open_age_s": round(now - oldest, 1) if oldest else None})
    cursors = store.cursors()
    chains: dict[str, dict[str, Any]] = {}
    for name in config.chains:
        latest = store.latest_header(name)
        chains[name] = {"cursor": cursors.get(name), "light_client_height": latest.number if latest else None,
                        "light_client_hash": latest.hash if latest else None}
        if live:
            chains[name].update(live.get("chains", {}).get(name, {}))
    pending = [{"chain": t.chain, "tx": t.hash, "nonce": t.nonce, "state": t.state,
                "messages": len(t.message_ids), "age_s": round(now - t.created_at, 1)} for t in store.open_txs()]
    evidence = store.evidence()  # the open rows: each halts relaying from its chain
    for item in evidence:
        if item["chain"] in chains:
            chains[item["chain"]]["halted"] = f"misbehaviour at block {item['number']} ({item['kind']})"
            chains[item["chain"]].setdefault("evidence_ids", []).append(item["id"])
    resolved = len(store.evidence(include_resolved=True)) - len(evidence)
    set_aside = [{"message_id": m.id, "route": f"{m.src_chain}->{m.dst_chain}", "nonce": m.nonce,
                  "state": m.state, "attempts": m.attempts, "reason": m.reason} for m in store.set_aside()]
    not_executed = [{"message_id": m.id, "route": f"{m.src_chain}->{m.dst_chain}", "nonce": m.nonce,
                     "outcome": m.outcome, "result": m.outcome_result, "ack": store.ack_state(m)}
                    for m in store.not_executed()]
    doc: dict[str, Any] = {"operator": config.operator.name, "routes": routes, "chains": chains,
                           "pending_transactions": pending, "set_aside": set_aside,
                           "not_executed": not_executed, "evidence": evidence,
                           "resolved_evidence": resolved}
    doc["leases"] = [row.describe(now) for row in store.leases()]  # fleet mode: who does which unit of work
    if live:
        doc["services"] = live.get("services", {})
    return doc


def render(doc: dict[str, Any]) -> str:
    """A readable table of the status document."""
    lines = [f"operator {doc['operator']}", "", f"{'route':<16}" + "".join(f"{s:>19}" for s in STATES)
             + f"{'oldest open':>13}"]
    for r in doc["routes"]:
        age = "-" if r["oldest_open_age_s"] is None else f"{r['oldest_open_age_s']}s"
        lines.append(f"{r['route']:<16}" + "".join(f"{r['messages'][s]:>19}" for s in STATES) + f"{age:>13}")
        if any(r.get("outcomes", {}).values()):
            lines.append(f"{'':<16}outcomes: " + ", ".join(f"{k} {v}" for k, v in r["outcomes"].items()))
    lines += ["", f"{'chain':<10}{'cursor':>10}{'light client':>14}  hash"]
    for name, c in doc["chains"].items():
        lines.append(f"{name:<10}{_s(c['cursor']):>10}{_s(c['light_client_height']):>14}  "
                     f"{c['light_client_hash'] or '-'}")
    for name, c in doc["chains"].items():
        for endpoint in c.get("rpc", []):
            lines.append(f"  {name} rpc {endpoint['url']}: {endpoint['state']} "
                         f"({endpoint['requests']} requests, {endpoint['errors']} errors)")
    for name, service in doc.get("services", {}).items():
        if service.get("state") != "running":
            lines.append(f"  service {name}: {service.get('state')} {service.get('error', '')}")
    for name, c in doc["chains"].items():
        if c.get("halted"):
            lines.append(f"ALARM {name}: relaying halted: {c['halted']}; see relayer evidence show "
                         f"{c.get('evidence_ids', ['ID'])[0]} --config FILE")
    if doc.get("set_aside"):
        lines += ["", "messages set aside (failed, or waiting for a retry):"]
        lines += [f"  {m['route']} nonce {m['nonce']} {m['message_id']} {m['state']} after {m['attempts']} "
                  f"attempt(s): {m['reason']}" for m in doc["set_aside"]]
    if doc.get("not_executed"):
        lines += ["", "messages the destination processed but did not execute (outcome, acknowledgement):"]
        lines += [f"  {m['route']} nonce {m['nonce']} {m['message_id']} {m['outcome']} {m['result']} ack {m['ack']}"
                  for m in doc["not_executed"]]
    if doc.get("leases"):
        lines += ["", f"{'lease':<24}{'token':>6}  holder (host, pid, since)"]
        lines += [f"{lease['lease']:<24}{lease['token']:>6}  {lease['holder']} ({lease['host']}, {lease['pid']}, "
                  f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(lease['since']))})"
                  + ("" if lease["live"] else f" EXPIRED {-lease['expires_in_s']}s ago") for lease in doc["leases"]]
    lines += ["", f"pending transactions: {len(doc['pending_transactions'])}"]
    lines += [f"  {t['chain']} nonce {t['nonce']} {t['tx']} {t['state']} ({t['messages']} messages, {t['age_s']}s)"
              for t in doc["pending_transactions"]]
    return "\n".join(lines)


def _live(config: Config) -> dict[str, Any] | None:
    host = config.operator.api_host if config.operator.api_host not in ("0.0.0.0", "::") else "127.0.0.1"
    try:
        reply = httpx.get(f"http://{host}:{config.operator.api_port}/v1/status", timeout=2.0)
        return reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _s(value: Any) -> str:
    return "-" if value is None else str(value)


def main(config_path: Path, *, as_json: bool) -> int:
    """Print the status: the running daemon's own view (with RPC endpoint health and services)
    when its API answers, else what the state database holds. Raises ConfigError, StoreError."""
    config = load_config(config_path)
    doc = _live(config)
    if doc is None:
        with open_store(config) as store:  # its log lines go to stderr
            doc = snapshot(config, store)
            doc["daemon"] = "not running (read from the state database)"
    print(json.dumps(doc, indent=2) if as_json else render(doc))
    return 0
