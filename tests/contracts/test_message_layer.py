"""MessageLayer on two real anvil chains: send, prove, deliver; handler outcomes in a batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import eth_abi
import pytest
from eth_utils import keccak
from msg_env import CHAIN_A, DEPLOYER, LAYER, USER, USER_KEY, MessagePair, Side, message_pair, reverts

from adapters.evm.messaging import (
    ACK_ALWAYS,
    ACK_NONE,
    ACK_ON_FAILURE,
    KIND_ACK,
    OUTCOME_DELIVERED,
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    OUTCOME_NONE,
    VERSION,
    Envelope,
    address_word,
    decode_ack_body,
    decode_envelope,
    message_id,
)

MAX_RESULT = 512  # MessageLayer.MAX_RESULT_BYTES


@pytest.fixture(scope="module")
def pair() -> Iterator[MessagePair]:
    with message_pair() as p:
        yield p


def test_send_emits_the_whole_envelope_and_its_id(pair: MessagePair) -> None:
    recorder = pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    receipt = pair.send(pair.a, recorder, b"hello", gas_limit=123_456, ack_mode=0)
    [(_index, env)] = pair.sent(pair.a, receipt)
    (logged,) = LAYER.logs_of(receipt, pair.a.layer, "MessageSent")
    assert logged["id"] == env.id == message_id(CHAIN_A, pair.a.layer_word, env.nonce)
    assert decode_envelope(logged["envelope"]) == env
    assert env.encode() == logged["envelope"]
    assert (env.version, env.kind, env.source_chain, env.destination_chain) == (VERSION, 0, CHAIN_A, pair.b.chain_id)
    assert env.source_layer == pair.a.layer_word and env.destination_layer == pair.b.layer_word
    assert env.sender == address_word(USER) and env.recipient == address_word(recorder)
    assert (env.gas_limit, env.expiry, env.ack_mode, env.body) == (123_456, 0, 0, b"hello")


def test_deliver_calls_the_handler_with_exact_body_source_and_sender(pair: MessagePair) -> None:
    recorder = pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    body = bytes(range(256)) * 3
    receipt = pair.send(pair.a, recorder, body, gas_limit=1_500_000)
    env = pair.envelope(pair.a, receipt)
    delivered = pair.relay(pair.a, receipt)
    assert pair.processed(pair.b, delivered) == [
        {"id": env.id, "outcome": OUTCOME_DELIVERED, "result": (b"ok:" + body)[:MAX_RESULT - 64]}]
    assert pair.outcome(pair.b, env) == OUTCOME_DELIVERED
    assert pair.b.evm.call(pair.b.layer, "MessageLayer", "MAX_RESULT_BYTES") == MAX_RESULT
    assert pair.b.evm.call(recorder, "MsgRecorder", "count") == 1
    got = pair.b.evm.call(recorder, "MsgRecorder", "received", 0)
    source_chain, sender, got_body, got_id, source_block, tx_index, _gas = got
    assert (source_chain, sender, got_body) == (CHAIN_A, address_word(USER), body)
    assert (got_id, source_block, tx_index) == (env.id, int(receipt["blockNumber"], 16),
                                                int(receipt["transactionIndex"], 16))


def test_each_handler_of_a_batch_sees_its_own_origin(pair: MessagePair) -> None:
    """currentOrigin names the message whose handler runs, message after message of one batch (the layer
    restores its storage after the batch); outside a handler it reverts, before and after the batch."""
    recorder = pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    assert reverts(pair.b.evm.call, pair.b.layer, "MessageLayer", "currentOrigin") == "NoMessageInProgress()"
    receipts = pair.send_in_one_block(pair.a, [{"recipient": recorder, "body": bytes([i]), "gas_limit": 300_000}
                                               for i in range(3)])
    pair.accept(pair.a, int(receipts[0]["blockNumber"], 16))
    pair.deliver(pair.b, [pair.proof(pair.a, r) for r in receipts])
    assert pair.b.evm.call(recorder, "MsgRecorder", "count") == 3
    for i, r in enumerate(receipts):
        _chain, _sender, body, got_id, source_block, tx_index, _gas = pair.b.evm.call(recorder, "MsgRecorder",
                                                                                     "received", i)
        assert (body, got_id, source_block, tx_index) == (bytes([i]), pair.envelope(pair.a, r).id,
                                                          int(r["blockNumber"], 16), int(r["transactionIndex"], 16))
    assert reverts(pair.b.evm.call, pair.b.layer, "MessageLayer", "currentOrigin") == "NoMessageInProgress()"


# ---------------------------------------------------------------------- helpers
def error_data(contract: str, name: str, *types_and_values: tuple[str, Any]) -> bytes:
    """The revert data of custom error ``name(types)`` with ``values``."""
    types = [t for t, _ in types_and_values]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    return selector + eth_abi.encode(types, [v for _, v in types_and_values])


def deploy(side: Side, contract: str, *args: Any) -> str:
    return side.evm.deploy(DEPLOYER, contract, *args)


def timestamp(side: Side) -> int:
    return int(side.evm.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def retry(side: Side, envelope: Envelope, gas: int | None = None) -> dict[str, Any]:
    return side.evm.transact(USER_KEY, side.layer, "MessageLayer", "retry", envelope.encode(), gas=gas)


def ack_of(pair: MessagePair, dst: Side, receipt: dict[str, Any]) -> Envelope:
    """The acknowledgement ``dst``'s layer sent in ``receipt``."""
    return pair.envelope(dst, receipt)


