"""MessageLayer replay protection and proof checking on two real anvil chains: a proof is valid
once, at exactly one chain and one contract; the replay guard is keyed by (source chain, source
layer, nonce); forged or unaccepted proofs, logs of another contract or another event are refused
by the contracts; an untyped (legacy) receipt proves as well as a typed one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from eth_account import Account
from msg_env import (
    CHAIN_A,
    CHAIN_B,
    DEPLOYER,
    LAYER,
    USER,
    USER_KEY,
    MessagePair,
    Side,
    make_keys,
    message_pair,
    reverts,
    wire,
)

from adapters.evm import committee as cm
from adapters.evm.messaging import OUTCOME_DELIVERED, OUTCOME_NONE, address_word, encode_evm_proof
from adapters.evm.proof import build_receipt_proof

CHAIN_C = 1003  # a third chain only A knows
DEPLOYER_ADDRESS = cm.signer_address(DEPLOYER)


@pytest.fixture(scope="module")
def pair() -> Iterator[MessagePair]:
    with message_pair() as p:
        yield p


def recorder(side: Side) -> str:
    return side.evm.deploy(DEPLOYER, "MsgRecorder", side.layer)


def count(side: Side, contract: str) -> int:
    return int(side.evm.call(contract, "MsgRecorder", "count"))


def sent_and_accepted(pair: MessagePair, recipient: str, body: bytes = b"m") -> tuple[dict[str, Any], bytes]:
    receipt = pair.send(pair.a, recipient, body, gas_limit=300_000)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    return receipt, pair.proof(pair.a, receipt)


# ---------------------------------------------------------------------- replay
def test_the_same_proof_twice_executes_once(pair: MessagePair) -> None:
    target = recorder(pair.b)
    receipt, proof = sent_and_accepted(pair, target)
    env = pair.envelope(pair.a, receipt)
    first = pair.deliver(pair.b, [proof, proof])  # twice in one batch
    assert [p["id"] for p in pair.processed(pair.b, first)] == [env.id]
    second = pair.deliver(pair.b, [proof])  # again later: skipped, no revert
    assert pair.processed(pair.b, second) == []
    assert count(pair.b, target) == 1


def test_a_proof_for_another_destination_chain_is_refused(pair: MessagePair) -> None:
    members = [cm.signer_address(k) for k in make_keys("committee-c", 1)]
    lc_c = pair.a.evm.deploy(DEPLOYER, "CommitteeLightClient", CHAIN_C, members, 1)
    pair.a.evm.transact(DEPLOYER, pair.a.layer, "MessageLayer", "setRemote", CHAIN_C,
                        address_word(pair.b.layer), lc_c, pair.a.verifier)
    receipt = pair.send(pair.a, recorder(pair.b), b"for C", dst_chain=CHAIN_C)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    reason = reverts(pair.deliver, pair.b, [pair.proof(pair.a, receipt)])
    assert reason == f"WrongDestinationChain({CHAIN_C})"


def test_a_proof_for_another_destination_layer_is_refused(pair: MessagePair) -> None:
    """A redeployed destination layer accepts none of the proofs made for the old one."""
    target = recorder(pair.b)
    receipt, proof = sent_and_accepted(pair, target)
    new_layer = pair.b.evm.deploy(DEPLOYER, "MessageLayer", cm.signer_address(DEPLOYER), 5_000_000)
    pair.b.evm.transact(DEPLOYER, new_layer, "MessageLayer", "setRemote", CHAIN_A, pair.a.layer_word,
                        pair.b.light_client, pair.b.verifier)
    reason = reverts(pair.deliver, pair.b, [proof], layer=new_layer)
    assert reason == f"WrongDestinationLayer(0x{pair.b.layer_word.hex()})"
    pair.deliver(pair.b, [proof])  # still good where it was meant to go
    assert count(pair.b, target) == 1


def test_re_pointing_a_chain_to_a_new_source_layer_does_not_collide_nonces(pair: MessagePair) -> None:
    target = recorder(pair.b)
    old_receipt, old_proof = sent_and_accepted(pair, target, b"old")
    old = pair.envelope(pair.a, old_receipt)
    pair.deliver(pair.b, [old_proof])
    # a second layer on A, whose nonces start again at 1
    new_layer = pair.a.evm.deploy(DEPLOYER, "MessageLayer", cm.signer_address(DEPLOYER), 5_000_000)
    pair.a.evm.transact(DEPLOYER, new_layer, "MessageLayer", "setRemote", pair.b.chain_id, pair.b.layer_word,
                        pair.a.light_client, pair.a.verifier)
    for _ in range(old.nonce - 1):  # bring the new layer to the nonce already delivered from the old one
        pair.send(pair.a, target, b"filler", layer=new_layer)
    new_receipt = pair.send(pair.a, target, b"new", gas_limit=300_000, layer=new_layer)
    new = pair.envelope(pair.a, new_receipt, layer=new_layer)
    assert new.nonce == old.nonce and new.id != old.id
    pair.accept(pair.a, int(new_receipt["blockNumber"], 16))
    new_proof = pair.proof(pair.a, new_receipt, layer=new_layer)
    assert reverts(pair.deliver, pair.b, [new_proof]).startswith("WrongEmitter(")  # not the remote yet
    pair.b.evm.transact(DEPLOYER, pair.b.layer, "MessageLayer", "setRemote", CHAIN_A, address_word(new_layer),
                        pair.b.light_client, pair.b.verifier)
    try:
        delivered = pair.deliver(pair.b, [new_proof])
        assert [p["id"] for p in pair.processed(pair.b, delivered)] == [new.id]
        assert pair.outcome(pair.b, new) == pair.outcome(pair.b, old) == OUTCOME_DELIVERED
        assert pair.b.evm.call(target, "MsgRecorder", "received", 1)[2] == b"new"
        # proofs of the old layer are no longer accepted from chain A
        assert reverts(pair.deliver, pair.b, [old_proof]).startswith("WrongEmitter(")
    finally:
        wire(pair.b, pair.a)


# ---------------------------------------------------------------------- forged proofs
def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_forged_proofs_are_refused(pair: MessagePair) -> None:
    target = recorder(pair.b)
    receipt = pair.send(pair.a, target, b"forge me", gas_limit=300_000)
    number = int(receipt["blockNumber"], 16)
    pair.accept(pair.a, number)
    _, key, nodes, log_index = pair.proof_parts(pair.a, receipt)
    leaf = nodes[-1]
    envelope_at = leaf.find(b"forge me")
    assert envelope_at > 0
    cases = {
        "byte of the receipt (the body)": encode_evm_proof(number, key, [*nodes[:-1], flip(leaf, envelope_at)],
                                                           log_index),
        "byte of the root node": encode_evm_proof(number, key, [flip(nodes[0], len(nodes[0]) // 2), *nodes[1:]],
                                                  log_index),
        "a trailing node": encode_evm_proof(number, key, [*nodes, nodes[-1]], log_index),
        "a missing node": encode_evm_proof(number, key, nodes[:-1], log_index),
    }
    for label, forged in cases.items():
        assert reverts(pair.deliver, pair.b, [forged]) == "InvalidProof()", label
    # the right proof claimed for another accepted block
    other = pair.send(pair.a, target, b"other block")
    pair.accept(pair.a, int(other["blockNumber"], 16))
    moved = encode_evm_proof(int(other["blockNumber"], 16), key, nodes, log_index)
    assert reverts(pair.deliver, pair.b, [moved]) == "InvalidProof()"
    # another receipt's key, a log that is not there, a proof that is not laid out as one
    assert reverts(pair.deliver, pair.b, [encode_evm_proof(number, b"\x01", nodes, log_index)]) == "InvalidProof()"
    assert reverts(pair.deliver, pair.b, [encode_evm_proof(number, key, nodes, 7)]) == "LogIndexOutOfRange(7)"
    assert reverts(pair.deliver, pair.b, [b"\x00" * 100]) == "MalformedProof()"
    assert reverts(pair.deliver, pair.b, [pair.proof(pair.a, receipt)[:-40]]) == "MalformedProof()"
    assert count(pair.b, target) == 0
    pair.deliver(pair.b, [pair.proof(pair.a, receipt)])
    assert count(pair.b, target) == 1


def test_a_forged_log_with_every_node_recomputed_is_refused(pair: MessagePair) -> None:
    """The message's body is altered in the receipt and the whole trie rebuilt from it: every node is
    consistent, only the comparison with the accepted receipts root catches it."""
    target = recorder(pair.b)
    receipt, proof = sent_and_accepted(pair, target, b"pay 1")
    number, _, nodes, log_index = pair.proof_parts(pair.a, receipt)
    receipts = pair.a.evm.rpc("eth_getBlockReceipts", hex(number))
    tx_index = int(receipt["transactionIndex"], 16)
    log = receipts[tx_index]["logs"][log_index]
    assert b"pay 1".hex() in log["data"]
    log["data"] = log["data"].replace(b"pay 1".hex(), b"pay 9".hex())
    forged = build_receipt_proof(receipts, tx_index)
    assert list(forged.nodes) != nodes
    assert reverts(pair.deliver, pair.b, [encode_evm_proof(number, forged.key, list(forged.nodes),
                                                           log_index)]) == "InvalidProof()"
    pair.deliver(pair.b, [proof])
    assert pair.b.evm.call(target, "MsgRecorder", "received", 0)[2] == b"pay 1"


def test_a_log_of_another_contract_is_refused(pair: MessagePair) -> None:
    """A proven log that another contract emitted (an ERC-20 Transfer) is no message."""
    token = pair.a.evm.deploy(USER_KEY, "TestToken", "Other", "OTH", 10**24)
    receipt = pair.a.evm.transact(USER_KEY, token, "TestToken", "transfer", DEPLOYER_ADDRESS, 5)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    proof = pair.proof(pair.a, receipt, log_index=0)
    assert reverts(pair.deliver, pair.b, [proof]) == f"WrongEmitter({token})"


def test_another_event_of_the_source_layer_is_refused(pair: MessagePair) -> None:
    """A log of the source layer itself that is not MessageSent (here RemoteSet) is no message."""
    receipt = wire(pair.a, pair.b)  # the same remote again: one RemoteSet log
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    proof = pair.proof(pair.a, receipt, log_index=0)
    topic = LAYER.event_topic("RemoteSet")
    assert reverts(pair.deliver, pair.b, [proof]) == f"WrongEvent(0x{topic.hex()})"


def test_a_message_of_a_legacy_transaction_is_delivered(pair: MessagePair) -> None:
    """A type-0 transaction has an untyped receipt (no type byte before the RLP list): its proof holds."""
    target = recorder(pair.b)
    evm = pair.a.evm
    data = LAYER.encode_call("send", CHAIN_B, address_word(target), b"legacy", 300_000, 0, 0)
    tx = {"chainId": CHAIN_A, "nonce": evm.nonce(USER), "gas": 200_000, "gasPrice": 10 * 10**9,
          "to": pair.a.layer, "value": 0, "data": data}
    receipt = evm.wait_receipt(evm.send_raw(bytes(Account.sign_transaction(tx, USER_KEY).raw_transaction)))
    assert receipt["type"] == "0x0" and int(receipt["status"], 16) == 1
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    leaf = rlp.decode(pair.proof_parts(pair.a, receipt)[2][-1])
    assert len(leaf) == 2 and leaf[1][0] >= 0xC0, "expected an untyped receipt (an RLP list) in the leaf"
    delivered = pair.deliver(pair.b, [pair.proof(pair.a, receipt)])
    assert pair.processed(pair.b, delivered)[0]["outcome"] == OUTCOME_DELIVERED
    assert pair.b.evm.call(target, "MsgRecorder", "received", 0)[2] == b"legacy"


def test_a_message_whose_header_was_never_accepted_is_refused(pair: MessagePair) -> None:
    target = recorder(pair.b)
    receipt = pair.send(pair.a, target, b"unseen")
    number = int(receipt["blockNumber"], 16)
    proof = pair.proof(pair.a, receipt)
    assert reverts(pair.deliver, pair.b, [proof]) == f"HeaderNotAccepted({pair.b.light_client}, {number})"
    env = pair.envelope(pair.a, receipt)
    assert pair.outcome(pair.b, env) == OUTCOME_NONE
    # a light-client update signed by one member only does not help
    block_hash, root = pair.header(pair.a, number)
    one = pair.signatures(pair.b, number, block_hash, root, pair.committee[:1])
    update = cm.encode_committee_update(number, block_hash, root, one)
    assert reverts(pair.deliver, pair.b, [proof], update) == "NotEnoughSignatures(1, 2)"
    delivered = pair.deliver(pair.b, [proof], pair.update_payload(pair.a, number))  # a real update
    assert pair.processed(pair.b, delivered)[0]["outcome"] == OUTCOME_DELIVERED


def test_an_unknown_source_chain_is_refused(pair: MessagePair) -> None:
    assert reverts(pair.deliver, pair.b, [], source_chain=CHAIN_C) == f"UnknownChain({CHAIN_C})"
    assert reverts(pair.send, pair.a, recorder(pair.b), b"x", dst_chain=4242) == "UnknownChain(4242)"
