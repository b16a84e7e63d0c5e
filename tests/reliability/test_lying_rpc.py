"""Lying RPCs on a real devnet: every operator reads alpha through one proxy (its only endpoint
for alpha), which lies about the block holding a fresh TokenRouter lock, a message-layer envelope in a
``MessageSent`` event (``relayer.devnet.proxy`` lies).

For each lie the off-chain light client refuses before anything is signed or sent: every
operator's follower of alpha halts with the ``service.halted`` alarm (header-field: the hash is
not the hash of the fields; receipt, log-data, fake-log: the receipts are not the block's
receipts root; other-block: eth_getLogs names another block hash than the verified header's),
no attestation is stored, no delivery transaction is signed and the operators' nonces on beta
stay put. After the lie is cleared and the operators restarted, the lock is delivered exactly
once with its real amount; the forged recipient never receives anything. ``hide-log`` (eth_getLogs
hides the lock, receipts untouched) is caught by the header's logsBloom and the block's receipts:
``logs.hidden`` alarm, and the real lock is delivered anyway, while the lie lasts."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eth_abi
import httpx
import pytest
from devnet_helpers import chain, events, now_iso, processed, processed_logs, quiet, restart, use_rpcs, wait_for
from eth_account import Account

from adapters.evm.abi import Contract
from adapters.evm.adapter import message_id
from adapters.evm.messaging import decode_envelope, message_sent_logs
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.proxy import (
    FAKE_NONCE_OFFSET,
    LIE_FACTOR,
    LIE_RECIPIENT,
    ProxyHandle,
    set_fault,
    start_proxy,
    stop_proxy,
)

pytestmark = pytest.mark.slow
ROUTER = Contract.load("TokenRouter")
TRANSFER = ["bool", "address", "address", "uint256"]  # a TokenRouter payload: (burned, token, recipient, amount)
AMOUNT = 7 * 10**15
OPERATORS = (1, 2, 3)

#: lie -> what the follower's VerificationError may say (None: not halted, logs.hidden instead)
LIES: dict[str, tuple[str, ...] | None] = {
    "header-field": ("header hash mismatch",),
    "receipt": ("receipts root mismatch",),
    "log-data": ("receipts root mismatch",),
    "fake-log": ("receipts root mismatch",),
    # the lock's log names the real block hash; a follower that also checks the child of the
    # last header of its scan sees the next block not link to the swapped one
    "other-block": ("eth_getLogs names a block that is not the verified one", "broken parent link"),
    "hide-log": None,
}


def restart_all(root: Path) -> None:
    restart(root, list(OPERATORS))


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ProxyHandle]]:
    root = tmp_path_factory.mktemp("lyingnet")
    network.up(root, report=quiet)
    proxy: ProxyHandle | None = None
    try:
        proxy = start_proxy(chain(root, "alpha")["rpc"], log_path=root / "logs" / "proxy-alpha-lies.log")
        for index in OPERATORS:
            use_rpcs(root, index, "alpha", [proxy.url])
        restart_all(root)
        yield root, proxy
    finally:
        network.down(root, report=quiet)
        if proxy is not None:
            stop_proxy(proxy)


def rows(root: Path, index: int, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of operator ``index``'s state database (read-only; the daemon keeps writing)."""
    path = root / "state" / f"operator-{index}" / "relayer.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def wrapped_native(root: Path, owner: str) -> int:
    beta = chain(root, "beta")
    with SyncEvm(beta["rpc"]) as evm:
        return int(evm.call(beta["wrapped_native"], "WrappedToken", "balanceOf", owner))


def delivered(root: Path, nonce: int) -> bool:
    return processed(root, "alpha", "beta", nonce)


def beta_nonces(root: Path) -> dict[str, tuple[int, int]]:
    with SyncEvm(chain(root, "beta")["rpc"]) as evm:
        return {op["name"]: (int(evm.rpc("eth_getTransactionCount", op["address"], "latest"), 16),
                             int(evm.rpc("eth_getTransactionCount", op["address"], "pending"), 16))
                for op in network.load_deployment(root)["operators"]}


def sent_nonces(data: list[str]) -> list[int]:
    """The envelope nonces of MessageSent log data."""
    return [decode_envelope(eth_abi.decode(["bytes"], bytes.fromhex(d[2:]))[0]).nonce for d in data]