# ---------------------------------------------------------------------- batches and gas
def test_batch_isolates_a_reverting_and_an_out_of_gas_handler(pair: MessagePair) -> None:
    good1, good2 = deploy(pair.b, "MsgRecorder", pair.b.layer), deploy(pair.b, "MsgRecorder", pair.b.layer)
    reverter, burner = deploy(pair.b, "MsgReverter"), deploy(pair.b, "MsgGasBurner")
    specs = [{"recipient": good1, "body": b"one", "gas_limit": 300_000},
             {"recipient": reverter, "body": b"no!", "gas_limit": 300_000},
             {"recipient": burner, "body": b"", "gas_limit": 250_000},
             {"recipient": good2, "body": b"two", "gas_limit": 300_000}]
    receipts = pair.send_in_one_block(pair.a, specs)
    envs = [pair.envelope(pair.a, r) for r in receipts]
    pair.accept(pair.a, int(receipts[0]["blockNumber"], 16))
    delivered = pair.deliver(pair.b, [pair.proof(pair.a, r) for r in receipts])
    refused = error_data("MsgReverter", "Refused", ("bytes", b"no!"))
    out_of_gas = error_data("MessageLayer", "HandlerOutOfGas", ("uint64", 250_000))
    assert pair.processed(pair.b, delivered) == [
        {"id": envs[0].id, "outcome": OUTCOME_DELIVERED, "result": b"ok:one"},
        {"id": envs[1].id, "outcome": OUTCOME_FAILED, "result": refused},
        {"id": envs[2].id, "outcome": OUTCOME_FAILED, "result": out_of_gas},
        {"id": envs[3].id, "outcome": OUTCOME_DELIVERED, "result": b"ok:two"}]
    assert [pair.outcome(pair.b, e) for e in envs] == [1, 2, 2, 1]
    assert [pair.b.evm.call(r, "MsgRecorder", "count") for r in (good1, good2)] == [1, 1]
    assert pair.sent(pair.b, delivered) == []  # ackMode none: no acknowledgement
    assert [pair.b.evm.call(pair.b.layer, "MessageLayer", "isRetriable", e.id) for e in envs] == [
        False, True, True, False]


