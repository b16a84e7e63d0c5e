"""The applications of the message layer on two anvil chains, for the contract tests.

On top of ``msg_env.message_pair`` (a MessageLayer, a committee light client of the other chain
and an EvmReceiptVerifier on chains A and B), each chain runs a TokenRouter and a
TraceabilityRegistry (owner DEPLOYER) and a TestToken of USER. The routers know each other, each
has the wrapped tokens of the other chain's native coin and TestToken, and each TestToken is
registered for locking to the other chain; the registries know each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from msg_env import DEPLOYER, USER, USER_KEY, MessagePair, Side, fresh_address, message_pair

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.messaging import address_word

NATIVE = "0x" + "00" * 20
OWNER = cm.signer_address(DEPLOYER)
ROUTER = Contract.load("TokenRouter")
REGISTRY = Contract.load("TraceabilityRegistry")
ONE_DAY = 86_400

__all__ = ["DEPLOYER", "NATIVE", "OWNER", "REGISTRY", "ROUTER", "USER", "USER_KEY", "AppPair", "app_pair",
           "fresh_address"]


@dataclass
class AppPair:
    """The message pair with its applications; ``m`` is the underlying MessagePair."""

    m: MessagePair

    @property
    def a(self) -> Side:
        return self.m.a

    @property
    def b(self) -> Side:
        return self.m.b

    def other(self, side: Side) -> Side:
        return self.m.other(side)

    # ------------------------------------------------------------------ token router
    def router(self, side: Side) -> str:
        return side.extra["router"]

    def token(self, side: Side) -> str:
        return side.extra["token"]

    def wrapped(self, side: Side, origin: Side, asset: str) -> str:
        """The wrapped token on ``side`` of ``asset`` of ``origin`` (NATIVE or origin's token)."""
        return str(side.evm.call(self.router(side), "TokenRouter", "wrappedOf", origin.chain_id, asset))

    def lock_native(self, src: Side, amount: int, recipient: str, expiry: int = 0,
                    key: str = USER_KEY) -> dict[str, Any]:
        return src.evm.transact(key, self.router(src), "TokenRouter", "lockNative", self.other(src).chain_id,
                                recipient, expiry, value=amount)

    def lock_token(self, src: Side, amount: int, recipient: str, token: str | None = None,
                   expiry: int = 0, key: str = USER_KEY) -> dict[str, Any]:
        token = token or self.token(src)
        src.evm.transact(key, token, "TestToken", "approve", self.router(src), amount)
        return src.evm.transact(key, self.router(src), "TokenRouter", "lockToken", token,
                                self.other(src).chain_id, recipient, amount, expiry)

    def burn(self, side: Side, wrapped: str, amount: int, recipient: str, expiry: int = 0,
             key: str = USER_KEY) -> dict[str, Any]:
        return side.evm.transact(key, self.router(side), "TokenRouter", "burn", wrapped, recipient, amount, expiry)

    def locked(self, side: Side, asset: str) -> int:
        """What ``side``'s router holds locked of ``asset`` for the other chain."""
        return int(side.evm.call(self.router(side), "TokenRouter", "lockedFor", self.other(side).chain_id, asset))

    def supply(self, side: Side, token: str) -> int:
        return int(side.evm.call(token, "WrappedToken", "totalSupply"))

    def balance(self, side: Side, token: str, who: str) -> int:
        if token == NATIVE:
            return side.evm.balance(who)
        return int(side.evm.call(token, "TestToken", "balanceOf", who))

    def assert_collateral(self, origin: Side, asset: str) -> None:
        """Locked on ``origin`` for the other chain == wrapped supply there == what the router holds."""
        locked = self.locked(origin, asset)
        dst = self.other(origin)
        assert locked == self.supply(dst, self.wrapped(dst, origin, asset))
        assert locked == self.balance(origin, asset, self.router(origin))

    # ------------------------------------------------------------------ relaying
    def relay(self, src: Side, receipt: dict[str, Any]) -> dict[str, Any]:
        """Deliver the one message ``receipt`` sent on ``src`` to the other chain, the header update in
        the same transaction (as the relayer does); the destination receipt."""
        return self.m.relay(src, receipt, with_update=True)

    def round_trip(self, src: Side, receipt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Relay a message and, when the destination sent an acknowledgement, relay it back:
        (destination receipt, source receipt of the acknowledgement or None)."""
        dst = self.other(src)
        delivered = self.relay(src, receipt)
        if not self.m.sent(dst, delivered):
            return delivered, None
        return delivered, self.relay(dst, delivered)


def _deploy(pair: MessagePair, side: Side) -> None:
    evm = side.evm
    side.extra["router"] = evm.deploy(DEPLOYER, "TokenRouter", side.layer, OWNER)
    side.extra["registry"] = evm.deploy(DEPLOYER, "TraceabilityRegistry", side.layer, OWNER)
    side.extra["token"] = evm.deploy(USER_KEY, "TestToken", f"Token {side.name}", f"TK{side.name}", 10**30)


def _wire(side: Side, remote: Side) -> None:
    evm = side.evm
    router = side.extra["router"]
    evm.transact(DEPLOYER, router, "TokenRouter", "setRemoteRouter", remote.chain_id,
                 address_word(remote.extra["router"]))
    for asset, label in ((NATIVE, "native"), (remote.extra["token"], "token")):
        evm.transact(DEPLOYER, router, "TokenRouter", "createWrapped", remote.chain_id, asset,
                     f"Wrapped {remote.name} {label}", f"w{remote.name}{label[0]}", 18)
    evm.transact(DEPLOYER, router, "TokenRouter", "registerToken", remote.chain_id, side.extra["token"], True)
    evm.transact(DEPLOYER, side.extra["registry"], "TraceabilityRegistry", "setRemoteRegistry", remote.chain_id,
                 address_word(remote.extra["registry"]))


@contextmanager
def app_pair(anvil_args: list[str] | None = None) -> Iterator[AppPair]:
    """Start the message pair (``anvil_args`` as message_pair's) and deploy and wire the applications on it."""
    with message_pair(anvil_args) as m:
        for side in (m.a, m.b):
            _deploy(m, side)
        _wire(m.a, m.b)
        _wire(m.b, m.a)
        yield AppPair(m)
