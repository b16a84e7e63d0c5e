"""The devnet's processes: is one still ours and running, stop it (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def process_alive(pid: int | None, marker: str | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, its command line contains ``marker``.

    The marker guards against a recycled pid being taken for one of ours.
    """
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, just reaped
    except ChildProcessError:
        pass
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            if marker and marker not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                return False
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(pid: int | None, marker: str | None = None, *, sig: int = signal.SIGTERM,
              timeout: float = 10.0) -> bool:
    """Send ``sig`` to ``pid``; SIGKILL it when still alive after ``timeout``.

    Returns True when the process was running. Never raises for a process that is gone.
    """
    if not process_alive(pid, marker):
        return False
    assert pid is not None
    _signal(pid, sig)
    if sig == signal.SIGKILL or _wait_gone(pid, timeout):
        _wait_gone(pid, 2.0)
        return True
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, 2.0)
    return True


def stop_child(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop and reap a child started here: SIGTERM, SIGKILL after ``timeout`` s. Raises nothing."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


__all__ = ["process_alive", "stop_child", "terminate"]