def test_handler_gets_exactly_its_gas_limit_and_a_starving_relayer_reverts(pair: MessagePair) -> None:
    recorder = deploy(pair.b, "MsgRecorder", pair.b.layer)
    gas_limit = 1_000_000
    receipt = pair.send(pair.a, recorder, b"gas", gas_limit=gas_limit)
    env = pair.envelope(pair.a, receipt)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    proof = pair.proof(pair.a, receipt)
    # the relayer gives the transaction less than the handler's limit: the whole tx reverts
    reason = reverts(pair.deliver, pair.b, [proof], gas=gas_limit - 100_000)
    assert reason.startswith("InsufficientGas(")
    assert pair.outcome(pair.b, env) == OUTCOME_NONE
    delivered = pair.deliver(pair.b, [proof])
    assert pair.processed(pair.b, delivered)[0]["outcome"] == OUTCOME_DELIVERED
    gas_at_entry = pair.b.evm.call(recorder, "MsgRecorder", "received", 0)[6]
    assert gas_limit - 2_000 < gas_at_entry <= gas_limit  # dispatch of handleMessage costs a few hundred


def test_no_transaction_gas_records_a_failure_caused_by_starving_the_handler(pair: MessagePair) -> None:
    """Whatever gas the relayer gives, the handler (which needs most of its limit) either runs with
    all of it or the whole transaction reverts: never a recorded failure."""
    recorder = deploy(pair.b, "MsgRecorder", pair.b.layer)
    receipt = pair.send(pair.a, recorder, b"x" * 40, gas_limit=300_000)
    env = pair.envelope(pair.a, receipt)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    data = LAYER.encode_call("deliverBatch", CHAIN_A, b"", [pair.proof(pair.a, receipt)])
    evm = pair.b.evm
    seen = set()
    for gas in range(300_000, 540_001, 5_000):
        snapshot = evm.rpc("evm_snapshot")
        try:
            sent = evm.wait_receipt(evm.send_transaction(DEPLOYER, pair.b.layer, data, gas=gas))
            ok = int(sent["status"], 16) == 1
            outcome = pair.outcome(pair.b, env)
            assert outcome == (OUTCOME_DELIVERED if ok else OUTCOME_NONE), (gas, pair.processed(pair.b, sent))
            seen.add(ok)
        finally:
            assert evm.rpc("evm_revert", snapshot)
    assert seen == {True, False}  # the sweep crossed the threshold


def test_out_of_gas_handler_with_a_big_limit_leaves_the_batch_delivered(pair: MessagePair) -> None:
    burner, recorder = deploy(pair.b, "MsgGasBurner"), deploy(pair.b, "MsgRecorder", pair.b.layer)
    receipts = pair.send_in_one_block(pair.a, [{"recipient": burner, "body": b"", "gas_limit": 3_000_000},
                                               {"recipient": recorder, "body": b"after", "gas_limit": 300_000}])
    pair.accept(pair.a, int(receipts[0]["blockNumber"], 16))
    delivered = pair.deliver(pair.b, [pair.proof(pair.a, r) for r in receipts])
    assert [p["outcome"] for p in pair.processed(pair.b, delivered)] == [OUTCOME_FAILED, OUTCOME_DELIVERED]
    assert int(delivered["gasUsed"], 16) > 3_000_000  # the burner really had its 3M


