"""deploy_pair on two real automining anvil nodes: registrations, wrapped assets, Locked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil
from relayer.devnet.deploy import DEFAULT_USER_TOKENS, ZERO_ADDRESS, deploy_pair, sorted_members
from relayer.errors import DevnetError

ALPHA_ID, BETA_ID = 1001, 1002
USERS = [Account.from_key(key) for key in ANVIL_KEYS[1:4]]
OPERATORS = [Account.create().address for _ in range(3)]


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[SyncEvm, SyncEvm]]:
    alpha, beta = start_anvil(ALPHA_ID, block_time=None), start_anvil(BETA_ID, block_time=None)
    try:
        yield SyncEvm(alpha.url), SyncEvm(beta.url)
    finally:
        stop_anvil(alpha)
        stop_anvil(beta)


@pytest.fixture(scope="module")
def deployed(pair: tuple[SyncEvm, SyncEvm]) -> dict[str, dict[str, Any]]:
    lines: list[str] = []
    result = deploy_pair(*pair, OPERATORS, 2, ANVIL_KEYS[0], users=[u.address for u in USERS],
                         report=lines.append)
    assert len(lines) >= 12  # one progress line per step
    return result


def _evms(pair: tuple[SyncEvm, SyncEvm]) -> dict[str, SyncEvm]:
    return {"alpha": pair[0], "beta": pair[1]}


def test_summary_lists_every_contract(deployed: dict[str, dict[str, Any]]) -> None:
    assert set(deployed) == {"alpha", "beta"}
    assert deployed["alpha"]["chain_id"] == ALPHA_ID and deployed["beta"]["chain_id"] == BETA_ID
    for chain in deployed.values():
        addresses = [chain[k] for k in ("bridge", "light_client", "test_token", "wrapped_native", "wrapped_token")]
        assert len(set(addresses)) == 5 and ZERO_ADDRESS not in addresses


@pytest.mark.parametrize("here,there", [("alpha", "beta"), ("beta", "alpha")])
def test_bridges_registered_both_ways(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]],
                                      here: str, there: str) -> None:
    evm, local, remote = _evms(pair)[here], deployed[here], deployed[there]
    bridge = local["bridge"]
    assert evm.call(bridge, "Bridge", "remoteBridge", remote["chain_id"]) == remote["bridge"]
    assert evm.call(bridge, "Bridge", "lightClientOf", remote["chain_id"]) == local["light_client"]
    assert evm.call(bridge, "Bridge", "wrappedOf", remote["chain_id"], ZERO_ADDRESS) == local["wrapped_native"]
    assert evm.call(bridge, "Bridge", "wrappedOf", remote["chain_id"], remote["test_token"]) == local["wrapped_token"]
    assert evm.call(bridge, "Bridge", "owner") == Account.from_key(ANVIL_KEYS[0]).address


@pytest.mark.parametrize("here,there", [("alpha", "beta"), ("beta", "alpha")])
def test_light_client_follows_the_counterpart(pair: tuple[SyncEvm, SyncEvm],
                                              deployed: dict[str, dict[str, Any]], here: str, there: str) -> None:
    evm, client = _evms(pair)[here], deployed[here]["light_client"]
    assert evm.call(client, "CommitteeLightClient", "sourceChainId") == deployed[there]["chain_id"]
    assert evm.call(client, "CommitteeLightClient", "threshold") == 2
    assert list(evm.call(client, "CommitteeLightClient", "getMembers")) == sorted_members(OPERATORS)


def test_wrapped_names_and_user_tokens(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]]) -> None:
    alpha, beta = pair
    assert beta.call(deployed["beta"]["wrapped_native"], "WrappedToken", "symbol") == "wALPHA"
    assert beta.call(deployed["beta"]["wrapped_token"], "WrappedToken", "symbol") == "wALP"
    assert alpha.call(deployed["alpha"]["wrapped_native"], "WrappedToken", "name") == "Wrapped Beta Ether"
    assert alpha.call(deployed["alpha"]["test_token"], "TestToken", "symbol") == "ALP"
    assert beta.call(deployed["beta"]["test_token"], "TestToken", "name") == "Beta Token"
    for evm, chain in ((alpha, deployed["alpha"]), (beta, deployed["beta"])):
        for user in USERS:
            assert evm.call(chain["test_token"], "TestToken", "balanceOf", user.address) == DEFAULT_USER_TOKENS


def _bridge_events(receipt: dict[str, Any], bridge: str) -> list[tuple[str, dict[str, Any]]]:
    contract = Contract.load("Bridge")
    decoded = [contract.decode_log(log) for log in receipt["logs"] if log["address"].lower() == bridge.lower()]
    return [d for d in decoded if d is not None]


def test_lock_native_emits_locked(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]]) -> None:
    alpha, user, recipient = pair[0], USERS[0], USERS[1].address
    bridge = deployed["alpha"]["bridge"]
    first = alpha.call(bridge, "Bridge", "nextNonce")
    receipt = alpha.transact(user.key.to_0x_hex(), bridge, "Bridge", "lockNative", BETA_ID, recipient,
                             value=3 * 10**17)
    assert _bridge_events(receipt, bridge) == [("Locked", {
        "nonce": first, "srcChainId": ALPHA_ID, "dstChainId": BETA_ID, "token": ZERO_ADDRESS,
        "sender": user.address, "recipient": recipient, "amount": 3 * 10**17})]
    assert alpha.call(bridge, "Bridge", "nextNonce") == first + 1


def test_lock_token_emits_locked(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]]) -> None:
    beta, user = pair[1], USERS[2]
    bridge, token = deployed["beta"]["bridge"], deployed["beta"]["test_token"]
    key = user.key.to_0x_hex()
    beta.transact(key, token, "TestToken", "approve", bridge, 5 * 10**18)
    receipt = beta.transact(key, bridge, "Bridge", "lockToken", token, ALPHA_ID, user.address, 5 * 10**18)
    [(name, fields)] = _bridge_events(receipt, bridge)
    assert name == "Locked"
    assert (fields["srcChainId"], fields["dstChainId"], fields["token"], fields["amount"]) == \
        (BETA_ID, ALPHA_ID, token, 5 * 10**18)
    assert beta.call(token, "TestToken", "balanceOf", bridge) == 5 * 10**18


def test_rejects_a_threshold_above_the_committee(pair: tuple[SyncEvm, SyncEvm]) -> None:
    with pytest.raises(DevnetError):
        deploy_pair(*pair, OPERATORS, 4, ANVIL_KEYS[0], report=lambda _: None)


def test_members_are_sorted_and_unique() -> None:
    members = sorted_members(["0xbb" + "0" * 38, "0x0A" + "0" * 38, "0xaa" + "0" * 38])
    assert members == ["0x0A" + "0" * 38, "0xaa" + "0" * 38, "0xbb" + "0" * 38]
    with pytest.raises(DevnetError):
        sorted_members(["0xaa" + "0" * 38, "0xAA" + "0" * 38])
