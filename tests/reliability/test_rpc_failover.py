"""RPC failover on a real devnet: every operator reads alpha through two endpoints, a fault proxy
first and alpha's anvil second. While the proxy refuses connections, hangs, or answers 429,
transfers alpha->beta and beta->alpha are still delivered; the running daemon's status
(``relayer status --json``) shows the proxy endpoint degraded or failing with its errors, and
``relayer_rpc_endpoint_up`` is 0 for it. Once the fault is cleared the endpoint is probed again
and shown healthy (up 1). The same holds while the proxy answers, but answers a null block (a
lagging node) or a block that does not parse: that endpoint rests, the follower does not halt.
A first part checks that cycle on ``RpcClient`` alone, and that only answers every endpoint
agrees are malformed are fatal."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from devnet_helpers import chain, events, now_iso, operator_status, processed, quiet, restart, use_rpcs, wait_for
from eth_account import Account

from adapters.evm.adapter import EvmAdapter
from adapters.evm.rpc import PROBE_TIMEOUT, RpcClient, redact_url
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.anvil import AnvilNode
from relayer.devnet.proxy import (
    LIES,
    ProxyHandle,
    get_fault,
    set_fault,
    start_proxy,
    stop_proxy,
)
from relayer.devnet.transfer import TransferResult, transfer
from relayer.errors import RpcAnswerError, RpcError

pytestmark = pytest.mark.slow
HANG_TIMEOUT = 10.0  # RpcClient's default: a hanging first endpoint costs this once


# --------------------------------------------------------------------------- RpcClient alone

async def test_a_failed_endpoint_rests_then_is_probed_and_recovers(anvil_module: AnvilNode) -> None:
    proxy = start_proxy(anvil_module.url)
    client = RpcClient("test", (proxy.url, anvil_module.url), timeout=HANG_TIMEOUT)
    health = client.health[proxy.url]
    try:
        await client.call("eth_chainId")
        set_fault(proxy, "hang")
        started = trio.current_time()
        await client.call("eth_chainId")  # the first request waits out the timeout, then fails over
        assert HANG_TIMEOUT - 1 < trio.current_time() - started < HANG_TIMEOUT + 3
        assert health.state == "degraded" and health.errors == 1
        started = trio.current_time()
        for _ in range(5):  # resting: anvil answers at once
            await client.call("eth_chainId")
        assert trio.current_time() - started < 1 and health.requests == 2
        await trio.sleep(health.retry_at - trio.current_time() + 0.1)
        started = trio.current_time()
        await client.call("eth_chainId")  # the probe: a short timeout, then anvil
        assert trio.current_time() - started < PROBE_TIMEOUT + 1.5
        assert health.errors == 2 and health.requests == 3
        set_fault(proxy, "429")
        await trio.sleep(health.retry_at - trio.current_time() + 0.1)
        await client.call("eth_chainId")
        assert health.state == "failing" and health.last_error == "HTTPStatusError"
        set_fault(proxy, "none")
        await trio.sleep(health.retry_at - trio.current_time() + 0.1)
        await client.call("eth_chainId")
        assert health.state == "healthy" and health.requests == 5
        assert client._ordered_urls()[0] == proxy.url  # the first endpoint is first again
    finally:
        set_fault(proxy, "none")
        await client.aclose()
        stop_proxy(proxy)


def mine(url: str, blocks: int) -> None:
    with SyncEvm(url) as evm:
        for _ in range(blocks):
            evm.rpc("evm_mine")


def adapter_over(*urls: str) -> EvmAdapter:
    return EvmAdapter("test", 31337, RpcClient("test", urls), "0x" + "00" * 20)


@pytest.mark.parametrize("lie", ["null-block", "bad-block"])
async def test_a_lagging_or_malformed_endpoint_rests_and_the_next_answers(anvil_module: AnvilNode, lie: str) -> None:
    mine(anvil_module.url, 3)
    honest = await adapter_over(anvil_module.url).headers(1, 3)
    proxy = start_proxy(anvil_module.url)
    adapter = adapter_over(proxy.url, anvil_module.url)
    try:
        set_fault(proxy, lie)
        assert [(h.rlp, claimed) for h, claimed in await adapter.headers(1, 3)] == \
            [(h.rlp, claimed) for h, claimed in honest]
        health = adapter.rpc.health[proxy.url]
        assert health.state == "degraded" and health.errors == 1, health
        assert health.last_error == ("RpcUnanswered" if lie == "null-block" else "RpcAnswerError")
        assert adapter.rpc._ordered_urls()[0] == anvil_module.url  # resting: asked last
        if lie == "null-block":  # receipts too, once the rest is over
            await trio.sleep(health.retry_at - trio.current_time() + 0.1)
            assert await adapter.block_receipts(2) == await adapter_over(anvil_module.url).block_receipts(2)
            assert health.errors == 2
    finally:
        set_fault(proxy, "none")
        await adapter.rpc.aclose()
        stop_proxy(proxy)


async def test_only_a_malformed_answer_every_endpoint_gives_is_fatal(anvil_module: AnvilNode) -> None:
    mine(anvil_module.url, 2)
    proxies = [start_proxy(anvil_module.url), start_proxy(anvil_module.url)]
    try:
        for lie, raised in (("null-block", RpcError), ("bad-block", RpcAnswerError)):
            for proxy in proxies:
                set_fault(proxy, lie)
            adapter = adapter_over(*(p.url for p in proxies))
            with pytest.raises(raised) as caught:
                await adapter.headers(1, 2)
            assert lie == "bad-block" or not isinstance(caught.value, RpcAnswerError)  # lagging: retryable
            assert all(h.errors == 1 for h in adapter.rpc.health.values())
            await adapter.rpc.aclose()
        set_fault(proxies[0], "none")  # one honest answer is enough
        assert len(await adapter_over(*(p.url for p in proxies)).headers(1, 2)) == 2
    finally:
        for proxy in proxies:
            set_fault(proxy, "none")
            stop_proxy(proxy)


# --------------------------------------------------------------------------- the devnet


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ProxyHandle]]:
    root = tmp_path_factory.mktemp("failovernet")
    network.up(root, report=quiet)
    proxy: ProxyHandle | None = None
    try:
        anvil = chain(root, "alpha")["rpc"]
        proxy = start_proxy(anvil, log_path=root / "logs" / "proxy-alpha-failover.log")
        for index in (1, 2, 3):
            use_rpcs(root, index, "alpha", [proxy.url, anvil])
        restart(root, [1, 2, 3])
        yield root, proxy
    finally:
        network.down(root, report=quiet)
        if proxy is not None:
            stop_proxy(proxy)


def delivered(root: Path, r: TransferResult) -> bool:
    return processed(root, r.source, r.destination, r.nonce)


def endpoint(root: Path, index: int, url: str) -> dict[str, Any]:
    """Operator ``index``'s live view of alpha's endpoint ``url``."""
    doc = operator_status(root, index)
    assert "daemon" not in doc, "relayer status did not reach the running daemon"
    return next(e for e in doc["chains"]["alpha"]["rpc"] if e["url"] == redact_url(url))


def endpoint_up(root: Path, index: int, url: str) -> float:
    api = network.load_deployment(root)["operators"][index - 1]["api"]
    text = httpx.get(f"{api}/metrics", timeout=5).text
    pattern = (r'^relayer_rpc_endpoint_up\{chain="alpha",endpoint="' + re.escape(redact_url(url))
               + r'"\} (\S+)$')
    found = re.search(pattern, text, flags=re.M)
    assert found, "relayer_rpc_endpoint_up of the proxy is not exported"
    return float(found.group(1))


@pytest.mark.parametrize("mode", ["refuse", "hang", "429", "null-block", "bad-block"])
def test_delivery_continues_while_the_first_endpoint_fails(devnet: tuple[Path, ProxyHandle], mode: str) -> None:
    root, proxy = devnet
    before = {i: endpoint(root, i, proxy.url) for i in (1, 2, 3)}
    since = now_iso()
    assert all(e["state"] == "healthy" for e in before.values()), before
    started = time.monotonic()
    set_fault(proxy, mode)
    try:
        results = [transfer(root, "alpha", "beta", "native", "0.01", recipient=Account.create().address),
                   transfer(root, "beta", "alpha", "native", "0.01", recipient=Account.create().address)]
        wait_for(lambda: all(delivered(root, r) for r in results), 90, f"both deliveries during {mode}")
        took = time.monotonic() - started
        assert get_fault(proxy)["served"] > 0
        during = {i: endpoint(root, i, proxy.url) for i in (1, 2, 3)}
        for i, e in during.items():
            assert e["errors"] > before[i]["errors"], (i, e)
            # a lying endpoint still answers eth_blockNumber, and a good answer ends its rest: the
            # state alternates, the errors (one per block asked for) are what shows it
            assert mode in LIES or e["state"] in ("degraded", "failing"), (i, e)
        assert mode in LIES or endpoint_up(root, 1, proxy.url) == 0
        assert not events(root, "service.halted", since), "a follower halted"
        if mode in LIES:
            assert events(root, "rpc.bad_answer", since)
        print(f"{mode}: both delivered {took:.1f} s after the fault was set; operator-1 sees {during[1]}")
    finally:
        set_fault(proxy, "none")
    cleared = time.monotonic()
    wait_for(lambda: all(endpoint(root, i, proxy.url)["state"] == "healthy" for i in (1, 2, 3)), 60,
             "the proxy endpoint to be healthy again")
    assert endpoint_up(root, 1, proxy.url) == 1
    print(f"{mode}: healthy again {time.monotonic() - cleared:.1f} s after the fault was cleared")
