"""Two anvil chains wired as a bridge pair, for the contract tests.

Chain A (1001) and chain B (1002) each run Bridge, a CommitteeLightClient of the other chain
(3 members, threshold 2) and a TestToken; the bridges know each other, B has wrapped
tokens for A's native coin and A's TestToken (and A for B's) and each TestToken is registered for
locking to the other chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from msg_env import CHAIN_A, CHAIN_B, DEPLOYER, USER, USER_KEY, fresh_address, make_keys

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.proof import build_receipt_proof
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import AnvilNode, start_anvil, stop_anvil

NATIVE = "0x" + "00" * 20
BRIDGE = Contract.load("Bridge")

# the chain ids, accounts and key helpers live in msg_env (the message layer's fixture) since the
# switch to the message layer; the Bridge's own tests still import them from here
__all__ = ["BRIDGE", "CHAIN_A", "CHAIN_B", "DEPLOYER", "NATIVE", "USER", "USER_KEY", "BridgePair", "Chain",
           "bridge_log_index", "bridge_pair", "events", "fresh_address", "make_keys"]


@dataclass
class Chain:
    """One chain of the pair and its deployed contracts."""

    name: str
    chain_id: int
    node: AnvilNode
    evm: SyncEvm
    bridge: str = ""
    light_client: str = ""  # light client of the *other* chain
    token: str = ""
    wrapped: dict[str, str] = field(default_factory=dict)  # remote token -> wrapped here


@dataclass
class BridgePair:
    a: Chain
    b: Chain
    committee: list[str]  # member keys, ascending by address

    def other(self, chain: Chain) -> Chain:
        return self.b if chain is self.a else self.a

    # ------------------------------------------------------------------ source side
    def lock_native(self, src: Chain, amount: int, recipient: str = USER, dst_chain_id: int | None = None,
                    bridge: str | None = None) -> dict[str, Any]:
        dst = self.other(src).chain_id if dst_chain_id is None else dst_chain_id
        return src.evm.transact(USER_KEY, bridge or src.bridge, "Bridge", "lockNative", dst, recipient,
                                value=amount)

    def lock_token(self, src: Chain, amount: int, recipient: str = USER) -> dict[str, Any]:
        src.evm.transact(USER_KEY, src.token, "TestToken", "approve", src.bridge, amount)
        return src.evm.transact(USER_KEY, src.bridge, "Bridge", "lockToken", src.token,
                                self.other(src).chain_id, recipient, amount)

    def burn(self, chain: Chain, wrapped: str, amount: int, recipient: str = USER) -> dict[str, Any]:
        return chain.evm.transact(USER_KEY, chain.bridge, "Bridge", "burn", wrapped, recipient, amount)

    # ------------------------------------------------------------------ proofs and headers
    def proof(self, src: Chain, receipt: dict[str, Any], log_index: int | None = None,
              receipts: Sequence[dict[str, Any]] | None = None) -> tuple[int, bytes, list[bytes], int]:
        """The ReceiptProof struct for ``receipt``'s bridge log (or log ``log_index``)."""
        number = int(receipt["blockNumber"], 16)
        if receipts is None:
            receipts = src.evm.rpc("eth_getBlockReceipts", hex(number))
        p = build_receipt_proof(list(receipts), int(receipt["transactionIndex"], 16))
        if log_index is None:
            log_index = bridge_log_index(receipt, src.bridge)
        return number, p.key, list(p.nodes), log_index

    def header(self, src: Chain, number: int) -> tuple[bytes, bytes]:
        block = src.evm.rpc("eth_getBlockByNumber", hex(number), False)
        return bytes.fromhex(block["hash"][2:]), bytes.fromhex(block["receiptsRoot"][2:])

    def signatures(self, dst: Chain, number: int, block_hash: bytes, receipts_root: bytes,
                   keys: Iterable[str], epoch: int = 0, light_client: str | None = None) -> bytes:
        domain = cm.committee_domain_separator(dst.chain_id, light_client or dst.light_client)
        digest = cm.header_digest(domain, self.other(dst).chain_id, number, block_hash, receipts_root, epoch)
        return cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in keys])

    def accept(self, src: Chain, number: int) -> dict[str, Any]:
        """Have 2 of 3 members sign ``src``'s header ``number`` and submit it to the other chain."""
        dst = self.other(src)
        block_hash, root = self.header(src, number)
        sigs = self.signatures(dst, number, block_hash, root, self.committee[:2])
        return dst.evm.transact(DEPLOYER, dst.light_client, "CommitteeLightClient", "updateHeader",
                                number, block_hash, root, sigs)

    def update_payload(self, src: Chain, number: int) -> bytes:
        dst = self.other(src)
        block_hash, root = self.header(src, number)
        sigs = self.signatures(dst, number, block_hash, root, self.committee[1:])
        return cm.encode_committee_update(number, block_hash, root, sigs)

    def deliver(self, dst: Chain, fn: str, proof: tuple[int, bytes, list[bytes], int],
                gas: int | None = None) -> dict[str, Any]:
        return dst.evm.transact(DEPLOYER, dst.bridge, "Bridge", fn, self.other(dst).chain_id, proof, gas=gas)


