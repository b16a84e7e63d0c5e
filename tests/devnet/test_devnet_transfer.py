"""relayer.devnet.transfer against two real anvil nodes; delivery is done by the test itself.

The test plays the committee (it holds the operator keys) and delivers with
``MessageLayer.deliverBatch``, so ``transfer(..., wait=True)`` is checked end to end without
the daemon: outcome, destination tx, batch gas split, message id, exact balances, and an
expired transfer refunded on the source by its acknowledgement; and the demo's traceability record
(``relayer.devnet.trace``), mirrored and acknowledged by the test.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_account import Account
from eth_keys import keys

from adapters.evm.messaging import MESSAGE_SENT_TOPIC, address_word, encode_evm_proof, message_sent_logs
from adapters.evm.proof import build_receipt_proof
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil
from relayer.devnet.deploy import deploy_pair, sorted_members
from relayer.devnet.network import load_deployment, save_deployment
from relayer.devnet.trace import trace_batch
from relayer.devnet.transfer import (
    DeliveryTimeout,
    fee_paid,
    from_base_units,
    main,
    to_base_units,
    transfer,
)
from relayer.errors import RpcError, UsageError

UNIT = 10**18
OPERATOR_KEYS = [Account.create() for _ in range(3)]
USERS = [{"address": Account.from_key(k).address, "key": k} for k in ANVIL_KEYS[1:4]]


# --------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("text,units", [("1", UNIT), ("0.25", UNIT // 4), ("1.000000000000000001", UNIT + 1),
                                        ("123456789.123456789123456789", 123456789123456789123456789),
                                        ("2.50000000000000000000000", 5 * UNIT // 2)])
def test_amount_to_base_units_is_exact(text: str, units: int) -> None:
    assert to_base_units(Decimal(text)) == units
    assert to_base_units(text) == units
    assert from_base_units(units) == Decimal(text)


@pytest.mark.parametrize("text", ["0", "-1", "0.0000000000000000001", "NaN", "Infinity", "abc"])
def test_amount_rejects_zero_negative_and_too_many_decimals(text: str) -> None:
    with pytest.raises(UsageError):
        to_base_units(text)


def test_fee_paid_reads_the_gas_price_when_a_pre_london_receipt_has_no_effective_price() -> None:
    class Node:  # Hardhat at berlin: receipts without effectiveGasPrice
        def rpc(self, method: str, *params: Any) -> Any:
            assert (method, params) == ("eth_getTransactionByHash", ("0xab",))
            return {"gasPrice": "0x3"}

    receipt = {"gasUsed": "0x5208", "transactionHash": "0xab"}
    assert fee_paid(receipt, Node()) == 3 * 21000  # type: ignore[arg-type]
    assert fee_paid({**receipt, "effectiveGasPrice": "0x2"}) == 2 * 21000
    with pytest.raises(KeyError):
        fee_paid(receipt)


# --------------------------------------------------------------------------- on real chains

@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, SyncEvm]]]:
    alpha, beta = start_anvil(1001, block_time=None), start_anvil(1002, block_time=None)
    try:
        evms = {"alpha": SyncEvm(alpha.url), "beta": SyncEvm(beta.url)}
        chains = deploy_pair(evms["alpha"], evms["beta"], [a.address for a in OPERATOR_KEYS], 2,
                             ANVIL_KEYS[0], users=[u["address"] for u in USERS], report=lambda _: None)
        folder = tmp_path_factory.mktemp("devnet")
        save_deployment(folder, {"chains": chains, "users": USERS, "operators": [], "threshold": 2, "anvil": {}})
        yield folder, evms
    finally:
        stop_anvil(alpha)
        stop_anvil(beta)


def _chains(folder: Path) -> dict[str, Any]:
    chains: dict[str, Any] = json.loads((folder / "deployment.json").read_text())["chains"]
    return chains


def _signatures(dst: SyncEvm, client: str, number: int, block_hash: bytes, root: bytes) -> bytes:
    digest = dst.call(client, "CommitteeLightClient", "headerDigest", number, block_hash, root)
    signers = sorted(OPERATOR_KEYS[:2], key=lambda a: int(a.address, 16))
    assert [s.address for s in signers] == sorted_members([s.address for s in signers])
    out = b""
    for signer in signers:
        sig = keys.PrivateKey(signer.key).sign_msg_hash(digest)
        out += sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])
    return out


def _proof(src: SyncEvm, tx_hash: str, layer: str) -> tuple[bytes, tuple[int, bytes, bytes]]:
    """(EvmReceiptVerifier proof, (number, blockHash, receiptsRoot)) of the MessageSent in ``tx_hash``."""
    receipt = src.wait_receipt(tx_hash)
    number = int(receipt["blockNumber"], 16)
    block = src.rpc("eth_getBlockByNumber", hex(number), False)
    receipts = src.rpc("eth_getBlockReceipts", hex(number))
    proof = build_receipt_proof(receipts, int(receipt["transactionIndex"], 16))
    [(log_index, _)] = message_sent_logs(receipt, layer)
    header = (number, bytes.fromhex(block["hash"][2:]), bytes.fromhex(block["receiptsRoot"][2:]))
    return encode_evm_proof(number, proof.key, proof.nodes, log_index), header


def _deliver(folder: Path, evms: dict[str, SyncEvm], source: str, destination: str, tx_hashes: list[str],
             *, inline_update: bool) -> dict[str, Any]:
    """Play the committee: accept the headers and deliver all messages in one deliverBatch."""
    chains = _chains(folder)
    src, dst = chains[source], chains[destination]
    proofs, update = [], b""
    for tx in tx_hashes:
        proof, header = _proof(evms[source], tx, src["message_layer"])
        proofs.append(proof)
        sigs = _signatures(evms[destination], dst["light_client"], *header)
        if inline_update and len(tx_hashes) == 1:
            update = eth_abi.encode(["uint256", "bytes32", "bytes32", "bytes"], [*header, sigs])
        else:
            evms[destination].transact(ANVIL_KEYS[9], dst["light_client"], "CommitteeLightClient",
                                       "updateHeader", *header, sigs)
    return evms[destination].transact(ANVIL_KEYS[9], dst["message_layer"], "MessageLayer", "deliverBatch",
                                      src["chain_id"], update, proofs)


def _sent(evm: SyncEvm, layer: str, count: int, from_block: int, timeout: float = 20.0) -> list[str]:
    """Hashes of the first ``count`` MessageSent transactions since ``from_block``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            logs = evm.rpc("eth_getLogs", {"address": layer, "fromBlock": hex(from_block),
                                           "topics": ["0x" + MESSAGE_SENT_TOPIC.hex()]})
        except RpcError:  # anvil refuses a fromBlock above its head
            logs = []
        if len(logs) >= count:
            return [log["transactionHash"] for log in logs[:count]]
        time.sleep(0.05)
    raise AssertionError(f"expected {count} MessageSent transactions")


