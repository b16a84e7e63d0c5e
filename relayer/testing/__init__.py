"""The conformance kit: fixtures and a reusable test suite that check a chain family's plugins
against :mod:`relayer.contract` on the vendor's own devnet.

Installed as a pytest plugin (entry point ``pytest11``: ``relayer = relayer.testing.plugin``), so a
vendor's test module needs only two things::

    import pytest
    from relayer.testing import ConformanceSuite, Family

    class MyFamily(Family): ...          # starts the devnet, builds the roles, makes messages and lies

    @pytest.fixture(scope="module")
    def relayer_family() -> MyFamily:
        return MyFamily()

    class TestMyFamily(ConformanceSuite):
        pass

See ``docs/adapters.md``. The kit imports only the contract, the errors, trio and pytest.
"""

from __future__ import annotations

from relayer.testing.family import Connection, Family, Produced
from relayer.testing.host import MemoryHost
from relayer.testing.suite import NOT_RUN, ConformanceSuite, Kit

__all__ = ["NOT_RUN", "ConformanceSuite", "Connection", "Family", "Kit", "MemoryHost", "Produced"]
