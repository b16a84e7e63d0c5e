"""TokenRouter (the token bridge as an application of the message layer) on two real anvil chains:
lock->mint and burn->unlock of the native coin and of an ERC-20 in both directions, and the
refund of each kind of refusal (expired, unknown asset, a recipient rejecting the native coin,
paused destination, over a limit) through the failure acknowledgement, exactly once, with exact
balances and collateral = wrapped supply after each step."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eth_abi
import pytest
from apps_env import NATIVE, ROUTER, USER, AppPair, app_pair
from msg_env import DEPLOYER, USER_KEY, Side, fresh_address

from adapters.evm.abi import Contract, decode_revert
from adapters.evm.messaging import ACK_ON_FAILURE, OUTCOME_DELIVERED, OUTCOME_EXPIRED, OUTCOME_FAILED, decode_ack_body
from relayer.errors import ContractRevert

ETHER = 10**18
LAYER = Contract.load("MessageLayer")
DIRECTIONS = ["A->B", "B->A"]


@pytest.fixture(scope="module")
def pair() -> Iterator[AppPair]:
    with app_pair() as p:
        yield p


def ends(pair: AppPair, direction: str) -> tuple[Side, Side]:
    return (pair.a, pair.b) if direction == "A->B" else (pair.b, pair.a)


def fee(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def transfer_id(pair: AppPair, side: Side, receipt: dict[str, Any]) -> bytes:
    (sent,) = ROUTER.logs_of(receipt, pair.router(side), "TransferSent")
    return bytes(sent["id"])


def outcome(side: Side, receipt: dict[str, Any]) -> tuple[int, str]:
    """(outcome, decoded revert reason) of the one message ``side``'s layer processed in ``receipt``."""
    (processed,) = LAYER.logs_of(receipt, side.layer, "MessageProcessed")
    result = bytes(processed["result"])
    return int(processed["outcome"]), decode_revert(result) if result else ""


