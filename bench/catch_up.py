"""Catch-up after downtime: source blocks the relayer verifies per second, against the chain's
block rate and the node's own ``eth_getBlockByNumber`` rate.

    python bench/catch_up.py [--blocks 20000]

Brings up the devnet (anvil alpha and beta, 1 s blocks, 3 operators), then stops every operator
and runs two phases, each of ``--blocks`` source blocks on alpha while operator-1 is down:

- *empty*: ``anvil_mine`` adds the blocks (no transactions);
- *messages*: interval mining off, one pre-signed ``TokenRouter.lockNative`` then ``evm_mine``, per block
  (so every block holds a ``MessageSent`` of the message layer: its receipts are fetched and checked
  against ``receiptsRoot``, the message is persisted), interval mining back on.

Operator-1 alone is then started; its ``relayer_light_client_height{chain="alpha"}`` is scraped
every 0.25 s; the rate is blocks / seconds between the first scrape at or above the start height
+ 100 (one scan step; the start-up is excluded) and the first at or above the target. Its peers
stay down, so nothing is delivered (no quorum): the figure is the follower's alone, while the
submitter waits for signatures. The node's limit is measured right after over the same blocks by a
plain client doing what the follower does per step: JSON-RPC batches of 100
``eth_getBlockByNumber`` (and, for the messages phase, one ``eth_getBlockReceipts`` per block).
Writes ``bench/results/catch-up.json`` (and ``.md``, rendered from it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for _path in (BENCH.parent, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import httpx  # noqa: E402
from eth_account import Account  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import relay_throughput as rt  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from common import start, write_result  # noqa: E402
from relayer.devnet import network  # noqa: E402
from relayer.follower import HEADER_BATCH  # noqa: E402

SOURCE, DEST = "alpha", "beta"
OPERATOR = 1


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def height(api: str, chain: str) -> int | None:
    try:
        text = httpx.get(f"{api}/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "relayer_light_client_height" and s.labels.get("chain") == chain:
                return int(s.value)
    return None


def follow(root: Path, api: str, first: int, target: int, timeout: float) -> dict[str, Any]:
    """Start operator-1, time its light client from ``first + HEADER_BATCH`` to ``target``."""
    spawned = time.monotonic()
    network.start_operator(root, OPERATOR)
    begin = begin_height = None
    last_report = time.monotonic()
    while True:
        now = time.monotonic()
        h = height(api, SOURCE)
        if h is not None and begin is None and h >= first + HEADER_BATCH:
            begin, begin_height = now, h
        if h is not None and h >= target and begin is not None:
            break
        if now - spawned > timeout:
            raise SystemExit(f"catch-up: light client at {h}, not {target}, after {timeout:g} s")
        if now - last_report > 10:
            say(f"  light client at {h} of {target}")
            last_report = now
        time.sleep(0.25)
    elapsed = now - begin
    blocks = h - begin_height
    network.stop_operator(root, OPERATOR)
    return {"blocks_timed": blocks, "seconds": round(elapsed, 2), "blocks_per_s": round(blocks / elapsed, 1),
            "start_to_timed_start_s": round(begin - spawned, 2), "from_block": begin_height, "to_block": h}


def node_rate(url: str, first: int, last: int, receipts: bool) -> dict[str, Any]:
    """What one plain client gets from the node over the same blocks, as the follower asks."""
    started = time.monotonic()
    requests = 0
    with SyncEvm(url, timeout=60.0) as evm:
        for low in range(first, last + 1, HEADER_BATCH):
            numbers = range(low, min(last, low + HEADER_BATCH - 1) + 1)
            evm.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
            requests += 1
            if receipts:
                for n in numbers:
                    evm.rpc("eth_getBlockReceipts", hex(n))
                    requests += 1
    elapsed = time.monotonic() - started
    return {"blocks": last - first + 1, "seconds": round(elapsed, 2),
            "blocks_per_s": round((last - first + 1) / elapsed, 1), "http_requests": requests}


def mine_empty(evm: SyncEvm, count: int) -> None:
    done = 0
    while done < count:
        step = min(500, count - done)
        evm.rpc("anvil_mine", hex(step), hex(1))
        done += step
        if done % 5000 == 0:
            say(f"  mined {done} of {count}")


def mine_locks(evm: SyncEvm, chain: dict[str, Any], dst_chain_id: int, count: int) -> None:
    """``count`` blocks with one TokenRouter lockNative each (``evm_mine`` after every transaction)."""
    user = rt.User(network.DEPLOYER_KEY, Account.from_key(network.DEPLOYER_KEY).address)
    user.nonces[SOURCE] = evm.nonce(user.address)
    router = chain["token_router"]
    data = rt.ROUTER.encode_call("lockNative", dst_chain_id, user.address, rt.EXPIRY)
    gas = rt.hx(evm.rpc("eth_estimateGas", {"from": user.address, "to": router, "data": "0x" + data.hex(),
                                              "value": hex(10**9)})) * 5 // 4
    say(f"  signing {count} locks")
    raws = [rt.sign(chain["chain_id"], user, SOURCE, router, data, gas, 10**9 + i) for i in range(count)]
    evm.rpc("evm_setIntervalMining", 0)
    try:
        say(f"  sending {count} locks, each followed by evm_mine (one block each)")
        for part in rt.chunks(raws, 200):
            calls: list[tuple[str, list[Any]]] = []
            for r in part:
                calls += [("eth_sendRawTransaction", ["0x" + r.hex()]), ("evm_mine", [])]
            evm.batch(calls)
    finally:
        evm.rpc("evm_setIntervalMining", 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="relayer-catch-up-") as tmp:
        root = Path(tmp) / "devnet"
        say("devnet up")
        deployment = network.up(root, report=lambda line: None)
        try:
            chains = deployment["chains"]
            api = deployment["operators"][OPERATOR - 1]["api"]
            for index in range(1, len(deployment["operators"]) + 1):
                network.stop_operator(root, index)
            evm = SyncEvm(chains[SOURCE]["rpc"], timeout=600.0)
            phases: dict[str, Any] = {}
            for phase in ("empty", "messages"):
                first = evm.block_number()
                say(f"{phase}: {args.blocks} blocks on {SOURCE} while operator-{OPERATOR} is down")
                t0 = time.monotonic()
                if phase == "empty":
                    mine_empty(evm, args.blocks)
                else:
                    mine_locks(evm, chains[SOURCE], chains[DEST]["chain_id"], args.blocks)
                last = evm.block_number()
                made_s = time.monotonic() - t0
                target = last - network.CONFIRMATIONS
                say(f"  made blocks {first + 1}..{last} in {made_s:.0f} s; operator-{OPERATOR} catches up")
                relayer = follow(root, api, first, target, args.timeout)
                say(f"  relayer: {relayer['blocks_per_s']} blocks/s over {relayer['blocks_timed']} blocks")
                node = node_rate(chains[SOURCE]["rpc"], first + 1, last, receipts=phase == "messages")
                say(f"  node: {node['blocks_per_s']} blocks/s (eth_getBlockByNumber"
                    f"{' + eth_getBlockReceipts' if phase == 'messages' else ''})")
                phases[phase] = {"blocks_made": args.blocks, "messages": args.blocks if phase == "messages" else 0,
                                 "relayer": relayer, "node": node,
                                 "vs_node": round(relayer["blocks_per_s"] / node["blocks_per_s"], 3),
                                 "vs_block_rate": round(relayer["blocks_per_s"] * network.BLOCK_TIME, 1)}
            evm.close()
        finally:
            network.down(root, report=lambda line: None)
    return {"parameters": {"blocks": args.blocks, "header_batch": HEADER_BATCH, "confirmations": network.CONFIRMATIONS,
                           "block_time_s": network.BLOCK_TIME, "operators_running": 1},
            "phases": phases}


def markdown(doc: dict[str, Any]) -> str:
    p = doc["parameters"]
    lines = ["# Catch-up after downtime: source blocks verified per second", "",
             f"{p['blocks']:,} blocks on the source chain (anvil, {p['block_time_s']:g} s blocks) were added while "
             "the operator was down; then operator-1 alone was started (peers down, so nothing was delivered) "
             "and its `relayer_light_client_height` timed from one scan step above its start to the final head. "
             f"The follower asks for headers in JSON-RPC batches of {p['header_batch']} and for the receipts of "
             "every block whose bloom names the message layer; the node limit is a plain client doing the same "
             "requests over the same blocks, right after.", "",
             "| phase | blocks timed | relayer blocks/s | node limit blocks/s | relayer / node | relayer / block rate "
             "| messages persisted |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    labels = {"empty": "empty blocks", "messages": "one lock (message) in every block"}
    for name, ph in doc["phases"].items():
        r, n = ph["relayer"], ph["node"]
        calls = "eth_getBlockByNumber + eth_getBlockReceipts" if name == "messages" else "eth_getBlockByNumber"
        lines.append(f"| {labels[name]} | {r['blocks_timed']:,} | {r['blocks_per_s']:,} | {n['blocks_per_s']:,} "
                     f"({calls}) "
                     f"| {ph['vs_node']:.2f} | {ph['vs_block_rate']:,}× | {ph['messages']:,} |")
    lines += ["", "*relayer / block rate*: how many times faster than the chain makes blocks the relayer catches "
              "up (a relayer down for an hour is back at the head after an hour / (ratio − 1)).", ""]
    return "\n".join(lines)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for name, label in (("empty", "empty blocks"), ("messages", "a message in every block")):
        ph = doc["phases"][name]
        out.append((f"catch-up after downtime, {label}, source blocks verified/s "
                    f"(over {ph['relayer']['blocks_timed']:,})", f"{ph['relayer']['blocks_per_s']:,}",
                    f"{ph['node']['blocks_per_s']:,} (node's own rate); 1 (block rate)",
                    f"{ph['vs_node']:.2f}; {ph['vs_block_rate']:,}×"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=20_000, help="blocks per phase (default 20000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one catch-up")
    args = parser.parse_args(argv)
    started = start()
    write_result("catch-up", "catch-up", run(args), started)


if __name__ == "__main__":
    main()
