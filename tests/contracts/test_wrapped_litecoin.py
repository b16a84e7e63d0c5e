"""WrappedLitecoin (apps/WrappedLitecoin.sol) behind a MessageLayer whose Litecoin remote is
(custody program, CommitteeHashLightClient, LitecoinDepositVerifier), with deposits from a real litecoind
regtest: a deposit mints its amount (8 decimals, litoshis) to its recipient once; the same transaction
proven again at another accepted height is not minted twice; a burn destroys the caller's tokens and is
a message of the layer to the custody program on Litecoin (burn body version 1: amount, address), its id
in ``BurnedForLitecoin``; a burn of nothing, of more than the balance, to a malformed address or while
the layer is paused is refused and burns nothing; calls not from the layer, or from another chain or
custody, are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from eth_utils import keccak
from msg_env import reverts

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.messaging import Envelope, address_word, message_sent_logs
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode
from relayer_litecoin.block import Block, stripped
from relayer_litecoin.evm_proof import deposit_proof, evm_proof
from relayer_litecoin.header import Header, sha256d
from relayer_litecoin.merkle import merkle_branch, merkle_root
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.source import ParsedProof, deposit_nonce
from relayer_litecoin.testing import CUSTODY, Devnet

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


@dataclass
class Env:
    evm: Any
    layer: str
    lc: str
    app: str
    ltc: Devnet

    def update(self, height: int, header: Header) -> bytes:
        digest = cm.header_digest(cm.committee_domain_separator(self.evm.chain_id, self.lc), LTC_CHAIN, height,
                                  header.hash, header.merkle_root, 0)
        return cm.encode_committee_update(height, header.hash, header.merkle_root, cm.pack_signatures(
            [(cm.signer_address(k), cm.sign_digest(k, digest)) for k in KEYS[:2]]))

    def deliver(self, update: bytes, proofs: list[bytes]) -> dict[str, Any]:
        return self.evm.transact(DEPLOYER, self.layer, LAYER, "deliverBatch", LTC_CHAIN, update, proofs)

    def balance(self, who: str) -> int:
        return int(self.evm.call(self.app, APP, "balanceOf", who))

    def deposit_block(self, amount: str, recipient: str) -> tuple[Block, int, int, str]:
        """A deposit of ``amount`` LTC to ``recipient`` mined: (block, height, index, txid)."""
        payload = DepositPayload(self.evm.chain_id, bytes.fromhex(recipient[2:])).encode()
        txid = self.ltc.deposit(Decimal(amount), payload)
        (block_hash,) = self.ltc.mine(1)
        block = Block.parse(bytes.fromhex(self.ltc.call("getblock", block_hash, 0)))
        height = int(self.ltc.call("getblock", block_hash)["height"])
        index = next(i for i, tx in enumerate(block.txs) if tx.txid().hex() == txid)
        return block, height, index, txid


@pytest.fixture(scope="module")
def env(anvil_module: AnvilNode) -> Iterator[Env]:
    from adapters.evm.sync_client import SyncEvm

    ltc = Devnet()
    try:
        with SyncEvm(anvil_module.url) as evm:
            layer = evm.deploy(DEPLOYER, LAYER, cm.signer_address(DEPLOYER), 5_000_000)
            app = evm.deploy(DEPLOYER, APP, layer, LTC_CHAIN, PROGRAM)
            verifier = evm.deploy(DEPLOYER, "LitecoinDepositVerifier", layer, app, 200_000)
            lc = evm.deploy(DEPLOYER, "CommitteeHashLightClient", LTC_CHAIN, [cm.signer_address(k) for k in KEYS], 2)
            evm.transact(DEPLOYER, layer, LAYER, "setRemote", LTC_CHAIN, PROGRAM, lc, verifier)
            yield Env(evm, layer, lc, app, ltc)
    finally:
        ltc.stop()


def test_a_deposit_mints_once(env: Env) -> None:
    block, height, index, txid = env.deposit_block("1", USER)
    header = Header.parse(block.header)
    before = env.balance(USER)
    receipt = env.deliver(env.update(height, header), [deposit_proof(block, height, index)])
    assert env.evm.call(env.layer, LAYER, "outcomeOf", LTC_CHAIN, PROGRAM, deposit_nonce(height, index)) == 1
    assert env.balance(USER) == before + 100_000_000  # 1 LTC, 8 decimals
    assert env.evm.call(env.app, APP, "decimals") == 8
    assert env.evm.call(env.app, APP, "minted", bytes.fromhex(txid)) is True
    (minted,) = WRAPPED.logs_of(receipt, env.app, "DepositMinted")
    assert (minted["txid"].hex(), minted["amount"]) == (txid, 100_000_000)
    env.deliver(b"", [deposit_proof(block, height, index)])  # the layer skips an executed id
    assert env.balance(USER) == before + 100_000_000

    # the same transaction in a block at another height that the committee accepted (a reorg moving it):
    # another nonce, so the layer runs the handler, which refuses a second mint of the txid
    leaves = [block.txids()[0], block.txids()[index]]
    moved = replace(header, merkle_root=merkle_root(leaves)[::-1])
    again = evm_proof(height + 1000, ParsedProof(moved.serialize(), 1, tuple(merkle_branch(leaves, 1)),
                                                 stripped(block.txs[index])).encode())
    assert sha256d(stripped(block.txs[index]))[::-1].hex() == txid
    receipt = env.deliver(env.update(height + 1000, moved), [again])
    assert env.evm.call(env.layer, LAYER, "outcomeOf", LTC_CHAIN, PROGRAM, deposit_nonce(height + 1000, 1)) == 2
    (processed,) = Contract.load(LAYER).logs_of(receipt, env.layer, "MessageProcessed")
    assert WRAPPED.decode_revert(processed["result"]).startswith("AlreadyMinted")
    assert env.balance(USER) == before + 100_000_000


def test_a_burn_is_a_message_to_the_custody(env: Env) -> None:
    block, height, index, _ = env.deposit_block("0.4", USER)
    env.deliver(env.update(height, Header.parse(block.header)), [deposit_proof(block, height, index)])
    balance, supply = env.balance(USER), int(env.evm.call(env.app, APP, "totalSupply"))
    address = env.ltc.call("getnewaddress")
    receipt = env.evm.transact(USER_KEY, env.app, APP, "burn", address, 30_000_000)
    (burned,) = WRAPPED.logs_of(receipt, env.app, "BurnedForLitecoin")
    assert (burned["from"].lower(), burned["litecoinAddress"], burned["amount"]) == (USER.lower(), address, 30_000_000)
    assert burned["nonce"] == env.evm.call(env.app, APP, "burns") >= 1
    assert env.balance(USER) == balance - 30_000_000
    assert env.evm.call(env.app, APP, "totalSupply") == supply - 30_000_000

    # the envelope the layer emitted: to the custody program on Litecoin, body version 1
    ((_, envelope),) = message_sent_logs(receipt, env.layer)
    assert envelope == Envelope(
        nonce=envelope.nonce, source_chain=env.evm.chain_id, source_layer=address_word(env.layer),
        sender=address_word(env.app), destination_chain=LTC_CHAIN, destination_layer=PROGRAM, recipient=PROGRAM,
        gas_limit=0, expiry=0, ack_mode=0,
        body=b"\x01" + (30_000_000).to_bytes(8, "big") + address.encode("ascii"))
    assert burned["messageId"] == envelope.id
    assert env.evm.call(env.layer, LAYER, "messageId", env.evm.chain_id, address_word(env.layer),
                        envelope.nonce) == envelope.id

    # a second burn is another message (next layer nonce, next burn nonce)
    receipt = env.evm.transact(USER_KEY, env.app, APP, "burn", address, 1)
    ((_, second),) = message_sent_logs(receipt, env.layer)
    (again,) = WRAPPED.logs_of(receipt, env.app, "BurnedForLitecoin")
    assert (second.nonce, again["nonce"], again["messageId"]) == (envelope.nonce + 1, burned["nonce"] + 1, second.id)
    assert second.body == b"\x01" + (1).to_bytes(8, "big") + address.encode("ascii")


def test_a_burn_is_refused_without_burning(env: Env) -> None:
    block, height, index, _ = env.deposit_block("0.1", USER)
    env.deliver(env.update(height, Header.parse(block.header)), [deposit_proof(block, height, index)])
    balance, burns = env.balance(USER), env.evm.call(env.app, APP, "burns")
    address = env.ltc.call("getnewaddress")
    assert "InsufficientBalance" in reverts(env.evm.transact, USER_KEY, env.app, APP, "burn", address, balance + 1)
    assert "ZeroAmount" in reverts(env.evm.transact, USER_KEY, env.app, APP, "burn", address, 0)
    for bad in ("", "a" * 91, "rltc1 q", "rltc1\u00e9"):
        assert "BadAddress" in reverts(env.evm.transact, USER_KEY, env.app, APP, "burn", bad, 1)
    env.evm.transact(DEPLOYER, env.layer, LAYER, "pause")
    try:
        assert "IsPaused" in reverts(env.evm.transact, USER_KEY, env.app, APP, "burn", address, 1)
    finally:
        env.evm.transact(DEPLOYER, env.layer, LAYER, "unpause")
    assert (env.balance(USER), env.evm.call(env.app, APP, "burns")) == (balance, burns)
    # the longest address (90 characters) is accepted, its bytes carried as they are
    receipt = env.evm.transact(USER_KEY, env.app, APP, "burn", "r" * 90, 1)
    ((_, envelope),) = message_sent_logs(receipt, env.layer)
    assert envelope.body == b"\x01" + (1).to_bytes(8, "big") + b"r" * 90


def test_only_the_layer_and_the_custody_of_litecoin_mint(env: Env) -> None:
    body = b"\x01" + b"\x11" * 32 + (5).to_bytes(8, "big") + env.evm.chain_id.to_bytes(8, "big") + b"\x14" \
        + bytes.fromhex(USER[2:])
    assert "NotLayer" in reverts(env.evm.transact, USER_KEY, env.app, APP, "handleMessage", LTC_CHAIN, PROGRAM, body)
    # an application whose layer is an account we hold, to call the handler as the layer would
    layer = cm.signer_address(DEPLOYER)
    app = env.evm.deploy(DEPLOYER, APP, layer, LTC_CHAIN, PROGRAM)

    def handle(chain: int, sender: bytes, data: bytes) -> Any:
        return env.evm.transact(DEPLOYER, app, APP, "handleMessage", chain, sender, data)

    assert "UnknownSource" in reverts(handle, LTC_CHAIN + 1, PROGRAM, body)
    assert "UnknownSource" in reverts(handle, LTC_CHAIN, b"\x22" * 32, body)
    other_chain = body[:41] + (env.evm.chain_id + 1).to_bytes(8, "big") + body[49:]
    assert "WrongChain" in reverts(handle, LTC_CHAIN, PROGRAM, other_chain)
    assert "BadBody" in reverts(handle, LTC_CHAIN, PROGRAM, b"\x02" + body[1:])
    assert "BadBody" in reverts(handle, LTC_CHAIN, PROGRAM, body[:-1])
    assert "ZeroAmount" in reverts(handle, LTC_CHAIN, PROGRAM, body[:33] + bytes(8) + body[41:])
    handle(LTC_CHAIN, PROGRAM, body)
    assert env.evm.call(app, APP, "balanceOf", USER) == 5
    assert "AlreadyMinted" in reverts(handle, LTC_CHAIN, PROGRAM, body)