# ---------------------------------------------------------------------- acknowledgements
def test_failure_ack_is_sent_by_the_destination_and_carried_back_to_the_sender(pair: MessagePair) -> None:
    app, reverter = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgReverter")
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(reverter),
                                  b"refund me", 400_000, 0, ACK_ON_FAILURE)
    env = pair.envelope(pair.a, receipt)
    assert env.sender == address_word(app)
    delivered = pair.relay(pair.a, receipt)
    refused = error_data("MsgReverter", "Refused", ("bytes", b"refund me"))
    assert pair.processed(pair.b, delivered) == [{"id": env.id, "outcome": OUTCOME_FAILED, "result": refused}]
    ack = ack_of(pair, pair.b, delivered)
    assert (ack.kind, ack.source_chain, ack.source_layer, ack.sender) == (
        KIND_ACK, pair.b.chain_id, pair.b.layer_word, pair.b.layer_word)
    assert (ack.destination_chain, ack.destination_layer, ack.recipient) == (
        CHAIN_A, pair.a.layer_word, address_word(app))
    assert (ack.gas_limit, ack.expiry, ack.ack_mode) == (400_000, 0, ACK_NONE)
    assert decode_ack_body(ack.body) == (env.id, OUTCOME_FAILED, refused)
    assert not pair.b.evm.call(pair.b.layer, "MessageLayer", "isRetriable", env.id)  # final
    # the acknowledgement is proven on the source chain like any message
    back = pair.relay(pair.b, delivered)
    assert pair.processed(pair.a, back) == [{"id": ack.id, "outcome": OUTCOME_DELIVERED, "result": b""}]
    assert pair.sent(pair.a, back) == []  # an acknowledgement is never acknowledged
    assert pair.a.evm.call(app, "MsgApp", "ackCount") == 1
    assert pair.a.evm.call(app, "MsgApp", "ackAt", 0) == (env.id, OUTCOME_FAILED, refused)


def test_ack_on_failure_sends_nothing_on_success(pair: MessagePair) -> None:
    app, recorder = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgRecorder", pair.b.layer)
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(recorder),
                                  b"fine", 300_000, 0, ACK_ON_FAILURE)
    delivered = pair.relay(pair.a, receipt)
    assert pair.processed(pair.b, delivered)[0]["outcome"] == OUTCOME_DELIVERED
    assert pair.sent(pair.b, delivered) == []


def test_ack_always_carries_the_result_of_a_success(pair: MessagePair) -> None:
    app, recorder = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgRecorder", pair.b.layer)
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(recorder),
                                  b"hi", 300_000, 0, ACK_ALWAYS)
    env = pair.envelope(pair.a, receipt)
    delivered = pair.relay(pair.a, receipt)
    ack = ack_of(pair, pair.b, delivered)
    assert decode_ack_body(ack.body) == (env.id, OUTCOME_DELIVERED, b"ok:hi")
    pair.relay(pair.b, delivered, with_update=True)
    assert pair.a.evm.call(app, "MsgApp", "ackAt", 0) == (env.id, OUTCOME_DELIVERED, b"ok:hi")


def test_expired_on_arrival_is_refused_and_acknowledged(pair: MessagePair) -> None:
    app, recorder = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgRecorder", pair.b.layer)
    expiry = max(timestamp(pair.a), timestamp(pair.b)) + 60
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(recorder),
                                  b"late", 300_000, expiry, ACK_ON_FAILURE)
    env = pair.envelope(pair.a, receipt)
    pair.b.evm.rpc("evm_increaseTime", 3600)
    pair.b.evm.rpc("evm_mine")
    delivered = pair.relay(pair.a, receipt)
    assert pair.processed(pair.b, delivered) == [{"id": env.id, "outcome": OUTCOME_EXPIRED, "result": b""}]
    assert pair.outcome(pair.b, env) == OUTCOME_EXPIRED
    assert pair.b.evm.call(recorder, "MsgRecorder", "count") == 0
    ack = ack_of(pair, pair.b, delivered)
    assert decode_ack_body(ack.body) == (env.id, OUTCOME_EXPIRED, b"")
    pair.relay(pair.b, delivered)
    assert pair.a.evm.call(app, "MsgApp", "ackAt", 0) == (env.id, OUTCOME_EXPIRED, b"")
    # an expiry already past is refused at the source
    past = timestamp(pair.a) - 1
    assert reverts(pair.send, pair.a, recorder, b"x", expiry=past) == f"AlreadyExpired({past})"


