"""What every part of the devnet proxy shares: its log lines, its paths, its upstream error."""

from __future__ import annotations

import json
import time
from typing import Any

ADMIN_PATH = "/_proxy/faults"
VALIDATORS_PATH = "/_proxy/validators"
HEALTH_PATH = "/_proxy/health"
#: The module run as ``python -m``; also how the devnet finds a proxy process it started.
PROXY_MARKER = "relayer.devnet.proxy"


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the proxy's log file)."""
    print(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str), flush=True)

class UpstreamError(Exception):
    """The upstream node failed or answered something the proxy cannot seal."""


__all__ = ["ADMIN_PATH", "HEALTH_PATH", "PROXY_MARKER", "VALIDATORS_PATH", "UpstreamError", "log_event"]
