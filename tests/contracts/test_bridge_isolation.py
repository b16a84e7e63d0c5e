"""Bridge on two real anvil chains: per-message isolation in deliverBatch (a message that cannot be
executed is set aside with its reason, the rest of the batch is delivered, the outcome does not depend
on the gas limit), reentrancy through an ERC-777-style token, and the source-side token registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bridge_env import (
    BRIDGE,
    CHAIN_A,
    CHAIN_B,
    DEPLOYER,
    NATIVE,
    USER,
    USER_KEY,
    BridgePair,
    Chain,
    bridge_pair,
    events,
    fresh_address,
)
from eth_utils import keccak

from adapters.evm.abi import Contract, decode_revert
from relayer.errors import ContractRevert, RpcError

ETHER = 10**18
LOCKER = Contract.load("ReentrantLocker")


@pytest.fixture(scope="module")
def pair() -> Iterator[BridgePair]:
    with bridge_pair() as p:
        yield p


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def one_block(chain: Chain, calls: list[tuple[str, bytes, int]]) -> list[dict[str, Any]]:
    """Send ``(to, data, value)`` transactions of USER mined together in one block; their receipts."""
    evm = chain.evm
    start = evm.nonce(USER)
    evm.rpc("evm_setAutomine", False)
    try:
        hashes = [evm.send_transaction(USER_KEY, to, data, value=value, gas=400_000, nonce=start + i)
                  for i, (to, data, value) in enumerate(calls)]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setAutomine", True)
    receipts = [evm.wait_receipt(h, 10) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the transactions did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts)
    return receipts


def proofs_of(pair: BridgePair, src: Chain,
              receipts: list[dict[str, Any]]) -> list[tuple[int, bytes, list[bytes], int]]:
    number = int(receipts[0]["blockNumber"], 16)
    block = src.evm.rpc("eth_getBlockReceipts", hex(number))
    return [pair.proof(src, r, receipts=block) for r in receipts]


def outcome(receipt: dict[str, Any]) -> tuple[list[int], dict[int, str]]:
    """(nonces delivered, nonce -> decoded reason of each MessageFailed) of a deliverBatch receipt."""
    decoded = events(receipt, BRIDGE)
    delivered = [f["nonce"] for name, f in decoded if name == "Delivered"]
    failed = {f["nonce"]: decode_revert(f["reason"]) for name, f in decoded if name == "MessageFailed"}
    return delivered, failed


def nonce_of(receipt: dict[str, Any]) -> int:
    return next(f["nonce"] for name, f in events(receipt, BRIDGE) if name in ("Locked", "Burned"))


@pytest.fixture(scope="module")
def poisoned(pair: BridgePair) -> dict[str, Any]:
    """One block of B holding three good burns and three that cannot execute on A: a burn to a recipient
    that refuses the coin, one to a recipient that burns all its gas, and a lock of a token B registered
    for A although A has no wrapped form of it."""
    a, b = pair.a, pair.b
    lock = pair.lock_native(a, 10 * ETHER)
    pair.accept(a, int(lock["blockNumber"], 16))
    pair.deliver(b, "mint", pair.proof(a, lock))  # USER holds wrapped A-coin on B
    refuser = a.evm.deploy(DEPLOYER, "RefusingRecipient")
    burner = a.evm.deploy(DEPLOYER, "GasBurner")
    orphan = b.evm.deploy(USER_KEY, "TestToken", "Orphan", "ORP", 10**24)
    b.evm.transact(DEPLOYER, b.bridge, "Bridge", "registerToken", CHAIN_A, orphan, True)
    b.evm.transact(USER_KEY, orphan, "TestToken", "approve", b.bridge, ETHER)
    wrapped = b.wrapped[NATIVE]
    good = [fresh_address(f"poisoned-good-{i}") for i in range(3)]
    calls = [(b.bridge, BRIDGE.encode_call("burn", wrapped, r, ETHER + i), 0) for i, r in enumerate(good[:2])]
    calls += [(b.bridge, BRIDGE.encode_call("burn", wrapped, refuser, ETHER), 0),
              (b.bridge, BRIDGE.encode_call("burn", wrapped, burner, ETHER), 0),
              (b.bridge, BRIDGE.encode_call("lockToken", orphan, CHAIN_A, USER, ETHER), 0),
              (b.bridge, BRIDGE.encode_call("burn", wrapped, good[2], ETHER + 2), 0)]
    receipts = one_block(b, calls)
    pair.accept(b, int(receipts[0]["blockNumber"], 16))
    return {"receipts": receipts, "proofs": proofs_of(pair, b, receipts), "good": good, "refuser": refuser,
            "burner": burner, "orphan": orphan, "nonces": [nonce_of(r) for r in receipts]}


def test_outcome_does_not_depend_on_the_gas_limit(pair: BridgePair, poisoned: dict[str, Any]) -> None:
    """Whatever gas the caller gives (63/64 rule), the batch either reverts whole or delivers exactly the
    three good messages: too little gas never sets a good message aside."""
    a = pair.a
    data = BRIDGE.encode_call("deliverBatch", CHAIN_B, b"", poisoned["proofs"])
    seen = set()
    for gas in range(200_000, 2_000_001, 25_000):
        try:
            raw = a.evm.rpc("eth_call", {"from": USER, "to": a.bridge, "data": "0x" + data.hex(), "gas": hex(gas)},
                            "latest")
        except ContractRevert as exc:
            assert exc.reason.startswith(("InsufficientGas(", "no revert data")), exc  # whole batch refused
            seen.add(exc.reason.split("(")[0])
            continue
        except RpcError as exc:  # below the intrinsic gas (calldata floor): never executed
            assert "intrinsic gas" in str(exc), exc
            continue
        seen.add(BRIDGE.decode_result("deliverBatch", bytes.fromhex(raw[2:])))
    assert 3 in seen and "InsufficientGas" in seen and not seen - {3, "InsufficientGas", "no revert data"}, seen


def test_poisoned_messages_are_set_aside_and_the_rest_delivered(pair: BridgePair, poisoned: dict[str, Any]) -> None:
    a = pair.a
    nonces = poisoned["nonces"]
    before = a.evm.balance(a.bridge)
    receipt = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "deliverBatch", CHAIN_B, b"", poisoned["proofs"])
    delivered, failed = outcome(receipt)
    assert delivered == [nonces[0], nonces[1], nonces[5]]
    assert failed == {nonces[2]: f"NativeTransferFailed({poisoned['refuser']}, {ETHER})",
                      nonces[3]: f"NativeTransferFailed({poisoned['burner']}, {ETHER})",
                      nonces[4]: f"UnknownAsset({CHAIN_B}, {poisoned['orphan']})"}
    for i, recipient in enumerate(poisoned["good"]):
        assert a.evm.balance(recipient) == ETHER + i
    assert a.evm.balance(a.bridge) == before - 3 * ETHER - 3
    for n in nonces:
        assert a.evm.call(a.bridge, "Bridge", "isDelivered", CHAIN_B, n) == (n in delivered)
    assert a.evm.call(poisoned["burner"], "GasBurner", "spins") == 0  # its spinning was rolled back
    # a retry of the same batch skips the delivered ones and fails the poisoned ones again
    again = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "deliverBatch", CHAIN_B, b"", poisoned["proofs"])
    assert outcome(again) == ([], failed)
    # the gas-burning recipient costs the batch its bounded stipend, not the message budget
    refused_only = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "deliverBatch", CHAIN_B, b"", [poisoned["proofs"][2]])
    burned_only = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "deliverBatch", CHAIN_B, b"", [poisoned["proofs"][3]])
    stipend = a.evm.call(a.bridge, "Bridge", "NATIVE_TRANSFER_GAS")
    extra = int(burned_only["gasUsed"], 16) - int(refused_only["gasUsed"], 16)
    assert 0 < extra <= stipend + 5_000, extra
    # once the owner creates the missing wrapped token, the set-aside lock delivers on retry
    a.evm.transact(DEPLOYER, a.bridge, "Bridge", "createWrapped", CHAIN_B, poisoned["orphan"], "Wrapped Orphan", "wORP",
                   18)
    retried = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "deliverBatch", CHAIN_B, b"", poisoned["proofs"])
    assert outcome(retried) == ([nonces[4]], {k: v for k, v in failed.items() if k != nonces[4]})
    minted = a.evm.call(a.evm.call(a.bridge, "Bridge", "wrappedOf", CHAIN_B, poisoned["orphan"]), "WrappedToken",
                        "balanceOf", USER)
    assert minted == ETHER


def test_execute_message_is_internal_only(pair: BridgePair) -> None:
    message = (False, 1, NATIVE, USER, ETHER)
    assert reverts(pair.b.evm.transact, USER_KEY, pair.b.bridge, "Bridge", "executeMessage", CHAIN_A,
                   message) == "NotSelf()"


def test_paused_bridge_refuses_the_whole_batch(pair: BridgePair) -> None:
    receipt = pair.lock_native(pair.a, ETHER)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    b = pair.b
    b.evm.transact(DEPLOYER, b.bridge, "Bridge", "setPaused", True)
    try:
        reason = reverts(b.evm.transact, DEPLOYER, b.bridge, "Bridge", "deliverBatch", CHAIN_A, b"",
                         [pair.proof(pair.a, receipt)])
        assert reason == "Paused()"
    finally:
        b.evm.transact(DEPLOYER, b.bridge, "Bridge", "setPaused", False)


# ---------------------------------------------------------------------- reentrancy
def test_reentrant_token_cannot_be_credited_twice(pair: BridgePair) -> None:
    """A token calling back into its sender before moving balances: the sender re-enters lockToken from
    the hook five levels deep. Without a guard 10 deposited would be credited 10 + 20 + ... ; here the
    nested call is refused (Reentrancy) and exactly what arrived is locked, then minted."""
    a, b = pair.a, pair.b
    token = a.evm.deploy(DEPLOYER, "HookToken", "Hook", "HOOK", 10**24, 6)
    attacker = a.evm.deploy(DEPLOYER, "ReentrantLocker", a.bridge, token, 5)
    a.evm.transact(DEPLOYER, a.bridge, "Bridge", "registerToken", CHAIN_B, token, True)
    b.evm.transact(DEPLOYER, b.bridge, "Bridge", "createWrapped", CHAIN_A, token, "Wrapped Hook", "wHOOK", 6)
    a.evm.transact(DEPLOYER, token, "HookToken", "transfer", attacker, 100 * 10**6)
    recipient = fresh_address("reentrant")
    bridge_before = a.evm.call(token, "HookToken", "balanceOf", a.bridge)
    receipt = a.evm.transact(DEPLOYER, attacker, "ReentrantLocker", "attack", CHAIN_B, recipient, 10 * 10**6)
    locked = [f for name, f in events(receipt, BRIDGE) if name == "Locked"]
    deposited = a.evm.call(token, "HookToken", "balanceOf", a.bridge) - bridge_before
    assert deposited == 10 * 10**6 and [f["amount"] for f in locked] == [deposited]
    assert a.evm.call(attacker, "ReentrantLocker", "nestedOk") == 0
    assert a.evm.call(attacker, "ReentrantLocker", "nestedFailed") == 1
    assert decode_revert(a.evm.call(attacker, "ReentrantLocker", "lastError")) == "Reentrancy()"
    pair.accept(a, int(receipt["blockNumber"], 16))
    pair.deliver(b, "mint", pair.proof(a, receipt))
    wrapped = b.evm.call(b.bridge, "Bridge", "wrappedOf", CHAIN_A, token)
    assert b.evm.call(wrapped, "WrappedToken", "balanceOf", recipient) == deposited
    assert b.evm.call(wrapped, "WrappedToken", "totalSupply") == deposited
    assert b.evm.call(wrapped, "WrappedToken", "decimals") == 6  # the original's decimals


# ---------------------------------------------------------------------- token registry
def test_lock_of_an_unregistered_token_is_refused(pair: BridgePair) -> None:
    a = pair.a
    stranger = a.evm.deploy(USER_KEY, "TestToken", "Stranger", "STR", 10**24)
    a.evm.transact(USER_KEY, stranger, "TestToken", "approve", a.bridge, ETHER)
    lock = (a.evm.transact, USER_KEY, a.bridge, "Bridge", "lockToken", stranger, CHAIN_B, USER, ETHER)
    assert reverts(*lock) == f"TokenNotRegistered({CHAIN_B}, {stranger})"
    assert not a.evm.call(a.bridge, "Bridge", "isTokenRegistered", CHAIN_B, stranger)
    assert reverts(a.evm.transact, USER_KEY, a.bridge, "Bridge", "registerToken", CHAIN_B, stranger,
                   True) == "NotOwner()"
    wrapped = a.wrapped[NATIVE]
    reason = reverts(a.evm.transact, DEPLOYER, a.bridge, "Bridge", "registerToken", CHAIN_B, wrapped, True)
    assert reason == f"UnknownAsset({CHAIN_A}, {wrapped})"
    registered = a.evm.transact(DEPLOYER, a.bridge, "Bridge", "registerToken", CHAIN_B, stranger, True)
    assert events(registered, BRIDGE) == [("TokenRegistered", {"dstChainId": CHAIN_B, "token": stranger,
                                                               "registered": True})]
    lock[0](*lock[1:])
    a.evm.transact(DEPLOYER, a.bridge, "Bridge", "registerToken", CHAIN_B, stranger, False)
    assert reverts(*lock) == f"TokenNotRegistered({CHAIN_B}, {stranger})"
    # registered for B says nothing of another destination
    assert not a.evm.call(a.bridge, "Bridge", "isTokenRegistered", 999, a.token)
    assert a.evm.call(a.bridge, "Bridge", "isTokenRegistered", CHAIN_B, a.token)


def test_wrapped_token_carries_the_decimals_it_was_created_with(pair: BridgePair) -> None:
    b = pair.b
    remote = fresh_address("six-decimals")
    created = b.evm.transact(DEPLOYER, b.bridge, "Bridge", "createWrapped", CHAIN_A, remote, "Six", "SIX", 6)
    wrapped = b.evm.call(b.bridge, "Bridge", "wrappedOf", CHAIN_A, remote)
    assert events(created, BRIDGE) == [("WrappedCreated", {"remoteChainId": CHAIN_A, "remoteToken": remote,
                                                           "wrapped": wrapped, "decimals": 6})]
    assert b.evm.call(wrapped, "WrappedToken", "decimals") == 6
    assert b.evm.call(b.wrapped[NATIVE], "WrappedToken", "decimals") == 18


def test_zero_header_fields_are_refused(pair: BridgePair) -> None:
    receipt = pair.lock_native(pair.a, 1)
    number = int(receipt["blockNumber"], 16)
    block_hash, root = pair.header(pair.a, number)
    lc = pair.b.light_client
    for bad_hash, bad_root in ((b"\x00" * 32, root), (block_hash, b"\x00" * 32)):
        sigs = pair.signatures(pair.b, number, bad_hash, bad_root, pair.committee[:2])
        reason = reverts(pair.b.evm.transact, DEPLOYER, lc, "CommitteeLightClient", "updateHeader", number,
                         bad_hash, bad_root, sigs)
        assert reason == f"ZeroHeaderField({number})"
    assert pair.b.evm.call(lc, "CommitteeLightClient", "receiptsRootOf", number) == b"\x00" * 32
    assert keccak(b"") != block_hash  # the honest header is still accepted afterwards
    pair.accept(pair.a, number)
    assert pair.b.evm.call(lc, "CommitteeLightClient", "receiptsRootOf", number) == root
