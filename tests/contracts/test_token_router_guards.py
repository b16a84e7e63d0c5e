"""TokenRouter's guards on two real anvil chains joined by the message layer: a token calling back
into its sender cannot be credited twice (Reentrancy), a recipient burning its gas costs the
delivery the native-transfer stipend only, only registered local tokens leave and only wrapped
tokens burn, a wrapped token carries the decimals it was created with and only its router mints
and burns it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apps_env import NATIVE, OWNER, ROUTER, USER, AppPair, app_pair, fresh_address
from msg_env import DEPLOYER, USER_KEY, reverts

from adapters.evm.abi import Contract, decode_revert
from adapters.evm.messaging import OUTCOME_DELIVERED, OUTCOME_FAILED

ETHER = 10**18
LAYER = Contract.load("MessageLayer")
TR = "TokenRouter"


@pytest.fixture(scope="module")
def pair() -> Iterator[AppPair]:
    with app_pair() as p:
        yield p


def outcome(pair: AppPair, receipt: dict[str, Any], side_is_a: bool) -> tuple[int, str]:
    side = pair.a if side_is_a else pair.b
    (processed,) = LAYER.logs_of(receipt, side.layer, "MessageProcessed")
    result = bytes(processed["result"])
    return int(processed["outcome"]), decode_revert(result) if result else ""


def test_reentrant_token_cannot_be_credited_twice(pair: AppPair) -> None:
    """A token calling back into its sender before moving balances: the sender re-enters lockToken from
    the hook. Without a guard 10 deposited would be credited 10 + 10 + ...; here the nested call is
    refused (Reentrancy) and exactly what arrived is locked, then minted."""
    a, b = pair.a, pair.b
    router = pair.router(a)
    token = a.evm.deploy(DEPLOYER, "HookToken", "Hook", "HOOK", 10**24, 6)
    attacker = a.evm.deploy(DEPLOYER, "ReentrantLocker", router, token, 5)
    a.evm.transact(DEPLOYER, router, TR, "registerToken", b.chain_id, token, True)
    b.evm.transact(DEPLOYER, pair.router(b), TR, "createWrapped", a.chain_id, token, "Wrapped Hook", "wHOOK", 6)
    a.evm.transact(DEPLOYER, token, "HookToken", "transfer", attacker, 100 * 10**6)
    recipient = fresh_address("reentrant")
    before = a.evm.call(token, "HookToken", "balanceOf", router)
    receipt = a.evm.transact(DEPLOYER, attacker, "ReentrantLocker", "attack", b.chain_id, recipient, 10 * 10**6)
    sent = ROUTER.logs_of(receipt, router, "TransferSent")
    deposited = a.evm.call(token, "HookToken", "balanceOf", router) - before
    assert deposited == 10 * 10**6 and [s["amount"] for s in sent] == [deposited]
    assert pair.locked(a, token) == deposited
    assert a.evm.call(attacker, "ReentrantLocker", "nestedOk") == 0
    assert a.evm.call(attacker, "ReentrantLocker", "nestedFailed") == 1
    assert decode_revert(a.evm.call(attacker, "ReentrantLocker", "lastError")) == "Reentrancy()"
    delivered = pair.relay(a, receipt)
    assert outcome(pair, delivered, side_is_a=False) == (OUTCOME_DELIVERED, "")
    wrapped = pair.wrapped(b, a, token)
    assert b.evm.call(wrapped, "WrappedToken", "balanceOf", recipient) == deposited
    assert pair.supply(b, wrapped) == deposited
    assert b.evm.call(wrapped, "WrappedToken", "decimals") == 6  # the original's decimals


def test_a_gas_burning_recipient_costs_the_delivery_its_stipend_only(pair: AppPair) -> None:
    """An unlock to a contract that spins on receipt fails like one to a contract that refuses the coin
    (NativeTransferFailed, refunded), and costs the delivery at most the native-transfer stipend more:
    not the message's gas budget; its spinning is rolled back."""
    origin, wrapped_side = pair.a, pair.b
    refuser = origin.evm.deploy(DEPLOYER, "RefusingRecipient")
    burner = origin.evm.deploy(DEPLOYER, "GasBurner")
    wrapped = pair.wrapped(wrapped_side, origin, NATIVE)
    pair.relay(origin, pair.lock_native(origin, 4 * ETHER, USER))
    held = pair.balance(wrapped_side, wrapped, USER)
    locked0 = pair.locked(origin, NATIVE)
    gas_used = []
    for recipient in (refuser, refuser, burner):  # the first delivery to A also pays first-time storage
        burn = pair.burn(wrapped_side, wrapped, ETHER, recipient)
        delivered, refunded = pair.round_trip(wrapped_side, burn)
        assert outcome(pair, delivered, side_is_a=True) == (OUTCOME_FAILED,
                                                            f"NativeTransferFailed({recipient}, {ETHER})")
        assert refunded is not None and ROUTER.logs_of(refunded, pair.router(wrapped_side), "Refunded")
        assert origin.evm.balance(recipient) == 0
        gas_used.append(int(delivered["gasUsed"], 16))
    stipend = origin.evm.call(pair.router(origin), TR, "NATIVE_TRANSFER_GAS")
    assert 0 < gas_used[2] - gas_used[1] <= stipend + 5_000, gas_used
    assert origin.evm.call(burner, "GasBurner", "spins") == 0
    assert pair.balance(wrapped_side, wrapped, USER) == held  # every burn minted back
    assert pair.locked(origin, NATIVE) == locked0
    pair.assert_collateral(origin, NATIVE)