def bridge_log_index(receipt: dict[str, Any], bridge: str) -> int:
    for i, log in enumerate(receipt["logs"]):
        if log["address"].lower() == bridge.lower():
            return i
    raise AssertionError("receipt has no log of the bridge")


def events(receipt: dict[str, Any], contract: Contract) -> list[tuple[str, dict[str, Any]]]:
    decoded = (contract.decode_log(log) for log in receipt["logs"])
    return [d for d in decoded if d is not None]


def _deploy_chain(chain: Chain, remote_id: int, members: list[str]) -> None:
    evm = chain.evm
    chain.bridge = evm.deploy(DEPLOYER, "Bridge")
    chain.light_client = evm.deploy(DEPLOYER, "CommitteeLightClient", remote_id, members, 2)
    chain.token = evm.deploy(USER_KEY, "TestToken", f"Token {chain.name}", f"TK{chain.name}", 10**30)


def _wire(chain: Chain, remote: Chain) -> None:
    evm = chain.evm
    evm.transact(DEPLOYER, chain.bridge, "Bridge", "registerRemote", remote.chain_id, remote.bridge,
                 chain.light_client)
    for remote_token, label in ((NATIVE, "native"), (remote.token, "token")):
        evm.transact(DEPLOYER, chain.bridge, "Bridge", "createWrapped", remote.chain_id, remote_token,
                     f"Wrapped {remote.name} {label}", f"w{remote.name}{label[0]}", 18)
        chain.wrapped[remote_token] = evm.call(chain.bridge, "Bridge", "wrappedOf", remote.chain_id, remote_token)
    evm.transact(DEPLOYER, chain.bridge, "Bridge", "registerToken", remote.chain_id, chain.token, True)


@contextmanager
def bridge_pair() -> Iterator[BridgePair]:
    """Start two automining anvil nodes and deploy and wire the bridge pair."""
    nodes: list[AnvilNode] = []
    try:
        nodes.append(start_anvil(CHAIN_A, block_time=None))
        nodes.append(start_anvil(CHAIN_B, block_time=None))
        a = Chain("A", CHAIN_A, nodes[0], SyncEvm(nodes[0].url))
        b = Chain("B", CHAIN_B, nodes[1], SyncEvm(nodes[1].url))
        committee = make_keys("committee", 3)
        members = [cm.signer_address(k) for k in committee]
        _deploy_chain(a, CHAIN_B, members)
        _deploy_chain(b, CHAIN_A, members)
        _wire(a, b)
        _wire(b, a)
        yield BridgePair(a, b, committee)
        a.evm.close()
        b.evm.close()
    finally:
        for node in nodes:
            stop_anvil(node)
