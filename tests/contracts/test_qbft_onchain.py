"""QbftLightClient on real anvil nodes: public QBFT / IBFT 2.0 vectors, validator-set changes,
and a real message sent on chain A relayed through the on-chain QBFT client of chain B to its
execution by the message layer.

Anvil cannot seal BFT blocks, so the headers are anvil's real blocks with a BFT extraData
sealed by validator keys generated here (``adapters.evm.qbft.seal_header``); every other
field, the receipts root included, is anvil's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from adapters.evm import qbft
from adapters.evm.abi import Contract
from adapters.evm.messaging import OUTCOME_DELIVERED, address_word, encode_evm_proof
from adapters.evm.proof import build_receipt_proof
from adapters.evm.sync_client import SyncEvm
from light_clients.bft.codec import QBFT, BftExtra, Vote, encode_extra
from light_clients.evm.header import Header, decode_header, header_from_rpc
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.errors import ContractRevert

LC = "QbftLightClient"
QLC = Contract.load(LC)
LAYER = Contract.load("MessageLayer")
DEPLOYER = ANVIL_KEYS[0]
USER_KEY = ANVIL_KEYS[1]
CHAIN_A, CHAIN_B = 1001, 1002


# ---------------------------------------------------------------------- helpers
def gen_keys(label: str, count: int) -> list[str]:
    """Deterministic validator keys, sorted by address (Besu lists validators ascending)."""
    keys = ["0x" + keccak(text=f"qbft-{label}-{i}").hex() for i in range(count)]
    return sorted(keys, key=lambda k: int(qbft.address_of(k), 16))


def addrs(keys: list[str]) -> list[str]:
    return sorted((qbft.address_of(k) for k in keys), key=lambda a: int(a, 16))


def deploy(evm: SyncEvm, checkpoint: int, validators: list[str], flavour: str = "qbft",
           source: int = CHAIN_A) -> str:
    ordered = sorted((to_checksum_address(v) for v in validators), key=lambda a: int(a, 16))
    return evm.deploy(DEPLOYER, LC, source, checkpoint, ordered, qbft.FLAVOUR_ID[flavour])


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason


def update(evm: SyncEvm, lc: str, rlp_header: bytes) -> dict[str, Any]:
    return evm.transact(DEPLOYER, lc, LC, "updateHeader", rlp_header)


def lc_events(receipt: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    decoded = (QLC.decode_log(log) for log in receipt["logs"])
    return [d for d in decoded if d is not None]


def h32(text: str) -> bytes:
    return bytes.fromhex(text[2:])


@pytest.fixture(scope="module")
def evm(anvil_module: AnvilNode) -> Iterator[SyncEvm]:
    client = SyncEvm(anvil_module.url)
    yield client
    client.close()


# ---------------------------------------------------------------------- (a) the real Besu QBFT header
@pytest.fixture(scope="module")
def besu(vectors: Path) -> dict[str, Any]:
    return json.loads((vectors / "besu-qbft-elc" / "qbft_header_vectors.json").read_text())["qbft_header"]


def test_besu_vector_accepted(evm: SyncEvm, besu: dict[str, Any]) -> None:
    raw = h32(besu["header_rlp_with_seals"])
    header = decode_header(raw)
    asserted = besu["upstream_asserted"]
    assert header.number == asserted["number"] == 7528
    lc = deploy(evm, 7527, asserted["validators"])
    commit_hash, block_hash = evm.call(lc, LC, "headerHashes", raw)
    assert commit_hash == h32(asserted["commit_hash"]) == keccak(h32(besu["header_rlp_commit_payload"]))
    assert block_hash == h32(besu["derived"]["onchain_block_hash"]) == qbft.qbft_block_hash(header)
    signers = evm.call(lc, LC, "sealSigners", raw)
    assert [s.lower() for s in signers] == besu["derived"]["seal_signers_in_order"]
    assert set(s.lower() for s in signers) <= set(asserted["validators"])
    assert evm.call(lc, LC, "quorum") == 3

    receipt = update(evm, lc, raw)
    assert lc_events(receipt) == [("HeaderAccepted", {"number": 7528, "blockHash": block_hash,
                                                      "receiptsRoot": header.receipts_root})]
    assert evm.call(lc, LC, "headers", 7528) == (block_hash, header.receipts_root)
    assert evm.call(lc, LC, "receiptsRootOf", 7528) == header.receipts_root
    assert evm.call(lc, LC, "latestNumber") == 7528
    assert lc_events(update(evm, lc, raw)) == []  # the same header again is a no-op
    assert reverts(evm.call, lc, LC, "updateHeader", raw.replace(b"\x82\x1d\x68", b"\x82\x1d\x69", 1)) \
        .startswith(("UnknownValidator", "InvalidSeal"))  # number patched: the seals no longer match


def test_besu_vector_one_seal_removed(evm: SyncEvm, besu: dict[str, Any]) -> None:
    header = decode_header(h32(besu["header_rlp_with_seals"]))
    seals = qbft.extra_of(header).seals
    lc = deploy(evm, 7527, besu["upstream_asserted"]["validators"])
    two = qbft.with_seals(header, seals[:2]).rlp
    assert reverts(update, evm, lc, two) == "NotEnoughSeals(2, 3)"
    assert reverts(update, evm, lc, qbft.with_seals(header, []).rlp) == "NotEnoughSeals(0, 3)"
    duplicated = qbft.with_seals(header, [seals[0], seals[1], seals[0]]).rlp
    signer = qbft.recover_seal(qbft.committed_seal_hash(header), seals[0])
    assert reverts(update, evm, lc, duplicated) == f"DuplicateSeal({signer})"


def test_besu_vector_altered_seal(evm: SyncEvm, besu: dict[str, Any]) -> None:
    header = decode_header(h32(besu["header_rlp_with_seals"]))
    seals = list(qbft.extra_of(header).seals)
    lc = deploy(evm, 7527, besu["upstream_asserted"]["validators"])
    flipped = bytes([seals[1][0] ^ 0x01]) + seals[1][1:]  # r altered: recovers someone else (or no one)
    reason = reverts(update, evm, lc, qbft.with_seals(header, [seals[0], flipped, seals[2]]).rlp)
    assert reason.startswith("UnknownValidator(") or reason == "InvalidSeal()"
    bad_v = seals[1][:64] + b"\x1b"  # v must be the recovery id 0/1
    assert reverts(update, evm, lc, qbft.with_seals(header, [seals[0], bad_v, seals[2]]).rlp) == "InvalidSeal()"
    short = seals[1][:64]
    assert reverts(update, evm, lc, qbft.with_seals(header, [seals[0], short, seals[2]]).rlp) == "InvalidSeal()"
    assert evm.call(lc, LC, "latestNumber") == 7527


def test_besu_vector_validator_replaced(evm: SyncEvm, besu: dict[str, Any]) -> None:
    raw = h32(besu["header_rlp_with_seals"])
    header = decode_header(raw)
    validators = list(besu["upstream_asserted"]["validators"])
    intruder = Account.from_key(keccak(text="intruder")).address
    replaced = [intruder] + validators[1:]  # 0x647b... (a real signer) swapped out
    # a client trusting another set does not take the header's set
    lc = deploy(evm, 7527, replaced)
    assert reverts(update, evm, lc, raw) == "UnexpectedValidatorSet(7528)"
    # the header rewritten to list that set: the seals do not carry over to a different list
    extra = qbft.extra_of(header)
    listed = tuple(sorted((h32(a) for a in [a.lower() for a in replaced]), key=lambda b: int.from_bytes(b, "big")))
    forged = header.replace(extra_data=encode_extra(QBFT, BftExtra(extra.vanity, listed, extra.vote, extra.round,
                                                                 extra.seals)))
    assert reverts(update, evm, lc, forged.rlp).startswith("UnknownValidator(")
    # the genuine client rejects the rewritten header too, and older or equal numbers
    genuine = deploy(evm, 7527, validators)
    assert reverts(update, evm, genuine, forged.rlp) == "UnexpectedValidatorSet(7528)"
    assert reverts(update, evm, deploy(evm, 7529, validators), raw) == "StaleHeader(7528)"  # before the checkpoint


def test_malformed_headers(evm: SyncEvm, besu: dict[str, Any]) -> None:
    raw = h32(besu["header_rlp_with_seals"])
    header = decode_header(raw)
    lc = deploy(evm, 7527, besu["upstream_asserted"]["validators"])
    assert reverts(update, evm, lc, raw[:-1]) == "InvalidHeader()"
    assert reverts(update, evm, lc, raw + b"\x00") == "InvalidHeader()"
    assert reverts(update, evm, lc, header.replace(extra_data=bytes(32)).rlp) == "InvalidExtraData()"
    assert reverts(update, evm, lc, header.replace(extra_data=header.extra_data + b"\xc0").rlp) == "InvalidExtraData()"


# ---------------------------------------------------------------------- (b) IBFT 2.0 hashing vectors
@pytest.fixture(scope="module")
def ibft2(vectors: Path) -> dict[str, Any]:
    path = vectors / "qbft-tests" / "BftBlockHeaderHashTests" / "bft_block_headers_data.json"
    return json.loads(path.read_text())["hash_of_qbft_block_header"]


def ibft2_header(case: dict[str, Any]) -> Header:
    b = case["qbft_block_header"]
    return Header(parent_hash=h32(b["parentHash"]), uncles_hash=h32(b["ommersHash"]), coinbase=h32(b["coinbase"]),
                  state_root=h32(b["stateRoot"]), transactions_root=h32(b["transactionsRoot"]),
                  receipts_root=h32(b["receiptsRoot"]), logs_bloom=h32(b["logsBloom"]),
                  difficulty=b["difficulty"], number=b["number"], gas_limit=b["gasLimit"], gas_used=b["gasUsed"],
                  timestamp=b["timestamp"], extra_data=h32(b["extraData"]), mix_hash=h32(b["mixHash"]),
                  nonce=b["nonce"].to_bytes(8, "big"))


def test_ibft2_vector_hashing_and_recovery(evm: SyncEvm, ibft2: dict[str, Any]) -> None:
    header = ibft2_header(ibft2)
    key_addrs = [qbft.address_of("0x" + i.to_bytes(32, "big").hex()) for i in range(1, 5)]
    assert qbft.committed_seal_hash(header, "ibft2") == h32(ibft2["committed_seal_hash"])
    assert qbft.qbft_block_hash(header, "ibft2") == h32(ibft2["on_chain_hash"])
    assert qbft.seal_signers(header, "ibft2") == key_addrs

    lc = deploy(evm, 0, key_addrs, "ibft2")
    assert evm.call(lc, LC, "flavour") == 1
    assert evm.call(lc, LC, "headerHashes", header.rlp) == (h32(ibft2["committed_seal_hash"]),
                                                            h32(ibft2["on_chain_hash"]))
    assert evm.call(lc, LC, "sealSigners", header.rlp) == key_addrs
    # The vector lists validators 0x..01 and 0x..02 but is sealed by keys 1..4: under Besu's rules
    # (the listed set seals its own header) it is no valid chain block for either set.
    assert reverts(update, evm, lc, header.rlp) == "UnexpectedValidatorSet(1)"
    listed = deploy(evm, 0, ["0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"], "ibft2")
    assert reverts(update, evm, listed, header.rlp) == f"UnknownValidator({key_addrs[0]})"
    # the QBFT flavour hashes the same bytes differently
    qbft_lc = deploy(evm, 0, key_addrs, "qbft")
    assert evm.call(qbft_lc, LC, "headerHashes", header.rlp)[0] != h32(ibft2["committed_seal_hash"])


# ---------------------------------------------------------------------- (c) validator-set changes
def real_headers(evm: SyncEvm, count: int) -> list[Header]:
    """``count`` consecutive real anvil block headers (mined now)."""
    evm.rpc("anvil_mine", hex(count))
    top = evm.block_number()
    blocks = evm.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(top - count + 1, top + 1)])
    headers = [header_from_rpc(b) for b in blocks]
    assert all(h.hash == h32(b["hash"]) for h, b in zip(headers, blocks))  # anvil's own hashes
    return headers


@dataclass
class Sealer:
    """Seals consecutive real headers as one BFT chain (each parentHash = Besu hash of the previous)."""

    flavour: str
    headers: list[Header]
    previous: Header | None = None

    def seal(self, index: int, sealers: list[str], listed: list[str], vote: Vote | None = None,
             link: bool = True, commit: bool = True) -> bytes:
        base = self.headers[index]
        if link and self.previous is not None:
            base = base.replace(parent_hash=qbft.qbft_block_hash(self.previous, self.flavour))
        sealed = qbft.sealed_header(base, sealers, flavour=self.flavour, vote=vote, listed=listed, round=index % 3)
        if commit:
            self.previous = sealed
        return sealed.rlp


@pytest.mark.parametrize("flavour", ["qbft", "ibft2"])
def test_validator_set_change(evm: SyncEvm, flavour: str) -> None:
    keys = gen_keys(f"change-{flavour}", 5)
    old, newcomer = keys[:4], keys[4]
    v0 = addrs(old)
    v1 = addrs(old + [newcomer])
    leaving = old[0]
    v2 = [a for a in v1 if a != qbft.address_of(leaving)]
    chain = Sealer(flavour, real_headers(evm, 12))
    first = chain.headers[0].number
    lc = deploy(evm, first - 1, v0, flavour)
    assert evm.call(lc, LC, "quorum") == 3

    # N: the four validators seal a header carrying the deciding vote to add the newcomer
    update(evm, lc, chain.seal(0, old[:3], v0, qbft.vote_for(qbft.address_of(newcomer), True)))
    assert evm.call(lc, LC, "voteAt", first) == (qbft.address_of(newcomer), 1)

    # N+1 lists the five; Besu has it sealed by the five, so 3 (the old quorum) no longer suffice
    assert reverts(update, evm, lc, chain.seal(1, old[:3], v1, commit=False)) == "NotEnoughSeals(3, 4)"
    unlinked = chain.seal(1, old[:3] + [newcomer], v1, link=False, commit=False)
    assert reverts(update, evm, lc, unlinked) == f"UnexpectedValidatorSet({first + 1})"
    receipt = update(evm, lc, chain.seal(1, [newcomer] + old[1:4], v1))
    assert ("ValidatorsChanged", {"number": first + 1, "validators": v1}) in lc_events(receipt)
    assert evm.call(lc, LC, "validators") == v1
    assert evm.call(lc, LC, "quorum") == 4

    # N+2 carries the vote to drop one of the old four; N+3 lists the remaining four
    update(evm, lc, chain.seal(2, old[:3] + [newcomer], v1, qbft.vote_for(qbft.address_of(leaving), False)))
    assert evm.call(lc, LC, "voteAt", first + 2) == (qbft.address_of(leaving), 2)
    receipt = update(evm, lc, chain.seal(3, old[1:3] + [newcomer], v2))
    assert ("ValidatorsChanged", {"number": first + 3, "validators": v2}) in lc_events(receipt)
    assert evm.call(lc, LC, "validators") == v2
    assert evm.call(lc, LC, "quorum") == 3

    # after the change, headers sealed by the OLD set are rejected
    old_quorum = old[:3]  # a quorum of the original four, but only 2 of them are in the new set
    assert reverts(update, evm, lc,
                   chain.seal(4, old_quorum, v0, commit=False)) == f"UnexpectedValidatorSet({first + 4})"
    assert reverts(update, evm, lc, chain.seal(4, old_quorum, v2, commit=False)) == \
        f"UnknownValidator({qbft.address_of(leaving)})"
    assert reverts(update, evm, lc, chain.seal(4, old_quorum[1:], v2, commit=False)) == "NotEnoughSeals(2, 3)"
    assert reverts(update, evm, lc, chain.seal(4, old + [newcomer], v1, commit=False)) == \
        f"UnexpectedValidatorSet({first + 4})"  # the five-set, right before the drop

    # the new set goes on; skipping blocks is fine while the set stays the same
    update(evm, lc, chain.seal(4, [newcomer] + old[1:3], v2))
    receipt = update(evm, lc, chain.seal(8, old[1:3] + [newcomer], v2, link=False))
    assert lc_events(receipt)[0][0] == "HeaderAccepted"
    assert evm.call(lc, LC, "latestNumber") == first + 8
    # ...but a set change cannot be skipped over: the re-added validator's set needs its vote's child
    readded = addrs(old + [newcomer])
    assert reverts(update, evm, lc, chain.seal(11, old + [newcomer], readded, link=False, commit=False)) == \
        f"UnexpectedValidatorSet({first + 11})"
    # an older header of the open epoch is still accepted after a newer one (item 14: no freezing)
    update(evm, lc, chain.seal(7, old[1:3] + [newcomer], v2, commit=False))
    assert evm.call(lc, LC, "latestNumber") == first + 8
    assert evm.call(lc, LC, "epochCount") == 3
    assert [evm.call(lc, LC, "epochAt", i)[0] for i in range(3)] == [first - 1, first + 1, first + 3]


def test_headers_of_every_known_epoch_are_accepted_in_any_order(evm: SyncEvm) -> None:
    """Accepting a newer header never makes an older final block unprovable: headers of closed
    epochs and older headers of the open one are accepted after newer ones; each must list the set
    of the epoch its number falls in."""
    keys = gen_keys("epochs", 5)
    old, newcomer = keys[:4], keys[4]
    v0, v1 = addrs(old), addrs(keys)
    chain = Sealer("qbft", real_headers(evm, 10))
    first = chain.headers[0].number
    lc = deploy(evm, first, v0)
    sealed = {0: chain.seal(0, old[:3], v0)}
    sealed[1] = chain.seal(1, old[1:], v0, qbft.vote_for(qbft.address_of(newcomer), True))
    for i in range(2, 10):
        sealed[i] = chain.seal(i, keys[:4], v1)
    update(evm, lc, sealed[1])
    update(evm, lc, sealed[2])  # the set change: epoch 1 from first + 2
    update(evm, lc, sealed[9])
    in_epoch_0 = qbft.seal_header(chain.headers[0], keys[:4], listed=v1)  # the set of epoch 1, before it began
    assert reverts(update, evm, lc, in_epoch_0) == f"UnexpectedValidatorSet({first})"
    for i in (5, 3, 0, 8):  # older headers after newer ones, in both epochs
        update(evm, lc, sealed[i])
        assert evm.call(lc, LC, "receiptsRootOf", first + i) == chain.headers[i].receipts_root
    assert evm.call(lc, LC, "latestNumber") == first + 9
    assert evm.call(lc, LC, "epochCount") == 2 and evm.call(lc, LC, "validators") == v1
    # a header must list the set of the epoch its number falls in
    assert reverts(update, evm, lc, chain.seal(4, old[:3], v0, commit=False)) == f"UnexpectedValidatorSet({first + 4})"
    stale = Sealer("qbft", real_headers(evm, 1))
    assert reverts(update, evm, deploy(evm, stale.headers[0].number + 1, v0), stale.seal(0, old[:3], v0)) == \
        f"StaleHeader({stale.headers[0].number})"


def test_a_checkpoint_whose_next_block_changes_the_set_is_followable(evm: SyncEvm) -> None:
    keys = gen_keys("checkpoint-change", 5)
    old, newcomer = keys[:4], keys[4]
    chain = Sealer("qbft", real_headers(evm, 3))
    checkpoint = chain.headers[0].number
    lc = deploy(evm, checkpoint, addrs(old))
    voted = chain.seal(0, old[:3], addrs(old), qbft.vote_for(qbft.address_of(newcomer), True))
    changed = chain.seal(1, keys[1:], addrs(keys))
    assert reverts(update, evm, lc, changed) == f"UnexpectedValidatorSet({checkpoint + 1})"  # its parent first
    update(evm, lc, voted)  # the checkpoint header itself, carrying the deciding vote
    receipt = update(evm, lc, changed)
    assert ("ValidatorsChanged", {"number": checkpoint + 1, "validators": addrs(keys)}) in lc_events(receipt)
    update(evm, lc, chain.seal(2, keys[:4], addrs(keys)))
    assert evm.call(lc, LC, "latestNumber") == checkpoint + 2


def test_a_header_with_a_zero_receipts_root_is_refused(evm: SyncEvm) -> None:
    keys = gen_keys("zero-root", 4)
    [header] = real_headers(evm, 1)
    lc = deploy(evm, header.number - 1, addrs(keys))
    zero = qbft.seal_header(header.replace(receipts_root=bytes(32)), keys[:3], listed=addrs(keys))
    assert reverts(update, evm, lc, zero) == f"ZeroRoot({header.number})"
    assert evm.call(lc, LC, "headers", header.number) == (bytes(32), bytes(32))


# ---------------------------------------------------------------------- (d) message on A -> execution on B via QBFT
@dataclass
class QbftPair:
    a: SyncEvm
    b: SyncEvm
    layer_a: str
    layer_b: str
    lc_b: str
    recorder: str  # MsgRecorder on B
    keys: list[str]

    @property
    def validators(self) -> list[str]:
        return addrs(self.keys)


def _layer(evm: SyncEvm) -> tuple[str, str]:
    """A MessageLayer (owner DEPLOYER) and an EvmReceiptVerifier on ``evm``."""
    owner = Account.from_key(DEPLOYER).address
    return evm.deploy(DEPLOYER, "MessageLayer", owner, 5_000_000), evm.deploy(DEPLOYER, "EvmReceiptVerifier")


@pytest.fixture(scope="module")
def pair() -> Iterator[QbftPair]:
    nodes = [start_anvil(CHAIN_A, block_time=None), start_anvil(CHAIN_B, block_time=None)]
    a, b = SyncEvm(nodes[0].url), SyncEvm(nodes[1].url)
    try:
        keys = gen_keys("bridge", 4)
        (layer_a, verifier_a), (layer_b, verifier_b) = _layer(a), _layer(b)
        # B's client of A: trusts A's current head with the generated validator set
        lc_b = deploy(b, a.block_number(), addrs(keys), source=CHAIN_A)
        lc_a = deploy(a, b.block_number(), addrs(keys), source=CHAIN_B)  # lets A send towards B
        a.transact(DEPLOYER, layer_a, "MessageLayer", "setRemote", CHAIN_B, address_word(layer_b), lc_a, verifier_a)
        b.transact(DEPLOYER, layer_b, "MessageLayer", "setRemote", CHAIN_A, address_word(layer_a), lc_b, verifier_b)
        recorder = b.deploy(DEPLOYER, "MsgRecorder", layer_b)
        yield QbftPair(a, b, layer_a, layer_b, lc_b, recorder, keys)
    finally:
        a.close()
        b.close()
        for node in nodes:
            stop_anvil(node)


def send(pair: QbftPair, body: bytes) -> tuple[Header, bytes]:
    """A real MessageLayer.send on A to B's recorder; returns A's real header of that block and the
    EvmReceiptVerifier proof of its MessageSent log."""
    receipt = pair.a.transact(USER_KEY, pair.layer_a, "MessageLayer", "send", CHAIN_B, address_word(pair.recorder),
                              body, 200_000, 0, 0)
    number = int(receipt["blockNumber"], 16)
    block = pair.a.rpc("eth_getBlockByNumber", hex(number), False)
    header = header_from_rpc(block)
    assert header.hash == h32(block["hash"])
    receipts = pair.a.rpc("eth_getBlockReceipts", hex(number))
    p = build_receipt_proof(receipts, int(receipt["transactionIndex"], 16))
    log_index = next(i for i, log in enumerate(receipt["logs"]) if log["address"].lower() == pair.layer_a.lower())
    return header, encode_evm_proof(number, p.key, list(p.nodes), log_index)


def received(pair: QbftPair) -> list[bytes]:
    """Bodies B's recorder has received, in order."""
    return [bytes(pair.b.call(pair.recorder, "MsgRecorder", "received", i)[2])
            for i in range(int(pair.b.call(pair.recorder, "MsgRecorder", "count")))]


