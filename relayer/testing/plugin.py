"""The pytest plugin of the conformance kit (entry point ``pytest11``: ``relayer``).

Gives the ``relayer_kit`` fixture (module scope) to any test module that provides a
``relayer_family`` fixture: the family is started once for the module and stopped after it. At the
end of a run, every conformance check that could not run is listed with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from relayer.testing.family import Family
from relayer.testing.suite import NOT_RUN, Kit


@pytest.fixture(scope="module")
def relayer_kit(relayer_family: Family) -> Iterator[Kit]:
    """The started family of the module, for the ConformanceSuite's checks; stopped after the module."""
    if not isinstance(relayer_family, Family):
        raise TypeError(f"relayer_family must return a relayer.testing.Family, not {type(relayer_family)!r}")
    relayer_family.start()
    try:
        yield Kit(relayer_family)
    finally:
        relayer_family.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the conformance checks that did not run (a role or hook not provided)."""
    lines = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        if NOT_RUN in reason:
            lines.append(f"{report.nodeid}: {reason[reason.index(NOT_RUN) + len(NOT_RUN):]}")
    if lines:
        terminalreporter.write_sep("-", "relayer.testing: conformance checks that did not run")
        for line in lines:
            terminalreporter.write_line(line)
