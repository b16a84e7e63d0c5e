"""Fixtures of the ChainMaker plugin's tests: the recorded ChainMaker 2.3.2 vectors.

They are found like the main suite finds them: ``$RELAYER_VECTORS`` or ``../shared/vectors`` beside
the checkout; absent, the tests skip with a message (and fail under CI=true).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]

#: The chain's four consensus nodes, as the README of the vectors lists them (three vote per block).
NODES = (
    "QmTKwyspT55Jcq8ien1JMyxckN6AmqgBpCz2vUZyp4NRdX",
    "QmUjC29VEBtRcD2jQv8kZLmJnqNeEjwjSJKe17zKuysUsJ",
    "QmVkqwwEEnfPjw7RiKoYUqN7hFN3tcQaG4aUJLZUF6U4L7",
    "QmZGKPwu3K9uCdo3x4EsR5N4nmR4qpk7Q56RLzsNdHbKw8",
)
ROOTS = "cm232_chain1_partial_trust_roots.json"


@pytest.fixture(scope="session")
def cm_vectors() -> Path:
    """The ``chainmaker/`` folder of the public vectors."""
    named = os.environ.get("RELAYER_VECTORS")
    root = Path(named) if named else REPO.parent / "shared" / "vectors"
    if not (root / "chainmaker").is_dir():
        message = f"ChainMaker vectors not found at {root / 'chainmaker'}: set RELAYER_VECTORS"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)", pytrace=False)
        pytest.skip(message)
    return root / "chainmaker"


@pytest.fixture(scope="session")
def nodes() -> tuple[str, ...]:
    return NODES


@pytest.fixture(scope="session")
def roots_path(cm_vectors: Path) -> Path:
    return cm_vectors / ROOTS


@pytest.fixture(scope="session")
def vector_blocks(cm_vectors: Path) -> dict[int, dict[str, Any]]:
    """The recorded blocks by height (each file's ``block`` object)."""
    blocks = {}
    for path in sorted(cm_vectors.glob("cm232_block*.json")):
        block: dict[str, Any] = json.loads(path.read_text())["block"]
        blocks[int(block["header"]["block_height"])] = block
    return blocks
