"""RELAYER_VECTORS naming a missing folder must fail the run loudly, not skip silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_missing_vectors_folder_fails_collection() -> None:
    env = os.environ | {"RELAYER_VECTORS": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/vectors/test_rlp_vectors.py"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "RELAYER_VECTORS" in output and "/nonexistent" in output and "not a folder" in output
