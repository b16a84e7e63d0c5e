"""FiscoBcosReceiptVerifier on anvil: the real receipt of FISCO BCOS 3.x block 60 proven against its
real header (accepted by an EIP-712 committee, like every FISCO header on an EVM destination), altered
proofs refused, a real receipt with a log (block 9) and synthetic MessageSent receipts; and
FiscoBcosSealCheck accepting block 60 by its four real secp256k1 seals.

Block 60's receipt has no log; block 9's receipt (hash reproduced from its fields) has one, but its
block's other 50 receipts are not in the vectors, so it is proven in a synthetic tree under a header
the committee accepts here. Synthetic trees are built the way a 3.x node builds them
(``relayer_fisco_bcos.evm_proof.merkle_root_and_proof``, checked against block 60's real proof).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_utils import keccak

from adapters.evm import committee as cm
from adapters.evm.messaging import Envelope, address_word
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer.errors import ContractRevert, VerificationError
from relayer_fisco_bcos import evm_proof as ep

VERIFIER = "FiscoBcosReceiptVerifier"
SEAL_CHECK = "FiscoBcosSealCheck"
LC = "CommitteeLightClient"
DEPLOYER = ANVIL_KEYS[0]
FISCO_CHAIN = 20_200  # the FISCO BCOS source chain's id in the relayer's configuration
MESSAGE_SENT = keccak(text="MessageSent(bytes32,bytes)")
KEYS = sorted(("0x" + keccak(text=f"fisco-committee-{i}").hex() for i in range(3)),
              key=lambda k: int(cm.signer_address(k), 16))
SOURCE_LAYER = "0x" + keccak(text="fisco source layer").hex()[-40:]
SYNTHETIC_BLOCK = 100


def load(vectors: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((vectors / "fisco-bcos" / name).read_text()))


def reverts(fn: Any, *args: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args)
    return info.value.reason


def filler(label: str) -> bytes:
    return keccak(text=label)


@dataclass
class Env:
    evm: SyncEvm
    lc: str
    empty_lc: str
    verifier: str
    block60: dict[str, Any]
    block9_receipt: dict[str, Any]
    block9_proof: list[bytes]

    def accept(self, number: int, block_hash: bytes, receipts_root: bytes, lc: str | None = None) -> dict[str, Any]:
        target = lc or self.lc
        domain = cm.committee_domain_separator(self.evm.chain_id, target)
        digest = cm.header_digest(domain, FISCO_CHAIN, number, block_hash, receipts_root, 0)
        packed = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]])
        return self.evm.transact(DEPLOYER, target, LC, "updateHeader", number, block_hash, receipts_root, packed)

    def receipt(self, proof: bytes, lc: str | None = None) -> Any:
        return self.evm.call(self.verifier, VERIFIER, "verifyReceipt", lc or self.lc, proof)

    def log(self, proof: bytes, index: int, lc: str | None = None) -> Any:
        return self.evm.call(self.verifier, VERIFIER, "verifyReceiptLog", lc or self.lc, proof, index)

    def message(self, proof: bytes, layer: str = SOURCE_LAYER) -> Any:
        return self.evm.call(self.verifier, VERIFIER, "verifyMessage", self.lc, bytes(12) + bytes.fromhex(layer[2:]),
                             proof)


@pytest.fixture(scope="module")
def env(anvil_module: AnvilNode, vectors: Path) -> Iterator[Env]:
    block60 = load(vectors, "bcos3_secp_block60_proofs.json")
    receipt9 = load(vectors, "bcos3_secp_block9_51tx.json")["receipt_with_logs"]
    with SyncEvm(anvil_module.url) as evm:
        members = [cm.signer_address(k) for k in KEYS]
        lc = evm.deploy(DEPLOYER, LC, FISCO_CHAIN, members, 2)
        empty_lc = evm.deploy(DEPLOYER, LC, FISCO_CHAIN, members, 2)
        verifier = evm.deploy(DEPLOYER, VERIFIER)
        leaves = [filler("block9-a"), ep.receipt_hash(receipt9), filler("block9-b")]
        root9, proof9 = ep.merkle_root_and_proof(leaves, 1)
        e = Env(evm, lc, empty_lc, verifier, block60, receipt9, proof9)
        header = block60["header"]
        e.accept(60, bytes.fromhex(header["hash"][2:]), bytes.fromhex(header["receiptsRoot"][2:]))
        e.accept(9, filler("synthetic block 9"), root9)
        yield e


# ---------------------------------------------------------------------- the real block 60
def test_the_real_receipt_of_block_60_proves_against_its_real_header(env: Env) -> None:
    receipt = env.block60["receipt"]
    assert ep.receipt_hash(receipt).hex() == receipt["hash"][2:]
    leaf, number, index, status, logs = env.receipt(ep.encode_receipt_proof(receipt))
    assert (leaf.hex(), number, status, logs) == (receipt["hash"][2:], 60, 0, 0)
    # the position derived on-chain equals the one the encoder derives (identical siblings: the lowest)
    assert index == ep.walk_proof(leaf, ep.merkle_proof(receipt))[1]
    assert "LogIndexOutOfRange(0, 0)" in reverts(env.log, ep.encode_receipt_proof(receipt), 0)


def test_the_encoder_rebuilds_block_60s_proof_shape(env: Env) -> None:
    """The synthetic trees below are built like the node's: a tree of leaves whose sibling groups are
    those of block 60's proof gives exactly its proof words (count words included) and its root."""
    words = ep.merkle_proof(env.block60["receipt"])
    assert ep.walk_proof(words[1], words)[0].hex() == env.block60["header"]["receiptsRoot"][2:]
    root, rebuilt = ep.merkle_root_and_proof([words[1], words[2]], 0)
    assert rebuilt == words[:3] and root == keccak(words[1] + words[2])


