"""Start and stop real anvil nodes (from the pinned npm package) on free ports."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from relayer.devnet.processes import stop_child, terminate
from relayer.errors import DevnetError

REPO_ROOT = Path(__file__).resolve().parents[2]
# anvil's default mnemonic ("test test ... junk") account 0..9 keys are public knowledge.
ANVIL_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
]


def anvil_binary() -> str:
    """Path of the anvil executable: ``$RELAYER_ANVIL``, the npm package's native binary, or PATH.

    Raises DevnetError when none is installed (run ``make setup``).
    """
    explicit = os.environ.get("RELAYER_ANVIL")
    if explicit:
        return explicit
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
    system = platform.system().lower()
    native = REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if native.exists():
        return str(native)
    wrapper = REPO_ROOT / "node_modules" / ".bin" / "anvil"
    if wrapper.exists():
        return str(wrapper)
    found = shutil.which("anvil")
    if found:
        return found
    raise DevnetError("anvil is not installed; run `make setup` (npm ci installs @foundry-rs/anvil)")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AnvilNode:
    """One running anvil process."""

    chain_id: int
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def start_anvil(
    chain_id: int,
    *,
    port: int | None = None,
    block_time: float | None = 1.0,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    detach: bool = False,
    timeout: float = 20.0,
) -> AnvilNode:
    """Start anvil and wait until it answers ``eth_chainId``.

    ``block_time=None`` mines on every transaction (automine). ``detach`` puts the node
    in its own session so it outlives the calling process. Raises DevnetError when the
    node does not come up within ``timeout`` seconds.
    """
    node = AnvilNode(chain_id=chain_id, port=port or free_port(), log_path=log_path)
    args = [anvil_binary(), "--port", str(node.port), "--host", "127.0.0.1",
            "--chain-id", str(chain_id), "--silent", "--gas-limit", "30000000"]
    if block_time is not None:
        args += ["--block-time", _block_time_arg(block_time)]
    args += extra_args or []
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        node.process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    wait_ready(node, timeout)
    return node


def _block_time_arg(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def wait_ready(node: AnvilNode, timeout: float, what: str = "anvil") -> None:
    """Wait until the node at ``node.port`` answers ``eth_chainId``; stop it and raise DevnetError
    (naming ``what``) when it exits or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process and node.process.poll() is not None:
            raise DevnetError(f"{what} exited with status {node.process.returncode}", port=node.port)
        try:
            reply = httpx.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                               "params": []}, timeout=1.0)
            if reply.status_code == 200 and "result" in reply.json():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    terminate(node.pid, timeout=5.0)
    raise DevnetError(f"{what} did not answer within {timeout:.0f} s", port=node.port)


def stop_anvil(node: AnvilNode) -> None:
    """Terminate the node and reap it."""
    if node.process:
        stop_child(node.process)
