"""Consortium governance on a real anvil node: a ConsortiumMultisig (2 of 3) proposes to a Timelock,
the Timelock administers the applications of the message layer. Admin calls without the timelock are
refused, a scheduled call runs only after its delay and only with M of N approvals, a guardian pauses
at once but only the timelock unpauses, ownership moves in two steps, and the Timelock's and the
multisig's own settings change only through themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from governance_env import (
    GUARDIAN,
    GUARDIAN_KEY,
    MEMBER_KEYS,
    MEMBERS,
    MIN_DELAY,
    Governance,
    advance,
    deploy_governance,
    op_id,
)

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil
from relayer.errors import ContractRevert

DEPLOYER = ANVIL_KEYS[0]
DEPLOYER_ADDRESS = Account.from_key(DEPLOYER).address
STRANGER_KEY = ANVIL_KEYS[6]
STRANGER = Account.from_key(STRANGER_KEY).address
PRODUCER = Account.from_key(ANVIL_KEYS[7]).address
REG = "TraceabilityRegistry"
TL = "Timelock"
MS = "ConsortiumMultisig"


@pytest.fixture(scope="module")
def evm() -> Iterator[SyncEvm]:
    node = start_anvil(1001, block_time=None)
    try:
        with SyncEvm(node.url) as client:
            yield client
    finally:
        stop_anvil(node)


@pytest.fixture(scope="module")
def gov(evm: SyncEvm) -> Governance:
    return deploy_governance(evm, DEPLOYER)


@pytest.fixture(scope="module")
def app(evm: SyncEvm, gov: Governance) -> str:
    """A TraceabilityRegistry (an Administered application) handed to the timelock in two steps,
    with a guardian set by its deployer before the hand-over."""
    # the layer is never called in these tests: any contract address will do
    registry = evm.deploy(DEPLOYER, REG, gov.multisig, DEPLOYER_ADDRESS)
    evm.transact(DEPLOYER, registry, REG, "setGuardian", GUARDIAN, True)
    evm.transact(DEPLOYER, registry, REG, "transferOwnership", gov.timelock)
    gov.run(registry, REG, "acceptOwnership")
    return registry


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def encode(contract: str, fn: str, *args: Any) -> bytes:
    return Contract.load(contract).encode_call(fn, *args)


# ---------------------------------------------------------------------- ownership
def test_two_step_ownership(evm: SyncEvm, gov: Governance) -> None:
    registry = evm.deploy(DEPLOYER, REG, gov.multisig, DEPLOYER_ADDRESS)
    evm.transact(DEPLOYER, registry, REG, "transferOwnership", gov.timelock)
    # step one moves nothing: the old owner still rules, the new one is only pending
    assert evm.call(registry, REG, "owner") == DEPLOYER_ADDRESS
    assert evm.call(registry, REG, "pendingOwner") == gov.timelock
    evm.transact(DEPLOYER, registry, REG, "setProducer", PRODUCER, True)
    assert "NotPendingOwner" in reverts(evm.transact, STRANGER_KEY, registry, REG, "acceptOwnership")
    gov.run(registry, REG, "acceptOwnership")
    assert evm.call(registry, REG, "owner") == gov.timelock
    assert evm.call(registry, REG, "pendingOwner") == "0x" + "00" * 20
    assert "NotOwner" in reverts(evm.transact, DEPLOYER, registry, REG, "setProducer", PRODUCER, False)


def test_admin_call_without_timelock_refused(evm: SyncEvm, gov: Governance, app: str) -> None:
    assert evm.call(app, REG, "owner") == gov.timelock
    for key in (DEPLOYER, MEMBER_KEYS[0], GUARDIAN_KEY, STRANGER_KEY):
        assert "NotOwner" in reverts(evm.transact, key, app, REG, "setProducer", PRODUCER, True)
    # the multisig itself is not the owner either: its M approvals only schedule on the timelock
    call_id = gov.submit(app, encode(REG, "setProducer", PRODUCER, True))
    gov.approve(call_id, MEMBER_KEYS[1])
    assert "NotOwner" in reverts(gov.execute, call_id)
    # and only the multisig may schedule on the timelock
    for key in (DEPLOYER, MEMBER_KEYS[0]):
        reason = reverts(evm.transact, key, gov.timelock, TL, "schedule", app, 0,
                         encode(REG, "setProducer", PRODUCER, True), b"\x00" * 32, MIN_DELAY)
        assert "NotProposer" in reason
    assert not evm.call(app, REG, "isProducer", PRODUCER)


def test_scheduled_call_needs_m_of_n_and_the_delay(evm: SyncEvm, gov: Governance, app: str) -> None:
    data = encode(REG, "setProducer", PRODUCER, True)
    salt = b"\x07" * 32
    schedule = encode(TL, "schedule", app, 0, data, salt, MIN_DELAY)
    call_id = gov.submit(gov.timelock, schedule, key=MEMBER_KEYS[0])
    # one of three approvals: not enough
    assert "NotEnoughApprovals" in reverts(gov.execute, call_id)
    assert "AlreadyApproved" in reverts(gov.approve, call_id, MEMBER_KEYS[0])
    assert "NotMember" in reverts(gov.approve, call_id, STRANGER_KEY)
    gov.approve(call_id, MEMBER_KEYS[2])
    gov.execute(call_id)
    assert "AlreadyExecuted" in reverts(gov.execute, call_id)
    op = (app, 0, data, salt)
    oid = op_id(op)
    assert evm.call(gov.timelock, TL, "operationId", *op) == oid
    assert evm.call(gov.timelock, TL, "isPending", oid)
    # before the delay: refused, nothing changed
    assert "NotReady" in reverts(gov.execute_op, op)
    advance(evm, MIN_DELAY - 60)
    assert "NotReady" in reverts(gov.execute_op, op)
    assert not evm.call(app, REG, "isProducer", PRODUCER)
    advance(evm, 60)
    gov.execute_op(op)
    assert evm.call(app, REG, "isProducer", PRODUCER)
    assert evm.call(gov.timelock, TL, "isDone", oid)
    # at most once
    assert "NotPending" in reverts(gov.execute_op, op)


def test_delay_below_minimum_and_cancel(evm: SyncEvm, gov: Governance, app: str) -> None:
    data = encode(REG, "setProducer", STRANGER, True)
    short = encode(TL, "schedule", app, 0, data, b"\x01" * 32, MIN_DELAY - 1)
    call_id = gov.submit(gov.timelock, short)
    gov.approve(call_id, MEMBER_KEYS[1])
    assert "DelayTooShort" in reverts(gov.execute, call_id)
    op = gov.schedule(app, data)
    cancel = encode(TL, "cancel", op_id(op))
    assert "NotProposer" in reverts(evm.transact, MEMBER_KEYS[0], gov.timelock, TL, "cancel", op_id(op))
    call_id = gov.submit(gov.timelock, cancel)
    gov.approve(call_id, MEMBER_KEYS[2])
    gov.execute(call_id)
    advance(evm, MIN_DELAY)
    assert "NotPending" in reverts(gov.execute_op, op)
    assert not evm.call(app, REG, "isProducer", STRANGER)


def test_guardian_pauses_at_once_only_timelock_unpauses(evm: SyncEvm, gov: Governance, app: str) -> None:
    assert "NotGuardian" in reverts(evm.transact, STRANGER_KEY, app, REG, "pause")
    evm.transact(GUARDIAN_KEY, app, REG, "pause")
    assert evm.call(app, REG, "paused")
    assert "IsPaused" in reverts(evm.transact, ANVIL_KEYS[7], app, REG, "record",
                                       b"\x01" * 32, b"tea".ljust(32, b"\x00"), b"\x02" * 32)
    for key in (GUARDIAN_KEY, DEPLOYER, MEMBER_KEYS[0], STRANGER_KEY):
        assert "NotOwner" in reverts(evm.transact, key, app, REG, "unpause")
    gov.run(app, REG, "unpause")
    assert not evm.call(app, REG, "paused")


def test_timelock_settings_only_through_itself(evm: SyncEvm, gov: Governance) -> None:
    for key in (DEPLOYER, MEMBER_KEYS[0]):
        assert "NotSelf" in reverts(evm.transact, key, gov.timelock, TL, "setMinDelay", 0)
        assert "NotSelf" in reverts(evm.transact, key, gov.timelock, TL, "setProposer", STRANGER)
    gov.run(gov.timelock, TL, "setMinDelay", MIN_DELAY * 2)
    assert evm.call(gov.timelock, TL, "minDelay") == MIN_DELAY * 2
    op = gov.schedule(gov.timelock, encode(TL, "setMinDelay", MIN_DELAY), delay=MIN_DELAY * 2)
    advance(evm, MIN_DELAY * 2)
    gov.execute_op(op)
    assert evm.call(gov.timelock, TL, "minDelay") == MIN_DELAY


def test_multisig_members_only_through_itself(evm: SyncEvm) -> None:
    multisig = evm.deploy(DEPLOYER, MS, MEMBERS, 2)
    new_members = [MEMBERS[0], MEMBERS[1], GUARDIAN]
    assert "NotSelf" in reverts(evm.transact, MEMBER_KEYS[0], multisig, MS, "setMembers", new_members, 3)
    data = encode(MS, "setMembers", new_members, 3)
    receipt = evm.transact(MEMBER_KEYS[0], multisig, MS, "submit", multisig, 0, data)
    call_id = int(evm.call(multisig, MS, "callCount")) - 1
    assert receipt["status"] == "0x1"
    # a pending call approved under the old member set must start over after the change
    pending = int(evm.call(multisig, MS, "callCount"))
    evm.transact(MEMBER_KEYS[0], multisig, MS, "submit", multisig, 0, encode(MS, "setMembers", MEMBERS, 2))
    evm.transact(MEMBER_KEYS[1], multisig, MS, "approve", pending)
    evm.transact(MEMBER_KEYS[1], multisig, MS, "approve", call_id)
    evm.transact(MEMBER_KEYS[2], multisig, MS, "execute", call_id)
    assert evm.call(multisig, MS, "members") == new_members
    assert evm.call(multisig, MS, "threshold") == 3
    assert not evm.call(multisig, MS, "isMember", MEMBERS[2])
    assert evm.call(multisig, MS, "callOf", pending)[4] == 0
    assert "NotEnoughApprovals" in reverts(evm.transact, MEMBER_KEYS[0], multisig, MS, "execute", pending)
    assert "NotMember" in reverts(evm.transact, MEMBER_KEYS[2], multisig, MS, "approve", pending)
    with pytest.raises(ContractRevert):
        evm.deploy(DEPLOYER, MS, [MEMBERS[0], MEMBERS[0]], 1)
    with pytest.raises(ContractRevert):
        evm.deploy(DEPLOYER, MS, MEMBERS, 4)


def test_message_layer_under_the_timelock(evm: SyncEvm, gov: Governance) -> None:
    """The MessageLayer itself: remotes and limits only through the timelock, a guardian pauses
    sending and delivery at once, only the timelock lifts the pause."""
    layer = evm.deploy(DEPLOYER, "MessageLayer", DEPLOYER_ADDRESS, 1_000_000)
    evm.transact(DEPLOYER, layer, "MessageLayer", "setGuardian", GUARDIAN, True)
    evm.transact(DEPLOYER, layer, "MessageLayer", "transferOwnership", gov.timelock)
    gov.run(layer, "MessageLayer", "acceptOwnership")
    for key in (DEPLOYER, MEMBER_KEYS[0], GUARDIAN_KEY):
        assert "NotOwner" in reverts(evm.transact, key, layer, "MessageLayer", "setMaxGasLimit", 1)
        # swapping a chain's light client or verifier is an admin call like any other
        assert "NotOwner" in reverts(evm.transact, key, layer, "MessageLayer", "setRemote", 1002,
                                     b"\x01" * 32, STRANGER, STRANGER)
    gov.run(layer, "MessageLayer", "setMaxGasLimit", 2_000_000)
    assert evm.call(layer, "MessageLayer", "maxGasLimit") == 2_000_000
    evm.transact(GUARDIAN_KEY, layer, "MessageLayer", "pause")
    assert "IsPaused" in reverts(evm.transact, STRANGER_KEY, layer, "MessageLayer", "send", 1002,
                                 b"\x01" * 32, b"", 100_000, 0, 0)
    assert "IsPaused" in reverts(evm.transact, STRANGER_KEY, layer, "MessageLayer", "deliverBatch", 1002, b"", [])
    assert "NotOwner" in reverts(evm.transact, GUARDIAN_KEY, layer, "MessageLayer", "unpause")
    gov.run(layer, "MessageLayer", "unpause")
    assert not evm.call(layer, "MessageLayer", "paused")
