"""systemd's notify protocol (sd_notify) without libsystemd: one datagram per message
to the socket named by ``$NOTIFY_SOCKET``. A no-op when not run by systemd.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("relayer.systemd")


class Notifier:
    """Sends READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 to systemd."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_for_us = usec.isdigit() and (not pid or pid == str(os.getpid()))
        #: seconds between watchdog pings (half of WatchdogSec), None when no watchdog is set
        self.watchdog_interval = int(usec) / 2e6 if watchdog_for_us else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send one notification; False (and a debug log) when it could not be delivered."""
        if not self.enabled:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode())
            return True
        except OSError as exc:
            log.debug("systemd.notify_failed", error=str(exc))
            return False

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "draining") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")
