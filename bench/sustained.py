"""A sustained load on the devnet: resident memory of the operators over ``--messages``
messages, JSON-RPC requests per delivered message, and restart to first delivery on the store
that load left behind.

    python bench/sustained.py [--messages 20000] [--rate 100]

Brings up the devnet (anvil alpha and beta, 1 s blocks, 3 operators, committee 2-of-3), funds
9 users and approves the token routers (as ``bench/relay_throughput.py``), measures the operators' idle
JSON-RPC rate for ``--idle`` s, then:

1. *memory and RPC*: sends ``--messages`` pre-signed ``TokenRouter`` locks (native and token, both
   directions, fresh recipients) at ``--rate`` messages per second, and samples every operator's resident set
   (``VmRSS`` of ``/proc/PID/status``) every second until all are delivered (``MessageProcessed`` logs
   of both message layers). Growth = RSS at the end / RSS once the first 10% of the messages were delivered
   (the caches are warm then) - 1. JSON-RPC = ``relayer_rpc_requests_total`` deltas of the three
   operators over that window / messages delivered (gross), and minus the idle rate (marginal).
2. *restart to first delivery*: stops every operator (SIGTERM), sends ``--restart-messages``
   locks alpha->beta into one block, waits until they are final, starts all three at once and
   polls beta's message layer every 0.1 s: seconds from the spawn to the first ``MessageProcessed``
   of them, and
   ``relayer_store_reads_total`` of each operator scraped right then, per route (2 routes).

Writes ``bench/results/sustained.json`` (and ``.md``, rendered from it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for _path in (BENCH.parent, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import relay_throughput as rt  # noqa: E402
from common import start, write_result  # noqa: E402
from relayer.devnet import network  # noqa: E402

ROUTES = 2


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def delivered_total(operators: list[dict[str, Any]]) -> float:
    out = 0.0
    for op in operators:
        try:
            out += rt.total(rt.scrape(op["api"]), "relayer_messages_delivered_total")
        except Exception:  # noqa: BLE001 - a scrape that fails only delays the progress line
            pass
    return out


def store_reads(api: str) -> float:
    return rt.total(rt.scrape(api), "relayer_store_reads_total")


def memory_and_rpc(args: argparse.Namespace, root: Path, deployment: dict[str, Any],
                   chains: rt.Chains) -> dict[str, Any]:
    operators = deployment["operators"]
    users = rt.make_users(9)
    rt.prepare_users(chains, deployment, users)
    planned = rt.plan(users, args.messages)
    limits = rt.lock_gas_limits(chains, users[0])
    say(f"signing {len(planned)} locks")
    rt.sign_all(chains, planned, limits)
    say(f"idle baseline {args.idle:g} s")
    idle0 = rt.Snapshot.take(operators)
    time.sleep(args.idle)
    idle1 = rt.Snapshot.take(operators)
    idle_rate = (idle1.requests() - idle0.requests()) / (idle1.at - idle0.at)
    dst_start = {name: chains.head(name) + 1 for name in chains.info}
    pids = {op["name"]: network.load_deployment(root)["operators"][i]["pid"] for i, op in enumerate(operators)}
    samples: list[dict[str, Any]] = []
    before = rt.Snapshot.take(operators)
    sender = threading.Thread(target=rt.send, args=(chains, planned, args.rate), daemon=True)
    started = time.time()
    sender.start()
    say(f"sending {len(planned)} locks at {args.rate:g}/s; sampling RSS every second")
    deadline = time.monotonic() + len(planned) / args.rate + args.timeout
    last_line = 0.0
    while True:
        delivered = delivered_total(operators)
        samples.append({"t": round(time.time() - started, 1), "delivered": int(delivered),
                        **{name: rss_kib(pid) for name, pid in pids.items()}})
        if delivered >= len(planned) and not sender.is_alive():
            break
        if time.monotonic() > deadline:
            say(f"timeout: {int(delivered)} of {len(planned)} delivered")
            break
        if time.monotonic() - last_line > 15:
            rss = ", ".join(f"{n} {samples[-1][n] // 1024 if samples[-1][n] else '?'} MiB" for n in pids)
            say(f"delivered {int(delivered)}/{len(planned)}; RSS {rss}")
            last_line = time.monotonic()
        time.sleep(1.0)
    sender.join()
    after = rt.Snapshot.take(operators)
    rt.record_sources(chains, planned)
    wanted = {p.msg_id.lower() for p in planned}
    on_chain = sum(1 for dst in chains.info for mid in rt.delivered_logs(chains, dst, dst_start[dst]) if mid in wanted)
    window = after.at - before.at
    requests = after.requests() - before.requests()
    warm_at = next((s for s in samples if s["delivered"] >= len(planned) // 10), samples[0])
    memory = {}
    for name in pids:
        values = [s[name] for s in samples if s[name]]
        warm, end = warm_at[name], samples[-1][name]
        memory[name] = {"start_kib": values[0], "warm_kib": warm, "end_kib": end, "peak_kib": max(values),
                        "growth_after_warm_pct": round(100.0 * (end - warm) / warm, 1)}
    return {
        "messages_sent": len(planned), "messages_delivered": on_chain, "rate_per_s": args.rate,
        "window_s": round(window, 1), "warm_at_delivered": warm_at["delivered"], "warm_at_s": warm_at["t"],
        "memory": memory,
        "rpc": {"requests": int(requests), "idle_requests_per_s": round(idle_rate, 2),
                "gross_per_delivered_message": round(requests / max(on_chain, 1), 3),
                "marginal_per_delivered_message": round((requests - idle_rate * window) / max(on_chain, 1), 3)},
        "rss_samples": samples[:: max(1, len(samples) // 120)],
    }


def restart(args: argparse.Namespace, root: Path, deployment: dict[str, Any], chains: rt.Chains) -> dict[str, Any]:
    operators = deployment["operators"]
    for index in range(1, len(operators) + 1):
        network.stop_operator(root, index)
    users = rt.make_users(1)
    for name in chains.info:
        users[0].nonces[name] = chains.evm[name].nonce(users[0].address)
    planned = [p for p in rt.plan(users * 2, 2 * args.restart_messages) if p.src == "alpha"]
    for p in planned:
        p.asset = "native"
    rt.sign_all(chains, planned, rt.lock_gas_limits(chains, users[0]))
    dst_start = chains.head("beta") + 1
    rt.send(chains, planned, None)
    rt.record_sources(chains, planned)
    final_block = max(p.src_block for p in planned) + network.CONFIRMATIONS + 1
    while chains.head("alpha") < final_block:
        time.sleep(0.2)
    wanted = {p.msg_id.lower() for p in planned}
    say(f"{len(planned)} locks in block(s) {sorted({p.src_block for p in planned})} are final; starting all operators")
    spawned = time.monotonic()
    for index in range(1, len(operators) + 1):
        network.start_operator(root, index)
    while True:
        logs = rt.delivered_logs(chains, "beta", dst_start)
        hit = next((lg for mid, lg in logs.items() if mid in wanted), None)
        if hit is not None:
            first_s = time.monotonic() - spawned
            break
        if time.monotonic() - spawned > 120:
            raise SystemExit("restart: nothing delivered within 120 s of the start")
        time.sleep(0.1)
    reads = {op["name"]: store_reads(op["api"]) for op in operators}
    tx = chains.evm["beta"].rpc("eth_getTransactionByHash", hit["transactionHash"])
    by_address = {op["address"].lower(): op["name"] for op in operators}
    deliverer = by_address.get(tx["from"].lower(), tx["from"])
    rt.wait_delivered(chains, planned, {"alpha": 0, "beta": dst_start}, 60.0)
    return {"messages": len(planned), "first_delivery_s": round(first_s, 2), "delivered_by": deliverer,
            "store_reads_at_first_delivery": {n: int(v) for n, v in reads.items()},
            "store_reads_per_route": {n: round(v / ROUTES, 1) for n, v in reads.items()},
            "messages_in_store_before": None}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="relayer-sustained-") as tmp:
        root = Path(tmp) / "devnet"
        say("devnet up")
        deployment = network.up(root, report=lambda line: None)
        chains = rt.Chains(deployment)
        try:
            memory = memory_and_rpc(args, root, deployment, chains)
            say(f"memory: {memory['memory']}; rpc {memory['rpc']}")
            again = restart(args, root, deployment, chains)
            again["messages_in_store_before"] = memory["messages_delivered"]
            say(f"restart: {again}")
        finally:
            chains.close()
            network.down(root, report=lambda line: None)
    return {"parameters": {"messages": args.messages, "rate_per_s": args.rate, "idle_s": args.idle,
                           "restart_messages": args.restart_messages, "operators": network.OPERATORS,
                           "block_time_s": network.BLOCK_TIME, "confirmations": network.CONFIRMATIONS,
                           "grace_period_s": network.GRACE_PERIOD, "poll_interval_s": network.POLL_INTERVAL},
            "load": memory, "restart": again}


def markdown(doc: dict[str, Any]) -> str:
    p, load, again = doc["parameters"], doc["load"], doc["restart"]
    lines = ["# Sustained load: memory, JSON-RPC per message, restart to first delivery", "",
             f"Devnet (anvil, {p['block_time_s']:g} s blocks, {p['confirmations']} confirmations, {p['operators']} "
             f"operators, committee 2-of-3, grace {p['grace_period_s']:g} s, poll {p['poll_interval_s']:g} s). "
             f"{load['messages_sent']:,} TokenRouter lock transfers (native and token, both directions, fresh "
             f"recipients) sent at {p['rate_per_s']:g} messages/s; {load['messages_delivered']:,} delivered "
             "(MessageProcessed logs of the destination message layers) "
             f"in a window of {load['window_s']:,} s.", "",
             "## Resident memory", "",
             f"VmRSS sampled every second; *warm* = once {load['warm_at_delivered']:,} messages (10%) were "
             f"delivered ({load['warm_at_s']:g} s in).", "",
             "| operator | at start, MiB | warm, MiB | at the end, MiB | peak, MiB | growth after warm-up |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, m in load["memory"].items():
        lines.append(f"| {name} | {m['start_kib'] / 1024:.1f} | {m['warm_kib'] / 1024:.1f} | "
                     f"{m['end_kib'] / 1024:.1f} | {m['peak_kib'] / 1024:.1f} | {m['growth_after_warm_pct']:+.1f}% |")
    r = load["rpc"]
    lines += ["", "## JSON-RPC requests per delivered message", "",
              f"{r['requests']:,} HTTP requests by the three operators over the window "
              f"(`relayer_rpc_requests_total`); idle rate {r['idle_requests_per_s']:g}/s measured for "
              f"{p['idle_s']:g} s before.", "",
              "| figure | value | aim |", "|---|---:|---:|",
              f"| gross requests per delivered message | {r['gross_per_delivered_message']:g} | < 1 |",
              f"| marginal (idle polling subtracted) | {r['marginal_per_delivered_message']:g} | ≪ 1 |",
              "", "## Restart to first delivery", "",
              f"All three operators stopped (SIGTERM) with {again['messages_in_store_before']:,} messages in "
              f"their stores; {again['messages']} locks alpha→beta sent and final; all three started at once.", "",
              "| figure | value |", "|---|---:|",
              f"| spawn → first MessageProcessed on beta, s | {again['first_delivery_s']:g} |",
              f"| delivered by | {again['delivered_by']} |"]
    for name, reads in again["store_reads_per_route"].items():
        lines.append(f"| store reads per route until then, {name} | {reads:g} |")
    lines += ["", "Store reads: `relayer_store_reads_total` scraped right after the first delivery was seen "
              f"(polled every 0.1 s), divided by the {ROUTES} routes; it counts every query since the process "
              "started (start-up, the polls of followers and submitters).", ""]
    return "\n".join(lines)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    load, again = doc["load"], doc["restart"]
    growth = max(m["growth_after_warm_pct"] for m in load["memory"].values())
    peak = max(m["peak_kib"] for m in load["memory"].values()) / 1024
    reads = max(again["store_reads_per_route"].values())
    return [(f"resident memory growth over {load['messages_delivered']:,} messages (worst operator; peak MiB)",
             f"{growth:+.1f}% ({peak:.0f} MiB)", "0%", ""),
            (f"JSON-RPC requests per delivered message, {load['messages_delivered']:,} at "
             f"{load['rate_per_s']:g}/s (gross / idle subtracted)",
             f"{load['rpc']['gross_per_delivered_message']:g} / {load['rpc']['marginal_per_delivered_message']:g}",
             "< 1", ""),
            (f"restart to first delivery, s (store of {again['messages_in_store_before']:,} messages)",
             f"{again['first_delivery_s']:g}", "", ""),
            ("store reads per route, start to first delivery (worst operator)", f"{reads:g}", "", "")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second over both chains")
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--restart-messages", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds beyond the sending time")
    args = parser.parse_args(argv)
    started = start()
    write_result("sustained", "sustained", run(args), started)


if __name__ == "__main__":
    main()
