"""The log lies of the devnet proxy on message-layer logs (no node): ``log-data`` forges the
envelope in a ``MessageSent`` (a transfer pays ``LIE_FACTOR`` x to ``LIE_RECIPIENT``, another
message is readdressed), ``fake-log`` adds a forged copy under a new nonce with a matching id topic,
``hide-log`` drops them, ``receipt`` flips the status of the receipt holding one; other logs pass."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import eth_abi

from adapters.evm.messaging import (
    ACK_ALWAYS,
    ACK_ON_FAILURE,
    MESSAGE_SENT_TOPIC,
    Envelope,
    address_word,
    decode_envelope,
)
from relayer.devnet.proxy import FAKE_NONCE_OFFSET, LIE_FACTOR, LIE_RECIPIENT, LIES, MESSAGE_EVENT_TOPICS

LAYER, ROUTER = "0x" + "11" * 20, "0x" + "22" * 20
RECIPIENT = "0x" + "33" * 20
TRANSFER = ["bool", "address", "address", "uint256"]


def _envelope(body: bytes, nonce: int = 7, ack_mode: int = ACK_ON_FAILURE) -> Envelope:
    return Envelope(nonce=nonce, source_chain=1001, source_layer=address_word(LAYER), sender=address_word(ROUTER),
                    destination_chain=1002, destination_layer=address_word("0x" + "44" * 20),
                    recipient=address_word("0x" + "55" * 20), gas_limit=200_000, expiry=10**9, ack_mode=ack_mode,
                    body=body)


def _log(envelope: Envelope, index: int = 0) -> dict[str, Any]:
    return {"address": LAYER, "topics": ["0x" + MESSAGE_SENT_TOPIC.hex(), "0x" + envelope.id.hex()],
            "data": "0x" + eth_abi.encode(["bytes"], [envelope.encode()]).hex(), "blockNumber": "0x5",
            "logIndex": hex(index), "transactionHash": "0x" + "ab" * 32}


def _decoded(log: dict[str, Any]) -> Envelope:
    (raw,) = eth_abi.decode(["bytes"], bytes.fromhex(log["data"][2:]))
    return decode_envelope(raw)


TRANSFER_ENVELOPE = _envelope(eth_abi.encode(TRANSFER, [False, "0x" + "00" * 20, RECIPIENT, 5 * 10**17]))
OTHER_LOG = {"address": LAYER, "topics": ["0x" + "99" * 32], "data": "0x", "blockNumber": "0x5", "logIndex": "0x1"}


def test_the_lies_recognise_message_sent_logs() -> None:
    assert MESSAGE_EVENT_TOPICS == {"0x" + MESSAGE_SENT_TOPIC.hex()}


def test_log_data_pays_the_liar_a_multiple_of_a_transfer() -> None:
    [told, other] = LIES["log-data"]().logs([_log(TRANSFER_ENVELOPE), OTHER_LOG])
    forged = _decoded(told)
    assert other == OTHER_LOG and told["topics"] == _log(TRANSFER_ENVELOPE)["topics"]
    assert forged.nonce == TRANSFER_ENVELOPE.nonce and forged.recipient == TRANSFER_ENVELOPE.recipient
    assert eth_abi.decode(TRANSFER, forged.body) == (False, "0x" + "00" * 20, LIE_RECIPIENT, 5 * 10**17 * LIE_FACTOR)
    assert LIE_RECIPIENT[2:] in told["data"]


def test_log_data_readdresses_any_other_message() -> None:
    record = _envelope(eth_abi.encode(["bytes32", "bytes32", "bytes32", "address"],
                                      [b"\x07" * 32, b"\x08" * 32, b"\x09" * 32, RECIPIENT]), ack_mode=ACK_ALWAYS)
    [told] = LIES["log-data"]().logs([_log(record)])
    assert _decoded(told) == replace(record, recipient=address_word(LIE_RECIPIENT))


def test_fake_log_adds_a_forged_copy_under_another_nonce_and_matching_id() -> None:
    real = _log(TRANSFER_ENVELOPE, index=3)
    [first, fake] = LIES["fake-log"]().logs([real])
    forged = _decoded(fake)
    assert first == real and fake["logIndex"] == "0x4"
    assert forged.nonce == TRANSFER_ENVELOPE.nonce + FAKE_NONCE_OFFSET
    assert fake["topics"] == [real["topics"][0], "0x" + forged.id.hex()]
    assert eth_abi.decode(TRANSFER, forged.body)[2:] == (LIE_RECIPIENT, 5 * 10**17 * LIE_FACTOR)


def test_hide_log_and_receipt_target_the_message_logs() -> None:
    assert LIES["hide-log"]().logs([OTHER_LOG, _log(TRANSFER_ENVELOPE)]) == [OTHER_LOG]
    receipts = [{"status": "0x1", "blockNumber": "0x5", "logs": [OTHER_LOG]},
                {"status": "0x1", "blockNumber": "0x5", "logs": [_log(TRANSFER_ENVELOPE)]}]
    told = LIES["receipt"]().tell(None, "eth_getBlockReceipts", ["0x5"], receipts)
    assert [r["status"] for r in told] == ["0x1", "0x0"]
