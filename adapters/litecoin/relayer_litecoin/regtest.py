"""Start and stop a litecoind regtest node for tests and the devnet: free loopback ports for RPC and P2P,
its own temporary data directory, a wallet, and a readiness wait with a timeout.

MWEB is kept inactive (``-vbparams=mweb:-2:0``): on Litecoin Core 0.21 regtest it activates at block 432,
after which a node cannot mine until something is pegged into MWEB, and the relayer does not read MWEB
extension blocks. litecoind comes from Debian's package ``litecoind`` (``make setup`` installs it as root).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relayer.errors import DevnetError

READY_TIMEOUT = 60.0
BIND_TRIES = 3
PORT_TAKEN = ("Unable to bind", "Unable to start HTTP server")  # P2P port, RPC port taken
INSTALL_HINT = "litecoind not found: install Debian's package (as root: apt-get install litecoind)"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_rpc(url: str, user: str, password: str, method: str, params: Sequence[Any], *, timeout: float = 30.0,
             parse_float: Callable[[str], Any] = float) -> Any:
    """The result of one JSON-RPC call to litecoind at ``url`` (blocking; basic auth; numbers with a
    fraction read by ``parse_float``, e.g. Decimal for exact amounts). Raises DevnetError with
    litecoind's message, the HTTP status, or why there was no answer."""
    request = urllib.request.Request(
        url, data=json.dumps({"jsonrpc": "1.0", "id": 0, "method": method, "params": list(params)}).encode(),
        headers={"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode(),
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response, parse_float=parse_float)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc, parse_float=parse_float)
        except ValueError:
            raise DevnetError(f"litecoind {method}: HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise DevnetError(f"litecoind {method}: {exc}") from exc
    if body.get("error"):
        raise DevnetError(f"litecoind {method}: {body['error'].get('message', body['error'])}")
    return body["result"]


@dataclass
class RegtestNode:
    """A running litecoind. ``url``: its RPC URL with credentials; ``call`` is a blocking RPC for tests."""

    process: subprocess.Popen[bytes]
    datadir: Path
    rpc_port: int
    p2p_port: int
    user: str
    password: str = field(repr=False)
    own_dir: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.rpc_port}/"

    def call(self, method: str, *params: Any, wallet: str | None = None, timeout: float = 30.0) -> Any:
        """The result of one RPC (blocking). Raises DevnetError with litecoind's message."""
        path = f"/wallet/{wallet}" if wallet else "/"
        return json_rpc(f"http://127.0.0.1:{self.rpc_port}{path}", self.user, self.password, method, params,
                        timeout=timeout)

    def stop(self) -> None:
        """Stop the node (RPC ``stop``, then SIGTERM, then SIGKILL) and remove its data directory if it made
        it. Raises nothing."""
        if self.process.poll() is None:
            try:
                self.call("stop", timeout=5)
            except DevnetError:
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.own_dir:
            shutil.rmtree(self.datadir, ignore_errors=True)


def start(datadir: Path | None = None, *, timeout: float = READY_TIMEOUT, binary: str = "litecoind",
          extra: tuple[str, ...] = ()) -> RegtestNode:
    """A litecoind regtest node on free loopback ports, ready to answer RPC, with a wallet ``relayer``.
    ``datadir``: kept afterwards when given; a temporary one removed by ``stop`` otherwise. ``extra``: more
    command-line options (e.g. ``-mempoolreplacement=1``: Litecoin Core 0.21 refuses replacements by fee
    unless told). A port taken by
    another process between choosing it and litecoind binding it is retried with new ports (3 tries).
    Raises DevnetError (no litecoind, it exited, or it did not answer within ``timeout`` seconds)."""
    exe = shutil.which(binary)
    if exe is None:
        raise DevnetError(INSTALL_HINT)
    for attempt in range(BIND_TRIES):
        path = Path(tempfile.mkdtemp(prefix="litecoind-")) if datadir is None else datadir
        try:
            node = _launch(exe, path, datadir is None, timeout, extra)
        except _PortTaken as exc:
            if attempt + 1 == BIND_TRIES:
                raise DevnetError(f"litecoind could not bind its ports {BIND_TRIES} times: {exc}") from exc
            continue
        node.call("createwallet", "relayer")
        return node
    raise AssertionError("unreachable")


class _PortTaken(Exception):
    pass


def _launch(exe: str, path: Path, own: bool, timeout: float, extra: tuple[str, ...] = ()) -> RegtestNode:
    path.mkdir(parents=True, exist_ok=True)
    rpc_port, p2p_port = free_port(), free_port()
    user, password = "relayer", secrets.token_hex(16)
    args = [exe, "-regtest", f"-datadir={path}", f"-rpcport={rpc_port}", f"-port={p2p_port}", "-bind=127.0.0.1",
            "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", f"-rpcuser={user}", f"-rpcpassword={password}",
            "-listen=1", "-listenonion=0", "-discover=0", "-dnsseed=0", "-upnp=0",
            "-server=1", "-txindex=1", "-fallbackfee=0.0001", "-vbparams=mweb:-2:0", "-printtoconsole=0", *extra]
    with open(path / "launcher.log", "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    node = RegtestNode(process, path, rpc_port, p2p_port, user, password, own)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = (path / "launcher.log").read_text(errors="replace")[-400:].strip()
            node.stop()
            if any(sign in tail for sign in PORT_TAKEN):
                raise _PortTaken(tail)
            raise DevnetError(f"litecoind exited with code {process.returncode}: {tail}")
        try:
            node.call("getblockcount", timeout=2)
            return node
        except DevnetError as exc:
            if time.monotonic() > deadline:
                node.stop()
                raise DevnetError(f"litecoind did not answer RPC on 127.0.0.1:{rpc_port} within {timeout:.0f} s "
                                  f"(last: {exc})") from exc
            time.sleep(0.1)


__all__ = ["INSTALL_HINT", "READY_TIMEOUT", "RegtestNode", "free_port", "start"]
