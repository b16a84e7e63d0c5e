"""The layering of issue 9 holds: ``lint-imports`` (import-linter, contracts in pyproject.toml's
[tool.importlinter]) passes. The core (relayer/ without relayer.devnet) imports no adapter or light
client and no developer tooling; light clients import only relayer.contract, relayer.errors and
relayer.types; no import cycles between sibling modules.

While the move of issue 9 is under way, ``STILL_BREAKING`` lists exactly the imports that still
break a contract: ``test_layers_hold`` is an expected failure (strict) only while one of them is
still there, and a plain test (a hard pass) once they are all gone; any import that breaks a
contract and is not listed fails ``test_nothing_else_breaks_the_layers`` at once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: (contract name, "importer -> imported") still breaking a contract; remove an entry when its
#: import is gone (nothing else reads this list).
STILL_BREAKING: frozenset[tuple[str, str]] = frozenset()


@cache
def lint() -> tuple[int, str, frozenset[tuple[str, str]]]:
    """(exit status, output, broken imports) of ``lint-imports`` on this checkout (no cache written)."""
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    output = done.stdout + done.stderr
    return done.returncode, output, broken_imports(output)


def broken_imports(output: str) -> frozenset[tuple[str, str]]:
    """The direct imports named under each broken contract of a ``lint-imports`` report (for a chain
    of imports, its first one; for a cycle, each dependency named, made absolute)."""
    lines = output.splitlines()
    found: set[tuple[str, str]] = set()
    contract, package = "", ""
    for number, line in enumerate(lines):
        if number + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[number + 1]) and line.strip():
            contract, package = line.strip(), ""
            continue
        cycle = re.match(r"No cycles are allowed in (\S+)\.$", line.strip())
        if cycle:
            package = cycle.group(1)
            continue
        edge = re.match(r"^-\s+(\S+) -> (\S+) \(", line)
        if edge and contract:
            importer, imported = edge.groups()
            if importer.startswith("."):
                importer, imported = package + importer, package + imported
            found.add((contract, f"{importer} -> {imported}"))
    return frozenset(found)


def test_the_report_is_read() -> None:
    sample = """Broken contracts
----------------

The core imports no adapter and no light client
-----------------------------------------------

relayer is not allowed to import adapters:

-   relayer.sender -> adapters.evm.adapter (l.35)

-   relayer.committee -> adapters.evm.adapter (l.16)
    adapters.evm.adapter -> adapters.evm.source (l.17)

No import cycles between sibling modules or packages
----------------------------------------------------

No cycles are allowed in relayer.devnet.
It could be made acyclic by removing 1 dependency:

- .proxy -> .network (1 import)
"""
    assert broken_imports(sample) == {
        ("The core imports no adapter and no light client", "relayer.sender -> adapters.evm.adapter"),
        ("The core imports no adapter and no light client", "relayer.committee -> adapters.evm.adapter"),
        ("No import cycles between sibling modules or packages", "relayer.devnet.proxy -> relayer.devnet.network"),
    }


def test_nothing_else_breaks_the_layers() -> None:
    status, output, broken = lint()
    assert status == 0 or broken, f"lint-imports failed without naming an import:\n{output}"
    assert broken <= STILL_BREAKING, "imports that break the layering:\n" + "\n".join(
        f"  [{contract}] {edge}" for contract, edge in sorted(broken - STILL_BREAKING))


@pytest.mark.xfail(condition=bool(lint()[2] & STILL_BREAKING), strict=True,
                   reason="still breaking the layering: " + "; ".join(sorted(e for _, e in STILL_BREAKING)))
def test_layers_hold() -> None:
    status, output, _ = lint()
    assert status == 0, output
