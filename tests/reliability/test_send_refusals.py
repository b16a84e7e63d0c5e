"""How the sender reads a failed ``eth_sendRawTransaction``, against a real anvil node's own
answers: a used nonce, a fee below the base fee, an empty wallet, a transaction the node already
has, no answer at all (the node may have it: wait), and words it does not know (a proxy that
answers like Besu's account permissioning), which end the send instead of a wait."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account

from adapters.evm.rpc import RpcClient
from adapters.evm.sender import _classify
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, free_port
from relayer.devnet.proxy import REJECTION, ProxyHandle, set_fault, start_proxy, stop_proxy
from relayer.errors import RpcError

GWEI = 10**9


@pytest.fixture
def rejecting(anvil: AnvilNode) -> Iterator[ProxyHandle]:
    proxy = start_proxy(anvil.url)
    try:
        set_fault(proxy, "reject", methods=["eth_sendRawTransaction"])
        yield proxy
    finally:
        stop_proxy(proxy)


def signed(key: str, nonce: int, max_fee: int = 100 * GWEI) -> str:
    tx: dict[str, Any] = {"type": 2, "chainId": 31337, "nonce": nonce, "to": Account.from_key(key).address,
                          "value": 1, "gas": 21000, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": GWEI}
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


async def refusal(url: str, raw: str) -> RpcError:
    client = RpcClient("test", (url,), timeout=5.0)
    try:
        with pytest.raises(RpcError) as caught:
            await client.call("eth_sendRawTransaction", raw)
    finally:
        await client.aclose()
    return caught.value


async def test_the_nodes_answers_are_read_for_what_they_mean(anvil: AnvilNode) -> None:
    evm = SyncEvm(anvil.url)
    key = ANVIL_KEYS[1]
    evm.rpc("eth_sendRawTransaction", signed(key, 0))  # automined
    assert _classify(await refusal(anvil.url, signed(key, 0))) == "nonce-lost"
    evm.rpc("anvil_setNextBlockBaseFeePerGas", hex(50 * GWEI))
    assert _classify(await refusal(anvil.url, signed(key, 1, max_fee=10 * GWEI))) == "fee-too-low"
    assert _classify(await refusal(anvil.url, signed(Account.create().key.hex(), 0))) == "no-funds"
    evm.rpc("evm_setAutomine", False)
    pending = signed(key, 1)
    evm.rpc("eth_sendRawTransaction", pending)
    assert _classify(await refusal(anvil.url, pending)) == "sent"  # already known


async def test_no_answer_is_waited_for_and_unknown_words_refuse(rejecting: ProxyHandle) -> None:
    raw = signed(ANVIL_KEYS[1], 0)
    assert _classify(await refusal(f"http://127.0.0.1:{free_port()}", raw)) == "sent"  # nobody answered
    refused = await refusal(rejecting.url, raw)
    assert _classify(refused) == "refused" and REJECTION["message"] in refused.message
