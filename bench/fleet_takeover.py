"""Fleet takeover: how long after the holder of a submitter lease dies the other process of the
same operator holds it, and delivers.

    python bench/fleet_takeover.py [--rounds 20] [--burst 100]

Brings up a fleet devnet (``relayer.devnet.network.up`` with 1 operator, threshold 1, ``--fleet 2``,
``--store postgresql``: operator-1 runs as two processes sharing one PostgreSQL database, lease
ttl ``network.LEASE_TTL``), then, ``--rounds`` times:

1. a ``TokenRouter`` lock transfer alpha -> beta with no kill, timed from its ``eth_sendRawTransaction``
   to the first new ``MessageProcessed`` log of beta's message layer (the reference delivery time of this route);
2. the holder of ``submitter:beta`` (read from the lease table of the operator's database) is
   killed with SIGKILL; a lock transfer is sent right after;
3. *takeover*: from the kill to the lease row naming the other process (polled every 0.05 s);
   *delivery*: from the kill to the first new ``MessageProcessed`` log on beta (polled every 0.1 s);
4. the killed process is started again with the devnet's own command line
   (``network.start_operator`` / ``network.start_fleet``, from deployment.json) and waited for
   until healthy, so the next round kills the other process.

The killed process is this script's child, so it stays a zombie until reaped; the lease code
treats a zombie as dead (as a process supervisor that reaps at once would make it). Reports the
median and maximum of both times; the lease ttl is the physical limit the takeover is held
against (a holder on another host, whose death cannot be seen, loses its lease only at expiry).
Before the kills, ``--burst`` messages (both routes, native coin and test token, pre-signed and sent
at once with ``relay_throughput``'s machinery) are relayed by the same fleet of 2 and, on a
second devnet with the same topology but ``--fleet 1`` (one process, also on PostgreSQL), by one
process: throughput (messages / seconds from sending to the last ``MessageProcessed`` seen) and latency
(destination block timestamp of the delivery minus source block timestamp of the lock).

Writes ``bench/results/fleet-takeover.json`` (and ``.md``, rendered from it).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for _path in (BENCH.parent, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from eth_account import Account  # noqa: E402

import relay_throughput as rt  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from common import start, write_result  # noqa: E402
from relayer.devnet import network  # noqa: E402
from relayer.store import Store  # noqa: E402

SOURCE, DEST = "alpha", "beta"
LEASE = f"submitter:{DEST}"


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


class Route:
    """TokenRouter lock transfers alpha -> beta from the deployer, and the ``MessageProcessed`` logs of
    beta's message layer."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        chains = deployment["chains"]
        self.src, self.dst = chains[SOURCE], chains[DEST]
        self.src_evm, self.dst_evm = SyncEvm(self.src["rpc"]), SyncEvm(self.dst["rpc"])
        self.user = rt.User(network.DEPLOYER_KEY, Account.from_key(network.DEPLOYER_KEY).address)
        self.user.nonces[SOURCE] = self.src_evm.nonce(self.user.address)
        self.data = rt.ROUTER.encode_call("lockNative", self.dst["chain_id"], self.user.address, rt.EXPIRY)
        self.gas = rt.hx(self.src_evm.rpc("eth_estimateGas", {
            "from": self.user.address, "to": self.src["token_router"], "data": "0x" + self.data.hex(),
            "value": hex(10**15)})) * 5 // 4
        self.sent = 0

    def delivered(self) -> int:
        logs = self.dst_evm.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest",
                                               "address": self.dst["message_layer"],
                                               "topics": [rt.PROCESSED_TOPIC]})
        return len(logs)

    def send(self) -> None:
        self.sent += 1
        raw = rt.sign(self.src["chain_id"], self.user, SOURCE, self.src["token_router"], self.data, self.gas,
                      10**15 + self.sent)
        self.src_evm.rpc("eth_sendRawTransaction", "0x" + raw.hex())

    def wait_delivered(self, count: int, since: float, timeout: float) -> float:
        """Seconds from ``since`` (monotonic) until beta shows ``count`` MessageProcessed logs."""
        while self.delivered() < count:
            if time.monotonic() - since > timeout:
                raise SystemExit(f"fleet-takeover: message {count} not delivered on {DEST} after {timeout:g} s")
            time.sleep(0.1)
        return time.monotonic() - since


