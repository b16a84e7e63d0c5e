"""Bridge + CommitteeLightClient on two real anvil chains: valid deliveries succeed and every
forged or misdirected delivery is rejected *by the contracts* with the specified custom error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import rlp
from bridge_env import (
    BRIDGE,
    CHAIN_A,
    CHAIN_B,
    DEPLOYER,
    NATIVE,
    USER,
    USER_KEY,
    BridgePair,
    bridge_pair,
    events,
    fresh_address,
    make_keys,
)
from eth_account import Account
from eth_utils import keccak

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.proof import build_receipt_proof
from relayer.errors import ContractRevert

LC = "CommitteeLightClient"
LOCKED_TOPIC = BRIDGE.event_topic("Locked")
ETHER = 10**18


@pytest.fixture(scope="module")
def pair() -> Iterator[BridgePair]:
    with bridge_pair() as p:
        yield p


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def locked_and_accepted(pair: BridgePair, amount: int, recipient: str = USER) -> tuple[dict[str, Any], Any]:
    receipt = pair.lock_native(pair.a, amount, recipient)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    return receipt, pair.proof(pair.a, receipt)


def wrapped_balance(pair: BridgePair, remote_token: str, who: str) -> int:
    return int(pair.b.evm.call(pair.b.wrapped[remote_token], "WrappedToken", "balanceOf", who))


# ---------------------------------------------------------------------- valid path
def test_valid_mint(pair: BridgePair) -> None:
    recipient = fresh_address("valid-mint")
    receipt, proof = locked_and_accepted(pair, 3 * ETHER, recipient)
    nonce = events(receipt, BRIDGE)[0][1]["nonce"]
    assert not pair.b.evm.call(pair.b.bridge, "Bridge", "isDelivered", CHAIN_A, nonce)
    minted = pair.deliver(pair.b, "mint", proof)
    assert wrapped_balance(pair, NATIVE, recipient) == 3 * ETHER
    assert pair.b.evm.call(pair.b.bridge, "Bridge", "isDelivered", CHAIN_A, nonce)
    delivered = [f for name, f in events(minted, BRIDGE) if name == "Delivered"]
    expected_id = keccak(CHAIN_A.to_bytes(8, "big") + bytes.fromhex(pair.a.bridge[2:]) + nonce.to_bytes(8, "big"))
    assert delivered == [{"messageId": expected_id, "srcChainId": CHAIN_A, "nonce": nonce}]
    assert pair.b.evm.call(pair.b.bridge, "Bridge", "messageId", CHAIN_A, nonce) == expected_id
    word = pair.b.evm.call(pair.b.bridge, "Bridge", "deliveredWord", CHAIN_A, nonce // 256)
    assert word >> (nonce % 256) & 1 == 1


def test_replay_reverts_and_batch_skips(pair: BridgePair) -> None:
    receipt, proof = locked_and_accepted(pair, ETHER)
    pair.deliver(pair.b, "mint", proof)
    nonce = events(receipt, BRIDGE)[0][1]["nonce"]
    message_id = pair.b.evm.call(pair.b.bridge, "Bridge", "messageId", CHAIN_A, nonce)
    assert reverts(pair.deliver, pair.b, "mint", proof) == f"AlreadyDelivered(0x{message_id.hex()})"
    # the same through a transaction that is mined (fixed gas skips estimation) -> reason recovered
    assert reverts(pair.deliver, pair.b, "mint", proof, gas=500_000).startswith("AlreadyDelivered(")
    before = wrapped_balance(pair, NATIVE, USER)
    args = (CHAIN_A, b"", [proof])
    assert pair.b.evm.call(pair.b.bridge, "Bridge", "deliverBatch", *args) == 0
    batch = pair.b.evm.transact(DEPLOYER, pair.b.bridge, "Bridge", "deliverBatch", *args)
    assert int(batch["status"], 16) == 1 and not events(batch, BRIDGE)
    assert wrapped_balance(pair, NATIVE, USER) == before


# ---------------------------------------------------------------------- forged proofs
def test_forged_receipt_value(pair: BridgePair) -> None:
    """The receipt bytes in the leaf are altered (amount): the leaf no longer hashes to the root."""
    _, (number, key, nodes, log_index) = locked_and_accepted(pair, ETHER)
    leaf = bytearray(nodes[-1])
    amount_at = leaf.rfind(ETHER.to_bytes(32, "big"))
    assert amount_at > 0
    leaf[amount_at + 31 - 8] = 0xFF  # a much larger amount
    forged = (number, key, nodes[:-1] + [bytes(leaf)], log_index)
    assert reverts(pair.deliver, pair.b, "mint", forged) == "InvalidProof()"


def test_forged_log_with_recomputed_trie(pair: BridgePair) -> None:
    """The log data is altered and every proof node recomputed: only the root comparison catches it."""
    receipt, proof = locked_and_accepted(pair, ETHER)
    number = int(receipt["blockNumber"], 16)
    receipts = pair.a.evm.rpc("eth_getBlockReceipts", hex(number))
    tx_index = int(receipt["transactionIndex"], 16)
    log = receipts[tx_index]["logs"][proof[3]]
    data = bytearray(bytes.fromhex(log["data"][2:]))
    data[-32:] = (1000 * ETHER).to_bytes(32, "big")
    log["data"] = "0x" + data.hex()
    forged = build_receipt_proof(receipts, tx_index)
    assert list(forged.nodes) != proof[2]
    assert reverts(pair.deliver, pair.b, "mint", (number, forged.key, list(forged.nodes), proof[3])) == "InvalidProof()"


def test_wrong_key_for_proof(pair: BridgePair) -> None:
    number, key, nodes, log_index = locked_and_accepted(pair, ETHER)[1]
    assert reverts(pair.deliver, pair.b, "mint", (number, b"\x05", nodes, log_index)) == "InvalidProof()"


def test_log_index_out_of_range(pair: BridgePair) -> None:
    number, key, nodes, _ = locked_and_accepted(pair, ETHER)[1]
    assert reverts(pair.deliver, pair.b, "mint", (number, key, nodes, 7)) == "LogIndexOutOfRange()"


# ---------------------------------------------------------------------- wrong facts
def test_wrong_emitter_token_transfer_log(pair: BridgePair) -> None:
    """lockToken's receipt starts with the TestToken Transfer log: proving that log fails."""
    receipt = pair.lock_token(pair.a, 5 * ETHER)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    transfer_index = next(i for i, lg in enumerate(receipt["logs"]) if lg["address"].lower() == pair.a.token.lower())
    proof = pair.proof(pair.a, receipt, log_index=transfer_index)
    assert reverts(pair.deliver, pair.b, "mint", proof) == f"WrongEmitter({pair.a.token})"


