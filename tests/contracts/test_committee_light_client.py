"""CommitteeLightClient (and CommitteeHashLightClient) on two real anvil chains joined by the
message layer: a header that is not signed by M of N of the current committee, not well encoded,
zero, or in conflict with what was accepted, a rotation not signed by the current committee and an
invalid committee are refused by the light client itself, called directly and through the layer's
deliverBatch (the update a relayer submits with its proofs), and the message waiting on that header
is not delivered until an honest update comes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import keccak
from msg_env import CHAIN_A, CHAIN_B, DEPLOYER, MessagePair, make_keys, message_pair, reverts, wire

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.messaging import OUTCOME_DELIVERED, OUTCOME_NONE, Envelope

LC = "CommitteeLightClient"
HLC = "CommitteeHashLightClient"


@pytest.fixture(scope="module")
def pair() -> Iterator[MessagePair]:
    with message_pair() as p:
        yield p


@dataclass
class Block:
    """A block of chain A holding one message to a recorder on B, its header not accepted on B yet."""

    number: int
    block_hash: bytes
    root: bytes
    proof: bytes
    envelope: Envelope


def sent_block(pair: MessagePair) -> Block:
    recorder = pair.b.evm.deploy(DEPLOYER, "MsgRecorder", pair.b.layer)
    receipt = pair.send(pair.a, recorder, b"waits for its header", gas_limit=300_000)
    number = int(receipt["blockNumber"], 16)
    block_hash, root = pair.header(pair.a, number)
    return Block(number, block_hash, root, pair.proof(pair.a, receipt), pair.envelope(pair.a, receipt))


def events(receipt: dict[str, Any], contract: str) -> list[tuple[str, dict[str, Any]]]:
    decoded = (Contract.load(contract).decode_log(log) for log in receipt["logs"])
    return [d for d in decoded if d is not None]


def update_header(pair: MessagePair, number: int, block_hash: bytes, root: bytes, sigs: bytes,
                  lc: str | None = None, contract: str = LC) -> dict[str, Any]:
    """updateHeader on B's light client (or ``lc``) called directly."""
    return pair.b.evm.transact(DEPLOYER, lc or pair.b.light_client, contract, "updateHeader", number, block_hash,
                               root, sigs)


def deliver_with_update(pair: MessagePair, block: Block, block_hash: bytes, root: bytes,
                        sigs: bytes) -> dict[str, Any]:
    """deliverBatch on B of ``block``'s message with the header update (number, block_hash, root, sigs)."""
    return pair.deliver(pair.b, [block.proof], cm.encode_committee_update(block.number, block_hash, root, sigs))


def refused_both_ways(pair: MessagePair, block: Block, sigs: bytes, block_hash: bytes | None = None,
                      root: bytes | None = None) -> str:
    """The reason B's light client refuses the update, directly and inside deliverBatch (the same one);
    the message stays undelivered."""
    block_hash = block.block_hash if block_hash is None else block_hash
    root = block.root if root is None else root
    direct = reverts(update_header, pair, block.number, block_hash, root, sigs)
    through_layer = reverts(deliver_with_update, pair, block, block_hash, root, sigs)
    assert through_layer == direct
    assert pair.outcome(pair.b, block.envelope) == OUTCOME_NONE
    return direct


def delivered(pair: MessagePair, receipt: dict[str, Any], block: Block) -> bool:
    return [(p["id"], p["outcome"]) for p in pair.processed(pair.b, receipt)] == [(block.envelope.id,
                                                                                    OUTCOME_DELIVERED)]


# ---------------------------------------------------------------------- who signs
def test_header_signed_by_a_non_member_is_refused(pair: MessagePair) -> None:
    block = sent_block(pair)
    outsider = make_keys("outsider", 1)[0]
    sigs = pair.signatures(pair.b, block.number, block.block_hash, block.root, [pair.committee[0], outsider])
    assert refused_both_ways(pair, block, sigs) == f"UnknownSigner({cm.signer_address(outsider)})"
    honest = pair.signatures(pair.b, block.number, block.block_hash, block.root, pair.committee[:2])
    assert delivered(pair, deliver_with_update(pair, block, block.block_hash, block.root, honest), block)


def test_too_few_signatures_are_refused(pair: MessagePair) -> None:
    block = sent_block(pair)
    sigs = pair.signatures(pair.b, block.number, block.block_hash, block.root, pair.committee[:1])
    assert refused_both_ways(pair, block, sigs) == "NotEnoughSignatures(1, 2)"
    assert refused_both_ways(pair, block, b"") == "NotEnoughSignatures(0, 2)"


