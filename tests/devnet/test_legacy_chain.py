"""A devnet whose alpha chain runs at the berlin hardfork (``--hardfork alpha=berlin``): no base
fee, so no EIP-1559. The one artifact set (built for berlin) deploys there, and with the
generated configs (``fees.mode`` auto) the relayer daemons deliver to alpha in type-0 (legacy)
transactions and to beta in type-2 ones, for native coins and ERC-20 tokens both ways."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.cli import describe
from relayer.devnet.transfer import TransferResult, balance_of, transfer
from tests.devnet_helpers import chain, quiet

pytestmark = pytest.mark.slow

UNIT = 10**18


@pytest.fixture(scope="module")
def berlin_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("berlin-devnet")
    network.up(root, hardforks={"alpha": "berlin"}, report=quiet)
    try:
        yield root
    finally:
        network.down(root, report=quiet)


def _tx(root: Path, name: str, tx_hash: str | None) -> dict[str, Any]:
    assert tx_hash
    with SyncEvm(chain(root, name)["rpc"]) as evm:
        tx: dict[str, Any] = evm.rpc("eth_getTransactionByHash", tx_hash)
    return tx


def _both(*calls: tuple[Any, ...]) -> list[TransferResult]:
    """Run the transfers side by side (different users: no nonce clash) and wait for all."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(transfer, *args, wait=True, timeout=60, user_index=user) for *args, user in calls]
        return [f.result() for f in futures]


def test_alpha_runs_at_berlin_without_base_fee_and_configs_leave_fees_auto(berlin_devnet: Path) -> None:
    d = network.load_deployment(berlin_devnet)
    assert d["nodes"]["alpha"]["hardfork"] == "berlin" and d["nodes"]["beta"]["hardfork"] is None
    assert d["chains"]["alpha"]["hardfork"] == "berlin"
    summary = describe(network.DevnetPaths.of(berlin_devnet), d, detach=True)
    assert "alpha  anvil (berlin) chain 1001" in summary and "beta   anvil chain 1002" in summary
    with SyncEvm(chain(berlin_devnet, "alpha")["rpc"]) as alpha, SyncEvm(chain(berlin_devnet, "beta")["rpc"]) as beta:
        assert "baseFeePerGas" not in alpha.rpc("eth_getBlockByNumber", "latest", False)
        assert "baseFeePerGas" in beta.rpc("eth_getBlockByNumber", "latest", False)
    config = tomllib.loads(network.DevnetPaths.of(berlin_devnet).config(1).read_text())
    assert all("mode" not in c["evm"]["fees"] for c in config["chains"].values())  # auto: probed per chain


def test_native_and_token_move_both_ways_legacy_to_alpha_eip1559_to_beta(berlin_devnet: Path) -> None:
    root = berlin_devnet
    # out: user 0 locks alpha's coin for beta, user 1 locks beta's token for alpha (to themselves)
    out = _both((root, "alpha", "beta", "native", "1.5", None, 0), (root, "beta", "alpha", "token", "2", None, 1))
    # back: the wrapped forms are burnt, the originals unlocked for fresh recipients
    native_to, token_to = Account.create().address, Account.create().address
    back = _both((root, "beta", "alpha", "wrapped-native", "0.5", native_to, 0),
                 (root, "alpha", "beta", "wrapped-token", "0.75", token_to, 1))
    deliveries = {"beta": [out[0], back[1]], "alpha": [out[1], back[0]]}
    for result in deliveries["alpha"]:
        tx = _tx(root, "alpha", result.destination_tx)
        assert int(tx["type"], 16) == 0 and "maxFeePerGas" not in tx and int(tx["gasPrice"], 16) > 0, tx
    for result in deliveries["beta"]:
        tx = _tx(root, "beta", result.destination_tx)
        assert int(tx["type"], 16) == 2 and int(tx["maxFeePerGas"], 16) > 0, tx
    assert int(_tx(root, "alpha", out[0].source_tx)["type"], 16) == 0  # the user's lock, too
    users = [u["address"] for u in network.load_deployment(root)["users"]]
    alpha, beta = chain(root, "alpha"), chain(root, "beta")
    with SyncEvm(alpha["rpc"]) as a, SyncEvm(beta["rpc"]) as b:
        assert balance_of(b, beta["wrapped_native"], users[0]) == UNIT  # 1.5 minted, 0.5 burnt
        assert balance_of(a, None, native_to) == UNIT // 2  # unlocked on the berlin chain
        assert balance_of(a, alpha["wrapped_token"], users[1]) == 5 * UNIT // 4  # 2 minted, 0.75 burnt
        assert balance_of(b, beta["test_token"], token_to) == 3 * UNIT // 4
