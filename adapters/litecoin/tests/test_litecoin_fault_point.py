"""The Litecoin destination's crash point (relayer_litecoin.faults): armed by RELAYER_LITECOIN_FAULT it kills
the process with SIGKILL after one JSON line; unset it does nothing; a typo refuses to import. (The devnet
test tests/devnet/test_litecoin_faults.py kills a real operator there.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from relayer_litecoin.faults import ENV, parse

SCRIPT = ("from relayer_litecoin.faults import fault_point\n"
          "fault_point('after-journal-before-broadcast')\n"
          "print('alive')\n")


def _run(spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if spec is not None:
        env[ENV] = spec
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)


def test_an_armed_point_kills_the_process_after_one_line() -> None:
    done = _run("after-journal-before-broadcast")
    assert done.returncode == -signal.SIGKILL
    (line,) = done.stdout.splitlines()
    injected = json.loads(line)
    assert (injected["event"], injected["point"]) == ("fault.injected", "after-journal-before-broadcast")


def test_unarmed_it_does_nothing() -> None:
    done = _run(None)
    assert (done.returncode, done.stdout) == (0, "alive\n")


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault point 'after-journal'"):
        parse("after-journal")
    assert parse(" after-journal-before-broadcast, ") == {"after-journal-before-broadcast"}
    done = _run("after-sign-before-send")
    assert done.returncode == 1 and "RELAYER_LITECOIN_FAULT: unknown fault point" in done.stderr
