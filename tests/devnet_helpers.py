"""Small helpers the devnet tests share: deployment look-ups, waiting, reading operator logs,
rewriting an operator's RPC list, restarting operators, and `relayer status --json`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relayer.devnet import network


def quiet(line: str) -> None:
    """A progress reporter that prints nothing."""


def chain(root: Path, name: str) -> dict[str, Any]:
    return dict(network.load_deployment(root)["chains"][name])


def now_iso() -> str:
    """The current time in the operators' log timestamp format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events(root: Path, name: str, since: str = "") -> list[dict[str, Any]]:
    """Every operator's log lines of event ``name`` at or after ``since`` (with ``operator`` added)."""
    out = []
    for path in sorted((root / "logs").glob("operator-*.log")):
        for line in path.read_text().splitlines():
            if f'"{name}"' in line:
                record = json.loads(line)
                if record["event"] == name and record["timestamp"] >= since:
                    out.append({**record, "operator": path.stem})
    return sorted(out, key=lambda r: r["timestamp"])


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something true (returned); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def use_rpcs(root: Path, index: int, chain_name: str, urls: list[str]) -> None:
    """Rewrite ``rpc`` of ``[chains.<chain_name>]`` in operator ``index``'s TOML."""
    path = network.DevnetPaths.of(root).config(index)
    head, rest = path.read_text().split(f"[chains.{chain_name}]\n", 1)
    body, sep, tail = rest.partition("\n[")
    body = re.sub(r"^rpc = .*$", "rpc = " + json.dumps(urls), body, count=1, flags=re.M)
    path.write_text(f"{head}[chains.{chain_name}]\n{body}{sep}{tail}")


def retry_quickly(root: Path, max_attempts: int) -> None:
    """Give every route of every operator a short retry policy (``max_attempts`` attempts, 1 s
    before the second, doubling) and restart them."""
    for index in range(1, len(network.load_deployment(root)["operators"]) + 1):
        path = network.DevnetPaths.of(root).config(index)
        text = path.read_text()
        path.write_text(re.sub(r"^\[\[routes\]\]\n", f"[[routes]]\nmax_attempts = {max_attempts}\nretry_base = 1.0\n",
                               text, flags=re.M))
    restart(root, list(range(1, len(network.load_deployment(root)["operators"]) + 1)))


def restart(root: Path, indices: list[int]) -> None:
    """Stop the operators (in parallel), start them again and wait until they are healthy."""
    with ThreadPoolExecutor(len(indices)) as pool:
        list(pool.map(lambda i: network.stop_operator(root, i), indices))
    for index in indices:
        network.start_operator(root, index)
    network.wait_healthy(root, indices, report=quiet)


def operator_status(root: Path, index: int) -> dict[str, Any]:
    """`relayer status --json` of operator ``index``."""
    config = network.load_deployment(root)["operators"][index - 1]["config"]
    out = subprocess.run([sys.executable, "-m", "relayer", "status", "--config", config, "--json"],
                         capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(out.stdout))


# ------------------------------------------------------------------ the message layer on the devnet
# (deployment.json keys: message_layer, token_router, ...; see relayer/devnet/deploy.py)

def layer_word(address: str) -> bytes:
    """An address as the message layer names it: left-padded to 32 bytes."""
    return bytes(12) + bytes.fromhex(address.removeprefix("0x"))


def outcome_of(root: Path, src: str, dst: str, nonce: int) -> int:
    """The outcome ``dst``'s message layer recorded for message ``nonce`` of ``src``'s layer: 0 not
    processed, 1 delivered, 2 failed, 3 expired."""
    from adapters.evm.sync_client import SyncEvm

    s, d = chain(root, src), chain(root, dst)
    evm = SyncEvm(d["rpc"])
    try:
        return int(evm.call(d["message_layer"], "MessageLayer", "outcomeOf", s["chain_id"],
                            layer_word(s["message_layer"]), nonce))
    finally:
        evm.close()


def processed(root: Path, src: str, dst: str, nonce: int) -> bool:
    """Whether ``dst``'s message layer processed message ``nonce`` of ``src`` (any outcome)."""
    return outcome_of(root, src, dst, nonce) != 0


def processed_logs(root: Path, dst: str, message_id: str | None = None) -> list[dict[str, Any]]:
    """Every ``MessageProcessed`` log of ``dst``'s message layer (of one message when ``message_id``)."""
    from adapters.evm.abi import Contract
    from adapters.evm.sync_client import SyncEvm

    d = chain(root, dst)
    topics: list[Any] = ["0x" + Contract.load("MessageLayer").event_topic("MessageProcessed").hex()]
    if message_id is not None:
        topics.append(message_id)
    evm = SyncEvm(d["rpc"])
    try:
        return list(evm.rpc("eth_getLogs", {"address": d["message_layer"], "fromBlock": "0x0", "toBlock": "latest",
                                            "topics": topics}))
    finally:
        evm.close()


def set_layer_paused(root: Path, name: str, paused: bool) -> None:
    """Pause (a guardian or the owner: the devnet's deployer) or unpause (the owner) ``name``'s
    message layer: every delivery to it is refused while paused."""
    from adapters.evm.sync_client import SyncEvm
    from relayer.devnet.anvil import ANVIL_KEYS

    c = chain(root, name)
    evm = SyncEvm(c["rpc"])
    try:
        evm.transact(ANVIL_KEYS[0], c["message_layer"], "MessageLayer", "pause" if paused else "unpause")
    finally:
        evm.close()