def test_ack_none_sends_no_ack_on_failure(pair: MessagePair) -> None:
    app, reverter = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgReverter")
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(reverter),
                                  b"quiet", 150_000, 0, ACK_NONE)
    delivered = pair.relay(pair.a, receipt)
    assert pair.processed(pair.b, delivered)[0]["outcome"] == OUTCOME_FAILED
    assert pair.sent(pair.b, delivered) == []


def test_failing_ack_handler_is_retriable_and_never_acknowledged(pair: MessagePair) -> None:
    app, reverter = deploy(pair.a, "MsgApp", pair.a.layer), deploy(pair.b, "MsgReverter")
    pair.a.evm.transact(USER_KEY, app, "MsgApp", "setRefuseAcks", True)
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(reverter),
                                  b"x", 400_000, 0, ACK_ALWAYS)
    env = pair.envelope(pair.a, receipt)
    delivered = pair.relay(pair.a, receipt)
    ack = ack_of(pair, pair.b, delivered)
    back = pair.relay(pair.b, delivered)
    refused = error_data("MsgApp", "AckRefused")
    assert pair.processed(pair.a, back) == [{"id": ack.id, "outcome": OUTCOME_FAILED, "result": refused}]
    assert pair.sent(pair.a, back) == []
    assert pair.a.evm.call(pair.a.layer, "MessageLayer", "isRetriable", ack.id)
    pair.a.evm.transact(USER_KEY, app, "MsgApp", "setRefuseAcks", False)
    retried = retry(pair.a, ack)
    assert pair.processed(pair.a, retried) == [{"id": ack.id, "outcome": OUTCOME_DELIVERED, "result": b""}]
    assert pair.a.evm.call(app, "MsgApp", "ackAt", 0)[:2] == (env.id, OUTCOME_FAILED)
    assert reverts(retry, pair.a, ack).startswith("NotRetriable(")


# ---------------------------------------------------------------------- retry
def test_retry_after_the_cause_is_gone_succeeds_once(pair: MessagePair) -> None:
    switch = deploy(pair.b, "MsgSwitch")
    receipt = pair.send(pair.a, switch, b"wait", gas_limit=200_000)
    env = pair.envelope(pair.a, receipt)
    delivered = pair.relay(pair.a, receipt)
    not_yet = error_data("MsgSwitch", "NotYet")
    assert pair.processed(pair.b, delivered) == [{"id": env.id, "outcome": OUTCOME_FAILED, "result": not_yet}]
    assert reverts(retry, pair.b, env, gas=500_000) == f"RetryFailed(0x{env.id.hex()}, 0x{not_yet.hex()})"
    pair.b.evm.transact(USER_KEY, switch, "MsgSwitch", "flip")
    forged = dataclasses.replace(env, body=b"other")
    assert reverts(retry, pair.b, forged).startswith("NotRetriable(")
    retried = retry(pair.b, env)
    assert pair.processed(pair.b, retried) == [{"id": env.id, "outcome": OUTCOME_DELIVERED, "result": b"switched"}]
    assert pair.outcome(pair.b, env) == OUTCOME_DELIVERED
    assert reverts(retry, pair.b, env) == f"NotRetriable(0x{env.id.hex()})"
    again = pair.deliver(pair.b, [pair.proof(pair.a, receipt)])  # the proof again: skipped
    assert pair.processed(pair.b, again) == []
    assert pair.b.evm.call(switch, "MsgSwitch", "handled") == 1


