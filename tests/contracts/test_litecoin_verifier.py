"""LitecoinDepositVerifier on anvil against a real litecoind regtest: a deposit to the 2-of-3 custody with
its OP_RETURN, mined in a block whose header the committee light client accepts, gives the envelope the
Python family (relayer_litecoin.source) describes; altered proofs, other payments, malformed payloads,
unaccepted headers, a phantom position past the end of a merkle level (CVE-2012-2459) and a 64-byte
"transaction" (an inner merkle node) are refused.

Shapes litecoind will not relay (two payloads, a witness serialisation, trailing bytes) are proven in a
synthetic block: the real deposit rewritten with embit under a header the committee accepts here."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput
from eth_utils import keccak
from msg_env import reverts

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.messaging import Envelope, address_word, decode_envelope
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer.errors import ContractRevert
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.deposits import scan
from relayer_litecoin.evm_proof import deposit_proof, evm_proof
from relayer_litecoin.header import Header, sha256d
from relayer_litecoin.merkle import merkle_branch, merkle_root
from relayer_litecoin.network import REGTEST
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.source import ParsedProof, deposit_body, deposit_id, deposit_nonce
from relayer_litecoin.testing import ALPHA, CUSTODY, RECIPIENT, Devnet

VERIFIER = "LitecoinDepositVerifier"
LC = "CommitteeHashLightClient"
DEPLOYER = ANVIL_KEYS[0]
LTC_CHAIN = 7001  # the consortium's id for the Litecoin chain
GAS_LIMIT = 250_000
KEYS = sorted(("0x" + keccak(text=f"ltc-committee-{i}").hex() for i in range(3)),
              key=lambda k: int(cm.signer_address(k), 16))
LAYER = "0x" + keccak(text="destination message layer").hex()[-40:]
APP = "0x" + keccak(text="wrapped LTC application").hex()[-40:]
PROGRAM = CUSTODY.script_pubkey[2:]


@dataclass
class Env:
    evm: SyncEvm
    lc: str
    empty_lc: str
    verifier: str
    block: Block
    height: int
    txids: dict[str, int]  # display txid -> index in the block
    synthetic_height: int = 1_000_000

    def accept(self, height: int, block_hash: bytes, root: bytes, lc: str | None = None) -> None:
        target = lc or self.lc
        digest = cm.header_digest(cm.committee_domain_separator(self.evm.chain_id, target), LTC_CHAIN, height,
                                  block_hash, root, 0)
        packed = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]])
        self.evm.transact(DEPLOYER, target, LC, "updateHeader", height, block_hash, root, packed)

    def verify(self, proof: bytes, program: bytes = PROGRAM, lc: str | None = None) -> Any:
        return self.evm.call(self.verifier, VERIFIER, "verifyMessage", lc or self.lc, program, proof)

    def proof_of(self, txid: str) -> bytes:
        return deposit_proof(self.block, self.height, self.txids[txid])

    def synthetic(self, txs: list[bytes]) -> tuple[bytes, int]:
        """A block at a fresh height whose transactions are the real block's coinbase then ``txs``
        (non-witness bytes), its header accepted by the committee; (proof of the last tx, its index)."""
        leaves = [self.block.txids()[0], *(sha256d(t) for t in txs)]
        header = replace(Header.parse(self.block.header), merkle_root=merkle_root(leaves)[::-1])
        self.synthetic_height += 1
        self.accept(self.synthetic_height, header.hash, header.merkle_root)
        index = len(leaves) - 1
        data = ParsedProof(header.serialize(), index, tuple(merkle_branch(leaves, index)), txs[-1]).encode()
        return evm_proof(self.synthetic_height, data), index


@pytest.fixture(scope="module")
def ltc() -> Iterator[Devnet]:
    net = Devnet()
    yield net
    net.stop()


@pytest.fixture(scope="module")
def env(anvil_module: AnvilNode, ltc: Devnet) -> Iterator[Env]:
    payload = DepositPayload(ALPHA, RECIPIENT).encode().hex()
    txids = {
        "deposit": ltc.deposit(Decimal("1.25")),
        "other": ltc.pay([{ltc.call("getnewaddress"): "0.5"}, {"data": payload}]),
        "no-payload": ltc.pay([{CUSTODY.address(REGTEST): "0.3"}]),
        "malformed": ltc.deposit(Decimal("0.2"), b"rl\x02" + bytes(9)),
    }
    (block_hash,) = ltc.mine(1)
    block = Block.parse(bytes.fromhex(ltc.call("getblock", block_hash, 0)))
    height = int(ltc.call("getblock", block_hash)["height"])
    order = {tx.txid().hex(): i for i, tx in enumerate(block.txs)}
    assert len(block.txs) == 5 and all(t in order for t in txids.values())
    with SyncEvm(anvil_module.url) as evm:
        members = [cm.signer_address(k) for k in KEYS]
        lc = evm.deploy(DEPLOYER, LC, LTC_CHAIN, members, 2)
        empty_lc = evm.deploy(DEPLOYER, LC, LTC_CHAIN, members, 2)
        verifier = evm.deploy(DEPLOYER, VERIFIER, LAYER, APP, GAS_LIMIT)
        e = Env(evm, lc, empty_lc, verifier, block, height, {k: order[v] for k, v in txids.items()})
        header = Header.parse(block.header)
        e.accept(height, header.hash, header.merkle_root)  # what the family's VerifiedHeader names
        yield e


def expected_envelope(env: Env, index: int) -> Envelope:
    (deposit,), refused = scan((env.block.txs[index],), CUSTODY.script_pubkey)
    assert not refused
    return Envelope(nonce=deposit_nonce(env.height, index), source_chain=LTC_CHAIN, source_layer=PROGRAM,
                    sender=PROGRAM, destination_chain=ALPHA, destination_layer=address_word(LAYER),
                    recipient=address_word(APP), gas_limit=GAS_LIMIT, body=deposit_body(deposit))


# ---------------------------------------------------------------------- the real deposit
def test_a_real_deposit_gives_the_familys_envelope(env: Env) -> None:
    index = env.txids["deposit"]
    raw, number, tx_index = env.verify(env.proof_of("deposit"))
    got = decode_envelope(raw)
    assert (number, tx_index) == (env.height, index)
    assert got == expected_envelope(env, index)
    assert got.id.hex() == deposit_id(LTC_CHAIN, PROGRAM, deposit_nonce(env.height, index))[2:]
    assert got.body[33:41] == (125_000_000).to_bytes(8, "big") and got.body[-20:] == RECIPIENT


def test_the_gas_of_one_verification(env: Env) -> None:
    proof = env.proof_of("deposit")
    data = "0x" + _call_data(env, proof).hex()
    gas = int(env.evm.rpc("eth_estimateGas", {"to": env.verifier, "data": data}), 16)
    print(f"\nLitecoinDepositVerifier.verifyMessage: {gas} gas (eth_estimateGas, {len(proof)}-byte proof, "
          f"branch depth {proof[93]})")
    assert 21_000 < gas < 200_000


def _call_data(env: Env, proof: bytes) -> bytes:
    return Contract.load(VERIFIER).encode_call("verifyMessage", env.lc, PROGRAM, proof)


def test_a_pushdata1_payload_is_read_like_a_direct_push(env: Env) -> None:
    tx = Transaction.parse(stripped(env.block.txs[env.txids["deposit"]]))
    payload = DepositPayload(ALPHA, RECIPIENT).encode()
    tx.vout = [o if not bytes(o.script_pubkey.data).startswith(b"\x6a") else
               TransactionOutput(0, Script(b"\x6a\x4c" + bytes([len(payload)]) + payload)) for o in tx.vout]
    proof, index = env.synthetic([stripped(tx)])
    got = decode_envelope(env.verify(proof)[0])
    assert got.body[-20:] == RECIPIENT and got.nonce == deposit_nonce(env.synthetic_height, index)


# ---------------------------------------------------------------------- altered proofs
def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


@pytest.mark.parametrize(("what", "at", "error"), [
    ("header version", 9, "HeaderMismatch"),
    ("header merkle root", 9 + 40, "HeaderMismatch"),
    ("header nonce", 9 + 79, "HeaderMismatch"),
    ("branch", 94 + 5, "RootMismatch"),
    ("transaction", -30, "RootMismatch"),
])
def test_a_flipped_byte_is_refused(env: Env, what: str, at: int, error: str) -> None:
    proof = env.proof_of("deposit")
    assert error in reverts(env.verify, flip(proof, at if at >= 0 else len(proof) + at)), what


def test_a_wrong_index_or_height_is_refused(env: Env) -> None:
    proof = env.proof_of("deposit")
    index = env.txids["deposit"]
    for other in (index ^ 1, index ^ 2):
        moved = proof[:89] + other.to_bytes(4, "big") + proof[93:]
        assert "RootMismatch" in reverts(env.verify, moved)
    beyond = proof[:89] + (index + 8).to_bytes(4, "big") + proof[93:]  # bits above the branch's depth
    assert "IndexBeyondBranch" in reverts(env.verify, beyond)
    for height in (env.height + 1, env.height - 1):
        assert "HeaderNotAccepted" in reverts(env.verify, height.to_bytes(8, "big") + proof[8:])


def test_a_header_the_committee_did_not_accept_is_refused(env: Env) -> None:
    assert "HeaderNotAccepted" in reverts(env.verify, env.proof_of("deposit"), PROGRAM, env.empty_lc)


def test_a_committee_root_that_is_not_the_headers_is_refused(env: Env) -> None:
    header = Header.parse(env.block.header)
    env.accept(env.height, header.hash, keccak(b"another root"), env.empty_lc)
    assert "RootMismatch" in reverts(env.verify, env.proof_of("deposit"), PROGRAM, env.empty_lc)


# ---------------------------------------------------------------------- what the transaction pays
def test_a_payment_to_another_script_is_refused(env: Env) -> None:
    assert "NoCustodyOutput" in reverts(env.verify, env.proof_of("other"))
    assert "NoCustodyOutput" in reverts(env.verify, env.proof_of("deposit"), keccak(b"another custody"))


def test_a_missing_or_malformed_payload_is_refused(env: Env) -> None:
    assert "NoPayload" in reverts(env.verify, env.proof_of("no-payload"))
    assert "MalformedPayload" in reverts(env.verify, env.proof_of("malformed"))


def test_two_payloads_are_refused(env: Env) -> None:
    tx = Transaction.parse(stripped(env.block.txs[env.txids["deposit"]]))
    payload = DepositPayload(ALPHA + 1, RECIPIENT).encode()
    tx.vout.append(TransactionOutput(0, Script(b"\x6a" + bytes([len(payload)]) + payload)))
    assert "SeveralPayloads" in reverts(env.verify, env.synthetic([stripped(tx)])[0])


def test_transaction_bytes_that_are_not_one_non_witness_transaction_are_refused(env: Env) -> None:
    tx = env.block.txs[env.txids["deposit"]]
    buf = io.BytesIO()
    tx.write_to(buf)  # with witness: marker 0x00 where the input count is
    with_witness = buf.getvalue()
    assert with_witness != stripped(tx)
    assert "MalformedTransaction(4)" in reverts(env.verify, env.synthetic([with_witness])[0])
    assert "MalformedTransaction" in reverts(env.verify, env.synthetic([stripped(tx) + b"\0"])[0])
    assert "MalformedTransaction" in reverts(env.verify, env.synthetic([stripped(tx)[:-1]])[0])


# ---------------------------------------------------------------------- merkle tricks
def test_a_phantom_position_past_the_end_of_a_level_is_refused(env: Env) -> None:
    """CVE-2012-2459: the block has 5 transactions, so the last (index 4) is paired with itself; the same
    branch also 'proves' it at index 5, which would be a second nonce for one deposit."""
    proof = deposit_proof(env.block, env.height, 4)
    assert proof[94:126] == env.block.txids()[4]  # its own sibling
    phantom = proof[:89] + (5).to_bytes(4, "big") + proof[93:]
    assert "DuplicateBranchNode(0)" in reverts(env.verify, phantom)


def test_an_inner_node_is_no_transaction(env: Env) -> None:
    """The 64 bytes of two sibling txids hash to their parent: offered as a transaction one level up,
    with the rest of the branch, they would lead to the real root."""
    index = env.txids["deposit"]
    leaves = env.block.txids()
    pair = index & ~1
    inner = leaves[pair] + (leaves[pair + 1] if pair + 1 < len(leaves) else leaves[pair])
    branch = merkle_branch(leaves, index)[1:]
    header = env.block.header
    data = bytes([1]) + header + (index >> 1).to_bytes(4, "big") + bytes([len(branch)]) + b"".join(branch) + inner
    assert "AmbiguousTransaction(64)" in reverts(env.verify, env.height.to_bytes(8, "big") + data)


def test_a_light_client_without_block_hashes_is_refused(env: Env) -> None:
    """A plain CommitteeLightClient keeps only the root: with the same header accepted, every proof against
    it reverts (the verifier must see the accepted block hash)."""
    plain = env.evm.deploy(DEPLOYER, "CommitteeLightClient", LTC_CHAIN, [cm.signer_address(k) for k in KEYS], 2)
    header = Header.parse(env.block.header)
    env.accept(env.height, header.hash, header.merkle_root, lc=plain)
    assert env.evm.call(plain, "CommitteeLightClient", "receiptsRootOf", env.height) == header.merkle_root
    with pytest.raises(ContractRevert):
        env.verify(env.proof_of("deposit"), lc=plain)


# ---------------------------------------------------------------------- through the message layer
def test_a_deposit_is_delivered_through_the_message_layer(env: Env, ltc: Devnet) -> None:
    """The verifier as the Litecoin remote of a MessageLayer: the committee's update and the proof in one
    deliverBatch; the handler gets the family's body once, a second delivery is skipped, a deposit to
    another chain is refused."""
    evm, owner = env.evm, cm.signer_address(DEPLOYER)
    layer = evm.deploy(DEPLOYER, "MessageLayer", owner, 5_000_000)
    recorder = evm.deploy(DEPLOYER, "MsgRecorder", layer)
    verifier = evm.deploy(DEPLOYER, VERIFIER, layer, recorder, GAS_LIMIT)
    lc = evm.deploy(DEPLOYER, LC, LTC_CHAIN, [cm.signer_address(k) for k in KEYS], 2)
    evm.transact(DEPLOYER, layer, "MessageLayer", "setRemote", LTC_CHAIN, PROGRAM, lc, verifier)
    here = ltc.deposit(Decimal("0.75"), DepositPayload(evm.chain_id, RECIPIENT).encode())
    elsewhere = ltc.deposit(Decimal("0.5"))
    (block_hash,) = ltc.mine(1)
    block = Block.parse(bytes.fromhex(ltc.call("getblock", block_hash, 0)))
    height = int(ltc.call("getblock", block_hash)["height"])
    order = {tx.txid().hex(): i for i, tx in enumerate(block.txs)}
    header = Header.parse(block.header)
    digest = cm.header_digest(cm.committee_domain_separator(evm.chain_id, lc), LTC_CHAIN, height, header.hash,
                              header.merkle_root, 0)
    update = cm.encode_committee_update(height, header.hash, header.merkle_root, cm.pack_signatures(
        [(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]]))
    proof = deposit_proof(block, height, order[here])
    receipt = evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", LTC_CHAIN, update, [proof])
    print(f"\ndeliverBatch of one Litecoin deposit with the committee's 2-of-3 update: "
          f"{int(receipt['gasUsed'], 16)} gas")
    assert evm.call(recorder, "MsgRecorder", "count") == 1
    got = evm.call(recorder, "MsgRecorder", "received", 0)
    (deposit,), _ = scan((block.txs[order[here]],), CUSTODY.script_pubkey)
    nonce = deposit_nonce(height, order[here])
    assert (got[0], got[1], got[2]) == (LTC_CHAIN, PROGRAM, deposit_body(deposit))
    assert ("0x" + got[3].hex(), got[4], got[5]) == (deposit_id(LTC_CHAIN, PROGRAM, nonce), height, order[here])
    assert evm.call(layer, "MessageLayer", "outcomeOf", LTC_CHAIN, PROGRAM, nonce) == 1
    evm.transact(DEPLOYER, layer, "MessageLayer", "deliverBatch", LTC_CHAIN, b"", [proof])  # skipped
    assert evm.call(recorder, "MsgRecorder", "count") == 1
    assert "WrongDestinationChain" in reverts(evm.transact, DEPLOYER, layer, "MessageLayer", "deliverBatch",
                                              LTC_CHAIN, b"", [deposit_proof(block, height, order[elsewhere])])
