"""Two anvil chains joined by the message layer, for the contract tests of ``messaging/``.

Chain A (1001) and chain B (1002) each run a MessageLayer (owner DEPLOYER), a
CommitteeLightClient of the other chain (3 members, threshold 2) and an EvmReceiptVerifier;
each layer knows the other as its remote. The contracts are deployed in a different order on
each chain so that no address is the same on both.

``pair.send(...)`` sends from an account, ``pair.proof(...)`` builds the EVM receipt proof of a
MessageSent event, ``pair.accept(...)``/``pair.update_payload(...)`` have the committee sign a
header, ``pair.deliver(...)`` calls deliverBatch and ``pair.relay(...)`` does all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.messaging import Envelope, address_word, encode_evm_proof, message_sent_logs
from adapters.evm.proof import build_receipt_proof
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, AnvilNode, start_anvil, stop_anvil
from relayer.errors import ContractRevert

CHAIN_A, CHAIN_B = 1001, 1002
DEPLOYER = ANVIL_KEYS[0]
USER_KEY = ANVIL_KEYS[1]
USER = Account.from_key(USER_KEY).address

LAYER = Contract.load("MessageLayer")
MAX_GAS_LIMIT = 5_000_000
DEFAULT_GAS_LIMIT = 200_000

__all__ = ["CHAIN_A", "CHAIN_B", "DEPLOYER", "LAYER", "USER", "USER_KEY", "MessagePair", "Side", "fresh_address",
           "make_keys", "message_pair", "reverts", "wire"]


def make_keys(label: str, count: int) -> list[str]:
    """Deterministic private keys, sorted by their address."""
    keys = ["0x" + keccak(text=f"{label}-{i}").hex() for i in range(count)]
    return sorted(keys, key=lambda k: int(cm.signer_address(k), 16))


def fresh_address(label: str) -> str:
    """A deterministic address no one holds a key of in the tests (a fresh recipient)."""
    return Account.from_key(keccak(text=f"address-{label}")).address


@dataclass
class Side:
    """One chain of the pair and its message-layer contracts."""

    name: str
    chain_id: int
    node: AnvilNode
    evm: SyncEvm
    layer: str = ""
    light_client: str = ""  # light client of the *other* chain
    verifier: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # contracts tests deploy, by label

    @property
    def layer_word(self) -> bytes:
        return address_word(self.layer)


@dataclass
class MessagePair:
    a: Side
    b: Side
    committee: list[str]  # member keys, ascending by address

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a

    # ------------------------------------------------------------------ source side
    def send(self, src: Side, recipient: str | bytes, body: bytes, *, gas_limit: int = DEFAULT_GAS_LIMIT,
             expiry: int = 0, ack_mode: int = 0, key: str = USER_KEY, dst_chain: int | None = None,
             layer: str | None = None) -> dict[str, Any]:
        """``send`` from the account of ``key``; returns the receipt."""
        word = recipient if isinstance(recipient, bytes) else address_word(recipient)
        dst = self.other(src).chain_id if dst_chain is None else dst_chain
        return src.evm.transact(key, layer or src.layer, "MessageLayer", "send", dst, word, body, gas_limit,
                                expiry, ack_mode)

    def send_in_one_block(self, src: Side, sends: Sequence[dict[str, Any]], *, gas: int = 600_000,
                          key: str = USER_KEY) -> list[dict[str, Any]]:
        """Mine several ``send`` calls (keyword dicts of ``send``: recipient, body, gas_limit, expiry,
        ack_mode) into one block of ``src``, from the account of ``key``; their receipts in order."""
        evm = src.evm
        sender = cm.signer_address(key)
        evm.rpc("evm_setAutomine", False)
        try:
            start = evm.nonce(sender)
            hashes = [evm.send_transaction(key, src.layer, self._send_call(src, **spec), gas=gas, nonce=start + i)
                      for i, spec in enumerate(sends)]
            evm.rpc("evm_mine")
        finally:
            evm.rpc("evm_setAutomine", True)
        receipts = [evm.wait_receipt(h, 10) for h in hashes]
        if len({r["blockNumber"] for r in receipts}) != 1 or not all(int(r["status"], 16) == 1 for r in receipts):
            raise RuntimeError("the sends did not all succeed in one block")
        return receipts

    def _send_call(self, src: Side, recipient: str | bytes, body: bytes, gas_limit: int = DEFAULT_GAS_LIMIT,
                   expiry: int = 0, ack_mode: int = 0) -> bytes:
        word = recipient if isinstance(recipient, bytes) else address_word(recipient)
        return LAYER.encode_call("send", self.other(src).chain_id, word, body, gas_limit, expiry, ack_mode)

    def sent(self, src: Side, receipt: dict[str, Any], layer: str | None = None) -> list[tuple[int, Envelope]]:
        """(log index, envelope) of each MessageSent of ``src``'s layer (or ``layer``) in ``receipt``."""
        return message_sent_logs(receipt, layer or src.layer)

    def envelope(self, src: Side, receipt: dict[str, Any], layer: str | None = None) -> Envelope:
        """The one envelope ``receipt`` sent."""
        (only,) = self.sent(src, receipt, layer)
        return only[1]

    # ------------------------------------------------------------------ proofs and headers
    def proof(self, src: Side, receipt: dict[str, Any], log_index: int | None = None,
              receipts: Sequence[dict[str, Any]] | None = None, layer: str | None = None) -> bytes:
        """The EvmReceiptVerifier proof of ``receipt``'s (first) MessageSent log, or of log ``log_index``."""
        number, key, nodes, index = self.proof_parts(src, receipt, log_index, receipts, layer)
        return encode_evm_proof(number, key, nodes, index)

    def proof_parts(self, src: Side, receipt: dict[str, Any], log_index: int | None = None,
                    receipts: Sequence[dict[str, Any]] | None = None,
                    layer: str | None = None) -> tuple[int, bytes, list[bytes], int]:
        """(block number, key, nodes, log index) of the proof, for tests that tamper with a part."""
        number = int(receipt["blockNumber"], 16)
        if receipts is None:
            receipts = src.evm.rpc("eth_getBlockReceipts", hex(number))
        p = build_receipt_proof(list(receipts), int(receipt["transactionIndex"], 16))
        if log_index is None:
            log_index = self.sent(src, receipt, layer)[0][0]
        return number, p.key, list(p.nodes), log_index

    def header(self, src: Side, number: int) -> tuple[bytes, bytes]:
        block = src.evm.rpc("eth_getBlockByNumber", hex(number), False)
        return bytes.fromhex(block["hash"][2:]), bytes.fromhex(block["receiptsRoot"][2:])

    def signatures(self, dst: Side, number: int, block_hash: bytes, receipts_root: bytes,
                   keys: Iterable[str], light_client: str | None = None, epoch: int = 0) -> bytes:
        """The packed signatures of ``keys`` over a header of the other chain, for ``dst``'s light
        client (or ``light_client``) in committee epoch ``epoch``."""
        domain = cm.committee_domain_separator(dst.chain_id, light_client or dst.light_client)
        digest = cm.header_digest(domain, self.other(dst).chain_id, number, block_hash, receipts_root, epoch)
        return cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in keys])

    def accept(self, src: Side, number: int) -> dict[str, Any]:
        """Have 2 of 3 members sign ``src``'s header ``number`` and submit it to the other chain."""
        dst = self.other(src)
        block_hash, root = self.header(src, number)
        sigs = self.signatures(dst, number, block_hash, root, self.committee[:2])
        return dst.evm.transact(DEPLOYER, dst.light_client, "CommitteeLightClient", "updateHeader",
                                number, block_hash, root, sigs)

    def update_payload(self, src: Side, number: int) -> bytes:
        """The submitUpdate payload for ``src``'s header ``number`` (members 2 and 3 sign)."""
        dst = self.other(src)
        block_hash, root = self.header(src, number)
        sigs = self.signatures(dst, number, block_hash, root, self.committee[1:])
        return cm.encode_committee_update(number, block_hash, root, sigs)

    # ------------------------------------------------------------------ destination side
    def deliver(self, dst: Side, proofs: Sequence[bytes], update: bytes = b"", *, gas: int | None = None,
                key: str = DEPLOYER, layer: str | None = None, source_chain: int | None = None) -> dict[str, Any]:
        """deliverBatch on ``dst``'s layer (or ``layer``) of messages from the other chain."""
        src = self.other(dst).chain_id if source_chain is None else source_chain
        return dst.evm.transact(key, layer or dst.layer, "MessageLayer", "deliverBatch", src, update, list(proofs),
                                gas=gas)

    def relay(self, src: Side, receipt: dict[str, Any], *, with_update: bool = False,
              gas: int | None = None) -> dict[str, Any]:
        """Accept ``receipt``'s block on the other chain (or pass it as the update) and deliver its message."""
        number = int(receipt["blockNumber"], 16)
        dst = self.other(src)
        if with_update:
            return self.deliver(dst, [self.proof(src, receipt)], self.update_payload(src, number), gas=gas)
        self.accept(src, number)
        return self.deliver(dst, [self.proof(src, receipt)], gas=gas)

    def processed(self, side: Side, receipt: dict[str, Any]) -> list[dict[str, Any]]:
        """Fields of each MessageProcessed ``side``'s layer emitted in ``receipt``."""
        return LAYER.logs_of(receipt, side.layer, "MessageProcessed")

    def outcome(self, dst: Side, envelope: Envelope) -> int:
        """The outcome ``dst``'s layer recorded for ``envelope`` (0 none)."""
        return int(dst.evm.call(dst.layer, "MessageLayer", "outcomeOf", envelope.source_chain,
                                envelope.source_layer, envelope.nonce))