def test_signature_encoding_rules(pair: MessagePair) -> None:
    """Signers strictly ascending (no duplicate), 65 bytes each, low s, v 27 or 28."""
    block = sent_block(pair)
    sigs = pair.signatures(pair.b, block.number, block.block_hash, block.root, pair.committee[:2])
    assert refused_both_ways(pair, block, sigs[65:] + sigs[:65]) == "SignersNotAscending()"
    assert refused_both_ways(pair, block, sigs[:65] + sigs[:65]) == "SignersNotAscending()"
    assert refused_both_ways(pair, block, sigs[:-1]) == "BadSignatureLength()"
    n = cm.SECP256K1_N
    r, s, v = sigs[:32], int.from_bytes(sigs[32:64], "big"), sigs[64]
    high_s = r + (n - s).to_bytes(32, "big") + bytes([v ^ 1 if v in (27, 28) else v])  # the same signer
    assert refused_both_ways(pair, block, high_s + sigs[65:]) == "InvalidSignature()"
    bad_v = sigs[:64] + bytes([v - 27]) + sigs[65:]  # 0/1 instead of 27/28
    assert refused_both_ways(pair, block, bad_v) == "InvalidSignature()"
    assert delivered(pair, deliver_with_update(pair, block, block.block_hash, block.root, sigs), block)


# ---------------------------------------------------------------------- what is signed
def test_zero_header_fields_are_refused(pair: MessagePair) -> None:
    block = sent_block(pair)
    for bad_hash, bad_root in ((bytes(32), block.root), (block.block_hash, bytes(32))):
        sigs = pair.signatures(pair.b, block.number, bad_hash, bad_root, pair.committee[:2])
        reason = refused_both_ways(pair, block, sigs, block_hash=bad_hash, root=bad_root)
        assert reason == f"ZeroHeaderField({block.number})"
    assert pair.b.evm.call(pair.b.light_client, LC, "receiptsRootOf", block.number) == bytes(32)
    pair.accept(pair.a, block.number)  # the honest header is still accepted afterwards
    assert pair.b.evm.call(pair.b.light_client, LC, "receiptsRootOf", block.number) == block.root


def test_conflicting_header(pair: MessagePair) -> None:
    """Another receipts root for an accepted number is refused; the accepted root again is a no-op whatever
    block hash comes with it: the client keeps only the root (what proofs are checked against), the block
    hash is in HeaderAccepted."""
    block = sent_block(pair)
    number, block_hash, root = block.number, block.block_hash, block.root
    accepted = pair.accept(pair.a, number)
    assert events(accepted, LC) == [("HeaderAccepted", {"number": number, "blockHash": block_hash,
                                                        "receiptsRoot": root})]
    assert events(pair.accept(pair.a, number), LC) == []  # the same header again is a no-op
    other_root, other_hash = keccak(b"another root"), keccak(b"another block")
    for hash_, root_ in ((block_hash, other_root), (other_hash, other_root)):
        sigs = pair.signatures(pair.b, number, hash_, root_, pair.committee[:2])
        assert refused_both_ways(pair, block, sigs, block_hash=hash_, root=root_) == f"ConflictingHeader({number})"
    sigs = pair.signatures(pair.b, number, other_hash, root, pair.committee[:2])
    assert events(update_header(pair, number, other_hash, root, sigs), LC) == []
    assert pair.b.evm.call(pair.b.light_client, LC, "receiptsRootOf", number) == root
    # through the layer the no-op update goes with the proof, checked against the root kept
    assert delivered(pair, deliver_with_update(pair, block, other_hash, root, sigs), block)


def test_hash_keeping_client_refuses_another_block_hash(pair: MessagePair) -> None:
    """CommitteeHashLightClient keeps the block hash too: another hash or another root for an accepted
    number is refused, directly and through the layer pointed at it; the same header again is a no-op."""
    evm = pair.b.evm
    lc = evm.deploy(DEPLOYER, HLC, CHAIN_A, [cm.signer_address(k) for k in pair.committee], 2)
    block = sent_block(pair)
    number, block_hash, root = block.number, block.block_hash, block.root
    assert evm.call(lc, HLC, "headers", number) == (bytes(32), bytes(32))

    def sigs(hash_: bytes, root_: bytes) -> bytes:
        return pair.signatures(pair.b, number, hash_, root_, pair.committee[:2], light_client=lc)

    assert [name for name, _ in events(update_header(pair, number, block_hash, root, sigs(block_hash, root), lc,
                                                     HLC), HLC)] == ["HeaderAccepted"]
    assert events(update_header(pair, number, block_hash, root, sigs(block_hash, root), lc, HLC), HLC) == []
    conflicts = ((keccak(b"another block"), root), (block_hash, keccak(b"another root")),
                 (keccak(b"another block"), keccak(b"another root")))
    for hash_, root_ in conflicts:
        reason = reverts(update_header, pair, number, hash_, root_, sigs(hash_, root_), lc, HLC)
        assert reason == f"ConflictingHeader({number})"
    assert evm.call(lc, HLC, "headers", number) == (block_hash, root)
    assert evm.call(lc, HLC, "receiptsRootOf", number) == root and evm.call(lc, HLC, "latestNumber") == number
    evm.transact(DEPLOYER, pair.b.layer, "MessageLayer", "setRemote", CHAIN_A, pair.a.layer_word, lc,
                 pair.b.verifier)
    try:
        for hash_, root_ in conflicts:
            reason = reverts(deliver_with_update, pair, block, hash_, root_, sigs(hash_, root_))
            assert reason == f"ConflictingHeader({number})"
        assert pair.outcome(pair.b, block.envelope) == OUTCOME_NONE
        assert delivered(pair, deliver_with_update(pair, block, block_hash, root, sigs(block_hash, root)), block)
    finally:
        wire(pair.b, pair.a)