def deliver(pair: QbftPair, update_rlp: bytes, proofs: list[bytes]) -> dict[str, Any]:
    return pair.b.transact(DEPLOYER, pair.layer_b, "MessageLayer", "deliverBatch", CHAIN_A, update_rlp, proofs)


def test_message_relayed_to_execution_through_qbft_client(pair: QbftPair) -> None:
    header, proof = send(pair, b"batch-1")
    listed = pair.validators

    # too few seals: the light client (called by the layer) rejects, nothing is executed
    too_few = qbft.seal_header(header, pair.keys[:2], listed=listed)
    assert reverts(deliver, pair, too_few, [proof]) == "NotEnoughSeals(2, 3)"
    assert reverts(update, pair.b, pair.lc_b, too_few) == "NotEnoughSeals(2, 3)"
    assert b"batch-1" not in received(pair)

    sealed = qbft.sealed_header(header, pair.keys[1:], listed=listed, round=2)
    receipt = deliver(pair, sealed.rlp, [proof])
    block_hash = qbft.qbft_block_hash(sealed)
    accepted = [f for name, f in lc_events(receipt) if name == "HeaderAccepted"]
    assert accepted == [{"number": header.number, "blockHash": block_hash, "receiptsRoot": header.receipts_root}]
    processed = [f for f in map(LAYER.decode_log, receipt["logs"]) if f and f[0] == "MessageProcessed"]
    assert [f[1]["outcome"] for f in processed] == [OUTCOME_DELIVERED]
    assert received(pair).count(b"batch-1") == 1
    assert pair.b.call(pair.lc_b, LC, "headers", header.number) == (block_hash, header.receipts_root)
    print(f"\ndeliverBatch with a 3-of-4 QBFT header update and one message: {int(receipt['gasUsed'], 16)} gas")

    # a second message, relayed with a later header (blocks skipped, same validator set)
    pair.a.rpc("anvil_mine", hex(3))
    header2, proof2 = send(pair, b"batch-2")
    deliver(pair, qbft.seal_header(header2, pair.keys[:3], listed=listed), [proof2])
    assert received(pair).count(b"batch-2") == 1
    # replaying the delivery with the same header: header no-op, message skipped, nothing executed twice
    replay = deliver(pair, qbft.seal_header(header2, pair.keys[:3], listed=listed), [proof2])
    assert not [f for f in map(LAYER.decode_log, replay["logs"]) if f and f[0] == "MessageProcessed"]
    assert received(pair).count(b"batch-2") == 1