def holder(store: Store) -> tuple[int, int] | None:
    """(pid, token) of the live holder of the lease, or None."""
    row = store.lease(LEASE)
    if row is None or row.expires_at <= time.time():
        return None
    return row.pid, row.token


def fleet_pids(root: Path) -> dict[int, str]:
    op = network.load_deployment(root)["operators"][0]
    return {op["pid"]: "main", **{extra["pid"]: extra["name"] for extra in op["fleet"]}}


def wait_for(what: str, predicate: Any, timeout: float, step: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"fleet-takeover: timed out after {timeout:g} s waiting for {what}")


def one_round(root: Path, store: Store, route: Route, timeout: float) -> dict[str, Any]:
    pids = fleet_pids(root)
    pid, token = wait_for(f"a live holder of {LEASE}", lambda: (h := holder(store)) and h[0] in pids and h, 60, 0.1)
    expected = route.delivered() + 1
    t0 = time.monotonic()
    route.send()
    reference = route.wait_delivered(expected, t0, timeout)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    route.send()
    new_pid, new_token = wait_for(f"another holder of {LEASE}",
                                  lambda: (h := holder(store)) and h[0] != pid and h, timeout, 0.05)
    takeover = time.monotonic() - killed_at
    delivery = route.wait_delivered(expected + 1, killed_at, timeout)
    if pids[pid] == "main":
        network.start_operator(root, 1)
    else:
        network.start_fleet(root, 1)
    network.wait_healthy(root, [1], report=lambda line: None)
    return {"killed_pid": pid, "killed": pids[pid], "token_before": token, "new_holder_pid": new_pid,
            "token_after": new_token, "takeover_s": round(takeover, 3), "delivery_after_kill_s": round(delivery, 3),
            "delivery_no_kill_s": round(reference, 3)}


def burst(deployment: dict[str, Any], count: int, timeout: float) -> dict[str, Any]:
    """Relay ``count`` messages sent at once; throughput and latency (relay_throughput's machinery)."""
    chains = rt.Chains(deployment)
    try:
        users = rt.make_users(4)
        rt.prepare_users(chains, deployment, users)
        planned = rt.plan(users, count)
        rt.sign_all(chains, planned, rt.lock_gas_limits(chains, users[0]))
        dst_start = {name: chains.head(name) for name in chains.info}
        t0 = time.time()
        rt.send(chains, planned, None)
        rt.record_sources(chains, planned)
        seen, done_at = rt.wait_delivered(chains, planned, dst_start, timeout)
        if len(seen) < count:
            raise SystemExit(f"fleet-takeover: burst: {count - len(seen)} of {count} messages not delivered")
        latencies = []
        for name in chains.info:
            mine = [p for p in planned if p.src == name]
            src_blocks = chains.blocks(name, [p.src_block for p in mine])
            dst = mine[0].dst
            dst_blocks = chains.blocks(dst, [rt.hx(seen[p.msg_id.lower()]["blockNumber"]) for p in mine])
            latencies += [rt.hx(dst_blocks[rt.hx(seen[p.msg_id.lower()]["blockNumber"])]["timestamp"])
                          - rt.hx(src_blocks[p.src_block]["timestamp"]) for p in mine]
    finally:
        chains.close()
    return {"messages": count, "seconds": round(done_at - t0, 2), "messages_per_s": round(count / (done_at - t0), 2),
            "latency_s": {"median": statistics.median(latencies), "p95": rt.pct(latencies, 95),
                          "max": max(latencies)}}


def stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3),
            "min": round(min(values), 3)}


