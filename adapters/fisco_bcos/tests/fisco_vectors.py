"""Reading the recorded FISCO BCOS vector files in the plugin's tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

#: every file of the folder; the 3.x ones verify by the 3.x rule, the rc one only by the legacy rule
BCOS3_FILES = ("bcos3_secp_block60_proofs.json", "bcos3_secp_block72_single_tx.json", "bcos3_secp_block9_51tx.json")
LEGACY_FILE = "bcos3rc_secp_block1_legacy_hash.json"


def load(fisco_dir: Path, name: str) -> dict[str, Any]:
    """A fresh copy of one vector file (tests alter it)."""
    data: dict[str, Any] = json.loads((fisco_dir / name).read_text())
    return copy.deepcopy(data)


def header_of(vector: dict[str, Any]) -> dict[str, Any]:
    """The header object of a vector file (``header`` or ``header_with_tx_hashes``)."""
    found: dict[str, Any] = vector.get("header") or vector["header_with_tx_hashes"]
    return found