def test_wrong_emitter_unregistered_bridge(pair: BridgePair) -> None:
    rogue = pair.a.evm.deploy(DEPLOYER, "Bridge")
    pair.a.evm.transact(DEPLOYER, rogue, "Bridge", "registerRemote", CHAIN_B, pair.b.bridge, pair.a.light_client)
    receipt = pair.lock_native(pair.a, ETHER, bridge=rogue)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    proof = pair.proof(pair.a, receipt, log_index=0)
    assert reverts(pair.deliver, pair.b, "mint", proof) == f"WrongEmitter({rogue})"


def test_wrong_destination(pair: BridgePair) -> None:
    third = 999
    lc_third = pair.a.evm.deploy(DEPLOYER, LC, third, [cm.signer_address(k) for k in pair.committee], 2)
    pair.a.evm.transact(DEPLOYER, pair.a.bridge, "Bridge", "registerRemote", third, fresh_address("bridge-999"),
                        lc_third)
    receipt = pair.lock_native(pair.a, ETHER, dst_chain_id=third)
    pair.accept(pair.a, int(receipt["blockNumber"], 16))
    assert reverts(pair.deliver, pair.b, "mint", pair.proof(pair.a, receipt)) == f"WrongDestination({third})"


def test_wrong_event_kind(pair: BridgePair) -> None:
    """A Locked log handed to unlock() is the wrong event."""
    _, proof = locked_and_accepted(pair, ETHER)
    assert reverts(pair.deliver, pair.b, "unlock", proof) == f"WrongEvent(0x{LOCKED_TOPIC.hex()})"


def test_unknown_source_chain(pair: BridgePair) -> None:
    _, proof = locked_and_accepted(pair, ETHER)
    reason = reverts(pair.b.evm.transact, DEPLOYER, pair.b.bridge, "Bridge", "mint", 777, proof)
    assert reason == "UnknownSourceChain(777)"


