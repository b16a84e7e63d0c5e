"""Destination trouble on a real devnet: a transaction dropped from the pool or stuck under
a base-fee spike is replaced; a nonce taken by another sender with the same key is
recovered; an unfunded wallet pauses delivery until funded; a paused (reverting) message layer
gets attempts retried with backoff and the reason recorded. Every message arrives once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from devnet_helpers import chain, events, now_iso, processed, set_layer_paused, wait_for
from eth_account import Account

from adapters.evm.keys import load_account
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer

pytestmark = pytest.mark.slow
ETH = 10**18


def beta(root: Path) -> SyncEvm:
    return SyncEvm(chain(root, "beta")["rpc"])


def delivered(root: Path, r: TransferResult) -> bool:
    """The destination's message layer processed the transfer's message (any outcome)."""
    return processed(root, r.source, r.destination, r.nonce)


def lock_to_beta(root: Path, amount: str = "0.01") -> TransferResult:
    return transfer(root, "alpha", "beta", "native", amount, recipient=Account.create().address)


def pause_mining(root: Path) -> None:
    beta(root).rpc("evm_setIntervalMining", 0)
    beta(root).rpc("evm_setAutomine", False)


def resume_mining(root: Path) -> None:
    beta(root).rpc("evm_setIntervalMining", 1)


def test_dropped_transaction_is_replaced_and_delivered(devnet: Path) -> None:
    since = now_iso()
    pause_mining(devnet)
    try:
        result = lock_to_beta(devnet)
        wait_for(lambda: events(devnet, "tx.signed", since), 30, "a delivery transaction")
        beta(devnet).rpc("anvil_dropAllTransactions")
    finally:
        resume_mining(devnet)
    wait_for(lambda: delivered(devnet, result), 60, "delivery after the drop")
    # Another operator's later transaction may deliver first; the dropped one is still replaced.
    wait_for(lambda: events(devnet, "tx.replaced", since), 60, "the dropped transaction to be replaced")


def test_transaction_stuck_under_a_base_fee_spike_is_replaced(devnet: Path) -> None:
    since = now_iso()
    pause_mining(devnet)
    try:
        result = lock_to_beta(devnet)
        wait_for(lambda: events(devnet, "tx.signed", since), 30, "a delivery transaction")
        beta(devnet).rpc("anvil_setNextBlockBaseFeePerGas", hex(200 * 10**9))
    finally:
        resume_mining(devnet)
    wait_for(lambda: delivered(devnet, result), 60, "delivery despite the spike")
    beta(devnet).rpc("anvil_setNextBlockBaseFeePerGas", hex(10**9))  # end the spike for the next tests
    replaced = events(devnet, "tx.replaced", since)
    assert replaced, "the stuck transaction was not replaced"
    assert replaced[-1]["max_fee"] > 100 * 10**9, replaced[-1]


def operator_key(root: Path, index: int) -> Any:
    keys = root / "keys"
    return load_account(keys / f"operator-{index}.json", keys / f"operator-{index}.password")


def take_next_nonce(root: Path, index: int) -> None:
    """Use operator ``index``'s key elsewhere: a transfer at the nonce its submitter holds next."""
    account = operator_key(root, index)
    evm = beta(root)
    nonce = int(evm.rpc("eth_getTransactionCount", account.address, "pending"), 16)
    base_fee = int(evm.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    signed = account.sign_transaction({"type": 2, "chainId": chain(root, "beta")["chain_id"], "nonce": nonce,
                                       "to": account.address, "value": 1, "gas": 21000,
                                       "maxFeePerGas": 4 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9})
    evm.rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())


def test_nonce_taken_by_another_sender_with_the_same_key_is_recovered(devnet: Path) -> None:
    for index in (1, 2, 3):
        take_next_nonce(devnet, index)
    since = now_iso()
    result = lock_to_beta(devnet)
    wait_for(lambda: delivered(devnet, result), 60, "delivery after the nonce was taken")
    refused = [e for e in events(devnet, "tx.refused", since) if e["reason"] == "nonce-lost"]
    assert refused, "the taken nonce was not noticed"


def test_unfunded_wallets_pause_delivery_until_funded(devnet: Path) -> None:
    operators = network.load_deployment(devnet)["operators"]
    evm = beta(devnet)
    balances = {op["address"]: evm.rpc("eth_getBalance", op["address"], "latest") for op in operators}
    for address in balances:
        evm.rpc("anvil_setBalance", address, hex(10**9))
    since = now_iso()
    result = lock_to_beta(devnet)
    try:
        wait_for(lambda: events(devnet, "wallet.insufficient_funds", since), 30, "the alarm")
        time.sleep(3)
        assert not delivered(devnet, result)
    finally:
        for address, balance in balances.items():
            evm.rpc("anvil_setBalance", address, balance)
    wait_for(lambda: delivered(devnet, result), 60, "delivery once funded")


def test_paused_layer_attempts_are_retried_with_their_reason(devnet: Path) -> None:
    set_layer_paused(devnet, "beta", True)
    try:
        since = now_iso()
        result = lock_to_beta(devnet)
        wait_for(lambda: events(devnet, "message.attempt_failed", since), 40, "a refused attempt")
        attempt = events(devnet, "message.attempt_failed", since)[-1]
        assert attempt["reason"] == "IsPaused()" and attempt["state"] == "final"
        assert not delivered(devnet, result)
    finally:
        set_layer_paused(devnet, "beta", False)
    wait_for(lambda: delivered(devnet, result), 60, "delivery after unpausing")
