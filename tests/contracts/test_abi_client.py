"""adapters/evm/abi.py and sync_client.py: encoding, decoding, revert reasons, block-time mining."""

from __future__ import annotations

from collections.abc import Iterator

import eth_abi
import pytest
from eth_account import Account
from eth_utils import keccak

from adapters.evm.abi import AbiError, Contract, decode_revert
from adapters.evm.sync_client import SyncEvm
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil
from relayer.errors import ContractRevert, RpcError

BRIDGE = Contract.load("Bridge")


def test_encode_call_with_struct_arguments() -> None:
    proof = (7, b"\x80", [b"\x01\x02", b"\x03"], 1)
    data = BRIDGE.encode_call("mint", 1001, proof)
    assert data[:4] == keccak(text="mint(uint64,(uint256,bytes,bytes[],uint256))")[:4]
    assert eth_abi.decode(["uint64", "(uint256,bytes,bytes[],uint256)"], data[4:]) == (
        1001, (7, b"\x80", (b"\x01\x02", b"\x03"), 1))
    as_dict = {"blockNumber": 7, "key": "0x80", "nodes": ["0x0102", b"\x03"], "logIndex": 1}
    assert BRIDGE.encode_call("mint", 1001, as_dict) == data


def test_unknown_names_and_bad_arguments_raise_abi_error() -> None:
    with pytest.raises(AbiError):
        Contract.load("NoSuchContract")
    with pytest.raises(AbiError):
        BRIDGE.encode_call("noSuchFunction")
    with pytest.raises(AbiError):
        BRIDGE.encode_call("isDelivered", 1)
    with pytest.raises(AbiError):
        BRIDGE.encode_call("isDelivered", -1, 2)
    with pytest.raises(AbiError):
        BRIDGE.event_topic("Nope")


def test_decode_result_single_and_tuple() -> None:
    lc = Contract.load("CommitteeLightClient")
    assert lc.decode_result("epoch", (5).to_bytes(32, "big")) == 5
    h, r = b"\x11" * 32, b"\x22" * 32
    assert lc.decode_result("headers", h + r) == (h, r)
    assert lc.decode_result("updateHeader", b"") is None


def test_decode_log_indexed_and_plain() -> None:
    message_id = b"\xab" * 32
    log = {"topics": ["0x" + BRIDGE.event_topic("Delivered").hex(), "0x" + message_id.hex()],
           "data": "0x" + eth_abi.encode(["uint64", "uint64"], [1001, 9]).hex()}
    assert BRIDGE.decode_log(log) == ("Delivered", {"messageId": message_id, "srcChainId": 1001, "nonce": 9})
    assert BRIDGE.decode_log({"topics": ["0x" + "00" * 32], "data": "0x"}) is None
    assert BRIDGE.decode_log({"topics": [], "data": "0x"}) is None


def test_decode_revert_forms() -> None:
    message_id = b"\x01" * 32
    custom = keccak(text="AlreadyDelivered(bytes32)")[:4] + message_id
    assert decode_revert(custom) == "AlreadyDelivered(0x" + "01" * 32 + ")"
    # errors of another artifact decode too
    signer = Account.from_key(ANVIL_KEYS[0]).address
    unknown = keccak(text="UnknownSigner(address)")[:4] + eth_abi.encode(["address"], [signer])
    assert BRIDGE.decode_revert(unknown) == f"UnknownSigner({signer})"
    assert decode_revert(bytes.fromhex("08c379a0") + eth_abi.encode(["string"], ["nope"])) == "nope"
    assert decode_revert(bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")) == "Panic(0x11)"
    assert decode_revert(b"") == "no revert data"
    assert decode_revert(b"\xde\xad\xbe\xef").startswith("unknown error 0xdeadbeef")


@pytest.fixture(scope="module")
def interval_node() -> Iterator[SyncEvm]:
    node = start_anvil(4242, block_time=1)
    try:
        with SyncEvm(node.url) as evm:
            yield evm
    finally:
        stop_anvil(node)


def test_sync_client_with_block_time(interval_node: SyncEvm) -> None:
    evm = interval_node
    key = ANVIL_KEYS[2]
    me = Account.from_key(key).address
    assert evm.chain_id == 4242
    token = evm.deploy(key, "TestToken", "T", "T", 1000)
    assert evm.call(token, "TestToken", "balanceOf", me) == 1000
    other = Account.from_key(ANVIL_KEYS[3]).address
    receipt = evm.transact(key, token, "TestToken", "transfer", other, 10)
    assert int(receipt["status"], 16) == 1
    assert evm.call(token, "TestToken", "balanceOf", other) == 10
    with pytest.raises(ContractRevert) as info:  # revert found by gas estimation
        evm.transact(key, token, "TestToken", "transfer", other, 10**6)
    assert info.value.reason == f"InsufficientBalance({me}, 990, 1000000)"
    with pytest.raises(ContractRevert) as mined:  # mined and reverted: reason from the replay
        evm.transact(key, token, "TestToken", "transfer", other, 10**6, gas=100_000)
    assert mined.value.reason == f"InsufficientBalance({me}, 990, 1000000)"
    assert evm.balance(other) > 0


def test_transport_errors_become_rpc_error() -> None:
    with SyncEvm("http://127.0.0.1:9", timeout=1) as evm:
        with pytest.raises(RpcError):
            evm.rpc("eth_chainId")