# ---------------------------------------------------------------------- the committee
def _rotation_sigs(keys: list[str], domain: bytes, epoch: int, members: list[str], threshold: int) -> bytes:
    digest = cm.rotation_digest(domain, epoch, members, threshold)
    return cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in keys])


def test_committee_rotation(pair: MessagePair) -> None:
    """M-of-N of the old committee installs a new one; the old committee's headers are then refused,
    directly and through the layer pointed at the rotated client, and the new committee's accepted."""
    evm = pair.b.evm
    old = pair.committee
    lc = evm.deploy(DEPLOYER, LC, CHAIN_A, [cm.signer_address(k) for k in old], 2)
    new = make_keys("rotated", 4)
    members = [cm.signer_address(k) for k in new]
    domain = cm.committee_domain_separator(CHAIN_B, lc)
    rotate = (evm.transact, DEPLOYER, lc, LC, "rotateCommittee", members, 3)
    assert reverts(*rotate, _rotation_sigs(old[:1], domain, 1, members, 3)) == "NotEnoughSignatures(1, 2)"
    assert reverts(*rotate, _rotation_sigs(old[1:], domain, 2, members, 3)).startswith("UnknownSigner(")  # epoch
    sigs = _rotation_sigs(old[1:], domain, 1, members, 3)
    rotated = evm.transact(DEPLOYER, lc, LC, "rotateCommittee", members, 3, sigs)
    assert events(rotated, LC) == [("CommitteeRotated", {"epoch": 1, "members": members, "threshold": 3})]
    assert evm.call(lc, LC, "epoch") == 1 and evm.call(lc, LC, "getMembers") == members
    assert not evm.call(lc, LC, "isMember", cm.signer_address(old[0]))
    # the old committee cannot rotate again (the new threshold is 3, and they are no members)
    assert reverts(*rotate, sigs) == "NotEnoughSignatures(2, 3)"
    assert reverts(*rotate, _rotation_sigs(old, domain, 2, members, 3)).startswith("UnknownSigner(")

    block = sent_block(pair)
    number, block_hash, root = block.number, block.block_hash, block.root
    evm.transact(DEPLOYER, pair.b.layer, "MessageLayer", "setRemote", CHAIN_A, pair.a.layer_word, lc,
                 pair.b.verifier)
    try:
        for epoch in (0, 1):  # old committee, with the old and with the new epoch
            stale = pair.signatures(pair.b, number, block_hash, root, old, epoch=epoch, light_client=lc)
            assert reverts(update_header, pair, number, block_hash, root, stale, lc).startswith("UnknownSigner(")
            assert reverts(deliver_with_update, pair, block, block_hash, root, stale).startswith("UnknownSigner(")
        assert pair.outcome(pair.b, block.envelope) == OUTCOME_NONE
        fresh = pair.signatures(pair.b, number, block_hash, root, new[:3], epoch=1, light_client=lc)
        assert delivered(pair, deliver_with_update(pair, block, block_hash, root, fresh), block)
    finally:
        wire(pair.b, pair.a)
    assert evm.call(lc, LC, "receiptsRootOf", number) == root
    assert evm.call(lc, LC, "headerDigest", number, block_hash, root) == cm.header_digest(
        domain, CHAIN_A, number, block_hash, root, 1)


def test_invalid_committee(pair: MessagePair) -> None:
    """Threshold 0 or above the size, members not strictly ascending (or repeated) are refused at
    deployment and at rotation."""
    evm = pair.b.evm
    members = [cm.signer_address(k) for k in pair.committee]
    bad = ((members, 0), (members, 4), (members[::-1], 2), ([members[0]] * 2, 1))
    for bad_members, threshold in bad:
        assert reverts(evm.deploy, DEPLOYER, LC, CHAIN_A, bad_members, threshold) == "InvalidCommittee()"
    lc = evm.deploy(DEPLOYER, LC, CHAIN_A, members, 2)
    domain = cm.committee_domain_separator(CHAIN_B, lc)
    for bad_members, threshold in bad:
        sigs = _rotation_sigs(pair.committee[:2], domain, 1, bad_members, threshold)
        reason = reverts(evm.transact, DEPLOYER, lc, LC, "rotateCommittee", bad_members, threshold, sigs)
        assert reason == "InvalidCommittee()"
    assert evm.call(lc, LC, "epoch") == 0 and evm.call(lc, LC, "getMembers") == members

