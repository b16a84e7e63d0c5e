"""The devnet's chain nodes: anvil (default) or the Hardhat node.

``start_node("hardhat", ...)`` writes a minimal Hardhat config (chain id, interval mining,
the devnet's funded keys, hardfork) next to the node's log and starts
``node_modules/.bin/hardhat node`` on a free port (pinned in package.json, installed by
``make setup``); Hardhat serves no ``eth_getBlockReceipts``, so the relayer falls back to
per-transaction receipts there. ``set_mining`` hides the two nodes' different units.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, REPO_ROOT, AnvilNode, free_port, start_anvil, wait_ready
from relayer.errors import DevnetError, UsageError

NODE_KINDS = ("anvil", "hardhat")
# Hardhat 2.29 defaults to osaka (a 2^24 gas cap per transaction); anvil 1.7's latest is prague.
# Any hardfork from berlin on works: the contracts are built for berlin (no PUSH0, MCOPY or
# transient storage), and a chain without a base fee (before london) gets legacy transactions.
HARDHAT_HARDFORK = "prague"
# What `relayer devnet up --hardfork CHAIN=FORK` accepts (both nodes know these; Hardhat calls paris "merge").
HARDFORKS = ("berlin", "london", "paris", "shanghai", "cancun", "prague", "osaka")
_HARDHAT_NAMES = {"paris": "merge"}
FUNDED_BALANCE = 10_000 * 10**18
GAS_LIMIT = 30_000_000


@dataclass
class ChainNode:
    """One running chain node of the devnet."""

    kind: str
    chain_id: int
    port: int
    pid: int | None
    hardfork: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def marker(self) -> str:
        """A word of the process's command line (guards against recycled pids)."""
        return self.kind

    def record(self) -> dict[str, Any]:
        """The node's entry in deployment.json."""
        return {"node": self.kind, "hardfork": self.hardfork, "pid": self.pid, "port": self.port}


def check_kind(kind: str, where: str) -> str:
    """``kind`` if it is a known node; raises UsageError naming ``where`` otherwise."""
    if kind not in NODE_KINDS:
        raise UsageError(f"{where}: unknown node {kind!r} (known: {', '.join(NODE_KINDS)})")
    return kind


def check_hardfork(fork: str, where: str) -> str:
    """``fork`` if the devnet can run it; raises UsageError naming ``where`` otherwise."""
    if fork not in HARDFORKS:
        raise UsageError(f"{where}: unsupported hardfork {fork!r} "
                         f"(supported, berlin and later: {', '.join(HARDFORKS)})")
    return fork


def start_node(kind: str, chain_id: int, *, block_time: float, log_path: Path, config_dir: Path,
               hardfork: str | None = None, detach: bool = True, timeout: float = 60.0) -> ChainNode:
    """Start a ``kind`` node (interval mining every ``block_time`` s) and wait until it answers.

    Raises UsageError for an unknown kind or hardfork, DevnetError when the node does not come up.
    """
    check_kind(kind, "node")
    if hardfork is not None:
        check_hardfork(hardfork, "hardfork")
    if kind == "anvil":
        extra = ["--hardfork", hardfork] if hardfork else []
        anvil = start_anvil(chain_id, block_time=block_time, log_path=log_path, extra_args=extra, detach=detach)
        return ChainNode("anvil", chain_id, anvil.port, anvil.pid, hardfork, anvil.process)
    return _start_hardhat(chain_id, block_time, log_path, config_dir, hardfork or HARDHAT_HARDFORK,
                          detach, timeout)


def hardhat_binary() -> Path:
    """``node_modules/.bin/hardhat``; raises DevnetError when it is not installed."""
    path = REPO_ROOT / "node_modules" / ".bin" / "hardhat"
    if not path.exists():
        raise DevnetError("hardhat is not installed; run `make setup` (npm ci installs the pinned hardhat 2.x)")
    return path


def hardhat_config(chain_id: int, block_time: float, hardfork: str) -> str:
    """A minimal Hardhat config: the devnet's funded keys, interval mining, chain id, hardfork."""
    network = {
        "chainId": chain_id, "hardfork": hardfork, "blockGasLimit": GAS_LIMIT,
        "mining": {"auto": False, "interval": int(block_time * 1000)},
        "accounts": [{"privateKey": key, "balance": str(FUNDED_BALANCE)} for key in ANVIL_KEYS],
    }
    return ("// written by `relayer devnet up`: the Hardhat node of one devnet chain\n"
            f"module.exports = {{ networks: {{ hardhat: {json.dumps(network, indent=2)} }} }};\n")


def _start_hardhat(chain_id: int, block_time: float, log_path: Path, config_dir: Path, hardfork: str,
                   detach: bool, timeout: float) -> ChainNode:
    config = config_dir / f"{log_path.stem}.hardhat.config.js"
    config.write_text(hardhat_config(chain_id, block_time, _HARDHAT_NAMES.get(hardfork, hardfork)))
    port = free_port()
    args = [str(hardhat_binary()), "node", "--hostname", "127.0.0.1", "--port", str(port), "--config", str(config)]
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
    with open(log_path, "ab") as out:
        # cwd: Hardhat refuses to run unless it finds its own local installation from there
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=REPO_ROOT, env=env, start_new_session=detach)
    wait_ready(AnvilNode(chain_id=chain_id, port=port, process=process), timeout, what="hardhat")
    return ChainNode("hardhat", chain_id, port, process.pid, hardfork, process)


def set_mining(evm: SyncEvm, kind: str, block_time: float | None) -> None:
    """Automine (``block_time=None``) or interval mining every ``block_time`` s. Raises RpcError."""
    if block_time is None:
        evm.rpc("evm_setAutomine", True)
    elif kind == "hardhat":  # independent switches; the interval is in milliseconds
        evm.rpc("evm_setAutomine", False)
        evm.rpc("evm_setIntervalMining", int(block_time * 1000))
    else:  # anvil: seconds, and interval mining replaces automine
        evm.rpc("evm_setIntervalMining", int(block_time))
