"""Lint and types (issue 9 item 8): ``ruff check`` and ``mypy`` pass on this checkout, with the
settings in pyproject.toml ([tool.ruff], [tool.mypy]: strict on the core, relayer/ without its
developer tooling, and on the adapters and light clients).

Neither writes a cache into the tree. A failure lists the findings: fix them (``ruff check --fix``
fixes the ones marked [*]); a ``# noqa: CODE - why`` or ``# type: ignore[code]`` only where the
finding is wrong, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> tuple[int, str]:
    """(exit status, output) of the virtualenv's ``tool`` run in the checkout with ``args``."""
    program = BIN / tool
    if not program.exists():
        pytest.fail(f"{tool} is not installed in {BIN.parent}: run make setup (the test extras include it)")
    done = subprocess.run([str(program), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def test_ruff_finds_nothing() -> None:
    status, output = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert status == 0, f"ruff check found problems (run it from the checkout to see them, --fix for [*]):\n{output}"


def test_mypy_finds_nothing() -> None:
    status, output = run("mypy", "--cache-dir", os.devnull, "--no-error-summary", "--no-pretty")
    assert status == 0, f"mypy found type errors (run `mypy` from the checkout to see them):\n{output}"