def now(side: Side) -> int:
    return int(side.evm.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def pass_expiry(side: Side, expiry: int) -> None:
    """Move ``side``'s clock past ``expiry`` (the two nodes' clocks drift apart as tests move them)."""
    side.evm.rpc("evm_increaseTime", max(0, expiry - now(side)) + 60)


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def asset_of(pair: AppPair, side: Side, kind: str) -> str:
    return NATIVE if kind == "native" else pair.token(side)


# ---------------------------------------------------------------------- there and back
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", ["native", "erc20"])
def test_lock_mint_then_burn_unlock(pair: AppPair, direction: str, kind: str) -> None:
    src, dst = ends(pair, direction)
    asset = asset_of(pair, src, kind)
    wrapped = pair.wrapped(dst, src, asset)
    unlocked_to = fresh_address(f"unlock-{kind}-{direction}")
    locked0, user0, wrapped0 = pair.locked(src, asset), pair.balance(src, asset, USER), pair.balance(dst, wrapped, USER)

    if kind == "native":
        lock = pair.lock_native(src, 5 * ETHER, USER)
        assert pair.balance(src, asset, USER) == user0 - 5 * ETHER - fee(lock)
    else:
        lock = pair.lock_token(src, 5 * ETHER, USER)
        assert pair.balance(src, asset, USER) == user0 - 5 * ETHER
    assert pair.locked(src, asset) == locked0 + 5 * ETHER
    delivered, ack = pair.round_trip(src, lock)
    assert outcome(dst, delivered) == (OUTCOME_DELIVERED, "")
    assert ack is None  # acknowledged on failure only
    assert pair.balance(dst, wrapped, USER) == wrapped0 + 5 * ETHER
    pair.assert_collateral(src, asset)

    burn = pair.burn(dst, wrapped, 2 * ETHER, unlocked_to)
    assert pair.balance(dst, wrapped, USER) == wrapped0 + 3 * ETHER
    delivered, ack = pair.round_trip(dst, burn)
    assert outcome(src, delivered) == (OUTCOME_DELIVERED, "")
    assert ack is None
    assert pair.balance(src, asset, unlocked_to) == 2 * ETHER
    assert pair.locked(src, asset) == locked0 + 3 * ETHER
    pair.assert_collateral(src, asset)


def test_gas_of_a_mint_and_an_unlock(pair: AppPair, record_property: Any) -> None:
    """Record (not assert) the gas of one message delivery with its header update in the same
    transaction: a wrapped-token mint to a fresh recipient and a native unlock to a fresh recipient."""
    fresh = fresh_address("gas-mint")
    mint = pair.relay(pair.a, pair.lock_token(pair.a, ETHER, fresh))
    assert pair.balance(pair.b, pair.wrapped(pair.b, pair.a, pair.token(pair.a)), fresh) == ETHER
    wrapped_native = pair.wrapped(pair.b, pair.a, NATIVE)
    pair.relay(pair.a, pair.lock_native(pair.a, ETHER, USER))
    unlock_to = fresh_address("gas-unlock")
    unlock = pair.relay(pair.b, pair.burn(pair.b, wrapped_native, ETHER, unlock_to))
    assert pair.a.evm.balance(unlock_to) == ETHER
    record_property("gas_mint_delivery", gas(mint))
    record_property("gas_unlock_delivery", gas(unlock))
    print(f"\ngas: token mint delivery {gas(mint)}, native unlock delivery {gas(unlock)} (header update included)")


# ---------------------------------------------------------------------- refusals and refunds
def refund_round(pair: AppPair, src: Side, lock: dict[str, Any], expected: int, reason: str) -> dict[str, Any]:
    """Relay a transfer the destination refuses and its failure acknowledgement back: check the outcome
    and reason there, the Refunded event here, and that a replayed acknowledgement refunds nothing."""
    dst = pair.other(src)
    tid = transfer_id(pair, src, lock)
    assert bytes(pair.m.envelope(src, lock).id) == tid
    assert src.evm.call(pair.router(src), "TokenRouter", "pendingOf", tid)[0] == USER
    delivered = pair.relay(src, lock)
    got, why = outcome(dst, delivered)
    assert got == expected and reason in why, (got, why)
    ack_env = pair.m.envelope(dst, delivered)
    assert decode_ack_body(ack_env.body)[:2] == (tid, expected)
    refunded = pair.relay(dst, delivered)
    (event,) = ROUTER.logs_of(refunded, pair.router(src), "Refunded")
    assert bytes(event["id"]) == tid and event["sender"] == USER and event["outcome"] == expected
    assert src.evm.call(pair.router(src), "TokenRouter", "pendingOf", tid)[0] == NATIVE  # settled
    # the same acknowledgement delivered again: skipped by the layer, nothing refunded twice
    proof = pair.m.proof(dst, delivered)
    again = pair.m.deliver(src, [proof])
    assert ROUTER.logs_of(again, pair.router(src), "Refunded") == []
    assert LAYER.logs_of(again, src.layer, "MessageProcessed") == []
    return refunded


def test_expired_transfer_is_refunded_once(pair: AppPair) -> None:
    src, dst = pair.a, pair.b
    token = pair.token(src)
    wrapped = pair.wrapped(dst, src, token)
    user0, locked0, supply0 = pair.balance(src, token, USER), pair.locked(src, token), pair.supply(dst, wrapped)
    expiry = now(src) + 30
    lock = pair.lock_token(src, 7 * ETHER, USER, expiry=expiry)
    assert pair.balance(src, token, USER) == user0 - 7 * ETHER
    pass_expiry(dst, expiry)
    refund_round(pair, src, lock, OUTCOME_EXPIRED, "")
    assert pair.balance(src, token, USER) == user0
    assert pair.locked(src, token) == locked0
    assert pair.supply(dst, wrapped) == supply0
    pair.assert_collateral(src, token)


def test_unknown_asset_is_refunded_once(pair: AppPair) -> None:
    src, dst = pair.b, pair.a
    # a token B lets leave for A, for which A has no wrapped counterpart
    token = src.evm.deploy(USER_KEY, "TestToken", "Stray", "STR", 10**24)
    src.evm.transact(DEPLOYER, pair.router(src), "TokenRouter", "registerToken", dst.chain_id, token, True)
    user0 = pair.balance(src, token, USER)
    lock = pair.lock_token(src, 3 * ETHER, USER, token=token)
    assert pair.balance(src, token, USER) == user0 - 3 * ETHER
    assert pair.locked(src, token) == 3 * ETHER
    refund_round(pair, src, lock, OUTCOME_FAILED, "UnknownAsset")
    assert pair.balance(src, token, USER) == user0
    assert pair.locked(src, token) == 0
    assert pair.balance(src, token, pair.router(src)) == 0


def test_recipient_rejecting_the_coin_refunds_the_burn(pair: AppPair) -> None:
    """A burn on B whose unlock on A goes to a contract that rejects the coin: the burned wrapped
    token is minted again to its sender on B, and A's collateral is untouched."""
    origin, wrapped_side = pair.a, pair.b
    refuser = origin.evm.deploy(DEPLOYER, "RefusingRecipient")
    wrapped = pair.wrapped(wrapped_side, origin, NATIVE)
    pair.relay(origin, pair.lock_native(origin, 4 * ETHER, USER))
    held, supply0 = pair.balance(wrapped_side, wrapped, USER), pair.supply(wrapped_side, wrapped)
    locked0 = pair.locked(origin, NATIVE)
    burn = pair.burn(wrapped_side, wrapped, 4 * ETHER, refuser)
    assert pair.supply(wrapped_side, wrapped) == supply0 - 4 * ETHER
    refund_round(pair, wrapped_side, burn, OUTCOME_FAILED, "NativeTransferFailed")
    assert pair.balance(wrapped_side, wrapped, USER) == held
    assert pair.supply(wrapped_side, wrapped) == supply0
    assert pair.locked(origin, NATIVE) == locked0
    assert origin.evm.balance(refuser) == 0
    pair.assert_collateral(origin, NATIVE)


def test_paused_destination_refunds_the_native_lock(pair: AppPair) -> None:
    src, dst = pair.a, pair.b
    wrapped = pair.wrapped(dst, src, NATIVE)
    user0, locked0, supply0 = src.evm.balance(USER), pair.locked(src, NATIVE), pair.supply(dst, wrapped)
    dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "pause")
    try:
        lock = pair.lock_native(src, 6 * ETHER, fresh_address("paused"))
        assert src.evm.balance(USER) == user0 - 6 * ETHER - fee(lock)
        refund_round(pair, src, lock, OUTCOME_FAILED, "IsPaused")
    finally:
        dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "unpause")
    assert src.evm.balance(USER) == user0 - fee(lock)  # everything but the lock's gas came back
    assert pair.locked(src, NATIVE) == locked0
    assert pair.supply(dst, wrapped) == supply0
    pair.assert_collateral(src, NATIVE)


