"""TraceabilityRegistry on two real anvil chains over the message layer: a producer records a batch
on A and mirrors it to B, where the record carries its provable origin (source chain, source
registry, producer, source block and transaction index, message id); only A's registry may mirror,
a batch id is never overwritten, and A learns from the acknowledgement whether B accepted it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apps_env import OWNER, REGISTRY, AppPair, app_pair
from eth_account import Account
from eth_utils import keccak
from msg_env import DEPLOYER, USER_KEY, Side

from adapters.evm.abi import Contract, decode_revert
from adapters.evm.messaging import ACK_ALWAYS, OUTCOME_DELIVERED, OUTCOME_FAILED, address_word
from relayer.devnet.anvil import ANVIL_KEYS
from relayer.errors import ContractRevert

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "traceability"))
import record_batch  # noqa: E402 - the example script, importable from its folder

PRODUCER_KEY = ANVIL_KEYS[7]
PRODUCER = Account.from_key(PRODUCER_KEY).address
LAYER = Contract.load("MessageLayer")
REG = "TraceabilityRegistry"
SENT, ACCEPTED, REFUSED = 1, 2, 3


@pytest.fixture(scope="module")
def pair() -> Iterator[AppPair]:
    with app_pair() as p:
        p.a.evm.transact(DEPLOYER, p.a.extra["registry"], REG, "setProducer", PRODUCER, True)
        yield p


def registry(side: Side) -> str:
    return side.extra["registry"]


def label(text: str) -> bytes:
    return text.encode().ljust(32, b"\x00")


def record_and_mirror(pair: AppPair, batch: bytes, product: bytes, digest: bytes) -> dict[str, Any]:
    pair.a.evm.transact(PRODUCER_KEY, registry(pair.a), REG, "record", batch, product, digest)
    return pair.a.evm.transact(PRODUCER_KEY, registry(pair.a), REG, "mirror", batch, pair.b.chain_id)


def outcome(side: Side, receipt: dict[str, Any]) -> tuple[int, str]:
    (processed,) = LAYER.logs_of(receipt, side.layer, "MessageProcessed")
    result = bytes(processed["result"])
    return int(processed["outcome"]), decode_revert(result) if int(processed["outcome"]) != 1 else result.hex()


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def test_record_crosses_with_its_origin(pair: AppPair) -> None:
    a, b = pair.a, pair.b
    batch, product, digest = keccak(text="batch-2026-001"), label("organic tea 500g"), keccak(text="certificates")
    sent = record_and_mirror(pair, batch, product, digest)
    envelope = pair.m.envelope(a, sent)
    assert envelope.ack_mode == ACK_ALWAYS
    assert int(a.evm.call(registry(a), REG, "mirrorState", batch, b.chain_id)) == SENT
    delivered = pair.relay(a, sent)
    assert outcome(b, delivered)[0] == OUTCOME_DELIVERED
    rec = b.evm.call(registry(b), REG, "recordOf", batch)
    assert rec[:3] == (product, digest, PRODUCER)
    origin = b.evm.call(registry(b), REG, "originOf", batch)
    assert origin == (a.chain_id, address_word(registry(a)), PRODUCER, int(sent["blockNumber"], 16),
                      int(sent["transactionIndex"], 16), envelope.id)
    (mirrored,) = REGISTRY.logs_of(delivered, registry(b), "BatchMirrored")
    assert bytes(mirrored["messageId"]) == envelope.id
    # the origin is the one the source chain's receipt shows: the transaction that sent the message
    tx = a.evm.rpc("eth_getTransactionByHash", sent["transactionHash"])
    assert int(tx["transactionIndex"], 16) == origin[4] and int(tx["blockNumber"], 16) == origin[3]
    # the acknowledgement (always) tells A that B accepted it
    acked = pair.relay(b, delivered)
    assert outcome(a, acked)[0] == OUTCOME_DELIVERED
    assert int(a.evm.call(registry(a), REG, "mirrorState", batch, b.chain_id)) == ACCEPTED
    # the local record on A names A itself as origin
    local = a.evm.call(registry(a), REG, "originOf", batch)
    assert local[:3] == (a.chain_id, address_word(registry(a)), PRODUCER)
    assert "AlreadyMirrored" in reverts(a.evm.transact, PRODUCER_KEY, registry(a), REG, "mirror", batch, b.chain_id)


def test_batch_id_is_never_overwritten(pair: AppPair) -> None:
    a, b = pair.a, pair.b
    batch = keccak(text="batch-2026-002")
    pair.relay(a, record_and_mirror(pair, batch, label("green coffee"), keccak(text="docs-1")))
    first = b.evm.call(registry(b), REG, "recordOf", batch)
    # the producer cannot record the id again on A
    assert "BatchExists" in reverts(a.evm.transact, PRODUCER_KEY, registry(a), REG, "record", batch,
                                    label("forged"), keccak(text="docs-2"))
    # an id B already holds (recorded there first) arriving in a message from A: refused on B,
    # B keeps its record, and the refusal is acknowledged to A
    b.evm.transact(DEPLOYER, registry(b), REG, "setProducer", PRODUCER, True)
    other = keccak(text="batch-2026-003")
    b.evm.transact(PRODUCER_KEY, registry(b), REG, "record", other, label("b's own"), keccak(text="b-docs"))
    sent = record_and_mirror(pair, other, label("a's version"), keccak(text="a-docs"))
    delivered = pair.relay(a, sent)
    got, why = outcome(b, delivered)
    assert got == OUTCOME_FAILED and "BatchExists" in why
    assert b.evm.call(registry(b), REG, "recordOf", other)[0] == label("b's own")
    assert b.evm.call(registry(b), REG, "recordOf", batch) == first
    pair.relay(b, delivered)
    assert int(a.evm.call(registry(a), REG, "mirrorState", other, b.chain_id)) == REFUSED


def test_only_the_registered_remote_registry_may_mirror(pair: AppPair) -> None:
    a, b = pair.a, pair.b
    batch = keccak(text="batch-forged")
    body = b"".join([batch, label("fake"), keccak(text="fake"), address_word(PRODUCER)])
    # any other application of A sends the same body through the layer: refused on B
    sent = pair.m.send(a, registry(b), body, ack_mode=0, key=USER_KEY)
    delivered = pair.relay(a, sent)
    got, why = outcome(b, delivered)
    assert got == OUTCOME_FAILED and "UnknownSender" in why
    assert b.evm.call(registry(b), REG, "recordOf", batch)[2] == "0x" + "00" * 20
    # and nobody but the layer calls the handler
    assert "NotLayer" in reverts(b.evm.transact, DEPLOYER, registry(b), REG, "handleMessage", a.chain_id,
                                 address_word(registry(a)), body)
    # only registered producers record, only the producer of a batch mirrors it
    assert "NotProducer" in reverts(a.evm.transact, USER_KEY, registry(a), REG, "record", batch,
                                    label("x"), keccak(text="x"))
    assert "NotRecordedHere" in reverts(a.evm.transact, USER_KEY, registry(a), REG, "mirror",
                                        keccak(text="batch-2026-001"), b.chain_id)
    assert "NotOwner" in reverts(a.evm.transact, USER_KEY, registry(a), REG, "setProducer", PRODUCER, True)
    assert a.evm.call(registry(a), REG, "owner") == OWNER


def test_example_script_records_and_mirrors(pair: AppPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """examples/traceability/record_batch.py against chain A; its mirror crosses to B."""
    a, b = pair.a, pair.b
    key_file = tmp_path / "producer.key"
    key_file.write_text(PRODUCER_KEY)
    docs = [tmp_path / "certificate.pdf", tmp_path / "lab-report.txt"]
    docs[0].write_bytes(b"%PDF organic certificate")
    docs[1].write_text("pesticide residue: none detected")
    args = ["--rpc", a.node.url, "--registry", registry(a), "--key-file", str(key_file), "--batch", "LOT-77",
            "--product", "jasmine tea 250g", "--mirror-to", str(b.chain_id), *map(str, docs)]
    assert record_batch.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    batch = keccak(text="LOT-77")
    digest = keccak(keccak(docs[0].read_bytes()) + keccak(docs[1].read_bytes()))
    assert out["batch_id"] == "0x" + batch.hex() and out["documents_digest"] == "0x" + digest.hex()
    sent = a.evm.wait_receipt(out["mirror_tx"])
    assert out["message_id"] == "0x" + pair.m.envelope(a, sent).id.hex()
    pair.relay(a, sent)
    assert b.evm.call(registry(b), REG, "recordOf", batch)[:3] == (label("jasmine tea 250g"), digest, PRODUCER)
    assert b.evm.call(registry(b), REG, "originOf", batch)[3] == int(sent["blockNumber"], 16)
    # bad input: one line, exit 2; the chain refusing (the id exists): exit 1
    assert record_batch.main([*args[:-2], str(tmp_path / "missing.pdf")]) == 2
    assert record_batch.main(["--product", "x" * 33, *args[:8], *args[10:]]) == 2
    assert record_batch.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "missing.pdf" in err[0] and "33 bytes" in err[1] and "BatchExists" in err[2]
