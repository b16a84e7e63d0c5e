"""Named fault points for crash tests: ``RELAYER_FAULT=point[:probability]`` makes the
process kill itself (SIGKILL, no cleanup) when it reaches that point.

Unset in production, a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import random
import signal

POINTS = ("after-observe", "after-attest", "after-sign-before-send", "after-send-before-record",
          "during-header-update")


def _armed() -> dict[str, float]:
    spec = os.environ.get("RELAYER_FAULT", "")
    armed = {}
    for item in filter(None, spec.split(",")):
        name, _, chance = item.partition(":")
        armed[name] = float(chance or 1.0)
    return armed


ARMED = _armed()


def fault_point(name: str) -> None:
    """Crash here when the point is armed (and the dice say so); otherwise do nothing."""
    chance = ARMED.get(name)
    if chance is not None and random.random() < chance:
        os.kill(os.getpid(), signal.SIGKILL)