def mutated_fields(receipt: dict[str, Any]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    fields = ep.receipt_tuple(receipt)
    version, gas, contract, status, output, price, logs, number = fields

    def flip(data: bytes) -> bytes:
        return data[:-1] + bytes([data[-1] ^ 0x01]) if data else b"\x01"

    yield "version", (version ^ 1, *fields[1:])
    yield "gasUsed", (version, flip(gas), *fields[2:])
    yield "contractAddress", (version, gas, flip(contract), *fields[3:])
    yield "status", (version, gas, contract, status ^ 1, *fields[4:])
    yield "output", (version, gas, contract, status, flip(output), *fields[5:])
    yield "effectiveGasPrice", (version, gas, contract, status, output, flip(price), logs, number)
    for i, (address, topics, data) in enumerate(logs):
        for what, log in (("address", (flip(address), topics, data)),
                          ("topic", (address, [flip(t) for t in topics], data)),
                          ("data", (address, topics, flip(data)))):
            altered = [*logs[:i], log, *logs[i + 1:]]
            yield f"log {i} {what}", (version, gas, contract, status, output, price, altered, number)
    yield "blockNumber", (*fields[:7], number ^ 1)


def encode(fields: tuple[Any, ...], proof: list[bytes]) -> bytes:
    return eth_abi.encode([ep.RECEIPT, "bytes32[]"], [fields, proof])


def test_a_flipped_byte_in_any_receipt_field_is_refused(env: Env) -> None:
    cases = [(env.block60["receipt"], ep.merkle_proof(env.block60["receipt"])), (env.block9_receipt, env.block9_proof)]
    for receipt, proof in cases:
        for what, fields in mutated_fields(receipt):
            reason = reverts(env.receipt, encode(fields, proof))
            assert reason.split("(")[0] in ("NotInGroup", "RootMismatch", "UnknownBlock", "UnexpectedGasPrice",
                                            "BadAddressString"), (receipt["blockNumber"], what, reason)


def test_a_flipped_byte_in_any_proof_word_is_refused(env: Env) -> None:
    receipt = env.block60["receipt"]
    words = ep.merkle_proof(receipt)
    assert len(words) == 30
    fields = ep.receipt_tuple(receipt)
    for i, word in enumerate(words):
        for at in (0, 3, 31):
            altered = [*words[:i], word[:at] + bytes([word[at] ^ 0x80]) + word[at + 1:], *words[i + 1:]]
            reason = reverts(env.receipt, encode(fields, altered))
            assert reason.split("(")[0] in ("RootMismatch", "MalformedProof", "NotInGroup"), (i, at, reason)
    # a truncated proof, an empty one, one level too many
    for altered in (words[:-1], words[:27], [], [*words, *words[-3:]]):
        assert reverts(env.receipt, encode(fields, altered)).split("(")[0] in ("RootMismatch", "MalformedProof",
                                                                                 "NotInGroup")


def test_a_wrong_block_number_or_an_unaccepted_header_is_refused(env: Env) -> None:
    receipt = env.block60["receipt"]
    fields, words = ep.receipt_tuple(receipt), ep.merkle_proof(receipt)
    # the number is hashed into the leaf (be64 at its end) and picks the root: an accepted block's
    # number makes another leaf, which the proof does not hold; an unaccepted one has no root
    assert reverts(env.receipt, encode((*fields[:7], 9), words)) == "NotInGroup(0)"
    assert reverts(env.receipt, encode((*fields[:7], 61), words)) == "UnknownBlock(61)"
    assert reverts(env.receipt, ep.encode_receipt_proof(receipt), env.empty_lc) == "UnknownBlock(60)"


# ---------------------------------------------------------------------- a real receipt with a log
def test_the_real_receipt_of_block_9_yields_its_log(env: Env) -> None:
    receipt = env.block9_receipt
    emitter, topics, data, number = env.log(ep.encode_receipt_proof(receipt, env.block9_proof), 0)
    log = receipt["logEntries"][0]
    assert emitter.lower() == "0x" + log["address"]
    assert ["0x" + t.hex() for t in topics] == log["topics"]
    assert "0x" + data.hex() == log["data"] and number == 9
    assert reverts(env.log, ep.encode_receipt_proof(receipt, env.block9_proof), 1) == "LogIndexOutOfRange(1, 1)"
    leaf, _, index, _, count = env.receipt(ep.encode_receipt_proof(receipt, env.block9_proof))
    assert (leaf.hex(), index, count) == (receipt["hash"][2:], 1, 1)


# ---------------------------------------------------------------------- MessageSent receipts
ENVELOPE = "(uint8,uint8,uint64,uint64,bytes32,bytes32,uint64,bytes32,bytes32,uint64,uint64,uint8,bytes)"


def envelope(nonce: int) -> bytes:
    return eth_abi.encode([ENVELOPE],
                          [(1, 0, nonce, FISCO_CHAIN, bytes(12) + bytes.fromhex(SOURCE_LAYER[2:]), filler("sender"),
                            31337, filler("destination layer"), filler("recipient"), 200_000, 0, 1, b"hello")])


def fisco_log(address: str, topics: list[bytes], data: bytes) -> dict[str, Any]:
    return {"address": address[2:].lower(), "topics": ["0x" + t.hex() for t in topics], "data": "0x" + data.hex()}


def sent_log(nonce: int, address: str = SOURCE_LAYER, topic0: bytes = MESSAGE_SENT) -> dict[str, Any]:
    body = envelope(nonce)
    return fisco_log(address, [topic0, keccak(body)], eth_abi.encode(["bytes"], [body]))


def fisco_receipt(logs: list[dict[str, Any]], *, status: int = 0, output: bytes = b"") -> dict[str, Any]:
    return {"version": 1, "gasUsed": "48213", "contractAddress": "", "status": status, "output": "0x" + output.hex(),
            "effectiveGasPrice": "1000000000", "logEntries": logs, "blockNumber": SYNTHETIC_BLOCK}


@pytest.fixture(scope="module")
def messages(env: Env) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Receipts of a synthetic FISCO block 100 (accepted by the committee), each with its proof."""
    other = "0x" + "ab" * 20
    receipts = [
        fisco_receipt([fisco_log(other, [filler("Transfer")], bytes(32))]),
        fisco_receipt([fisco_log(other, [filler("Approval")], b"\x01"), sent_log(1)]),  # the message: log 1
        fisco_receipt([sent_log(2, topic0=keccak(text="MessageProcessed(bytes32,uint8,bytes)"))]),
        fisco_receipt([sent_log(3)], status=16),  # a reverted transaction
        fisco_receipt([sent_log(4, address=other)]),  # the right event from another contract
    ]
    leaves = [ep.receipt_hash(r) for r in receipts]
    root, _ = ep.merkle_root_and_proof(leaves, 0)
    env.accept(SYNTHETIC_BLOCK, filler("synthetic block 100"), root)
    return [(r, ep.merkle_root_and_proof(leaves, i)[1]) for i, r in enumerate(receipts)]


def test_a_message_sent_by_the_source_layer_is_verified(env: Env, messages: list[Any]) -> None:
    receipt, proof = messages[1]
    body, number, tx_index = env.message(ep.encode_message_proof(receipt, 1, proof))
    assert (body, number, tx_index) == (envelope(1), SYNTHETIC_BLOCK, 1)


def test_another_layer_topic_log_or_status_is_refused(env: Env, messages: list[Any]) -> None:
    receipt, proof = messages[1]
    assert reverts(env.message, ep.encode_message_proof(receipt, 1, proof), "0x" + "cd" * 20) == "NotFromSourceLayer()"
    assert reverts(env.message, ep.encode_message_proof(receipt, 0, proof)) == "NotFromSourceLayer()"
    assert reverts(env.message, ep.encode_message_proof(receipt, 2, proof)) == "LogIndexOutOfRange(2, 2)"
    assert reverts(env.message, ep.encode_message_proof(messages[2][0], 0, messages[2][1])) == "NotMessageSent()"
    assert reverts(env.message, ep.encode_message_proof(messages[3][0], 0, messages[3][1])) == "ReceiptFailed(16)"
    assert reverts(env.message, ep.encode_message_proof(messages[4][0], 0, messages[4][1])) == "NotFromSourceLayer()"
    # a sibling's proof is the same group: the position is derived from the group, not from the proof
    assert env.message(ep.encode_message_proof(receipt, 1, messages[0][1]))[2] == 1
    # another group's proof, and a layer that is not an address
    assert reverts(env.message, ep.encode_message_proof(receipt, 1, messages[2][1])).startswith("NotInGroup")
    with pytest.raises(ContractRevert, match="BadSourceLayer"):
        env.evm.call(env.verifier, VERIFIER, "verifyMessage", env.lc, b"\x01" * 32,
                     ep.encode_message_proof(receipt, 1, proof))


def test_an_inner_node_is_never_taken_for_a_receipt(env: Env) -> None:
    """A 'receipt' whose bytes are the 64-byte preimage of a tree node (here the root of two leaves)
    would otherwise prove with the single-leaf proof [node]: refused by length."""
    number = 7
    left, right = filler("left"), filler("right")[:24] + number.to_bytes(8, "big")
    root = keccak(left + right)
    env.accept(number, filler("synthetic block 7"), root)
    fake = (int.from_bytes(left[:4], "big", signed=True), b"", b"", int.from_bytes(left[4:8], "big", signed=True),
            left[8:] + right[:24], b"", [], number)
    assert keccak(ep.receipt_preimage(fake)) == root
    assert reverts(env.receipt, encode(fake, [root])) == "AmbiguousLeaf(64)"


def test_output_bytes_read_back_as_a_message_log_and_the_attesters_check(env: Env) -> None:
    """The gap the contract's notes describe: the 3.x receipt hash has no field lengths, so a
    transaction whose *output* is the bytes of a MessageSent log of the source layer hashes exactly
    like a receipt carrying that log, and the verifier alone cannot tell them apart (shown on-chain
    below). The attesters' check before accepting a header (check_no_second_reading) finds it."""
    number = 8
    forged = sent_log(99)
    log_bytes = forged["address"].encode() + b"".join(bytes.fromhex(t[2:]) for t in forged["topics"]) + \
        bytes.fromhex(forged["data"][2:])
    # version 0 receipts (no effectiveGasPrice between output and logs)
    real = {**fisco_receipt([], output=log_bytes), "version": 0, "blockNumber": number}  # executed: no log
    read_back = {**fisco_receipt([forged]), "version": 0, "blockNumber": number}  # what a relayer may claim
    assert ep.receipt_hash(real) == ep.receipt_hash(read_back)
    root, proof = ep.merkle_root_and_proof([filler("x"), ep.receipt_hash(real)], 1)
    env.accept(number, filler("synthetic block 8"), root)
    body, _, _ = env.message(ep.encode_message_proof(read_back, 0, proof))
    assert body == envelope(99)
    assert ep.second_readings(real, [SOURCE_LAYER]) == [(SOURCE_LAYER, 4 + 5 + 4)]
    with pytest.raises(VerificationError, match="read back as a MessageSent"):
        ep.check_no_second_reading([real], [SOURCE_LAYER])
    assert ep.second_readings(read_back, [SOURCE_LAYER]) == []  # the claimed reading itself is plain


def test_the_attesters_check_passes_real_receipts_and_flags_smuggled_logs(env: Env, messages: list[Any]) -> None:
    ep.check_no_second_reading([env.block60["receipt"], env.block9_receipt, *(r for r, _ in messages)],
                               [SOURCE_LAYER, "0x" + env.block9_receipt["logEntries"][0]["address"]])
    inner = sent_log(7)
    smuggled = inner["address"].encode() + b"".join(bytes.fromhex(t[2:]) for t in inner["topics"])
    # inside another contract's log data, and inside a real MessageSent's own envelope body
    foreign = fisco_receipt([fisco_log("0x" + "ab" * 20, [filler("Note")], b"\x00" * 5 + smuggled)])
    body = eth_abi.encode([ENVELOPE], [(1, 0, 8, FISCO_CHAIN, bytes(12) + bytes.fromhex(SOURCE_LAYER[2:]),
                                        filler("sender"), 31337, filler("layer"), filler("to"), 1, 0, 0, smuggled)])
    own = fisco_receipt([fisco_log(SOURCE_LAYER, [MESSAGE_SENT, keccak(body)], eth_abi.encode(["bytes"], [body]))])
    for receipt in (foreign, own):
        assert len(ep.second_readings(receipt, [SOURCE_LAYER])) == 1
        assert ep.second_readings(receipt, ["0x" + "cd" * 20]) == []


# ---------------------------------------------------------------------- the direct seal check
def test_the_sealers_own_signatures_accept_block_60_on_chain(env: Env) -> None:
    header = env.block60["header"]
    assert ep.header_hash(header).hex() == header["hash"][2:]
    tup = ep.header_tuple(header)
    direct = env.evm.deploy(DEPLOYER, SEAL_CHECK, FISCO_CHAIN, tup[9], tup[11])
    assert env.evm.call(direct, SEAL_CHECK, "headerHash", tup).hex() == header["hash"][2:]
    seals = ep.seals(header)
    # 2 of 4 equal weights is below the quorum 4 - (4-1)//3 = 3; a seal on another index is refused
    assert reverts(env.evm.transact, DEPLOYER, direct, SEAL_CHECK, "updateHeader", tup, seals[:2]) == \
        "NotEnoughWeight(2, 3)"
    swapped = [(seals[1][0], seals[0][1]), *seals[1:3]]
    assert reverts(env.evm.transact, DEPLOYER, direct, SEAL_CHECK, "updateHeader", tup, swapped) == "BadSeal(0)"
    assert reverts(env.evm.transact, DEPLOYER, direct, SEAL_CHECK, "updateHeader", tup,
                   [seals[0], seals[0], seals[1]]) == "DuplicateSealer(0)"
    other = (*tup[:3], filler("other receipts root"), *tup[4:])
    assert reverts(env.evm.transact, DEPLOYER, direct, SEAL_CHECK, "updateHeader", other, seals) == "BadSeal(0)"
    env.evm.transact(DEPLOYER, direct, SEAL_CHECK, "updateHeader", tup, seals)
    assert env.evm.call(direct, SEAL_CHECK, "receiptsRootOf", 60).hex() == header["receiptsRoot"][2:]
    # the receipt verifier works over either light client
    leaf, number, *_ = env.receipt(ep.encode_receipt_proof(env.block60["receipt"]), direct)
    assert (leaf.hex(), number) == (env.block60["receipt"]["hash"][2:], 60)


# ---------------------------------------------------------------------- through the message layer
def test_a_fisco_message_is_delivered_by_the_message_layer(env: Env) -> None:
    """A MessageLayer whose remote FISCO BCOS chain is verified by FiscoBcosReceiptVerifier delivers
    a MessageSent of that chain's layer, the header update in the same deliverBatch."""
    evm, number = env.evm, 101
    layer = evm.deploy(DEPLOYER, "MessageLayer", cm.signer_address(DEPLOYER), 5_000_000)
    source_word = address_word(SOURCE_LAYER)
    evm.transact(DEPLOYER, layer, "MessageLayer", "setRemote", FISCO_CHAIN, source_word, env.lc, env.verifier)
    recorder = evm.deploy(DEPLOYER, "MsgRecorder", layer)
    message = Envelope(nonce=1, source_chain=FISCO_CHAIN, source_layer=source_word, sender=filler("fisco sender"),
                       destination_chain=evm.chain_id, destination_layer=address_word(layer),
                       recipient=address_word(recorder), gas_limit=200_000, body=b"from FISCO BCOS")
    log = fisco_log(SOURCE_LAYER, [MESSAGE_SENT, message.id], eth_abi.encode(["bytes"], [message.encode()]))
    receipts = [fisco_receipt([]), fisco_receipt([]), fisco_receipt([log])]
    receipts = [{**r, "blockNumber": number, "gasUsed": str(21_000 + i)} for i, r in enumerate(receipts)]
    leaves = [ep.receipt_hash(r) for r in receipts]
    root, proof = ep.merkle_root_and_proof(leaves, 2)
    ep.check_no_second_reading(receipts, [SOURCE_LAYER])  # what an attester checks before signing
    domain = cm.committee_domain_separator(evm.chain_id, env.lc)
    block_hash = filler("synthetic block 101")
    digest = cm.header_digest(domain, FISCO_CHAIN, number, block_hash, root, 0)
    update = cm.encode_committee_update(number, block_hash, root, cm.pack_signatures(
        [(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]]))
    message_proof = ep.encode_message_proof(receipts[2], 0, proof)
    evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", FISCO_CHAIN, update, [message_proof])
    assert evm.call(recorder, "MsgRecorder", "count") == 1
    got = evm.call(recorder, "MsgRecorder", "received", 0)
    assert got[:6] == (FISCO_CHAIN, message.sender, message.body, message.id, number, 2)
    # replayed: skipped, not reverted, not executed twice
    evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", FISCO_CHAIN, b"", [message_proof])
    assert evm.call(recorder, "MsgRecorder", "count") == 1
    # an altered proof reverts the whole batch
    forged = [*proof[:3], proof[3][:-1] + bytes([proof[3][-1] ^ 1]), *proof[4:]]  # the sibling at level 1
    with pytest.raises(ContractRevert, match="RootMismatch"):
        evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", FISCO_CHAIN, b"",
                     [ep.encode_message_proof(receipts[2], 0, forged)])


def test_the_seal_check_takes_the_light_client_update_and_only_its_sealer_set(env: Env) -> None:
    header = env.block60["header"]
    tup = ep.header_tuple(header)
    direct = env.evm.deploy(DEPLOYER, SEAL_CHECK, FISCO_CHAIN, tup[9], tup[11])
    env.evm.transact(DEPLOYER, direct, SEAL_CHECK, "submitUpdate", ep.encode_header_update(header))
    assert env.evm.call(direct, SEAL_CHECK, "receiptsRootOf", 60).hex() == header["receiptsRoot"][2:]
    # another deployment trusting other weights refuses the same header before looking at a seal
    other = env.evm.deploy(DEPLOYER, SEAL_CHECK, FISCO_CHAIN, tup[9], [2, 1, 1, 1])
    assert reverts(env.evm.transact, DEPLOYER, other, SEAL_CHECK, "submitUpdate",
                   ep.encode_header_update(header)) == "UnknownSealerSet()"
