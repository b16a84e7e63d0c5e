"""A crash point of the Litecoin destination for tests, armed only by the environment variable
``RELAYER_LITECOIN_FAULT`` (unset in production: the point costs one set lookup).

``RELAYER_LITECOIN_FAULT=after-journal-before-broadcast``: the release is signed by M operators and written
to both journals (the release journal and the core's ``TxJournal``), not yet broadcast. The process writes one
JSON line ``{"event": "fault.injected", ...}`` to stdout and kills itself with SIGKILL (a crash: no cleanup).

The plugin imports nothing of the core but its contract, so it does not use ``relayer.faults``; and it has its
own variable because ``RELAYER_FAULT``'s parser refuses points the core does not know (and the core's
``after-sign-before-send`` also fires at the EVM sender of the same process). An unknown point raises
ValueError at import, so a typo in a test never silently disarms it."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime

ENV = "RELAYER_LITECOIN_FAULT"
POINTS = ("after-journal-before-broadcast",)


def parse(spec: str) -> frozenset[str]:
    """The points ``spec`` (comma-separated names) arms. Raises ValueError naming an unknown point."""
    armed = frozenset(filter(None, (part.strip() for part in spec.split(","))))
    for name in sorted(armed - set(POINTS)):
        raise ValueError(f"{ENV}: unknown fault point {name!r} (points: {', '.join(POINTS)})")
    return armed


ARMED = parse(os.environ.get(ENV, ""))


def fault_point(name: str) -> None:
    """Crash here (SIGKILL, after one JSON line on stdout) when ``name`` is armed; otherwise nothing."""
    if name not in ARMED:
        return
    line = {"timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "level": "warning",
            "event": "fault.injected", "logger": "relayer_litecoin.faults", "point": name, "action": "kill",
            "pid": os.getpid()}
    try:
        os.write(1, (json.dumps(line) + "\n").encode())  # unbuffered: the line survives the SIGKILL
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["ENV", "POINTS", "fault_point", "parse"]
