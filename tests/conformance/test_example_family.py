"""The example family of docs/adapters.md (examples/memchain) passes the conformance kit, as its
own test module (examples/memchain/test_memchain_conformance.py) runs it."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "memchain"
sys.path.insert(0, str(EXAMPLE))

from test_memchain_conformance import TestMemchainFamily, relayer_family  # noqa: E402

__all__ = ["TestMemchainFamily", "relayer_family"]
