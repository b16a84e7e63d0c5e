"""A devnet whose beta chain runs on the Hardhat node (no eth_getBlockReceipts): assets move both
ways, the light client hashes Hardhat's headers and rebuilds receipts roots from per-transaction
receipts, and, with ``fees.mode = "legacy"``, deliveries go out as type-0 transactions."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from eth_account import Account

from adapters.evm.adapter import EvmAdapter
from adapters.evm.rpc import MethodNotSupported, RpcClient
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.header import header_from_rpc
from light_clients.evm.receipts import check_receipts
from relayer.devnet import network
from relayer.devnet.anvil import AnvilNode
from relayer.devnet.nodes import start_node
from relayer.devnet.transfer import balance_of, transfer
from tests.devnet_helpers import chain, quiet, restart


@pytest.fixture(scope="module")
def hardhat_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("hardhat-devnet")
    network.up(root, nodes={"beta": "hardhat"}, report=quiet)
    try:
        yield root
    finally:
        network.down(root, report=quiet)


def test_beta_runs_on_hardhat_without_block_receipts(hardhat_devnet: Path) -> None:
    d = network.load_deployment(hardhat_devnet)
    assert d["nodes"]["alpha"]["node"] == "anvil" and d["nodes"]["beta"]["node"] == "hardhat"
    assert network.process_alive(d["nodes"]["beta"]["pid"], "hardhat")
    with SyncEvm(chain(hardhat_devnet, "beta")["rpc"]) as beta:
        assert "HardhatNetwork" in beta.rpc("web3_clientVersion")
        reply = beta._post({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockReceipts", "params": ["0x1"]})
        assert "error" in reply, reply


def test_native_and_token_move_both_ways(hardhat_devnet: Path) -> None:
    recipient = Account.create().address
    to_beta = transfer(hardhat_devnet, "alpha", "beta", "native", "1.5", recipient=recipient, wait=True)
    to_alpha = transfer(hardhat_devnet, "beta", "alpha", "token", "2", recipient=recipient, wait=True)
    transfer(hardhat_devnet, "alpha", "beta", "native", "1", wait=True, user_index=1)  # to user 1 itself
    back = transfer(hardhat_devnet, "beta", "alpha", "wrapped-native", "0.5", recipient=recipient,
                    wait=True, user_index=1)  # burnt on Hardhat, unlocked on anvil
    assert to_beta.destination_tx and to_alpha.destination_tx and back.destination_tx
    with SyncEvm(chain(hardhat_devnet, "beta")["rpc"]) as beta, SyncEvm(chain(hardhat_devnet, "alpha")["rpc"]) as alpha:
        assert balance_of(beta, chain(hardhat_devnet, "beta")["wrapped_native"], recipient) == 15 * 10**17
        assert balance_of(alpha, chain(hardhat_devnet, "alpha")["wrapped_token"], recipient) == 2 * 10**18
        assert balance_of(alpha, None, recipient) == 5 * 10**17


def test_hardhat_headers_hash_and_per_transaction_receipts_give_the_root(hardhat_devnet: Path) -> None:
    beta = chain(hardhat_devnet, "beta")
    sent = transfer(hardhat_devnet, "beta", "alpha", "native", "0.1")
    assert sent.source_block > 0

    async def read() -> tuple[list[dict], list[dict], RpcClient]:
        rpc = RpcClient("beta", (beta["rpc"],))
        adapter = EvmAdapter("beta", beta["chain_id"], rpc, beta["message_layer"])
        try:
            first = await adapter.block_receipts(sent.source_block)
            assert not rpc.supports("eth_getBlockReceipts")  # learnt from the first answer
            before = rpc.health[beta["rpc"]].requests
            second = await adapter.block_receipts(sent.source_block)
            assert rpc.health[beta["rpc"]].requests - before == 2  # block + one receipts batch, no probe
            return first, second, rpc
        finally:
            await rpc.aclose()

    first, second, _ = trio.run(read)
    assert first == second and len(first) >= 1
    with SyncEvm(beta["rpc"]) as evm:
        block = evm.rpc("eth_getBlockByNumber", hex(sent.source_block), False)
        head = evm.rpc("eth_getBlockByNumber", "latest", False)
    header = header_from_rpc(block)
    assert "0x" + header.hash.hex() == block["hash"]
    assert "0x" + header_from_rpc(head).hash.hex() == head["hash"]
    check_receipts(header, first)  # receiptsRoot and logsBloom recomputed from them
    assert any(r["transactionHash"] == sent.source_tx for r in first)


def _set_fee_mode(root: Path, index: int, mode: str) -> None:
    path = network.DevnetPaths.of(root).config(index)
    text = path.read_text().replace("[chains.alpha.evm.fees]\n", f'[chains.alpha.evm.fees]\nmode = "{mode}"\n')
    path.write_text(text.replace("[chains.beta.evm.fees]\n", f'[chains.beta.evm.fees]\nmode = "{mode}"\n'))


def test_legacy_fee_mode_delivers_type_0_transactions_both_ways(hardhat_devnet: Path) -> None:
    for index in (1, 2, 3):
        _set_fee_mode(hardhat_devnet, index, "legacy")
    check = subprocess.run([sys.executable, "-m", "relayer", "config", "check",
                            str(network.DevnetPaths.of(hardhat_devnet).config(1))], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    restart(hardhat_devnet, [1, 2, 3])
    recipient = Account.create().address
    results = {"beta": transfer(hardhat_devnet, "alpha", "beta", "native", "0.3", recipient=recipient, wait=True),
               "alpha": transfer(hardhat_devnet, "beta", "alpha", "native", "0.4", recipient=recipient, wait=True)}
    for destination, result in results.items():
        with SyncEvm(chain(hardhat_devnet, destination)["rpc"]) as evm:
            tx = evm.rpc("eth_getTransactionByHash", result.destination_tx)
        assert int(tx["type"], 16) == 0 and "maxFeePerGas" not in tx, tx
    with SyncEvm(chain(hardhat_devnet, "alpha")["rpc"]) as alpha:
        assert balance_of(alpha, chain(hardhat_devnet, "alpha")["wrapped_native"], recipient) == 4 * 10**17


def test_a_missing_method_is_learnt_once_per_endpoint(anvil: AnvilNode, tmp_path: Path) -> None:
    hardhat = start_node("hardhat", 31337, block_time=1.0, log_path=tmp_path / "hardhat.log", config_dir=tmp_path)
    try:
        async def probe() -> None:
            both = RpcClient("x", (hardhat.url, anvil.url))
            alone = RpcClient("x", (hardhat.url,))
            try:
                assert isinstance(await both.call("eth_getBlockReceipts", "0x0"), list)  # anvil answers
                assert both.health[hardhat.url].unsupported == {"eth_getBlockReceipts"}
                before = both.health[hardhat.url].requests
                await both.call("eth_getBlockReceipts", "0x0")
                await both.call("eth_blockNumber")  # other methods still go to the first endpoint
                assert both.health[hardhat.url].requests == before + 1 and both.supports("eth_getBlockReceipts")
                with pytest.raises(MethodNotSupported):
                    await alone.call("eth_getBlockReceipts", "0x0")
                assert not alone.supports("eth_getBlockReceipts")
            finally:
                await both.aclose()
                await alone.aclose()

        trio.run(probe)
    finally:
        network.terminate(hardhat.pid, "hardhat")
        if hardhat.process is not None:
            hardhat.process.wait(timeout=10)
