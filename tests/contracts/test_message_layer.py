"""MessageLayer on two real anvil chains: send, prove, deliver; handler outcomes in a batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from msg_env import CHAIN_A, DEPLOYER, LAYER, USER, MessagePair, message_pair

from adapters.evm.messaging import (
    OUTCOME_DELIVERED,
    VERSION,
    address_word,
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