def test_header_not_accepted(pair: BridgePair) -> None:
    receipt = pair.lock_native(pair.a, ETHER)
    number = int(receipt["blockNumber"], 16)
    assert reverts(pair.deliver, pair.b, "mint",
                   pair.proof(pair.a, receipt)) == f"HeaderNotAccepted({CHAIN_A}, {number})"


def test_paused_bridge_rejects_delivery(pair: BridgePair) -> None:
    _, proof = locked_and_accepted(pair, ETHER)
    pair.b.evm.transact(DEPLOYER, pair.b.bridge, "Bridge", "setPaused", True)
    try:
        assert reverts(pair.deliver, pair.b, "mint", proof) == "Paused()"
    finally:
        pair.b.evm.transact(DEPLOYER, pair.b.bridge, "Bridge", "setPaused", False)
    pair.deliver(pair.b, "mint", proof)


def test_admin_is_owner_only(pair: BridgePair) -> None:
    reason = reverts(pair.b.evm.transact, USER_KEY, pair.b.bridge, "Bridge", "setPaused", True)
    assert reason == "NotOwner()"


# ---------------------------------------------------------------------- light client
def _header_args(pair: BridgePair) -> tuple[int, bytes, bytes]:
    receipt = pair.lock_native(pair.a, 1)
    number = int(receipt["blockNumber"], 16)
    return (number, *pair.header(pair.a, number))


def test_header_signed_by_non_member(pair: BridgePair) -> None:
    number, block_hash, root = _header_args(pair)
    outsider = make_keys("outsider", 1)[0]
    sigs = pair.signatures(pair.b, number, block_hash, root, [pair.committee[0], outsider])
    reason = reverts(pair.b.evm.transact, DEPLOYER, pair.b.light_client, LC, "updateHeader", number, block_hash,
                     root, sigs)
    assert reason == f"UnknownSigner({cm.signer_address(outsider)})"


def test_too_few_signatures(pair: BridgePair) -> None:
    number, block_hash, root = _header_args(pair)
    sigs = pair.signatures(pair.b, number, block_hash, root, pair.committee[:1])
    reason = reverts(pair.b.evm.transact, DEPLOYER, pair.b.light_client, LC, "updateHeader", number, block_hash,
                     root, sigs)
    assert reason == "NotEnoughSignatures(1, 2)"


def test_signature_encoding_rules(pair: BridgePair) -> None:
    number, block_hash, root = _header_args(pair)
    sigs = pair.signatures(pair.b, number, block_hash, root, pair.committee[:2])
    call = pair.b.evm.transact

    def update(signatures: bytes) -> str:
        return reverts(call, DEPLOYER, pair.b.light_client, LC, "updateHeader", number, block_hash, root, signatures)

    assert update(sigs[65:] + sigs[:65]) == "SignersNotAscending()"
    assert update(sigs[:65] + sigs[:65]) == "SignersNotAscending()"
    assert update(sigs[:-1]) == "BadSignatureLength()"
    n = cm.SECP256K1_N
    r, s, v = sigs[:32], int.from_bytes(sigs[32:64], "big"), sigs[64]
    high_s = r + (n - s).to_bytes(32, "big") + bytes([v ^ 1 if v in (27, 28) else v])
    assert update(high_s + sigs[65:]) == "InvalidSignature()"


def test_conflicting_header(pair: BridgePair) -> None:
    """Another receipts root for an accepted number is refused; the accepted root again is a no-op whatever
    block hash comes with it: the client keeps only the root (what proofs are checked against), the block
    hash is in HeaderAccepted."""
    number, block_hash, root = _header_args(pair)
    accepted = pair.accept(pair.a, number)
    assert events(accepted, Contract.load(LC)) == [
        ("HeaderAccepted", {"number": number, "blockHash": block_hash, "receiptsRoot": root})]
    assert events(pair.accept(pair.a, number), Contract.load(LC)) == []  # the same header again is a no-op
    other_root = keccak(b"another root")
    sigs = pair.signatures(pair.b, number, block_hash, other_root, pair.committee[:2])
    reason = reverts(pair.b.evm.transact, DEPLOYER, pair.b.light_client, LC, "updateHeader", number, block_hash,
                     other_root, sigs)
    assert reason == f"ConflictingHeader({number})"
    other = keccak(b"another block")
    sigs = pair.signatures(pair.b, number, other, other_root, pair.committee[:2])
    reason = reverts(pair.b.evm.transact, DEPLOYER, pair.b.light_client, LC, "updateHeader", number, other,
                     other_root, sigs)
    assert reason == f"ConflictingHeader({number})"
    sigs = pair.signatures(pair.b, number, other, root, pair.committee[:2])
    same_root = pair.b.evm.transact(DEPLOYER, pair.b.light_client, LC, "updateHeader", number, other, root, sigs)
    assert events(same_root, Contract.load(LC)) == []
    assert pair.b.evm.call(pair.b.light_client, LC, "receiptsRootOf", number) == root


