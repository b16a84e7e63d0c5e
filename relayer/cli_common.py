"""Small pieces the state-database commands (``evidence``, ``messages``) share."""

from __future__ import annotations

import getpass
import sys
import time
from contextlib import closing

from relayer.config import Config
from relayer.logging import configure_logging
from relayer.store import Store


def open_store(config: Config) -> closing[Store]:
    """The operator's state database as a context manager that closes it. Raises StoreError.

    Log lines (``store.migrated`` when this is the first open by a newer release) go to stderr
    as JSON: stdout is the command's own output (``--json`` documents)."""
    configure_logging("info", json=True, stream=sys.stderr)
    return closing(Store(config.store_location(), pool_size=config.store.pool_size))


def login_name() -> str:
    """Who runs the command (kept with a resolution or a retry): the login name, else "unknown"."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def utc(ts: float) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SSZ``."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))