def test_transfer_without_wait_reports_the_message(devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, evms = devnet
    chains = _chains(folder)
    result = transfer(folder, "beta", "alpha", "native", Decimal("0.1"), user_index=2)
    assert result.destination_tx is None and result.latency_s is None and result.outcome is None
    assert result.amount_base_units == UNIT // 10 and result.recipient == USERS[2]["address"]
    on_chain = evms["beta"].call(chains["beta"]["message_layer"], "MessageLayer", "messageId", 1002,
                                 address_word(chains["beta"]["message_layer"]), result.nonce)
    assert result.message_id == "0x" + on_chain.hex()
    latest = int(evms["beta"].rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    assert latest < result.expiry <= latest + 3600
    receipt = evms["beta"].wait_receipt(result.source_tx)
    assert result.source_fee == fee_paid(receipt) > 0


def test_wait_reports_the_batch_and_balances_are_exact(devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, evms = devnet
    chains = _chains(folder)
    alpha, beta, user0, user1 = evms["alpha"], evms["beta"], USERS[0]["address"], USERS[1]["address"]
    native_before = alpha.balance(user0)
    start = alpha.block_number() + 1
    with ThreadPoolExecutor(2) as pool:
        native = pool.submit(transfer, folder, "alpha", "beta", "native", Decimal("1.5"), wait=True,
                             timeout=30, user_index=0)
        token = pool.submit(transfer, folder, "alpha", "beta", "token", Decimal("2.25"), wait=True,
                            timeout=30, user_index=1)
        _deliver(folder, evms, "alpha", "beta", _sent(alpha, chains["alpha"]["message_layer"], 2, start),
                 inline_update=False)
        results = [native.result(), token.result()]
    assert results[0].destination_tx == results[1].destination_tx
    for r in results:
        assert r.outcome == "delivered" and r.outcome_result == "0x"
        assert r.destination_gas is not None and r.messages_in_destination_tx == 2
        assert r.per_message_gas == r.destination_gas // 2
        assert r.latency_s is not None and r.latency_s > 0 and r.block_latency_s is not None
    assert beta.call(chains["beta"]["wrapped_native"], "WrappedToken", "balanceOf", user0) == 3 * UNIT // 2
    assert beta.call(chains["beta"]["wrapped_token"], "WrappedToken", "balanceOf", user1) == 9 * UNIT // 4
    assert results[1].source_txs[0] != results[1].source_tx  # approve, then lockToken

    start = beta.block_number() + 1
    with ThreadPoolExecutor(1) as pool:
        back = pool.submit(transfer, folder, "beta", "alpha", "wrapped-native", Decimal("0.5"), wait=True,
                           timeout=30, user_index=0)
        _deliver(folder, evms, "beta", "alpha", _sent(beta, chains["beta"]["message_layer"], 1, start),
                 inline_update=True)
        burned = back.result()
    assert burned.messages_in_destination_tx == 1 and burned.per_message_gas == burned.destination_gas
    assert alpha.balance(user0) == native_before - 3 * UNIT // 2 - results[0].source_fee + UNIT // 2


def test_an_expired_transfer_is_reported_and_refunded_by_its_acknowledgement(
        devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, evms = devnet
    chains = _chains(folder)
    alpha, beta, user = evms["alpha"], evms["beta"], USERS[2]["address"]
    token, router = chains["alpha"]["test_token"], chains["alpha"]["token_router"]
    before = alpha.call(token, "TestToken", "balanceOf", user)
    locked = alpha.call(router, "TokenRouter", "lockedFor", 1002, token)
    start = alpha.block_number() + 1
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(transfer, folder, "alpha", "beta", "token", Decimal(4), wait=True, timeout=30,
                           user_index=2, expiry=60)
        [tx] = _sent(alpha, chains["alpha"]["message_layer"], 1, start)
        beta.rpc("evm_increaseTime", 120)  # the destination's clock passes the expiry
        beta.rpc("evm_mine")
        delivered = _deliver(folder, evms, "alpha", "beta", [tx], inline_update=True)
        result = sent.result()
    assert result.outcome == "expired" and result.destination_tx == delivered["transactionHash"]
    assert alpha.call(token, "TestToken", "balanceOf", user) == before - 4 * UNIT
    assert alpha.call(router, "TokenRouter", "lockedFor", 1002, token) == locked + 4 * UNIT
    assert beta.call(chains["beta"]["wrapped_token"], "WrappedToken", "balanceOf", user) == 0
    [(_, ack)] = message_sent_logs(delivered, chains["beta"]["message_layer"])  # the acknowledgement
    assert ack.kind == 1 and ack.destination_chain == 1001
    _deliver(folder, evms, "beta", "alpha", [delivered["transactionHash"]], inline_update=True)
    assert alpha.call(token, "TestToken", "balanceOf", user) == before  # refunded
    assert alpha.call(router, "TokenRouter", "lockedFor", 1002, token) == locked


def test_wait_times_out_without_a_relayer(devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, _ = devnet
    with pytest.raises(DeliveryTimeout):
        transfer(folder, "alpha", "beta", "native", Decimal("0.01"), wait=True, timeout=0.5, user_index=2)


@pytest.mark.parametrize("kwargs", [{"asset": "wrapped-token", "amount": Decimal(1)},  # holds none
                                    {"asset": "native", "amount": Decimal(10**9)},
                                    {"asset": "native", "amount": Decimal(1), "recipient": "0x1234"},
                                    {"asset": "native", "amount": Decimal(1), "user_index": 7}])
def test_bad_requests_are_usage_errors(devnet: tuple[Path, dict[str, SyncEvm]], kwargs: dict[str, Any]) -> None:
    folder, _ = devnet
    with pytest.raises(UsageError):
        transfer(folder, "alpha", "beta", **kwargs)
    with pytest.raises(UsageError):
        transfer(folder, "alpha", "alpha", "native", Decimal(1))
    with pytest.raises(UsageError):
        transfer(folder, "alpha", "gamma", "native", Decimal(1))


def test_main_prints_one_json_object(devnet: tuple[Path, dict[str, SyncEvm]],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = devnet
    args = argparse.Namespace(devnet=folder, source="alpha", destination="beta", asset="token",
                              amount=Decimal(3), recipient=USERS[1]["address"], wait=False, json=True)
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["amount"] == "3" and printed["recipient"] == USERS[1]["address"]
    assert printed["message_id"].startswith("0x") and printed["destination_tx"] is None


def test_traceability_record_arrives_with_its_provable_origin(devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, evms = devnet
    chains = _chains(folder)
    alpha = evms["alpha"]
    lines: list[str] = []
    start = alpha.block_number() + 1
    with ThreadPoolExecutor(1) as pool:
        traced = pool.submit(trace_batch, load_deployment(folder), 30, report=lines.append, user_index=1)
        [mirror] = _sent(alpha, chains["alpha"]["message_layer"], 1, start)
        delivered = _deliver(folder, evms, "alpha", "beta", [mirror], inline_update=True)
        _deliver(folder, evms, "beta", "alpha", [delivered["transactionHash"]], inline_update=True)  # the ack
        assert traced.result() == []
    block = int(alpha.wait_receipt(mirror)["blockNumber"], 16)
    assert lines[0].startswith("traceability: batch 0x") and f"mirrored to beta (tx {mirror}" in lines[0]
    assert (f"its provable origin: chain alpha (1001), registry {chains['alpha']['traceability']}, "
            f"producer {USERS[1]['address']}, block {block}, transaction #0 = {mirror}") in lines[1]
    assert lines[2] == "  acknowledged on alpha: beta accepted the mirror"


def test_traceability_record_that_does_not_arrive_is_a_problem(devnet: tuple[Path, dict[str, SyncEvm]]) -> None:
    folder, _ = devnet
    [problem] = trace_batch(load_deployment(folder), 0.3, report=lambda _: None, user_index=1)
    assert "did not arrive in beta's registry within 0.3 s (message 0x" in problem