def test_hash_keeping_client_refuses_another_block_hash(pair: BridgePair) -> None:
    """CommitteeHashLightClient keeps the block hash too: another hash or another root for an accepted
    number is refused, the same header again is a no-op."""
    evm, hlc = pair.b.evm, "CommitteeHashLightClient"
    lc = evm.deploy(DEPLOYER, hlc, pair.a.chain_id, [cm.signer_address(k) for k in pair.committee], 2)
    number, block_hash, root = _header_args(pair)
    assert evm.call(lc, hlc, "headers", number) == (bytes(32), bytes(32))

    def update(hash_: bytes, root_: bytes) -> dict[str, Any]:
        sigs = pair.signatures(pair.b, number, hash_, root_, pair.committee[:2], light_client=lc)
        return evm.transact(DEPLOYER, lc, hlc, "updateHeader", number, hash_, root_, sigs)

    assert [name for name, _ in events(update(block_hash, root), Contract.load(hlc))] == ["HeaderAccepted"]
    assert events(update(block_hash, root), Contract.load(hlc)) == []
    for hash_, root_ in ((keccak(b"another block"), root), (block_hash, keccak(b"another root")),
                         (keccak(b"another block"), keccak(b"another root"))):
        assert reverts(update, hash_, root_) == f"ConflictingHeader({number})"
    assert evm.call(lc, hlc, "headers", number) == (block_hash, root)
    assert evm.call(lc, hlc, "receiptsRootOf", number) == root and evm.call(lc, hlc, "latestNumber") == number


def test_committee_rotation(pair: BridgePair) -> None:
    """M-of-N of the old committee installs a new one; the old committee's headers are then rejected."""
    evm = pair.b.evm
    old = pair.committee
    lc = evm.deploy(DEPLOYER, LC, CHAIN_A, [cm.signer_address(k) for k in old], 2)
    new = make_keys("rotated", 4)
    members = [cm.signer_address(k) for k in new]
    domain = cm.committee_domain_separator(CHAIN_B, lc)
    digest = cm.rotation_digest(domain, 1, members, 3)
    few = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in old[:1]])
    assert reverts(evm.transact, DEPLOYER, lc, LC, "rotateCommittee", members, 3, few) == "NotEnoughSignatures(1, 2)"
    sigs = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in old[1:]])
    rotated = evm.transact(DEPLOYER, lc, LC, "rotateCommittee", members, 3, sigs)
    assert events(rotated, Contract.load(LC)) == [
        ("CommitteeRotated", {"epoch": 1, "members": members, "threshold": 3})]
    assert evm.call(lc, LC, "epoch") == 1 and evm.call(lc, LC, "getMembers") == members
    assert not evm.call(lc, LC, "isMember", cm.signer_address(old[0]))
    # the old committee cannot rotate again (the new threshold is 3, and they are no members)
    assert reverts(evm.transact, DEPLOYER, lc, LC, "rotateCommittee", members, 3, sigs) == "NotEnoughSignatures(2, 3)"
    digest2 = cm.rotation_digest(domain, 2, members, 3)
    old_sigs = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest2)) for k in old])
    assert reverts(evm.transact, DEPLOYER, lc, LC, "rotateCommittee", members, 3, old_sigs).startswith("UnknownSigner(")

    number, block_hash, root = _header_args(pair)
    for epoch in (0, 1):  # old committee, with the old and with the new epoch
        stale = pair.signatures(pair.b, number, block_hash, root, old, epoch=epoch, light_client=lc)
        reason = reverts(evm.transact, DEPLOYER, lc, LC, "updateHeader", number, block_hash, root, stale)
        assert reason.startswith("UnknownSigner(")
    fresh = pair.signatures(pair.b, number, block_hash, root, new[:3], epoch=1, light_client=lc)
    evm.transact(DEPLOYER, lc, LC, "updateHeader", number, block_hash, root, fresh)
    assert evm.call(lc, LC, "receiptsRootOf", number) == root
    assert evm.call(lc, LC, "headerDigest", number, block_hash, root) == cm.header_digest(
        domain, CHAIN_A, number, block_hash, root, 1)