def test_retry_of_delivered_or_acknowledged_failure_is_refused(pair: MessagePair) -> None:
    recorder, reverter = deploy(pair.b, "MsgRecorder", pair.b.layer), deploy(pair.b, "MsgReverter")
    receipts = pair.send_in_one_block(pair.a, [
        {"recipient": recorder, "body": b"done", "gas_limit": 300_000},
        {"recipient": reverter, "body": b"final", "gas_limit": 100_000, "ack_mode": ACK_ON_FAILURE}])
    pair.accept(pair.a, int(receipts[0]["blockNumber"], 16))
    pair.deliver(pair.b, [pair.proof(pair.a, r) for r in receipts])
    for r in receipts:
        env = pair.envelope(pair.a, r)
        assert reverts(retry, pair.b, env) == f"NotRetriable(0x{env.id.hex()})"


# ---------------------------------------------------------------------- reentrancy
@pytest.mark.parametrize("inner", ["deliverBatch", "retry"])
def test_a_handler_reentering_the_layer_cannot_execute_twice(pair: MessagePair, inner: str) -> None:
    reentrant = deploy(pair.b, "MsgReentrant", pair.b.layer)
    receipt = pair.send(pair.a, reentrant, b"again", gas_limit=500_000)
    env = pair.envelope(pair.a, receipt)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    proof = pair.proof(pair.a, receipt)
    payload = (LAYER.encode_call("deliverBatch", CHAIN_A, b"", [proof]) if inner == "deliverBatch"
               else LAYER.encode_call("retry", env.encode()))
    pair.b.evm.transact(USER_KEY, reentrant, "MsgReentrant", "setPayload", payload)
    delivered = pair.deliver(pair.b, [proof])
    assert [p["outcome"] for p in pair.processed(pair.b, delivered)] == [OUTCOME_DELIVERED]
    assert pair.b.evm.call(reentrant, "MsgReentrant", "handled") == 1
    assert not pair.b.evm.call(reentrant, "MsgReentrant", "innerOk")
    assert pair.b.evm.call(reentrant, "MsgReentrant", "innerData") == error_data("MessageLayer", "Reentrancy")
    assert reverts(pair.b.evm.call, pair.b.layer, "MessageLayer", "currentOrigin") == "NoMessageInProgress()"


def test_a_recipient_that_is_not_a_contract_fails_and_is_acknowledged(pair: MessagePair) -> None:
    app = deploy(pair.a, "MsgApp", pair.a.layer)
    receipt = pair.a.evm.transact(USER_KEY, app, "MsgApp", "send", pair.b.chain_id, address_word(USER),
                                  b"to an account", 400_000, 0, ACK_ON_FAILURE)
    env = pair.envelope(pair.a, receipt)
    delivered = pair.relay(pair.a, receipt)
    not_contract = error_data("MessageLayer", "RecipientNotContract", ("bytes32", address_word(USER)))
    assert pair.processed(pair.b, delivered) == [{"id": env.id, "outcome": OUTCOME_FAILED, "result": not_contract}]
    assert decode_ack_body(ack_of(pair, pair.b, delivered).body) == (env.id, OUTCOME_FAILED, not_contract)


def test_a_failed_message_retried_after_its_expiry_is_recorded_expired(pair: MessagePair) -> None:
    switch = deploy(pair.b, "MsgSwitch")
    expiry = max(timestamp(pair.a), timestamp(pair.b)) + 600
    receipt = pair.send(pair.a, switch, b"", gas_limit=100_000, expiry=expiry)
    env = pair.envelope(pair.a, receipt)
    assert pair.processed(pair.b, pair.relay(pair.a, receipt))[0]["outcome"] == OUTCOME_FAILED
    pair.b.evm.transact(USER_KEY, switch, "MsgSwitch", "flip")
    pair.b.evm.rpc("evm_increaseTime", 3600)
    retried = retry(pair.b, env)
    assert pair.processed(pair.b, retried) == [{"id": env.id, "outcome": OUTCOME_EXPIRED, "result": b""}]
    assert pair.outcome(pair.b, env) == OUTCOME_EXPIRED
    assert pair.b.evm.call(switch, "MsgSwitch", "handled") == 0
    assert reverts(retry, pair.b, env) == f"NotRetriable(0x{env.id.hex()})"
