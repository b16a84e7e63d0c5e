"""deploy_pair on two real automining anvil nodes: the message layers and applications wired both
ways, wrapped assets, users funded; a lock sends its message to the counterpart router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eth_abi
import pytest
from eth_account import Account

from adapters.evm.messaging import ACK_ON_FAILURE, address_word, message_sent_logs
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil
from relayer.devnet.deploy import DEFAULT_USER_TOKENS, ZERO_ADDRESS, create_address, deploy_pair, sorted_members
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


CONTRACTS = ("message_layer", "light_client", "verifier", "token_router", "traceability", "test_token",
             "wrapped_native", "wrapped_token")
DEPLOYER = Account.from_key(ANVIL_KEYS[0]).address


def test_summary_lists_every_contract(deployed: dict[str, dict[str, Any]]) -> None:
    assert set(deployed) == {"alpha", "beta"}
    assert deployed["alpha"]["chain_id"] == ALPHA_ID and deployed["beta"]["chain_id"] == BETA_ID
    for chain in deployed.values():
        assert set(chain) == {"name", "chain_id", "rpc", *CONTRACTS}
        addresses = [chain[k] for k in CONTRACTS]
        assert len(set(addresses)) == len(CONTRACTS) and ZERO_ADDRESS not in addresses


@pytest.mark.parametrize("here,there", [("alpha", "beta"), ("beta", "alpha")])
def test_layers_and_applications_know_each_other(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]],
                                                 here: str, there: str) -> None:
    evm, local, remote = _evms(pair)[here], deployed[here], deployed[there]
    layer, router, registry = local["message_layer"], local["token_router"], local["traceability"]
    assert tuple(evm.call(layer, "MessageLayer", "remoteOf", remote["chain_id"])) == (
        address_word(remote["message_layer"]), local["light_client"], local["verifier"])
    assert evm.call(router, "TokenRouter", "layer") == layer
    assert evm.call(registry, "TraceabilityRegistry", "layer") == layer
    assert evm.call(router, "TokenRouter", "remoteRouter", remote["chain_id"]) == address_word(remote["token_router"])
    assert evm.call(registry, "TraceabilityRegistry", "remoteRegistry", remote["chain_id"]) == \
        address_word(remote["traceability"])
    assert evm.call(router, "TokenRouter", "wrappedOf", remote["chain_id"], ZERO_ADDRESS) == local["wrapped_native"]
    assert evm.call(router, "TokenRouter", "wrappedOf", remote["chain_id"], remote["test_token"]) == \
        local["wrapped_token"]
    assert evm.call(router, "TokenRouter", "isTokenRegistered", remote["chain_id"], local["test_token"])
    assert all(evm.call(registry, "TraceabilityRegistry", "isProducer", u.address) for u in USERS)
    for address, contract in ((layer, "MessageLayer"), (router, "TokenRouter"), (registry, "TraceabilityRegistry")):
        assert evm.call(address, contract, "owner") == DEPLOYER  # devnet; production: a Timelock


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


def test_lock_native_sends_a_message_to_the_counterpart_router(pair: tuple[SyncEvm, SyncEvm],
                                                              deployed: dict[str, dict[str, Any]]) -> None:
    alpha, user, recipient = pair[0], USERS[0], USERS[1].address
    a, b = deployed["alpha"], deployed["beta"]
    first = alpha.call(a["message_layer"], "MessageLayer", "nextNonce")
    expiry = int(alpha.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 3600
    receipt = alpha.transact(user.key.to_0x_hex(), a["token_router"], "TokenRouter", "lockNative", BETA_ID,
                             recipient, expiry, value=3 * 10**17)
    [(_, envelope)] = message_sent_logs(receipt, a["message_layer"])
    assert (envelope.nonce, envelope.source_chain, envelope.destination_chain, envelope.expiry) == \
        (first, ALPHA_ID, BETA_ID, expiry)
    assert (envelope.source_layer, envelope.sender, envelope.destination_layer, envelope.recipient) == (
        address_word(a["message_layer"]), address_word(a["token_router"]), address_word(b["message_layer"]),
        address_word(b["token_router"]))
    assert envelope.ack_mode == ACK_ON_FAILURE
    assert eth_abi.decode(["bool", "address", "address", "uint256"], envelope.body) == (
        False, ZERO_ADDRESS, recipient.lower(), 3 * 10**17)
    assert alpha.call(a["token_router"], "TokenRouter", "lockedFor", BETA_ID, ZERO_ADDRESS) == 3 * 10**17


def test_lock_token_locks_it_in_the_router(pair: tuple[SyncEvm, SyncEvm], deployed: dict[str, dict[str, Any]]) -> None:
    beta, user = pair[1], USERS[2]
    router, token = deployed["beta"]["token_router"], deployed["beta"]["test_token"]
    key = user.key.to_0x_hex()
    beta.transact(key, token, "TestToken", "approve", router, 5 * 10**18)
    receipt = beta.transact(key, router, "TokenRouter", "lockToken", token, ALPHA_ID, user.address, 5 * 10**18, 0)
    [(_, envelope)] = message_sent_logs(receipt, deployed["beta"]["message_layer"])
    assert (envelope.source_chain, envelope.destination_chain) == (BETA_ID, ALPHA_ID)
    assert eth_abi.decode(["bool", "address", "address", "uint256"], envelope.body) == (
        False, token.lower(), user.address.lower(), 5 * 10**18)
    assert beta.call(token, "TestToken", "balanceOf", router) == 5 * 10**18


def test_create_address_predicts_the_contract_address() -> None:
    # the first contract of anvil's first account (a well-known address)
    assert create_address(DEPLOYER, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_rejects_a_threshold_above_the_committee(pair: tuple[SyncEvm, SyncEvm]) -> None:
    with pytest.raises(DevnetError):
        deploy_pair(*pair, OPERATORS, 4, ANVIL_KEYS[0], report=lambda _: None)


def test_members_are_sorted_and_unique() -> None:
    members = sorted_members(["0xbb" + "0" * 38, "0x0A" + "0" * 38, "0xaa" + "0" * 38])
    assert members == ["0x0A" + "0" * 38, "0xaa" + "0" * 38, "0xbb" + "0" * 38]
    with pytest.raises(DevnetError):
        sorted_members(["0xaa" + "0" * 38, "0xAA" + "0" * 38])
