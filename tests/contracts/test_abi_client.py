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

LAYER = Contract.load("MessageLayer")
FISCO = Contract.load("FiscoBcosReceiptVerifier")
RECEIPT = "(int32,bytes,bytes,int32,bytes,bytes,(bytes,bytes32[],bytes)[],uint64)"


def test_encode_call_with_dynamic_arguments() -> None:
    proofs = [b"\x01\x02", b"\x03"]
    data = LAYER.encode_call("deliverBatch", 1001, b"\x80", proofs)
    assert data[:4] == keccak(text="deliverBatch(uint64,bytes,bytes[])")[:4]
    assert eth_abi.decode(["uint64", "bytes", "bytes[]"], data[4:]) == (1001, b"\x80", (b"\x01\x02", b"\x03"))
    assert LAYER.encode_call("deliverBatch", 1001, "0x80", ["0x0102", b"\x03"]) == data


def test_encode_call_with_struct_arguments() -> None:
    log = (b"\x11" * 20, [b"\x22" * 32], b"data")
    receipt = (0, b"\x01", b"", 0, b"", b"", [log], 7)
    data = FISCO.encode_call("receiptHash", receipt)
    assert data[:4] == keccak(text=f"receiptHash({RECEIPT})")[:4]
    assert eth_abi.decode([RECEIPT], data[4:]) == ((0, b"\x01", b"", 0, b"", b"", ((b"\x11" * 20, (b"\x22" * 32,),
                                                                                     b"data"),), 7),)
    as_dict = {"version": 0, "gasUsed": "0x01", "contractAddress": b"", "status": 0, "output": "0x",
               "effectiveGasPrice": b"", "logs": [{"addr": "0x" + "11" * 20, "topics": ["0x" + "22" * 32],
                                                   "data": b"data"}], "blockNumber": 7}
    assert FISCO.encode_call("receiptHash", as_dict) == data


def test_unknown_names_and_bad_arguments_raise_abi_error() -> None:
    with pytest.raises(AbiError):
        Contract.load("NoSuchContract")
    with pytest.raises(AbiError):
        LAYER.encode_call("noSuchFunction")
    with pytest.raises(AbiError):
        LAYER.encode_call("outcomeOf", 1, b"\x00" * 32)
    with pytest.raises(AbiError):
        LAYER.encode_call("outcomeOf", -1, b"\x00" * 32, 2)
    with pytest.raises(AbiError):
        LAYER.event_topic("Nope")


def test_decode_result_single_and_tuple() -> None:
    lc = Contract.load("CommitteeHashLightClient")
    assert lc.decode_result("epoch", (5).to_bytes(32, "big")) == 5
    h, r = b"\x11" * 32, b"\x22" * 32
    assert lc.decode_result("headers", h + r) == (h, r)
    assert lc.decode_result("updateHeader", b"") is None
    remote = (b"\x00" * 12 + b"\x33" * 20, "0x" + "44" * 20, "0x" + "55" * 20)
    layer, light_client, verifier = LAYER.decode_result("remoteOf", eth_abi.encode(["(bytes32,address,address)"],
                                                                                   [remote]))
    assert layer == remote[0] and (light_client, verifier) == ("0x" + "44" * 20, "0x" + "55" * 20)


def test_decode_log_indexed_and_plain() -> None:
    message_id = b"\xab" * 32
    log = {"topics": ["0x" + LAYER.event_topic("MessageProcessed").hex(), "0x" + message_id.hex()],
           "data": "0x" + eth_abi.encode(["uint8", "bytes"], [2, b"\x08\xc3"]).hex()}
    assert LAYER.decode_log(log) == ("MessageProcessed", {"id": message_id, "outcome": 2, "result": b"\x08\xc3"})
    assert LAYER.decode_log({"topics": ["0x" + "00" * 32], "data": "0x"}) is None
    assert LAYER.decode_log({"topics": [], "data": "0x"}) is None


def test_decode_revert_forms() -> None:
    message_id = b"\x01" * 32
    custom = keccak(text="NotRetriable(bytes32)")[:4] + message_id
    assert decode_revert(custom) == "NotRetriable(0x" + "01" * 32 + ")"
    # errors of another artifact decode too
    signer = Account.from_key(ANVIL_KEYS[0]).address
    unknown = keccak(text="UnknownSigner(address)")[:4] + eth_abi.encode(["address"], [signer])
    assert LAYER.decode_revert(unknown) == f"UnknownSigner({signer})"
    verifier = keccak(text="HeaderNotAccepted(address,uint256)")[:4] + eth_abi.encode(["address", "uint256"],
                                                                                      [signer, 9])
    assert LAYER.decode_revert(verifier) == f"HeaderNotAccepted({signer}, 9)"
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
