"""The example family of docs/adapters.md (examples/memchain) passes the conformance kit, as its
own test module (examples/memchain/test_memchain_conformance.py) runs it."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "memchain"
sys.path.insert(0, str(EXAMPLE))

from test_memchain_conformance import TestMemchainFamily, relayer_family  # noqa: E402

__all__ = ["TestMemchainFamily", "relayer_family"]


def test_docs_name_every_check_of_the_suite_and_files_that_exist() -> None:
    """docs/adapters.md stays true to the kit: its table lists exactly the suite's checks, and every
    repository path it names exists."""
    import re

    from relayer.testing import ConformanceSuite

    root = EXAMPLE.parents[1]
    text = (root / "docs" / "adapters.md").read_text()
    listed = set(re.findall(r"^\| `(test_\w+)` \|", text, flags=re.MULTILINE))
    assert listed == {name for name in dir(ConformanceSuite) if name.startswith("test_")}
    for path in set(re.findall(r"`((?:examples|tests|relayer|docs)/[\w./]+)`", text)):
        assert (root / path).exists(), path
