"""``fees.mode``: legacy (type 0) transactions on a chain without a base fee (a berlin anvil),
EIP-1559 elsewhere, ``auto`` choosing by probing the base fee once; legacy replacements raise
gasPrice by at least 12.5%. Real anvil nodes throughout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from eth_account import Account

from adapters.evm.adapter import EvmAdapter, FeeQuote
from adapters.evm.rpc import RpcClient
from adapters.evm.sender import FeePolicy, Outcome, TxSender, bumped
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.metrics import Metrics
from relayer.store import Store

GWEI = 10**9
BRIDGE = "0x" + "11" * 20


@pytest.fixture
def berlin() -> Iterator[AnvilNode]:
    """An automining anvil at the berlin hardfork: no base fee, so only legacy transactions."""
    node = start_anvil(31337, block_time=None, extra_args=["--hardfork", "berlin"])
    try:
        yield node
    finally:
        stop_anvil(node)


async def _quotes(url: str, mode: str, cap: int = 500 * GWEI) -> tuple[FeeQuote, FeeQuote, int]:
    rpc = RpcClient("x", (url,))
    adapter = EvmAdapter("x", 31337, rpc, BRIDGE)
    try:
        first = await adapter.fee_quote(GWEI, cap, mode)
        before = rpc.health[url].requests
        second = await adapter.fee_quote(GWEI, cap, mode)
        return first, second, rpc.health[url].requests - before
    finally:
        await rpc.aclose()


def test_auto_quotes_legacy_on_a_chain_without_base_fee_and_probes_once(berlin: AnvilNode) -> None:
    with SyncEvm(berlin.url) as evm:
        assert "baseFeePerGas" not in evm.rpc("eth_getBlockByNumber", "latest", False)
        price = int(evm.rpc("eth_gasPrice"), 16)
    first, second, requests = trio.run(_quotes, berlin.url, "auto")
    assert first == second == FeeQuote(max_fee=price, priority_fee=price, legacy=True)
    assert requests == 1  # eth_gasPrice only: the base-fee probe is remembered


def test_auto_quotes_eip1559_on_a_london_chain_and_legacy_when_told(anvil: AnvilNode) -> None:
    auto, _, _ = trio.run(_quotes, anvil.url, "auto")
    assert not auto.legacy and auto.priority_fee <= GWEI and auto.max_fee > auto.priority_fee
    eip1559, _, _ = trio.run(_quotes, anvil.url, "eip1559")
    assert not eip1559.legacy
    legacy, _, _ = trio.run(_quotes, anvil.url, "legacy", 10**6)
    assert legacy == FeeQuote(max_fee=10**6, priority_fee=10**6, legacy=True)  # capped at max_fee


def test_legacy_replacement_raises_gas_price_by_at_least_an_eighth() -> None:
    old = FeeQuote(max_fee=8 * GWEI, priority_fee=8 * GWEI, legacy=True)
    assert bumped(old, FeeQuote(GWEI, GWEI, legacy=True), 100 * GWEI) == FeeQuote(9 * GWEI, 9 * GWEI, legacy=True)
    assert bumped(old, FeeQuote(20 * GWEI, 20 * GWEI, legacy=True), 100 * GWEI).max_fee == 20 * GWEI
    assert bumped(old, FeeQuote(GWEI, GWEI, legacy=True), 8 * GWEI).max_fee == 8 * GWEI  # at the cap


def test_sender_gets_a_stuck_legacy_transaction_replaced_and_mined(berlin: AnvilNode, tmp_path: Path) -> None:
    account = Account.from_key(ANVIL_KEYS[5])
    with SyncEvm(berlin.url) as evm:
        evm.rpc("evm_setAutomine", False)  # nothing is mined until the test mines a block

    async def run() -> Outcome:
        rpc = RpcClient("berlin", (berlin.url,))
        adapter = EvmAdapter("berlin", 31337, rpc, BRIDGE)
        sender = TxSender(adapter, account, Store(tmp_path / "state.db"),
                          FeePolicy(max_fee=500 * GWEI, priority_fee=GWEI, gas_multiplier=1.3, replace_after=1.0),
                          Metrics(), trio.Event())
        await sender.sync_nonce()
        outcome: list[Outcome] = []

        async def send() -> None:
            outcome.append(await sender.send(Account.create().address, b"", 21_000, ()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            while len(sender.store.open_txs("berlin")) < 3:  # the original and two replacements
                await trio.sleep(0.2)
            with SyncEvm(berlin.url) as evm:
                evm.rpc("evm_mine")
        await rpc.aclose()
        return outcome[0]

    outcome = trio.run(run)
    assert outcome.status == "mined" and outcome.receipt is not None
    with SyncEvm(berlin.url) as evm:
        mined = evm.rpc("eth_getTransactionByHash", outcome.tx.hash if outcome.tx else "")
        first_price = int(evm.rpc("eth_gasPrice"), 16)
    assert int(mined["type"], 16) == 0 and "maxFeePerGas" not in mined
    assert int(mined["gasPrice"], 16) * 8 >= first_price * 9 * 9 // 8  # two bumps of >= 12.5%