def _deploy(side: Side, remote_id: int, members: list[str], layer_first: bool) -> None:
    evm = side.evm
    owner = cm.signer_address(DEPLOYER)

    def layer() -> None:
        side.layer = evm.deploy(DEPLOYER, "MessageLayer", owner, MAX_GAS_LIMIT)

    def rest() -> None:
        side.light_client = evm.deploy(DEPLOYER, "CommitteeLightClient", remote_id, members, 2)
        side.verifier = evm.deploy(DEPLOYER, "EvmReceiptVerifier")

    for step in ((layer, rest) if layer_first else (rest, layer)):
        step()


def wire(side: Side, remote: Side) -> dict[str, Any]:
    """Point ``side``'s layer at ``remote``'s layer, with its light client and verifier."""
    return side.evm.transact(DEPLOYER, side.layer, "MessageLayer", "setRemote", remote.chain_id,
                             remote.layer_word, side.light_client, side.verifier)


@contextmanager
def message_pair(anvil_args: list[str] | None = None) -> Iterator[MessagePair]:
    """Start two automining anvil nodes (with ``anvil_args``, say a ``--hardfork``) and deploy and
    wire the message layers."""
    nodes: list[AnvilNode] = []
    try:
        nodes.append(start_anvil(CHAIN_A, block_time=None, extra_args=anvil_args))
        nodes.append(start_anvil(CHAIN_B, block_time=None, extra_args=anvil_args))
        a = Side("A", CHAIN_A, nodes[0], SyncEvm(nodes[0].url))
        b = Side("B", CHAIN_B, nodes[1], SyncEvm(nodes[1].url))
        committee = make_keys("committee", 3)
        members = [cm.signer_address(k) for k in committee]
        _deploy(a, CHAIN_B, members, layer_first=True)
        _deploy(b, CHAIN_A, members, layer_first=False)
        wire(a, b)
        wire(b, a)
        yield MessagePair(a, b, committee)
        a.evm.close()
        b.evm.close()
    finally:
        for node in nodes:
            stop_anvil(node)


def reverts(fn: Any, *args: Any, **kwargs: Any) -> str:
    """Call ``fn`` expecting a ContractRevert and return its reason (the test fails if it does not revert)."""
    with pytest.raises(ContractRevert) as info:
        fn(*args, **kwargs)
    return info.value.reason
