"""The update policy ``custody`` (``relayer.update_policies`` entry point of this distribution): what a route
into Litecoin needs of it. The custody has no on-chain client of the source: each operator checks a burn
with its own light client of the source before it signs (:mod:`relayer_litecoin.destination`), so there is
nothing to attest, nothing to carry and nothing to follow."""

from __future__ import annotations

from typing import Any

from relayer.contract import LightClientUpdate, PolicyHost, RouteRef, UpdateStatus, VerifiedHeader


class CustodyPolicy:
    """relayer.contract.UpdatePolicy (and its factory) of routes into a Litecoin custody."""

    name = "custody"

    @classmethod
    async def open(cls, route: RouteRef, destination: Any, host: PolicyHost) -> CustodyPolicy:
        """The policy of ``route``; reads nothing. Raises nothing."""
        return cls()

    def attest(self, route: RouteRef, header: VerifiedHeader) -> dict[str, Any] | None:
        """None: the operators check the source's headers themselves. Raises nothing."""
        return None

    async def update(self, route: RouteRef, header: VerifiedHeader) -> LightClientUpdate | None:
        """An empty update: the block needs nothing carried. Raises nothing."""
        return LightClientUpdate(self.name, header.number)

    async def follow(self, route: RouteRef, upto: int | None = None) -> UpdateStatus:
        """DONE: there is no on-chain client to advance. Raises nothing."""
        return UpdateStatus.DONE

    async def watch(self, route: RouteRef) -> None:
        """Returns at once: nothing changes on the custody by itself."""
        return None


__all__ = ["CustodyPolicy"]