def burst_alone(count: int, timeout: float) -> dict[str, Any]:
    """The burst on a devnet whose operator runs as one process on PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="relayer-fleet-1-") as tmp:
        root = Path(tmp) / "devnet"
        say("devnet up (1 operator, threshold 1, fleet 1, PostgreSQL)")
        deployment = network.up(root, report=lambda line: None, operators=1, threshold=1, fleet=1,
                                store="postgresql")
        try:
            say(f"burst of {count} messages, one process")
            return burst(deployment, count, timeout)
        finally:
            network.down(root, report=lambda line: None)  # also removes a cluster made outside root


def run(args: argparse.Namespace) -> dict[str, Any]:
    bursts: dict[str, Any] = {}
    if args.burst:
        bursts["fleet_1"] = burst_alone(args.burst, args.timeout * 5)
    with tempfile.TemporaryDirectory(prefix="relayer-fleet-takeover-") as tmp:
        root = Path(tmp) / "devnet"
        say("devnet up (1 operator, threshold 1, fleet 2, PostgreSQL)")
        deployment = network.up(root, report=lambda line: None, operators=1, threshold=1, fleet=2,
                                store="postgresql")
        try:
            if args.burst:
                say(f"burst of {args.burst} messages, two processes")
                bursts["fleet_2"] = burst(deployment, args.burst, args.timeout * 5)
            store = Store(deployment["postgres"]["databases"]["operator-1"], pool_size=1)
            route = Route(deployment)
            rounds = []
            for index in range(1, args.rounds + 1):
                r = one_round(root, store, route, args.timeout)
                rounds.append(r)
                say(f"round {index}: killed {r['killed']} (pid {r['killed_pid']}); takeover {r['takeover_s']:.2f} s, "
                    f"delivery {r['delivery_after_kill_s']:.2f} s after the kill ({r['delivery_no_kill_s']:.2f} s "
                    "with no kill)")
            store.close()
        finally:
            network.down(root, report=lambda line: None)  # also removes a cluster made outside root
    takeover = stats([r["takeover_s"] for r in rounds])
    return {"parameters": {"rounds": args.rounds, "lease_ttl_s": network.LEASE_TTL, "operators": 1, "threshold": 1,
                           "fleet": 2, "store": "postgresql", "lease": LEASE, "route": f"{SOURCE}->{DEST}",
                           "block_time_s": network.BLOCK_TIME, "confirmations": network.CONFIRMATIONS,
                           "burst": args.burst},
            "bursts": bursts,
            "takeover_s": takeover,
            "delivery_after_kill_s": stats([r["delivery_after_kill_s"] for r in rounds]),
            "delivery_no_kill_s": stats([r["delivery_no_kill_s"] for r in rounds]),
            "takeover_vs_lease_ttl": {"median": round(takeover["median"] / network.LEASE_TTL, 3),
                                      "max": round(takeover["max"] / network.LEASE_TTL, 3)},
            "rounds": rounds}


def markdown(doc: dict[str, Any]) -> str:
    p = doc["parameters"]
    t, d, n, ratio = doc["takeover_s"], doc["delivery_after_kill_s"], doc["delivery_no_kill_s"], \
        doc["takeover_vs_lease_ttl"]
    lines = ["# Fleet takeover: the submitter lease holder killed", "",
             f"A fleet devnet ({p['operators']} operator, threshold {p['threshold']}, {p['fleet']} processes on one "
             f"PostgreSQL database, lease ttl {p['lease_ttl_s']:g} s, anvil {p['block_time_s']:g} s blocks, "
             f"{p['confirmations']} confirmations). In each of {p['rounds']} rounds the holder of `{p['lease']}` "
             "was killed with SIGKILL and a transfer on "
             f"{p['route']} sent right after; *takeover* runs from the kill to the lease row naming the other "
             "process, *delivery* from the kill to that transfer's `MessageProcessed` log on the destination. The same "
             "transfer sent with no kill, just before, gives the route's own delivery time. The killed process "
             "was then restarted with the devnet's command line, so the rounds alternate between the two.", "",
             "| figure | median | maximum | minimum |", "|---|---:|---:|---:|",
             f"| takeover (s) | {t['median']:.2f} | {t['max']:.2f} | {t['min']:.2f} |",
             f"| takeover / lease ttl | {ratio['median']:.2f} | {ratio['max']:.2f} | |",
             f"| delivery after the kill (s) | {d['median']:.2f} | {d['max']:.2f} | {d['min']:.2f} |",
             f"| delivery with no kill (s) | {n['median']:.2f} | {n['max']:.2f} | {n['min']:.2f} |", "",
             "The lease ttl is the limit for a holder whose death the survivor cannot see (another host): its "
             "lease moves only at expiry. On one host the survivor sees the dead pid and takes over at its next "
             "poll (at most 1 s).", "",
             *burst_lines(doc),
             "| round | killed | takeover s | delivery after kill s | delivery, no kill s | token |",
             "|---:|---|---:|---:|---:|---|"]
    for i, r in enumerate(doc["rounds"], 1):
        killed = "operator-1" if r["killed"] == "main" else r["killed"]
        lines.append(f"| {i} | {killed} | {r['takeover_s']:.2f} | {r['delivery_after_kill_s']:.2f} "
                     f"| {r['delivery_no_kill_s']:.2f} | {r['token_before']} → {r['token_after']} |")
    lines.append("")
    return "\n".join(lines)


def burst_lines(doc: dict[str, Any]) -> list[str]:
    bursts = doc.get("bursts") or {}
    if not bursts:
        return []
    lines = [f"A burst of {doc['parameters']['burst']} messages (both routes alpha<->beta, native coin and test token, "
             "sent at once) relayed by the operator as one process and as the fleet of two, each on PostgreSQL "
             "(latency: destination block of the delivery minus source block of the lock, timestamps):", "",
             "| processes | messages/s | latency median s | p95 s | max s |", "|---:|---:|---:|---:|---:|"]
    for key, label in (("fleet_1", "1"), ("fleet_2", "2")):
        if key in bursts:
            b = bursts[key]
            lines.append(f"| {label} | {b['messages_per_s']:.2f} | {b['latency_s']['median']:g} "
                         f"| {b['latency_s']['p95']:g} | {b['latency_s']['max']:g} |")
    return [*lines, ""]


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    p, t, d, n, ratio = doc["parameters"], doc["takeover_s"], doc["delivery_after_kill_s"], \
        doc["delivery_no_kill_s"], doc["takeover_vs_lease_ttl"]
    rows = [
        (f"fleet takeover: lease holder SIGKILLed to the other process holding `{p['lease']}`, s "
         f"(median; max over {p['rounds']} kills)", f"{t['median']:.2f}; {t['max']:.2f}",
         f"{p['lease_ttl_s']:g} (lease ttl)", f"{ratio['median']:.2f}; {ratio['max']:.2f}"),
        (f"fleet takeover: kill to delivery of a transfer sent right after, s (median; max over {p['rounds']})",
         f"{d['median']:.2f}; {d['max']:.2f}", f"{n['median']:.2f}; {n['max']:.2f} (same route, no kill)",
         f"{d['median'] / n['median']:.2f}; {d['max'] / n['max']:.2f}"),
    ]
    bursts = doc.get("bursts") or {}
    if "fleet_1" in bursts and "fleet_2" in bursts:
        one, two = bursts["fleet_1"], bursts["fleet_2"]
        rows.append((f"fleet of 2 processes vs 1 on PostgreSQL, burst of {p['burst']}: messages/s; median latency s",
                     f"{two['messages_per_s']:.2f}; {two['latency_s']['median']:g}",
                     f"{one['messages_per_s']:.2f}; {one['latency_s']['median']:g} (one process)",
                     f"{two['messages_per_s'] / one['messages_per_s']:.2f}; "
                     f"{two['latency_s']['median'] / one['latency_s']['median']:.2f}"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills (default 20)")
    parser.add_argument("--burst", type=int, default=100,
                        help="messages of the burst relayed by 1 and by 2 processes (default 100; 0 skips it)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one takeover or delivery")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    started = start()
    write_result("fleet-takeover", "fleet-takeover", run(args), started)


if __name__ == "__main__":
    main()
