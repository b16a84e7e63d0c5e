"""Running a devnet proxy from tests and the devnet: start, stop, set a fault, vote validators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from relayer.devnet.anvil import free_port
from relayer.devnet.processes import stop_child, terminate
from relayer.devnet.proxy.common import ADMIN_PATH, PROXY_MARKER, VALIDATORS_PATH
from relayer.errors import DevnetError


@dataclass
class ProxyHandle:
    """A proxy process started by ``start_proxy``."""

    url: str
    admin_url: str
    pid: int
    process: subprocess.Popen[bytes] | None = None
    keys_file: Path | None = None  # a temporary key file written by start_proxy (removed by stop_proxy)

def start_proxy(upstream: str, *, seal_keys: Sequence[str] | Path | str | None = None, port: int | None = None,
                admin_port: int | None = None, log_path: Path | None = None, detach: bool = False,
                timeout: float = 20.0) -> ProxyHandle:
    """Start ``python -m relayer.devnet.proxy`` in front of ``upstream`` and wait until it answers.

    ``seal_keys``: validator private keys (written to a private temporary file) or the path of
    a keys file; None for a plain proxy. ``detach`` puts the process in its own session (it
    outlives the caller). Raises DevnetError when it does not come up within ``timeout`` s.
    """
    port, admin_port = port or free_port(), admin_port or free_port()
    while admin_port == port:
        admin_port = free_port()
    keys_file: Path | None = None
    args = [sys.executable, "-m", PROXY_MARKER, "--upstream", upstream, "--port", str(port),
            "--admin-port", str(admin_port)]
    if seal_keys is not None:
        if isinstance(seal_keys, (str, Path)):
            path = Path(seal_keys)
        else:
            fd, name = tempfile.mkstemp(prefix="proxy-keys-", suffix=".json")
            with os.fdopen(fd, "w") as handle:
                json.dump({"keys": list(seal_keys)}, handle)
            path = keys_file = Path(name)
        args += ["--seal-qbft", str(path)]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=detach)
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]
    handle = ProxyHandle(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", process.pid,
                         process, keys_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_proxy(handle)
            raise DevnetError(f"the proxy exited with status {process.returncode}", upstream=upstream,
                              log=str(log_path) if log_path else None)
        try:
            if httpx.get(handle.admin_url + ADMIN_PATH, timeout=1.0).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    stop_proxy(handle)
    raise DevnetError(f"the proxy did not answer within {timeout:.0f} s", upstream=upstream)

def stop_proxy(handle: ProxyHandle, timeout: float = 5.0) -> None:
    """Stop a proxy started by ``start_proxy`` (SIGTERM, SIGKILL after ``timeout``)."""
    try:
        if handle.process is not None:
            stop_child(handle.process, timeout)
        else:
            terminate(handle.pid, PROXY_MARKER, timeout=timeout)
    finally:
        if handle.keys_file is not None:
            handle.keys_file.unlink(missing_ok=True)

def set_fault(handle: ProxyHandle | str, mode: str, **options: Any) -> dict[str, Any]:
    """Set the proxy's fault (``mode`` and ``methods``/``count``/``block``/``seconds``); returns it.

    ``handle`` may be the admin URL. Raises DevnetError when the proxy refuses the fault.
    """
    return _admin_post(handle, ADMIN_PATH, {"mode": mode, **options}, 5.0, f"fault {mode!r}")

def get_fault(handle: ProxyHandle | str) -> dict[str, Any]:
    """The fault in force (``mode``, ``remaining``, ``served`` ...)."""
    return _admin_get(handle, ADMIN_PATH)

def propose_validator(handle: ProxyHandle | str, *, add_key: str | None = None,
                      drop: str | None = None) -> dict[str, Any]:
    """Start a validator vote on a sealing proxy: add the address of ``add_key`` (the proxy seals
    with that key once it is a validator) or drop the address ``drop``. Returns the vote blocks and the
    change (``change_at``, ``validators``). Raises DevnetError when the proxy refuses."""
    spec = {"add": add_key} if add_key is not None else {"drop": drop}
    return _admin_post(handle, VALIDATORS_PATH, spec, 30.0, "the validator vote")

def validator_schedule(handle: ProxyHandle | str) -> dict[str, Any]:
    """The sealing proxy's ``height``, the set in force there, every set change and vote."""
    return _admin_get(handle, VALIDATORS_PATH)

def _admin_url(handle: ProxyHandle | str, path: str) -> str:
    admin = handle.admin_url if isinstance(handle, ProxyHandle) else handle
    return admin.rstrip("/") + path

def _admin_post(handle: ProxyHandle | str, path: str, body: dict[str, Any], timeout: float,
                what: str) -> dict[str, Any]:
    """POST ``body`` to the admin ``path``; its JSON answer. Raises DevnetError naming ``what`` on a refusal."""
    response = httpx.post(_admin_url(handle, path), json=body, timeout=timeout)
    if response.status_code != 200:
        raise DevnetError(f"the proxy refused {what}: {response.text}")
    result: dict[str, Any] = response.json()
    return result

def _admin_get(handle: ProxyHandle | str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(_admin_url(handle, path), timeout=5.0).json()
    return result


__all__ = ["ProxyHandle", "get_fault", "propose_validator", "set_fault", "start_proxy", "stop_proxy",
           "validator_schedule"]