def resume_mining(root: Path) -> None:
    with SyncEvm(chain(root, "alpha")["rpc"]) as evm:
        evm.rpc("evm_setIntervalMining", 1)


def lock_in_known_block(root: Path, proxy: ProxyHandle, lie: str, recipient: str) -> tuple[int, int]:
    """Lock AMOUNT on alpha for ``recipient`` in the next block B, with the lie set on B before B
    exists; then mine B+1 and B+2 (B is final, 2 confirmations) and leave mining paused, so every
    follower's scan ends at B whatever its timing. Returns (B, the envelope's nonce)."""
    alpha, user = chain(root, "alpha"), network.load_deployment(root)["users"][0]
    with SyncEvm(alpha["rpc"]) as evm:
        evm.rpc("evm_setAutomine", False)
        evm.rpc("evm_setIntervalMining", 0)
        try:
            account = Account.from_key(user["key"])
            signed = account.sign_transaction({
                "type": 2, "chainId": alpha["chain_id"], "to": alpha["token_router"], "value": AMOUNT,
                "gas": 400_000, "nonce": int(evm.rpc("eth_getTransactionCount", account.address, "pending"), 16),
                "data": "0x" + ROUTER.encode_call("lockNative", chain(root, "beta")["chain_id"], recipient, 0).hex(),
                "maxFeePerGas": 50 * 10**9, "maxPriorityFeePerGas": 10**9})
            tx = evm.rpc("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
            block = int(evm.rpc("eth_blockNumber"), 16) + 1
            set_fault(proxy, "lie", lie=lie, block=block)
            for _ in range(3):
                evm.rpc("evm_mine")
        except BaseException:
            evm.rpc("evm_setIntervalMining", 1)
            raise
        receipt = evm.wait_receipt(tx)
    assert int(receipt["blockNumber"], 16) == block and int(receipt["status"], 16) == 1
    ((_, envelope),) = message_sent_logs(receipt, alpha["message_layer"])
    return block, envelope.nonce


def proxy_tells(root: Path, proxy: ProxyHandle, lie: str, block: int) -> None:
    """What the proxy answers about ``block`` differs from anvil's answer as the lie says."""
    alpha = chain(root, "alpha")
    logs_query = {"fromBlock": hex(block), "toBlock": hex(block), "address": alpha["message_layer"]}
    with SyncEvm(alpha["rpc"]) as honest, SyncEvm(proxy.url) as liar:
        def both(method: str, *params: Any) -> tuple[Any, Any]:
            return honest.rpc(method, *params), liar.rpc(method, *params)

        real, told = both("eth_getBlockByNumber", hex(block), False)
        if lie == "header-field":
            assert told["hash"] == real["hash"] and told["receiptsRoot"] != real["receiptsRoot"]
        elif lie == "other-block":
            assert told["hash"] != real["hash"] and told["parentHash"] == real["parentHash"]
        else:
            assert told == real
        real, told = both("eth_getBlockReceipts", hex(block))
        if lie == "receipt":
            assert [r["status"] for r in told] != [r["status"] for r in real]
        elif lie in ("log-data", "fake-log"):
            assert told != real
        else:
            assert told == real
        real, told = both("eth_getLogs", logs_query)
        if lie == "hide-log":
            assert real and told == []
        elif lie == "log-data":
            assert [lg["data"] for lg in told] != [lg["data"] for lg in real] and len(told) == len(real)
            assert LIE_RECIPIENT[2:] in told[0]["data"]
        elif lie == "fake-log":
            assert len(told) == 2 * len(real)
            assert sent_nonces([told[1]["data"]]) == [n + FAKE_NONCE_OFFSET for n in sent_nonces([real[0]["data"]])]
        else:
            assert told == real
        assert liar.rpc("eth_getBlockByNumber", hex(block - 1), False) == \
            honest.rpc("eth_getBlockByNumber", hex(block - 1), False)  # other blocks are not touched


def test_the_admin_endpoint_selects_lies_by_name(devnet: tuple[Path, ProxyHandle]) -> None:
    _, proxy = devnet
    try:
        assert set_fault(proxy, "lie", lie="hide-log", block=5, count=2)["mode"] == "hide-log"
        for body in ({"mode": "lie", "lie": "flattery"}, {"mode": "lie"}, {"mode": "500", "lie": "receipt"}):
            assert httpx.post(proxy.admin_url + "/_proxy/faults", json=body, timeout=5).status_code == 400, body
    finally:
        set_fault(proxy, "none")


@pytest.mark.parametrize("lie", list(LIES))
def test_a_lie_is_refused_before_anything_is_sent(devnet: tuple[Path, ProxyHandle], lie: str) -> None:
    root, proxy = devnet
    since, nonces, started = now_iso(), beta_nonces(root), time.monotonic()
    recipient = Account.create().address
    forged_before = wrapped_native(root, LIE_RECIPIENT)
    try:
        block, nonce = lock_in_known_block(root, proxy, lie, recipient)
        msg_id = message_id(chain(root, "alpha")["chain_id"], chain(root, "alpha")["message_layer"], nonce)
        proxy_tells(root, proxy, lie, block)
        expected = LIES[lie]
        if expected is None:  # hide-log: seen by the bloom, relayed from the verified receipts
            wait_for(lambda: {e["operator"] for e in events(root, "logs.hidden", since)} == {
                f"operator-{i}" for i in OPERATORS}, 30, "logs.hidden from every operator")
            hidden = events(root, "logs.hidden", since)
            assert all(e["block"] == block and e["alarm"] is True for e in hidden), hidden
            wait_for(lambda: delivered(root, nonce), 60, "delivery of the real lock despite the hidden log")
            assert not events(root, "service.halted", since)
        else:
            wait_for(lambda: {e["operator"] for e in events(root, "service.halted", since)} == {
                f"operator-{i}" for i in OPERATORS}, 30, "every operator's follower of alpha to halt")
            halted = events(root, "service.halted", since)
            assert all(e["service"] == "follower:alpha" and e["alarm"] is True
                       and any(why in e["error"] for why in expected) for e in halted), halted
            time.sleep(2)
            assert not events(root, "tx.signed", since) and not events(root, "attestation.signed", since)
            assert beta_nonces(root) == nonces
            assert not delivered(root, nonce)
            for index in OPERATORS:
                assert rows(root, index, "SELECT id FROM messages WHERE src_chain='alpha' AND nonce>=?", nonce) == []
                assert rows(root, index, "SELECT number FROM attestations WHERE number=?", block) == []
                assert rows(root, index, "SELECT kind FROM evidence") == []  # nothing that outlives a restart
        refused = time.monotonic() - started
    finally:
        resume_mining(root)
        set_fault(proxy, "none")
    if expected is not None:
        restart_all(root)
        wait_for(lambda: delivered(root, nonce), 60, "delivery after the lie was cleared")
    assert wrapped_native(root, recipient) == AMOUNT
    assert wrapped_native(root, LIE_RECIPIENT) == forged_before == 0
    assert len(processed_logs(root, "beta", msg_id)) == 1
    wait_for(lambda: events(root, "message.confirmed", since), 10, "message.confirmed")
    confirmed = [e for e in events(root, "message.confirmed", since) if e["message_id"] == msg_id]
    assert len(confirmed) == 1 and confirmed[0]["amount"] == str(AMOUNT), confirmed
    stored = [(nonce, decode_envelope(bytes(body))) for i in OPERATORS
              for nonce, body in rows(root, i, "SELECT nonce, body FROM messages")]
    transfers = [(nonce, eth_abi.decode(TRANSFER, e.body)) for nonce, e in stored if len(e.body) == 128]
    assert any(t[3] == AMOUNT and t[2].lower() == recipient.lower() for _, t in transfers)
    forged = [(nonce, t) for nonce, t in transfers if t[3] == AMOUNT * LIE_FACTOR
              or t[2].lower() == LIE_RECIPIENT or nonce >= FAKE_NONCE_OFFSET]
    forged += [(nonce, e) for nonce, e in stored if nonce >= FAKE_NONCE_OFFSET]
    assert forged == []
    print(f"{lie}: refused {refused:.1f} s after the lock was sent, delivered "
          f"{time.monotonic() - started:.1f} s after it")