def test_over_the_limit_is_refunded(pair: AppPair) -> None:
    src, dst = pair.b, pair.a
    token = pair.token(src)
    wrapped = pair.wrapped(dst, src, token)
    dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "setLimit", wrapped, 10 * ETHER)
    try:
        user0, locked0 = pair.balance(src, token, USER), pair.locked(src, token)
        lock = pair.lock_token(src, 11 * ETHER, USER)
        refund_round(pair, src, lock, OUTCOME_FAILED, "OverLimit")
        assert pair.balance(src, token, USER) == user0
        assert pair.locked(src, token) == locked0
        # at the limit it goes through
        delivered, ack = pair.round_trip(src, pair.lock_token(src, 10 * ETHER, USER))
        assert ack is None and outcome(dst, delivered)[0] == OUTCOME_DELIVERED
    finally:
        dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "setLimit", wrapped, 0)
    pair.assert_collateral(src, token)


# ---------------------------------------------------------------------- who may call what
def test_only_the_layer_and_the_remote_router(pair: AppPair) -> None:
    src, dst = pair.a, pair.b
    router = pair.router(dst)
    body = b"\x00" * 128
    assert "NotLayer" in reverts(dst.evm.transact, DEPLOYER, router, "TokenRouter", "handleMessage",
                                 src.chain_id, b"\x00" * 12 + bytes.fromhex(pair.router(src)[2:]), body)
    assert "NotLayer" in reverts(dst.evm.transact, DEPLOYER, router, "TokenRouter", "handleAck",
                                 b"\x01" * 32, OUTCOME_FAILED, b"")
    # a message to the router from another application of A is refused (and acknowledged: no refund
    # is owed to anyone, as that sender is not a router)
    forged = eth_abi.encode(["bool", "address", "address", "uint256"], [False, NATIVE, USER, 10**30])
    sent = pair.m.send(src, router, forged, ack_mode=ACK_ON_FAILURE, key=USER_KEY)
    delivered = pair.relay(src, sent)
    got, why = outcome(dst, delivered)
    assert got == OUTCOME_FAILED and "UnknownSender" in why
    assert "NotOwner" in reverts(dst.evm.transact, USER_KEY, router, "TokenRouter", "setLimit", NATIVE, 1)


