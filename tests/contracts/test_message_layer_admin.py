"""MessageLayer administration on a real anvil chain: only the owner configures, ownership moves
in two steps, a guardian pauses at once but cannot unpause, a paused layer refuses everything;
send refuses bad options."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from msg_env import CHAIN_A, DEPLOYER, USER, USER_KEY, MessagePair, message_pair, reverts

from adapters.evm import committee as cm
from adapters.evm.messaging import OUTCOME_DELIVERED, OUTCOME_NONE
from relayer.devnet.anvil import ANVIL_KEYS

GUARDIAN_KEY, NEW_OWNER_KEY = ANVIL_KEYS[2], ANVIL_KEYS[3]
GUARDIAN, NEW_OWNER = cm.signer_address(GUARDIAN_KEY), cm.signer_address(NEW_OWNER_KEY)
OWNER = cm.signer_address(DEPLOYER)
ML = "MessageLayer"


@pytest.fixture(scope="module")
def pair() -> Iterator[MessagePair]:
    with message_pair() as p:
        yield p


def admin(pair: MessagePair, key: str, fn: str, *args: Any) -> dict[str, Any]:
    return pair.b.evm.transact(key, pair.b.layer, ML, fn, *args)


def view(pair: MessagePair, fn: str, *args: Any) -> Any:
    return pair.b.evm.call(pair.b.layer, ML, fn, *args)


def test_only_the_owner_configures(pair: MessagePair) -> None:
    b = pair.b
    for fn, args in (("setRemote", (CHAIN_A, pair.a.layer_word, b.light_client, b.verifier)),
                     ("setMaxGasLimit", (1,)), ("setGuardian", (USER, True)), ("transferOwnership", (USER,)),
                     ("unpause", ())):
        assert reverts(admin, pair, USER_KEY, fn, *args) == f"NotOwner({USER})", fn
    assert reverts(admin, pair, DEPLOYER, "setRemote", b.chain_id, pair.a.layer_word, b.light_client,
                   b.verifier) == f"InvalidChain({b.chain_id})"
    assert reverts(admin, pair, DEPLOYER, "setRemote", 7, pair.a.layer_word, b.light_client,
                   b.verifier) == f"LightClientChainMismatch(7, {CHAIN_A})"
    assert reverts(admin, pair, DEPLOYER, "setRemote", CHAIN_A, bytes(32), b.light_client,
                   b.verifier) == "ZeroAddress()"
    receipt = admin(pair, DEPLOYER, "setMaxGasLimit", 4_000_000)
    assert view(pair, "maxGasLimit") == 4_000_000
    assert pair.processed(pair.b, receipt) == []
    admin(pair, DEPLOYER, "setMaxGasLimit", 5_000_000)


def test_ownership_moves_in_two_steps(pair: MessagePair) -> None:
    admin(pair, DEPLOYER, "transferOwnership", NEW_OWNER)
    assert (view(pair, "owner"), view(pair, "pendingOwner")) == (OWNER, NEW_OWNER)
    admin(pair, DEPLOYER, "setMaxGasLimit", 5_000_000)  # the old owner is still in charge
    assert reverts(admin, pair, USER_KEY, "acceptOwnership") == f"NotPendingOwner({USER})"
    admin(pair, NEW_OWNER_KEY, "acceptOwnership")
    assert (view(pair, "owner"), view(pair, "pendingOwner")) == (NEW_OWNER, "0x" + "00" * 20)
    assert reverts(admin, pair, DEPLOYER, "setMaxGasLimit", 1) == f"NotOwner({OWNER})"
    assert reverts(admin, pair, NEW_OWNER_KEY, "acceptOwnership") == f"NotPendingOwner({NEW_OWNER})"
    # and back, with a cancelled proposal on the way
    admin(pair, NEW_OWNER_KEY, "transferOwnership", USER)
    admin(pair, NEW_OWNER_KEY, "transferOwnership", "0x" + "00" * 20)
    assert reverts(admin, pair, USER_KEY, "acceptOwnership") == f"NotPendingOwner({USER})"
    admin(pair, NEW_OWNER_KEY, "transferOwnership", OWNER)
    admin(pair, DEPLOYER, "acceptOwnership")
    assert view(pair, "owner") == OWNER


def test_a_guardian_pauses_at_once_only_the_owner_unpauses(pair: MessagePair) -> None:
    target = pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    switch = pair.b.evm.deploy(DEPLOYER, "MsgSwitch")
    receipts = pair.send_in_one_block(pair.a, [{"recipient": target, "body": b"held", "gas_limit": 300_000},
                                               {"recipient": switch, "body": b"", "gas_limit": 100_000}])
    envs = [pair.envelope(pair.a, r) for r in receipts]
    pair.accept(pair.a, int(receipts[0]["blockNumber"], 16))
    proof = pair.proof(pair.a, receipts[0])
    pair.deliver(pair.b, [pair.proof(pair.a, receipts[1])])  # fails: retriable later
    assert reverts(admin, pair, GUARDIAN_KEY, "pause") == f"NotGuardian({GUARDIAN})"
    admin(pair, DEPLOYER, "setGuardian", GUARDIAN, True)
    admin(pair, GUARDIAN_KEY, "pause")
    assert view(pair, "paused")
    assert reverts(admin, pair, GUARDIAN_KEY, "unpause") == f"NotOwner({GUARDIAN})"
    assert reverts(admin, pair, GUARDIAN_KEY, "pause") == "IsPaused()"
    assert reverts(pair.deliver, pair.b, [proof]) == "IsPaused()"
    assert reverts(pair.send, pair.b, USER, b"x") == "IsPaused()"
    pair.b.evm.transact(USER_KEY, switch, "MsgSwitch", "flip")
    assert reverts(pair.b.evm.transact, USER_KEY, pair.b.layer, ML, "retry", envs[1].encode()) == "IsPaused()"
    assert pair.outcome(pair.b, envs[0]) == OUTCOME_NONE
    admin(pair, DEPLOYER, "unpause")
    assert reverts(admin, pair, DEPLOYER, "unpause") == "NotPaused()"
    pair.deliver(pair.b, [proof])
    pair.b.evm.transact(USER_KEY, pair.b.layer, ML, "retry", envs[1].encode())
    assert [pair.outcome(pair.b, e) for e in envs] == [OUTCOME_DELIVERED, OUTCOME_DELIVERED]
    admin(pair, DEPLOYER, "setGuardian", GUARDIAN, False)
    assert reverts(admin, pair, GUARDIAN_KEY, "pause") == f"NotGuardian({GUARDIAN})"


def test_send_refuses_bad_options(pair: MessagePair) -> None:
    a = pair.a
    assert reverts(pair.send, a, bytes(32), b"x") == "ZeroRecipient()"
    assert reverts(pair.send, a, USER, b"x", ack_mode=3) == "InvalidAckMode(3)"
    assert reverts(pair.send, a, USER, b"x", gas_limit=5_000_001) == "GasLimitTooHigh(5000001, 5000000)"
