"""A release proven back as its burn's acknowledgement (LitecoinDepositVerifier's release proof, version 2,
and WrappedLitecoin.handleAck) on anvil, with a real litecoind regtest: a deposit mints wLTC, a burn sends
its message, the three operators' release (2-of-3 custody, version 2 marker naming this chain) is mined,
and its proof (the release and the deposit its input 0 spends, each under a header the committee accepted)
records the release once with its txid and the amount paid. Refused: a marker in a transaction that does
not spend the custody, a funding transaction under a header the committee did not accept, an input
spending another output of the funding transaction, a release for another chain, a replay and a release
of an unknown burn.

Shapes the operators would never sign (another vout, another marker) are proven in synthetic blocks: the
real release rewritten with embit under a header the committee accepts here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from embit.script import Script
from embit.transaction import Transaction, TransactionOutput
from eth_utils import keccak
from msg_env import reverts

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer_litecoin.acks import Funding, ReleaseProof
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.evm_proof import deposit_proof, release_proof
from relayer_litecoin.header import Header, sha256d
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.merkle import merkle_branch, merkle_root
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.policy import submitters
from relayer_litecoin.proofs import ParsedProof
from relayer_litecoin.release import ReleaseRequest
from relayer_litecoin.source import deposit_id, deposit_nonce
from relayer_litecoin.testing import CUSTODY, OPERATORS, Devnet, ReleaseTeam

APP = "WrappedLitecoin"
LAYER = "MessageLayer"
DEPLOYER = ANVIL_KEYS[0]
USER_KEY = ANVIL_KEYS[1]
USER = cm.signer_address(USER_KEY)
LTC_CHAIN = 7001
PROGRAM = CUSTODY.script_pubkey[2:]
KEYS = sorted(("0x" + keccak(text=f"ltc-committee-{i}").hex() for i in range(3)),
              key=lambda k: int(cm.signer_address(k), 16))
WRAPPED = Contract.load(APP)
LAYER_ABI = Contract.load(LAYER)
BURN = 40_000_000  # 0.4 LTC


@dataclass
class Env:
    evm: Any
    layer: str
    lc: str
    app: str
    ltc: Devnet
    burn_id: bytes  # the burn's message id
    deposit: tuple[Block, int]  # the deposit's block and height (its header accepted)
    release: tuple[Block, int, int]  # the release's block, height, index (its header not yet accepted)
    synthetic_height: int = 1_000_000

    def accept(self, height: int, header: Header) -> None:
        digest = cm.header_digest(cm.committee_domain_separator(self.evm.chain_id, self.lc), LTC_CHAIN, height,
                                  header.hash, header.merkle_root, 0)
        packed = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]])
        self.evm.transact(DEPLOYER, self.lc, "CommitteeHashLightClient", "updateHeader", height, header.hash,
                          header.merkle_root, packed)

    def deliver(self, proofs: list[bytes]) -> dict[str, Any]:
        return self.evm.transact(DEPLOYER, self.layer, LAYER, "deliverBatch", LTC_CHAIN, b"", proofs)

    def mined(self, block_hash: str) -> tuple[Block, int]:
        block = Block.parse(bytes.fromhex(self.ltc.call("getblock", block_hash, 0)))
        return block, int(self.ltc.call("getblock", block_hash)["height"])

    def genuine(self) -> bytes:
        block, height, index = self.release
        return release_proof(block, height, index, *self.deposit)

    def release_tx(self) -> Transaction:
        block, _, index = self.release
        return Transaction.parse(stripped(block.txs[index]))

    def synthetic(self, tx: Transaction, funding: tuple[Block, int] | None = None) -> bytes:
        """``tx`` proven in a block at a fresh accepted height (the real coinbase then ``tx``), spending a
        transaction of ``funding`` (default: the deposit's block)."""
        coinbase = self.release[0].txids()[0]
        leaves = [coinbase, sha256d(stripped(tx))]
        header = replace(Header.parse(self.release[0].header), merkle_root=merkle_root(leaves)[::-1])
        self.synthetic_height += 1
        self.accept(self.synthetic_height, header)
        fblock, fheight = funding or self.deposit
        ftxids = fblock.txids()
        at = ftxids.index(bytes(tx.vin[0].txid)[::-1])
        fproof = ParsedProof(fblock.header, at, tuple(merkle_branch(ftxids, at)), stripped(fblock.txs[at]))
        release = ParsedProof(header.serialize(), 1, tuple(merkle_branch(leaves, 1)), stripped(tx))
        return ReleaseProof(self.synthetic_height, release, Funding(fheight, fproof)).encode()

    def outcome(self, receipt: dict[str, Any]) -> tuple[int, str]:
        (processed,) = LAYER_ABI.logs_of(receipt, self.layer, "MessageProcessed")
        return processed["outcome"], WRAPPED.decode_revert(processed["result"]) if processed["outcome"] != 1 else ""


def with_marker(tx: Transaction, marker: Marker) -> Transaction:
    tx.vout = [TransactionOutput(0, Script(marker.script())) if bytes(o.script_pubkey.data).startswith(b"\x6a")
               else o for o in tx.vout]
    return tx


async def release(url: str, folder: Path, marker: Marker, address: str, amount: int) -> str:
    me = [s.public_key for s in OPERATORS].index(submitters(CUSTODY, marker)[0])
    team = ReleaseTeam(url, folder, me)
    try:
        outcome = await team.submitter.release(ReleaseRequest(marker, address, amount))
    finally:
        await team.aclose()
    assert outcome.state == "broadcast", outcome
    return outcome.txid


@pytest.fixture(scope="module")
def env(anvil_module: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from adapters.evm.sync_client import SyncEvm

    ltc = Devnet()
    try:
        with SyncEvm(anvil_module.url) as evm:
            layer = evm.deploy(DEPLOYER, LAYER, cm.signer_address(DEPLOYER), 5_000_000)
            app = evm.deploy(DEPLOYER, APP, layer, LTC_CHAIN, PROGRAM)
            verifier = evm.deploy(DEPLOYER, "LitecoinDepositVerifier", layer, app, 200_000)
            lc = evm.deploy(DEPLOYER, "CommitteeHashLightClient", LTC_CHAIN, [cm.signer_address(k) for k in KEYS], 2)
            evm.transact(DEPLOYER, layer, LAYER, "setRemote", LTC_CHAIN, PROGRAM, lc, verifier)
            env = Env(evm, layer, lc, app, ltc, b"", (Block(b"", ()), 0), (Block(b"", ()), 0, 0))

            # a deposit of 1 LTC minted to USER, then USER burns 0.4 wLTC
            payload = DepositPayload(evm.chain_id, bytes.fromhex(USER[2:])).encode()
            deposit_txid = ltc.deposit(Decimal("1"), payload)
            (block_hash,) = ltc.mine(1)
            env.deposit = env.mined(block_hash)
            block, height = env.deposit
            index = next(i for i, t in enumerate(block.txs) if t.txid().hex() == deposit_txid)
            env.accept(height, Header.parse(block.header))
            env.deliver([deposit_proof(block, height, index)])
            ltc.mine(1)  # final at one confirmation for the operators
            address = ltc.call("getnewaddress")
            receipt = evm.transact(USER_KEY, app, APP, "burn", address, BURN)
            (burned,) = WRAPPED.logs_of(receipt, app, "BurnedForLitecoin")
            env.burn_id = burned["messageId"]

            # the operators release it (the deposit is the custody's only output: input 0 spends it)
            marker = Marker(Kind.RELEASE, env.burn_id, evm.chain_id)
            txid = trio.run(release, ltc.node.url, tmp_path_factory.mktemp("release"), marker, address, BURN)
            (block_hash,) = ltc.mine(1)
            block, height = env.mined(block_hash)
            env.release = (block, height, next(i for i, t in enumerate(block.txs) if t.txid().hex() == txid))
            assert bytes(block.txs[env.release[2]].vin[0].txid).hex() == deposit_txid
            yield env
    finally:
        ltc.stop()


def test_a_genuine_release_is_recorded_once(env: Env) -> None:
    block, height, index = env.release
    env.accept(height, Header.parse(block.header))
    assert env.evm.call(env.app, APP, "burnOf", env.burn_id) == BURN
    receipt = env.deliver([env.genuine()])
    gas = int(receipt["gasUsed"], 16)
    print(f"\ndeliverBatch of one release acknowledgement (header already accepted): {gas} gas")
    tx = block.txs[index]
    txid, paid = bytes(tx.txid()), int(tx.vout[0].value)
    assert 0 < BURN - paid < 100_000  # the amount less the fee
    assert env.outcome(receipt) == (1, "")
    (confirmed,) = WRAPPED.logs_of(receipt, env.app, "ReleaseConfirmed")
    assert (confirmed["messageId"], confirmed["txid"], confirmed["paid"]) == (env.burn_id, txid, paid)
    assert tuple(env.evm.call(env.app, APP, "releaseOf", env.burn_id)) == (txid, paid)
    nonce = deposit_nonce(height, index)
    assert env.evm.call(env.layer, LAYER, "outcomeOf", LTC_CHAIN, PROGRAM, nonce) == 1
    (processed,) = LAYER_ABI.logs_of(receipt, env.layer, "MessageProcessed")
    assert "0x" + processed["id"].hex() == deposit_id(LTC_CHAIN, PROGRAM, nonce)

    # a replay: the same proof is skipped by the layer; the same release at another height (another nonce)
    # is refused by the application
    receipt = env.deliver([env.genuine()])
    assert not LAYER_ABI.logs_of(receipt, env.layer, "MessageProcessed")
    outcome, reason = env.outcome(env.deliver([env.synthetic(env.release_tx())]))
    assert (outcome, reason.split("(")[0]) == (2, "AlreadyReleased")
    assert tuple(env.evm.call(env.app, APP, "releaseOf", env.burn_id)) == (txid, paid)


def test_a_marker_in_a_transaction_that_does_not_spend_the_custody_is_refused(env: Env) -> None:
    forged = env.ltc.pay([{env.ltc.call("getnewaddress"): "0.1"},
                          {"data": Marker(Kind.RELEASE, env.burn_id, env.evm.chain_id).encode().hex()}])
    (block_hash,) = env.ltc.mine(1)
    block, height = env.mined(block_hash)
    env.accept(height, Header.parse(block.header))
    index = next(i for i, t in enumerate(block.txs) if t.txid().hex() == forged)
    prev = bytes(block.txs[index].vin[0].txid).hex()
    funding_hash = env.ltc.call("getrawtransaction", prev, True)["blockhash"]  # the wallet's coin: txindex
    funding = env.mined(funding_hash)
    env.accept(funding[1], Header.parse(funding[0].header))
    assert "NotCustodyOutput" in reverts(env.deliver, [release_proof(block, height, index, *funding)])
    # the same transaction said to spend the custody's change of the release: input 0 is not that output
    rblock, rheight, rindex = env.release
    if env.evm.call(env.lc, "CommitteeHashLightClient", "headers", rheight)[0] == bytes(32):
        env.accept(rheight, Header.parse(rblock.header))
    rtxids = rblock.txids()
    assert rtxids[rindex] != bytes(block.txs[index].vin[0].txid)[::-1]
    fproof = ParsedProof(rblock.header, rindex, tuple(merkle_branch(rtxids, rindex)), stripped(rblock.txs[rindex]))
    release = ParsedProof(block.header, index, tuple(merkle_branch(block.txids(), index)), stripped(block.txs[index]))
    lie = ReleaseProof(height, release, Funding(rheight, fproof)).encode()
    assert "NotCustodySpend" in reverts(env.deliver, [lie])


def test_a_funding_transaction_under_a_header_not_accepted_is_refused(env: Env) -> None:
    proof = ReleaseProof.decode(env.genuine())
    for height in (env.deposit[1] + 1000, env.deposit[1] - 1):
        moved = replace(proof, funding=replace(proof.funding, height=height))
        assert "HeaderNotAccepted" in reverts(env.deliver, [moved.encode()])


def test_an_input_spending_another_output_is_refused(env: Env) -> None:
    tx = env.release_tx()
    tx.vin[0].vout = 1  # the deposit's OP_RETURN (or change): not the custody's output
    assert "NotCustodyOutput(1)" in reverts(env.deliver, [env.synthetic(tx)])
    tx.vin[0].vout = 7  # past the funding transaction's outputs
    assert "NotCustodyOutput(7)" in reverts(env.deliver, [env.synthetic(tx)])


def test_a_release_for_another_chain_is_refused(env: Env) -> None:
    tx = with_marker(env.release_tx(), Marker(Kind.RELEASE, env.burn_id, env.evm.chain_id + 1))
    assert "NotForThisChain" in reverts(env.deliver, [env.synthetic(tx)])
    legacy = with_marker(env.release_tx(), Marker(Kind.RELEASE, env.burn_id))  # version 1: no origin
    assert "MalformedMarker" in reverts(env.deliver, [env.synthetic(legacy)])


def test_a_release_of_an_unknown_burn_is_refused_by_the_application(env: Env) -> None:
    unknown = keccak(b"no such burn")
    tx = with_marker(env.release_tx(), Marker(Kind.RELEASE, unknown, env.evm.chain_id))
    outcome, reason = env.outcome(env.deliver([env.synthetic(tx)]))
    assert (outcome, reason.split("(")[0]) == (2, "UnknownBurn")
    assert tuple(env.evm.call(env.app, APP, "releaseOf", unknown)) == (bytes(32), 0)
    body = unknown + (1).to_bytes(32, "big")
    assert "NotLayer" in reverts(env.evm.transact, USER_KEY, env.app, APP, "handleAck", unknown, 1, body)