def test_refund_refused_by_its_sender_waits_to_be_claimed(pair: AppPair) -> None:
    """A sender contract that rejects the native refund does not block the acknowledgement: the
    refund is owed to it, once, and paid when it claims."""
    src, dst = pair.a, pair.b
    sender = src.evm.deploy(DEPLOYER, "AppRefusingSender", pair.router(src))
    locked0 = pair.locked(src, NATIVE)
    dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "pause")
    try:
        lock = src.evm.transact(USER_KEY, sender, "AppRefusingSender", "lock", dst.chain_id, USER, 0, value=ETHER)
        delivered = pair.relay(src, lock)
        assert outcome(dst, delivered)[0] == OUTCOME_FAILED
    finally:
        dst.evm.transact(DEPLOYER, pair.router(dst), "TokenRouter", "unpause")
    acked = pair.relay(dst, delivered)
    assert outcome(src, acked)[0] == OUTCOME_DELIVERED  # the acknowledgement itself went through
    (owed,) = ROUTER.logs_of(acked, pair.router(src), "RefundOwed")
    assert owed == {"sender": sender, "amount": ETHER}
    assert src.evm.call(pair.router(src), "TokenRouter", "owed", sender) == ETHER
    assert pair.locked(src, NATIVE) == locked0
    payee = fresh_address("claimed-refund")
    src.evm.transact(USER_KEY, sender, "AppRefusingSender", "claimTo", payee)
    assert src.evm.balance(payee) == ETHER
    assert src.evm.call(pair.router(src), "TokenRouter", "owed", sender) == 0
    assert "ZeroAmount" in reverts(src.evm.transact, USER_KEY, sender, "AppRefusingSender", "claimTo", payee)
    pair.assert_collateral(src, NATIVE)


def test_ack_held_while_the_source_is_paused_refunds_once_on_retry(pair: AppPair) -> None:
    """While the source router is paused its refund waits: the acknowledgement fails (retriable),
    and after the pause is lifted one retry refunds; a second retry refunds nothing."""
    src, dst = pair.b, pair.a
    token = pair.token(src)
    user0, locked0 = pair.balance(src, token, USER), pair.locked(src, token)
    expiry = now(src) + 30
    lock = pair.lock_token(src, 2 * ETHER, USER, expiry=expiry)
    pass_expiry(dst, expiry)
    delivered = pair.relay(src, lock)
    assert outcome(dst, delivered)[0] == OUTCOME_EXPIRED
    src.evm.transact(DEPLOYER, pair.router(src), "TokenRouter", "pause")
    try:
        held = pair.relay(dst, delivered)
        got, why = outcome(src, held)
        assert got == OUTCOME_FAILED and "IsPaused" in why
        assert pair.balance(src, token, USER) == user0 - 2 * ETHER
    finally:
        src.evm.transact(DEPLOYER, pair.router(src), "TokenRouter", "unpause")
    ack = pair.m.envelope(dst, delivered)
    assert src.evm.call(src.layer, "MessageLayer", "isRetriable", ack.id)
    retried = src.evm.transact(DEPLOYER, src.layer, "MessageLayer", "retry", ack.encode())
    assert len(ROUTER.logs_of(retried, pair.router(src), "Refunded")) == 1
    assert pair.balance(src, token, USER) == user0
    assert pair.locked(src, token) == locked0
    assert "NotRetriable" in reverts(src.evm.transact, DEPLOYER, src.layer, "MessageLayer", "retry", ack.encode())
    assert pair.balance(src, token, USER) == user0