def test_only_registered_tokens_leave_and_only_wrapped_tokens_burn(pair: AppPair) -> None:
    a, b = pair.a, pair.b
    router = pair.router(a)
    stranger = a.evm.deploy(USER_KEY, "TestToken", "Stranger", "STR", 10**24)
    lock = (pair.lock_token, a, ETHER, USER, stranger)
    assert reverts(*lock) == f"TokenNotRegistered({b.chain_id}, {stranger})"
    assert not a.evm.call(router, TR, "isTokenRegistered", b.chain_id, stranger)
    assert reverts(a.evm.transact, USER_KEY, router, TR, "registerToken", b.chain_id, stranger,
                   True) == f"NotOwner({USER})"
    wrapped = pair.wrapped(a, b, NATIVE)  # a wrapped token never leaves as a lock
    reason = reverts(a.evm.transact, DEPLOYER, router, TR, "registerToken", b.chain_id, wrapped, True)
    assert reason == f"UnknownAsset({a.chain_id}, {wrapped})"
    registered = a.evm.transact(DEPLOYER, router, TR, "registerToken", b.chain_id, stranger, True)
    assert ROUTER.logs_of(registered, router, "TokenRegistered") == [
        {"chain": b.chain_id, "token": stranger, "registered": True}]
    lock[0](*lock[1:])
    a.evm.transact(DEPLOYER, router, TR, "registerToken", b.chain_id, stranger, False)
    assert reverts(*lock) == f"TokenNotRegistered({b.chain_id}, {stranger})"
    # registered for B says nothing of another destination
    assert not a.evm.call(router, TR, "isTokenRegistered", 999, pair.token(a))
    assert a.evm.call(router, TR, "isTokenRegistered", b.chain_id, pair.token(a))
    # only a wrapped token of this router burns
    assert reverts(pair.burn, a, pair.token(a), 1, USER) == f"UnknownAsset({a.chain_id}, {pair.token(a)})"


def test_wrapped_token_carries_the_decimals_it_was_created_with(pair: AppPair) -> None:
    a, b = pair.a, pair.b
    router = pair.router(b)
    remote = fresh_address("six-decimals")
    created = b.evm.transact(DEPLOYER, router, TR, "createWrapped", a.chain_id, remote, "Six", "SIX", 6)
    wrapped = pair.wrapped(b, a, remote)
    assert ROUTER.logs_of(created, router, "WrappedCreated") == [
        {"remoteChain": a.chain_id, "remoteToken": remote, "wrapped": wrapped, "decimals": 6}]
    assert b.evm.call(wrapped, "WrappedToken", "decimals") == 6
    assert b.evm.call(pair.wrapped(b, a, NATIVE), "WrappedToken", "decimals") == 18
    reason = reverts(b.evm.transact, DEPLOYER, router, TR, "createWrapped", a.chain_id, remote, "Six", "SIX", 6)
    assert reason == f"WrappedExists({a.chain_id}, {remote})"
    assert OWNER == b.evm.call(router, TR, "owner")


def test_only_the_router_mints_and_burns_its_wrapped_tokens(pair: AppPair) -> None:
    b = pair.b
    wrapped = pair.wrapped(b, pair.a, NATIVE)
    assert b.evm.call(wrapped, "WrappedToken", "minter") == pair.router(b)
    for key, caller in ((USER_KEY, USER), (DEPLOYER, OWNER)):  # a holder, the router's owner
        assert reverts(b.evm.transact, key, wrapped, "WrappedToken", "mint", caller, 1) == f"NotMinter({caller})"
        assert reverts(b.evm.transact, key, wrapped, "WrappedToken", "burn", caller, 0) == f"NotMinter({caller})"
