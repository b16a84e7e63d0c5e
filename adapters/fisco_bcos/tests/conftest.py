"""Fixtures of the FISCO BCOS plugin's tests: the recorded FISCO BCOS and SM vectors of the shared
public vectors (``$RELAYER_VECTORS``, else ``../shared/vectors`` beside the checkout)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def vectors_dir() -> Path | None:
    named = os.environ.get("RELAYER_VECTORS")
    if named:
        return Path(named).resolve() if Path(named).is_dir() else None
    default = REPO_ROOT.parent / "shared" / "vectors"
    return default if default.is_dir() else None


@pytest.fixture(scope="session")
def fisco_dir() -> Path:
    """The ``fisco-bcos/`` vectors; skips when the vectors are absent (fails under CI=true)."""
    root = vectors_dir()
    if root is None or not (root / "fisco-bcos").is_dir():
        message = "public test vectors not found: set RELAYER_VECTORS or place them at ../shared/vectors"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)", pytrace=False)
        pytest.skip(message)
    return root / "fisco-bcos"


@pytest.fixture(scope="session")
def sm_vectors(fisco_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fisco_dir.parent / "sm" / "sm2_sm3_standard.json").read_text())
    return data