def test_execution_needs_an_accepted_header(pair: QbftPair) -> None:
    header, proof = send(pair, b"batch-3")
    # the proof alone (no header update) fails: the block is not known to the QBFT client
    assert reverts(deliver, pair, b"", [proof]) == f"HeaderNotAccepted({pair.lc_b}, {header.number})"
    # a header sealed over different contents (another receipts root) does not prove this receipt
    forged = header.replace(receipts_root=keccak(b"forged"))
    deliver(pair, qbft.seal_header(forged, pair.keys[:3], listed=pair.validators), [])
    assert reverts(deliver, pair, b"", [proof]) == "InvalidProof()"
    assert b"batch-3" not in received(pair)


def test_an_outsider_pushing_a_newer_header_first_does_not_strand_an_older_block(pair: QbftPair) -> None:
    """Anyone may push the public sealed header of block J+1 before the relayer delivers block J:
    J's header is still accepted afterwards and its message delivered."""
    header, proof = send(pair, b"batch-4")
    pair.a.rpc("anvil_mine", hex(1))
    later = header_from_rpc(pair.a.rpc("eth_getBlockByNumber", hex(header.number + 1), False))
    outsider = ANVIL_KEYS[7]
    pair.b.transact(outsider, pair.lc_b, LC, "updateHeader",
                    qbft.seal_header(later, pair.keys[:3], listed=pair.validators))
    assert pair.b.call(pair.lc_b, LC, "latestNumber") == header.number + 1
    deliver(pair, qbft.seal_header(header, pair.keys[1:], listed=pair.validators), [proof])
    assert received(pair).count(b"batch-4") == 1
