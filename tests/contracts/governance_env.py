"""Consortium governance for the contract tests: a ConsortiumMultisig of three members (2 of 3)
is the proposer of a Timelock; ``Governance.run`` takes one admin call through both (submit,
approve, schedule, wait out the delay on the node, execute)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_account import Account
from eth_utils import keccak

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS

MEMBER_KEYS = ANVIL_KEYS[2:5]
MEMBERS = [Account.from_key(k).address for k in MEMBER_KEYS]
GUARDIAN_KEY = ANVIL_KEYS[5]
GUARDIAN = Account.from_key(GUARDIAN_KEY).address
MIN_DELAY = 3600
THRESHOLD = 2


def advance(evm: SyncEvm, seconds: int) -> None:
    """Move the node's clock ``seconds`` forward and mine a block."""
    evm.rpc("evm_increaseTime", seconds)
    evm.rpc("evm_mine")


@dataclass
class Governance:
    """The multisig and timelock deployed on one chain."""

    evm: SyncEvm
    multisig: str
    timelock: str
    _salt: int = 0

    def submit(self, target: str, data: bytes, key: str = MEMBER_KEYS[0], value: int = 0) -> int:
        """A member submits a call of the multisig (counting as its approval); its call id."""
        receipt = self.evm.transact(key, self.multisig, "ConsortiumMultisig", "submit", target, value, data)
        return int(events(receipt, "ConsortiumMultisig", "Submitted")[0]["callId"])

    def approve(self, call_id: int, key: str) -> None:
        self.evm.transact(key, self.multisig, "ConsortiumMultisig", "approve", call_id)

    def execute(self, call_id: int) -> dict[str, Any]:
        return self.evm.transact(MEMBER_KEYS[0], self.multisig, "ConsortiumMultisig", "execute", call_id)

    def schedule(self, target: str, data: bytes, delay: int = MIN_DELAY) -> tuple[str, int, bytes, bytes]:
        """Schedule ``data`` on ``target`` through 2 of 3 members; the operation for ``execute_op``."""
        self._salt += 1
        salt = self._salt.to_bytes(32, "big")
        op = (target, 0, data, salt)
        call = Contract.load("Timelock").encode_call("schedule", target, 0, data, salt, delay)
        call_id = self.submit(self.timelock, call)
        self.approve(call_id, MEMBER_KEYS[1])
        self.execute(call_id)
        return op

    def execute_op(self, op: tuple[str, int, bytes, bytes]) -> dict[str, Any]:
        return self.evm.transact(MEMBER_KEYS[2], self.timelock, "Timelock", "execute", *op)

    def run(self, target: str, contract: str, fn: str, *args: Any) -> dict[str, Any]:
        """Take ``contract.fn(*args)`` on ``target`` through the multisig, the timelock and its delay."""
        op = self.schedule(target, Contract.load(contract).encode_call(fn, *args))
        advance(self.evm, MIN_DELAY)
        return self.execute_op(op)


def deploy_governance(evm: SyncEvm, deployer_key: str) -> Governance:
    multisig = evm.deploy(deployer_key, "ConsortiumMultisig", MEMBERS, THRESHOLD)
    timelock = evm.deploy(deployer_key, "Timelock", multisig, MIN_DELAY)
    return Governance(evm, multisig, timelock)


def events(receipt: dict[str, Any], contract_name: str, name: str) -> list[dict[str, Any]]:
    contract = Contract.load(contract_name)
    out = []
    for log in receipt["logs"]:
        decoded = contract.decode_log(log)
        if decoded is not None and decoded[0] == name:
            out.append(decoded[1])
    return out


def op_id(op: tuple[str, int, bytes, bytes]) -> bytes:
    return keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes32"], list(op)))
