"""Evidence bundles of message-layer deliveries on two real anvil chains (``adapters.evm.bundle``),
without the daemon: a message A -> B asking for an acknowledgement is delivered through B's
committee light client of A, others through a QBFT and an IBFT 2.0 light client of A (A's headers
sealed by validator keys made here: anvil cannot seal). Each bundle, built from the chains, holds
offline with its outcome and acknowledgement, and is rejected with a reason after a representative
byte of every part its proof rests on is changed (header fields, committed seals, signatures,
receipts, proof nodes of both sides); a trust anchor of the wrong kind or of other keys is rejected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eth_abi
import pytest
from bundle_flips import flipped, flips
from eth_utils import keccak
from msg_env import DEPLOYER, MessagePair, message_pair, wire

from adapters.evm import committee as cm
from adapters.evm import qbft
from adapters.evm.bundle import Delivery, build
from adapters.evm.messaging import ACK_ALWAYS
from light_clients.evm.header import header_from_rpc
from relayer import bundles
from relayer.errors import VerificationError


def _common(pair: MessagePair, receipt: dict[str, Any], block_hash: str) -> dict[str, Any]:
    envelope = pair.envelope(pair.a, receipt)
    log_index = pair.sent(pair.a, receipt)[0][0]
    locator = eth_abi.encode(["bytes32", "uint256", "uint256"], [bytes.fromhex(receipt["transactionHash"][2:]),
                                                                int(receipt["transactionIndex"], 16), log_index])
    return {"format": bundles.FORMAT, "version": bundles.VERSION, "family": "evm", "route": "A->B",
            "source": {"chain": "A", "chain_id": pair.a.chain_id},
            "destination": {"chain": "B", "chain_id": pair.b.chain_id},
            "message": {"id": "0x" + envelope.id.hex(), "nonce": envelope.nonce,
                        "block_number": int(receipt["blockNumber"], 16), "block_hash": block_hash,
                        "body": "0x" + envelope.encode().hex(), "locator": "0x" + locator.hex()}}


def _delivery(common: dict[str, Any], pair: MessagePair) -> Delivery:
    m = common["message"]
    return Delivery(pair.a.chain_id, pair.b.chain_id, pair.a.layer, pair.b.layer, m["id"], m["block_number"],
                    m["block_hash"], bytes.fromhex(m["locator"][2:]))


def _send(pair: MessagePair) -> dict[str, Any]:
    recorder = pair.b.extra.get("recorder") or pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    pair.b.extra["recorder"] = recorder
    return pair.send(pair.a, recorder, b"evidence", ack_mode=ACK_ALWAYS)


@pytest.fixture(scope="module")
def pair() -> Iterator[MessagePair]:
    with message_pair() as p:
        yield p


@pytest.fixture(scope="module")
def committee_bundle(pair: MessagePair) -> dict[str, Any]:
    sent = _send(pair)
    pair.relay(pair.a, sent)
    number = int(sent["blockNumber"], 16)
    block_hash, root = pair.header(pair.a, number)
    common = _common(pair, sent, "0x" + block_hash.hex())
    domain = cm.committee_domain_separator(pair.b.chain_id, pair.b.light_client)
    digest = cm.header_digest(domain, pair.a.chain_id, number, block_hash, root, 0)
    records = [{"epoch": 0, "signature": "0x" + cm.sign_digest(k, digest).hex()} for k in pair.committee]
    return {**common, **build(pair.a.evm, pair.b.evm, _delivery(common, pair), lambda epoch: records)}


def _sealed_bundle(pair: MessagePair, flavour: str) -> dict[str, Any]:
    """B's layer now reaches A through a QbftLightClient of A of ``flavour`` (4 validators, checkpoint
    the current block); a message delivered through it, its header sealed by 3 of them (a quorum)."""
    keys = sorted(("0x" + keccak(text=f"bundle-validator-{i}").hex() for i in range(4)),
                  key=lambda k: int(qbft.address_of(k), 16))
    validators = [qbft.address_of(k) for k in keys]
    start = pair.a.evm.block_number()
    pair.b.light_client = pair.b.evm.deploy(DEPLOYER, "QbftLightClient", pair.a.chain_id, start, validators,
                                            qbft.FLAVOUR_ID[flavour])
    wire(pair.b, pair.a)
    sent = _send(pair)
    number = int(sent["blockNumber"], 16)
    header = qbft.sealed_header(header_from_rpc(pair.a.evm.rpc("eth_getBlockByNumber", hex(number), False)),
                                keys[:3], round=1, flavour=flavour, listed=validators)
    pair.deliver(pair.b, [pair.proof(pair.a, sent)], header.rlp)
    common = _common(pair, sent, "0x" + qbft.qbft_block_hash(header, flavour).hex())
    return {**common, **build(pair.a.evm, pair.b.evm, _delivery(common, pair), lambda epoch: [], header.rlp)}


@pytest.fixture(scope="module")
def qbft_bundle(pair: MessagePair, committee_bundle: dict[str, Any]) -> dict[str, Any]:
    return _sealed_bundle(pair, "qbft")


@pytest.fixture(scope="module")
def ibft2_bundle(pair: MessagePair, qbft_bundle: dict[str, Any]) -> dict[str, Any]:
    return _sealed_bundle(pair, "ibft2")


@pytest.mark.parametrize("which", ["committee_bundle", "qbft_bundle", "ibft2_bundle"])
def test_a_bundle_holds_offline_with_its_outcome_and_acknowledgement(which: str,
                                                                     request: pytest.FixtureRequest) -> None:
    doc = request.getfixturevalue(which)
    held = bundles.verify(doc, None, None)
    assert doc["outcome"]["status"] == "delivered" and doc["outcome"]["result"] == "0x" + b"ok:evidence".hex()
    assert doc["outcome"]["acknowledgement"]["id"].startswith("0x")
    assert doc["destination_receipt"]["ack_log_index"] is not None
    assert any("MessageProcessed(" in line and "acknowledges it" in line for line in held), held
    policy = doc["acceptance"]["policy"]
    assert policy == ("committee" if which == "committee_bundle" else "qbft")
    if policy == "qbft":
        assert doc["acceptance"]["flavour"] == which.split("_")[0]
        assert doc["acceptance"]["seals"] == 3 and doc["acceptance"]["quorum"] == 3
        assert any("3 of 4 validators committed-sealed" in line for line in held), held


@pytest.mark.parametrize("which", ["committee_bundle", "qbft_bundle", "ibft2_bundle"])
def test_a_changed_byte_anywhere_is_rejected_with_a_reason(which: str, request: pytest.FixtureRequest) -> None:
    doc = request.getfixturevalue(which)
    planned = flips(doc)
    labels = {label for label, _, _ in planned}
    assert any("committed seal 2 v" in lb for lb in labels) == (which != "committee_bundle")
    assert any("committee signature 1 s" in lb for lb in labels) == (which == "committee_bundle")
    assert any(lb.startswith("destination receipt proof node") for lb in labels)
    for label, path, offset in planned:
        with pytest.raises(VerificationError) as info:
            bundles.verify(flipped(doc, path, offset), None, None)
        assert str(info.value), label
    assert bundles.verify(doc, None, None)


def test_the_anchor_must_be_of_the_right_kind_and_keys(committee_bundle: dict[str, Any],
                                                       qbft_bundle: dict[str, Any]) -> None:
    strangers = [cm.signer_address("0x" + keccak(text=f"stranger-{i}").hex()) for i in range(4)]
    with pytest.raises(VerificationError, match="not a member"):
        bundles.verify(committee_bundle, strangers, 2)
    with pytest.raises(VerificationError, match="--members"):
        bundles.verify(committee_bundle, None, None, strangers)
    with pytest.raises(VerificationError, match="not the 4 of the command line's set"):
        bundles.verify(qbft_bundle, None, None, strangers)
    with pytest.raises(VerificationError, match="--validators"):
        bundles.verify(qbft_bundle, strangers, 2)
    assert bundles.verify(qbft_bundle, None, None, qbft_bundle["acceptance"]["validators"])
    wrong = {**committee_bundle, "outcome": {**committee_bundle["outcome"], "status": "failed"}}
    with pytest.raises(VerificationError, match="MessageProcessed says outcome 1"):
        bundles.verify(wrong, None, None)
