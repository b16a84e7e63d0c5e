"""The JSON-RPC proxy in front of a real anvil: transport faults seen by ``RpcClient`` (and its
failover to a second endpoint), the admin endpoint, concurrent use, and QBFT sealing (blocks
that the off-chain QBFT client accepts, block hashes translated consistently in every answer,
a conflicting header on demand)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import trio
from eth_utils import keccak, to_checksum_address

from adapters.evm.abi import decode_revert
from adapters.evm.qbft import address_of, extra_of, seal_signers
from adapters.evm.rpc import RpcClient
from adapters.evm.sync_client import SyncEvm
from light_clients.bft.misbehaviour import MisbehaviourError
from light_clients.evm.header import header_from_rpc
from light_clients.evm.receipts import check_receipts
from light_clients.qbft import QbftLightClient
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer.devnet.proxy import (
    REVERT_REASON,
    ProxyHandle,
    get_fault,
    propose_validator,
    set_fault,
    start_proxy,
    stop_proxy,
    validator_schedule,
)
from relayer.errors import ContractRevert, DevnetError, RpcError

pytestmark = pytest.mark.slow
KEYS = sorted(("0x" + keccak(text=f"proxy-test-validator-{i}").hex() for i in range(4)),
              key=lambda k: int(address_of(k), 16))
VALIDATORS = [address_of(k) for k in KEYS]


@pytest.fixture(scope="module")
def plain(anvil_module: AnvilNode) -> Iterator[ProxyHandle]:
    handle = start_proxy(anvil_module.url)
    try:
        yield handle
    finally:
        stop_proxy(handle)


@pytest.fixture(autouse=True)
def no_fault(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("plain", "sealing"):
        if name in request.fixturenames:
            set_fault(request.getfixturevalue(name), "none")


def rpc(url: str, method: str, *params: Any) -> Any:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                       timeout=10).json()
    assert "error" not in reply, reply
    return reply["result"]


async def fails(url: str, method: str = "eth_blockNumber", timeout: float = 10.0) -> RpcError:
    client = RpcClient("test", (url,), timeout=timeout)
    try:
        with pytest.raises(RpcError) as caught:
            await client.call(method)
    finally:
        await client.aclose()
    return caught.value


# --------------------------------------------------------------------------- transport faults

@pytest.mark.parametrize("mode", ["refuse", "429", "500", "garbage", "truncate"])
async def test_each_transport_fault_is_an_rpc_error_and_failover_answers(
        mode: str, plain: ProxyHandle, anvil_module: AnvilNode) -> None:
    client = RpcClient("test", (plain.url,))
    assert int(await client.call("eth_blockNumber"), 16) >= 0  # a kept-alive connection exists now
    set_fault(plain, mode)
    with pytest.raises(RpcError):
        await client.call("eth_blockNumber")
    await client.aclose()
    await fails(plain.url)  # fresh connections too
    both = RpcClient("test", (plain.url, anvil_module.url))
    try:
        assert int(await both.call("eth_chainId"), 16) == 31337
        assert both.health[plain.url].errors == 1 and both.health[anvil_module.url].errors == 0
        assert int(await both.call("eth_chainId"), 16) == 31337  # the failing endpoint is now tried last
        assert both.health[plain.url].errors == 1
    finally:
        await both.aclose()
    assert get_fault(plain)["served"] >= 3
    set_fault(plain, "none")
    assert int(rpc(plain.url, "eth_chainId"), 16) == 31337


async def test_hang_times_out_and_ends_when_the_fault_is_cleared(plain: ProxyHandle) -> None:
    set_fault(plain, "hang")
    started = trio.current_time()
    await fails(plain.url, timeout=0.5)
    assert trio.current_time() - started < 3
    set_fault(plain, "none")
    assert int(rpc(plain.url, "eth_chainId"), 16) == 31337


async def test_methods_and_count_limit_a_fault(plain: ProxyHandle) -> None:
    set_fault(plain, "500", methods=["eth_getLogs"], count=2)
    client = RpcClient("test", (plain.url,))
    try:
        await client.call("eth_blockNumber")
        for _ in range(2):
            with pytest.raises(RpcError):
                await client.call("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
        assert await client.call("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"}) == []
        state = get_fault(plain)
        assert state["mode"] == "none" and state["served"] == 2 and state["remaining"] == 0
        set_fault(plain, "garbage", methods=["eth_getLogs"])  # a batch naming the method fails as a whole
        with pytest.raises(RpcError):
            await client.batch([("eth_blockNumber", []), ("eth_getLogs", [{"fromBlock": "0x0"}])])
        assert len(await client.batch([("eth_blockNumber", []), ("eth_chainId", [])])) == 2
    finally:
        await client.aclose()


def test_admin_refuses_bad_faults_and_stays_up_while_refusing(plain: ProxyHandle) -> None:
    for body in ({"mode": "explode"}, {"mode": "500", "count": 0}, {"mode": "conflict", "block": 3},
                 {"mode": "500", "methods": "eth_call"}, {"mode": "hang", "seconds": -1}, {"mood": "500"}):
        response = httpx.post(plain.admin_url + "/_proxy/faults", json=body, timeout=5)
        assert response.status_code == 400, body
    with pytest.raises(DevnetError, match="sealing proxy"):
        set_fault(plain, "conflict", block=1)
    set_fault(plain, "refuse")
    with pytest.raises(httpx.TransportError):
        httpx.post(plain.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=5)
    assert get_fault(plain)["mode"] == "refuse"  # the admin port always answers
    set_fault(plain, "none")
    assert httpx.get(plain.url + "/_proxy/faults", timeout=5).json()["mode"] == "none"


def test_three_clients_hammering_concurrently(plain: ProxyHandle) -> None:
    def worker(index: int) -> int:
        with httpx.Client(timeout=10) as client:
            for i in range(60):
                body: Any = [{"jsonrpc": "2.0", "id": j, "method": "eth_getBlockByNumber", "params": ["latest", False]}
                             for j in range(5)] if i % 2 else {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                                "params": []}
                reply = client.post(plain.url, json=body).json()
                assert (len(reply) == 5) if i % 2 else ("result" in reply)
        return index

    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(worker, range(3))) == [0, 1, 2]


# --------------------------------------------------------------------------- QBFT sealing

@pytest.fixture(scope="module")
def sealing(anvil_module: AnvilNode) -> Iterator[ProxyHandle]:
    handle = start_proxy(anvil_module.url, seal_keys=KEYS)
    try:
        yield handle
    finally:
        stop_proxy(handle)


@pytest.fixture(scope="module")
def activity(sealing: ProxyHandle) -> dict[str, Any]:
    """A token deployed and moved through the sealing proxy: blocks with logs."""
    with SyncEvm(sealing.url) as evm:
        token = evm.deploy(ANVIL_KEYS[0], "TestToken", "Sealed", "SLD", 10**24)
        receipt = evm.transact(ANVIL_KEYS[0], token, "TestToken", "transfer", address_of(ANVIL_KEYS[1]), 5)
        for _ in range(3):
            evm.rpc("evm_mine")
    return {"token": token, "receipt": receipt}


def blocks(url: str, first: int, last: int) -> list[dict[str, Any]]:
    replies = httpx.post(url, json=[{"jsonrpc": "2.0", "id": n, "method": "eth_getBlockByNumber",
                                     "params": [hex(n), False]} for n in range(first, last + 1)], timeout=10).json()
    return [r["result"] for r in sorted(replies, key=lambda r: r["id"])]


def client_from_genesis(url: str) -> QbftLightClient:
    genesis = rpc(url, "eth_getBlockByNumber", "0x0", False)
    return QbftLightClient.from_options("sealed", 31337, 0, {
        "validators": VALIDATORS, "checkpoint_number": 0, "checkpoint_hash": genesis["hash"]})


def test_sealed_chain_is_accepted_by_the_qbft_light_client(sealing: ProxyHandle, activity: dict[str, Any]) -> None:
    head = int(rpc(sealing.url, "eth_blockNumber"), 16)
    chain = blocks(sealing.url, 0, head)
    lc = client_from_genesis(sealing.url)
    for block in chain:
        header = header_from_rpc(block)
        assert lc.verify_header(header, bytes.fromhex(block["hash"][2:])).hex() == block["hash"][2:]
        assert len(seal_signers(header)) == 3 and set(seal_signers(header)) <= set(VALIDATORS)
        assert block["miner"].lower() in {v.lower() for v in VALIDATORS} and block["difficulty"] == "0x1"
    lc.accept_range([header_from_rpc(b) for b in chain])
    assert lc.head_number == head
    for parent, child in zip(chain, chain[1:]):
        assert child["parentHash"] == parent["hash"]
    anvil = blocks(rpc_upstream(sealing), 0, head)
    for ours, theirs in zip(chain, anvil):  # everything but the BFT fields is anvil's own
        assert ours["hash"] != theirs["hash"]
        for key in ("stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom", "timestamp", "gasUsed"):
            assert ours[key] == theirs[key]


def rpc_upstream(handle: ProxyHandle) -> str:
    return str(httpx.get(handle.admin_url + "/_proxy/health", timeout=5).json()["upstream"])


def test_block_hashes_are_translated_in_every_answer(sealing: ProxyHandle, activity: dict[str, Any]) -> None:
    receipt = rpc(sealing.url, "eth_getTransactionReceipt", activity["receipt"]["transactionHash"])
    number = int(receipt["blockNumber"], 16)
    block = rpc(sealing.url, "eth_getBlockByNumber", hex(number), True)
    sealed = block["hash"]
    assert receipt["blockHash"] == sealed and all(lg["blockHash"] == sealed for lg in receipt["logs"])
    assert all(tx["blockHash"] == sealed for tx in block["transactions"])
    assert rpc(sealing.url, "eth_getTransactionByHash", receipt["transactionHash"])["blockHash"] == sealed
    assert rpc(sealing.url, "eth_getBlockByHash", sealed, True) == block
    by_hash = rpc(sealing.url, "eth_getBlockReceipts", sealed)
    assert by_hash == rpc(sealing.url, "eth_getBlockReceipts", hex(number))
    check_receipts(header_from_rpc(block), by_hash)  # anvil's receipts fit the sealed header
    logs = rpc(sealing.url, "eth_getLogs", {"blockHash": sealed, "address": activity["token"]})
    assert [lg["blockHash"] for lg in logs] == [sealed]
    ranged = rpc(sealing.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest", "address": activity["token"]})
    assert {lg["blockHash"] for lg in ranged} <= {b["hash"] for b in blocks(sealing.url, 0, number)}
    assert rpc(sealing.url, "eth_getBlockTransactionCountByHash", sealed) == hex(len(block["transactions"]))


def test_header_verify_cli_reads_a_sealed_block(sealing: ProxyHandle, activity: dict[str, Any]) -> None:
    out = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "qbft",
                          "--rpc", sealing.url, "--block", "2"], capture_output=True, text=True, timeout=60)
    verdict = json.loads(out.stdout)
    assert out.returncode == 0 and verdict["valid"] is True and len(verdict["signers"]) >= 3
    assert verdict["hash"] == rpc(sealing.url, "eth_getBlockByNumber", "0x2", False)["hash"]


def test_conflict_serves_a_second_validly_sealed_header_once(sealing: ProxyHandle, activity: dict[str, Any]) -> None:
    honest = rpc(sealing.url, "eth_getBlockByNumber", "0x3", False)
    rpc(sealing.url, "eth_getBlockByNumber", "latest", False)  # "latest" and other numbers are never touched
    set_fault(sealing, "conflict", block=3)
    assert rpc(sealing.url, "eth_getBlockByNumber", "0x2", False)["number"] == "0x2"
    other = rpc(sealing.url, "eth_getBlockByNumber", "0x3", False)
    assert other["hash"] != honest["hash"] and other["parentHash"] == honest["parentHash"]
    assert get_fault(sealing)["mode"] == "none"
    assert rpc(sealing.url, "eth_getBlockByNumber", "0x3", False) == honest
    assert rpc(sealing.url, "eth_getBlockByHash", other["hash"], False) == other
    lc = client_from_genesis(sealing.url)
    lc.accept_range([header_from_rpc(b) for b in blocks(sealing.url, 0, 3)])
    with pytest.raises(MisbehaviourError) as caught:
        lc.verify_header(header_from_rpc(other))
    assert {caught.value.evidence.hash_a.hex(), caught.value.evidence.hash_b.hex()} == {
        honest["hash"][2:], other["hash"][2:]}


def test_a_restarted_proxy_serves_the_same_chain(sealing: ProxyHandle, anvil_module: AnvilNode,
                                                 activity: dict[str, Any]) -> None:
    head = int(rpc(sealing.url, "eth_blockNumber"), 16)
    again = start_proxy(anvil_module.url, seal_keys=KEYS)
    try:
        started = time.monotonic()
        assert blocks(again.url, head, head) == blocks(sealing.url, head, head)
        assert time.monotonic() - started < 5
    finally:
        stop_proxy(again)



# --------------------------------------------------------------------------- validator votes

async def test_revert_fault_answers_estimate_gas_with_a_contract_revert(plain: ProxyHandle) -> None:
    set_fault(plain, "revert", count=1)
    client = RpcClient("test", (plain.url,))
    call = {"from": address_of(ANVIL_KEYS[0]), "to": address_of(ANVIL_KEYS[1]), "value": "0x1"}
    try:
        assert int(await client.call("eth_blockNumber"), 16) >= 0  # other methods are untouched
        with pytest.raises(ContractRevert) as caught:
            await client.call("eth_estimateGas", call)
        assert decode_revert(caught.value.reason) == REVERT_REASON
        assert int(await client.call("eth_estimateGas", call), 16) == 21000  # count 1: the next one passes
        set_fault(plain, "revert", match="C0FFEE")  # only calls whose body holds the text (any case)
        assert int(await client.call("eth_estimateGas", call), 16) == 21000
        with pytest.raises(ContractRevert):
            await client.call("eth_estimateGas", call | {"data": "0x00c0ffee00"})
    finally:
        await client.aclose()


def test_validator_votes_add_then_drop_as_besu_presents_them(anvil_module: AnvilNode) -> None:
    """4 -> 5 -> 4 by votes: each proposer votes once in turn, the block after the majority lists the
    new set and is sealed by it; the off-chain and the on-chain QBFT clients both follow it."""
    newcomer = "0x" + keccak(text="proxy-test-newcomer").hex()
    handle = start_proxy(anvil_module.url, seal_keys=KEYS)
    evm = SyncEvm(anvil_module.url)
    try:
        checkpoint = int(rpc(handle.url, "eth_blockNumber"), 16)
        lc_address = evm.deploy(ANVIL_KEYS[0], "QbftLightClient", 31337, checkpoint, VALIDATORS, 0)
        first = int(rpc(handle.url, "eth_blockNumber"), 16) + 1  # the first block not sealed yet
        added = propose_validator(handle, add_key=newcomer)
        assert added["vote_blocks"] == list(range(first, first + 3))  # 3 of 4 voted: more than half
        assert added["change_at"] == first + 3 and len(added["validators"]) == 5
        dropped = propose_validator(handle, drop=VALIDATORS[0])
        assert dropped["vote_blocks"][0] == added["change_at"] and len(dropped["vote_blocks"]) == 3
        for body in ({"add": newcomer}, {"drop": "0x" + "12" * 20}, {"add": "0x12"}, {}, {"both": 1}):
            assert httpx.post(handle.admin_url + "/_proxy/validators", json=body, timeout=5).status_code == 400
        evm.rpc("anvil_mine", hex(dropped["change_at"] + 2 - checkpoint))
        head = int(rpc(handle.url, "eth_blockNumber"), 16)
        chain = blocks(handle.url, 0, head)
        lc = client_from_genesis(handle.url)
        lc.accept_range([header_from_rpc(b) for b in chain])
        final = [a for a in added["validators"] if a != VALIDATORS[0]]
        assert ["0x" + v.hex() for v in lc.validators] == [a.lower() for a in final] == \
            [a.lower() for a in validator_schedule(handle)["validators"]]
        for block in chain[checkpoint + 1:]:
            number = int(block["number"], 16)
            header = header_from_rpc(block)
            extra = extra_of(header)
            voting = number in added["vote_blocks"] or number in dropped["vote_blocks"]
            assert (extra.vote is not None) == voting
            members = added["validators"] if added["change_at"] <= number < dropped["change_at"] else (
                final if number >= dropped["change_at"] else VALIDATORS)
            assert [address_of_bytes(v) for v in extra.validators] == members
            assert set(seal_signers(header)) <= set(members) and block["miner"].lower() in {m.lower() for m in members}
            evm.transact(ANVIL_KEYS[0], lc_address, "QbftLightClient", "updateHeader", header.rlp)
        assert evm.call(lc_address, "QbftLightClient", "validators") == final
        assert evm.call(lc_address, "QbftLightClient", "epochCount") == 3
    finally:
        evm.close()
        stop_proxy(handle)


def address_of_bytes(value: bytes) -> str:
    return to_checksum_address(value)
