"""Named fault points for crash tests, armed only by the environment variable ``RELAYER_FAULT``.

``RELAYER_FAULT=point[:probability][:pause=SECONDS][,point...]``

- ``after-observe``: final messages found in a scan, before the scan is stored
- ``after-attest``: the scan and its attestations stored, before anything else
- ``after-sign-before-send``: a delivery transaction signed and journaled, not yet sent
- ``after-send-before-record``: the transaction sent, its ``sent`` state not yet recorded
- ``during-header-update``: the light-client update the batch needs (M signatures, a sealed header)
  ready, the batch not yet built

When the process reaches an armed point (and a random draw is below ``probability``,
default 1) it writes one JSON line ``{"event": "fault.injected", ...}`` to stdout and then
kills itself with SIGKILL (no cleanup, no flush: a crash). With ``pause=SECONDS`` it freezes
instead: the whole process (its event loop included) stops for that long, like a stopped
VM or a long GC pause, and then continues. Examples::

    RELAYER_FAULT=after-sign-before-send                 # die at the first signed delivery
    RELAYER_FAULT=after-observe:0.3                      # die at a random later scan
    RELAYER_FAULT=during-header-update:1:pause=10        # freeze 10 s, then carry on

An unknown point or a malformed entry raises ValueError at import, so a typo in a test never
silently disarms it. Unset (production), a fault point costs one dictionary lookup.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime

POINTS = ("after-observe", "after-attest", "after-sign-before-send", "after-send-before-record",
          "during-header-update")
ENV = "RELAYER_FAULT"


@dataclass(frozen=True)
class Fault:
    """What happens at one armed point."""

    chance: float = 1.0
    pause: float | None = None  # seconds to freeze; None: SIGKILL


def parse(spec: str) -> dict[str, Fault]:
    """``RELAYER_FAULT``'s value -> {point: Fault}. Raises ValueError for a bad entry."""
    armed: dict[str, Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, *options = item.split(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown fault point {name!r} (points: {', '.join(POINTS)})")
        chance, pause = 1.0, None
        for option in options:
            try:
                if option.startswith("pause="):
                    pause = float(option.removeprefix("pause="))
                    if pause < 0:
                        raise ValueError
                elif option:
                    chance = float(option)
                    if not 0.0 <= chance <= 1.0:
                        raise ValueError
            except ValueError:
                raise ValueError(f"{ENV}: bad option {option!r} in {item!r} (expected a probability "
                                 f"0..1 or pause=SECONDS)") from None
        armed[name] = Fault(chance, pause)
    return armed


ARMED = parse(os.environ.get(ENV, ""))


def fault_point(name: str) -> None:
    """Crash (or freeze) here when the point is armed and the dice say so; otherwise do nothing."""
    fault = ARMED.get(name)
    if fault is not None and random.random() < fault.chance:
        _inject(name, fault)


def _inject(name: str, fault: Fault) -> None:
    action = "kill" if fault.pause is None else "pause"
    line = {"timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "level": "warning",
            "event": "fault.injected", "logger": "relayer.faults", "point": name, "action": action,
            "pid": os.getpid()}
    if fault.pause is not None:
        line["pause_s"] = fault.pause
    try:
        os.write(1, (json.dumps(line) + "\n").encode())  # unbuffered: the line survives the SIGKILL
    except OSError:
        pass
    if fault.pause is None:
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        time.sleep(fault.pause)  # deliberately blocking: the whole process stands still