def test_invalid_committee(pair: BridgePair) -> None:
    members = [cm.signer_address(k) for k in pair.committee]
    for bad_members, threshold in ((members, 0), (members, 4), (members[::-1], 2), ([members[0]] * 2, 1)):
        reason = reverts(pair.b.evm.deploy, DEPLOYER, LC, CHAIN_A, bad_members, threshold)
        assert reason == "InvalidCommittee()"


# ---------------------------------------------------------------------- round trip
def test_burn_unlock_native_and_token(pair: BridgePair) -> None:
    a, b = pair.a, pair.b
    recipient = fresh_address("round-trip")
    native_in, token_in = 7 * ETHER, 11 * ETHER
    locks = [pair.lock_native(a, native_in), pair.lock_token(a, token_in)]
    last = max(int(r["blockNumber"], 16) for r in locks)
    first = min(int(r["blockNumber"], 16) for r in locks)
    pair.accept(a, first)
    proofs = [pair.proof(a, r) for r in locks]
    # deliverBatch also forwards the light-client update of the second block
    update = pair.update_payload(a, last) if last != first else b""
    batch = b.evm.transact(DEPLOYER, b.bridge, "Bridge", "deliverBatch", CHAIN_A, update, proofs)
    assert len([e for e in events(batch, BRIDGE) if e[0] == "Delivered"]) == 2
    w_native, w_token = b.wrapped[NATIVE], b.wrapped[a.token]
    assert int(b.evm.call(w_token, "WrappedToken", "balanceOf", USER)) >= token_in

    bridge_eth, bridge_tok = a.evm.balance(a.bridge), int(a.evm.call(a.token, "TestToken", "balanceOf", a.bridge))
    burns = [pair.burn(b, w_native, 2 * ETHER, recipient), pair.burn(b, w_token, 3 * ETHER, recipient)]
    assert [e[1]["token"] for r in burns for e in events(r, BRIDGE)] == [NATIVE, a.token]
    for r in burns:
        pair.accept(b, int(r["blockNumber"], 16))
    for r in burns:
        proof = pair.proof(b, r)
        assert reverts(pair.deliver, a, "mint", proof).startswith("WrongEvent(")
        pair.deliver(a, "unlock", proof)
        assert reverts(pair.deliver, a, "unlock", proof).startswith("AlreadyDelivered(")
    assert a.evm.balance(recipient) == 2 * ETHER
    assert int(a.evm.call(a.token, "TestToken", "balanceOf", recipient)) == 3 * ETHER
    assert a.evm.balance(a.bridge) == bridge_eth - 2 * ETHER
    assert int(a.evm.call(a.token, "TestToken", "balanceOf", a.bridge)) == bridge_tok - 3 * ETHER


def test_burn_of_unknown_token_rejected(pair: BridgePair) -> None:
    reason = reverts(pair.b.evm.transact, USER_KEY, pair.b.bridge, "Bridge", "burn", pair.b.token, USER, 1)
    assert reason == f"UnknownAsset({CHAIN_B}, {pair.b.token})"


def test_legacy_untyped_receipt_mints(pair: BridgePair) -> None:
    """A type-0 transaction has an untyped receipt (no type byte before the RLP list)."""
    a = pair.a
    recipient = fresh_address("legacy")
    data = BRIDGE.encode_call("lockNative", CHAIN_B, recipient)
    tx = {"chainId": CHAIN_A, "nonce": a.evm.nonce(USER), "gas": 100_000, "gasPrice": 10 * 10**9,
          "to": a.bridge, "value": 5, "data": data}
    raw = Account.sign_transaction(tx, USER_KEY).raw_transaction
    receipt = a.evm.wait_receipt(a.evm.send_raw(bytes(raw)))
    assert receipt["type"] == "0x0"
    pair.accept(a, int(receipt["blockNumber"], 16))
    proof = pair.proof(a, receipt)
    leaf = rlp.decode(proof[2][-1])
    assert len(leaf) == 2 and leaf[1][0] >= 0xC0, "expected an untyped receipt (an RLP list) in the leaf"
    pair.deliver(pair.b, "mint", proof)
    assert wrapped_balance(pair, NATIVE, recipient) == 5
