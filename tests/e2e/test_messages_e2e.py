"""Messages through the message layer on a real devnet: two anvil chains and one relayer process.

The tests deploy their own recipients (``adapters/evm/contracts/test/MsgRecipients.sol``) on the
running devnet and watch the layers' ``MessageProcessed`` events; the relayer carries every
envelope, acknowledgements included, with no help from the test. What they show:

- a handler gets the exact body, the source chain and the sender (a)
- in one batch a reverting handler is recorded ``failed`` with its revert data while the rest
  is delivered, and its failure acknowledgement reaches the sending application (b)
- a message past its expiry is refused ``expired`` and acknowledged; a token transfer past its
  expiry is refunded (c, e)
- a failure without acknowledgement is retried by anyone with ``retry(envelope)`` once its cause
  is gone, and only once (d)
- TokenRouter refunds a transfer the destination refuses (paused router, unknown asset, a
  recipient refusing the native coin) exactly, and the collateral locked for a chain equals the
  wrapped supply there afterwards (e)
- ``relayer send --wait --json`` reports failed with the decoded reason, or delivered (f)

One devnet (one operator, committee threshold 1) serves the whole module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from devnet_helpers import quiet, wait_for
from eth_account import Account
from eth_utils import keccak

from adapters.evm.abi import Contract
from adapters.evm.messaging import ACK_ON_FAILURE, address_word, message_sent_logs
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.send import Processed, SendRequest, processed_event, processed_events, send
from relayer.devnet.transfer import fee_paid
from relayer.errors import ContractRevert

pytestmark = pytest.mark.slow
DEPLOYER = network.DEPLOYER_KEY
ZERO = "0x" + "00" * 20
TIMEOUT = 90.0
GAS_LIMIT = 200_000
AMOUNT = 10**17
MSG_APP = Contract.load("MsgApp")
ROUTER = Contract.load("TokenRouter")


@dataclass
class Net:
    """The running devnet as the tests use it."""

    root: Path
    chains: dict[str, dict[str, Any]]
    evms: dict[str, SyncEvm]
    users: list[dict[str, str]]
    config: str  # operator 1's TOML

    def layer(self, name: str) -> str:
        return str(self.chains[name]["message_layer"])

    def router(self, name: str) -> str:
        return str(self.chains[name]["token_router"])

    def chain_id(self, name: str) -> int:
        return int(self.chains[name]["chain_id"])

    def deploy(self, name: str, contract: str, *args: Any) -> str:
        return self.evms[name].deploy(DEPLOYER, contract, *args)

    def call(self, name: str, to: str, contract: str, fn: str, *args: Any) -> Any:
        return self.evms[name].call(to, contract, fn, *args)

    def processed(self, name: str, msg_id: str) -> Processed:
        """The MessageProcessed of ``msg_id`` on chain ``name``, waited for."""
        found: Processed = wait_for(lambda: processed_event(self.evms[name], self.layer(name), msg_id), TIMEOUT,
                                    f"MessageProcessed of {msg_id} on {name}")
        return found

    def refunded(self, name: str, msg_id: str) -> dict[str, Any]:
        """Fields of the router's Refunded event of transfer ``msg_id`` on chain ``name``, waited for."""
        query = {"address": self.router(name), "fromBlock": "0x0", "toBlock": "latest",
                 "topics": ["0x" + ROUTER.event_topic("Refunded").hex(), msg_id]}
        logs = wait_for(lambda: self.evms[name].rpc("eth_getLogs", query), TIMEOUT, f"Refunded of {msg_id} on {name}")
        decoded = ROUTER.decode_log(logs[0])
        assert decoded is not None and len(logs) == 1
        return decoded[1]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("devnet")
    network.up(root, operators=1, threshold=1, report=quiet)
    try:
        deployment = network.load_deployment(root)
        chains = deployment["chains"]
        evms = {name: SyncEvm(chain["rpc"]) for name, chain in chains.items()}
        yield Net(root, chains, evms, deployment["users"], deployment["operators"][0]["config"])
        for evm in evms.values():
            evm.close()
    finally:
        network.down(root, report=quiet)


def sent_id(receipt: dict[str, Any], layer: str) -> str:
    (only,) = message_sent_logs(receipt, layer)
    return "0x" + only[1].id.hex()


def in_one_block(evm: SyncEvm, key: str, calls: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Send ``(to, data)`` calls from ``key`` mined into one block of the interval-mining chain; receipts."""
    sender = _address(key)
    evm.rpc("evm_setIntervalMining", 0)
    evm.rpc("evm_setAutomine", False)
    try:
        start = evm.nonce(sender)
        hashes = [evm.send_transaction(key, to, data, gas=400_000, nonce=start + i)
                  for i, (to, data) in enumerate(calls)]
        evm.rpc("evm_mine")
    finally:
        evm.rpc("evm_setIntervalMining", 1)
    receipts = [evm.wait_receipt(h, 20) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1, "the sends did not land in one block"
    assert all(int(r["status"], 16) == 1 for r in receipts)
    return receipts


def _address(key: str) -> str:
    return str(Account.from_key(key).address)


def revert_data(signature: str, types: list[str], values: list[Any]) -> str:
    return "0x" + (keccak(text=signature)[:4] + eth_abi.encode(types, values)).hex()


def head_timestamp(evm: SyncEvm) -> int:
    return int(evm.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def assert_collateral_matches_wrapped_supply(net: Net) -> None:
    """On each chain, what its router holds locked for the other equals the wrapped supply there."""
    for here, there in (("alpha", "beta"), ("beta", "alpha")):
        for asset, original in (("native", ZERO), ("token", net.chains[here]["test_token"])):
            locked = net.call(here, net.router(here), "TokenRouter", "lockedFor", net.chain_id(there), original)
            supply = net.call(there, net.chains[there][f"wrapped_{asset}"], "WrappedToken", "totalSupply")
            assert locked == supply, f"{here} locks {locked} of {asset} for {there}, which has {supply} wrapped"


# --------------------------------------------------------------------------- (a) (b) delivery

def test_handler_gets_the_exact_body_source_chain_and_sender(net: Net) -> None:
    recorder = net.deploy("beta", "MsgRecorder", net.layer("beta"))
    body = bytes(range(256)) + b"\x00 end"
    request = SendRequest("alpha", "beta", recorder, body, gas_limit=1_000_000)  # the recorder stores it all
    result = send(net.root, request, wait=True, timeout=TIMEOUT)
    assert (result.outcome, result.result) == ("delivered", "0x" + (b"ok:" + body).hex())
    assert net.call("beta", recorder, "MsgRecorder", "count") == 1
    source_chain, sender, got, msg_id, source_block, _, _ = net.call("beta", recorder, "MsgRecorder", "received", 0)
    assert (source_chain, got) == (net.chain_id("alpha"), body)
    assert sender == address_word(net.users[0]["address"])
    assert ("0x" + msg_id.hex(), source_block) == (result.message_id, result.source_block)


def test_a_reverting_handler_fails_alone_in_its_batch_and_its_failure_is_acknowledged(net: Net) -> None:
    app = net.deploy("alpha", "MsgApp", net.layer("alpha"))
    recorder = net.deploy("beta", "MsgRecorder", net.layer("beta"))
    reverter = net.deploy("beta", "MsgReverter")
    targets = [recorder, recorder, reverter, recorder, recorder]
    bodies = [b"batch-%d" % i for i in range(len(targets))]
    calls = [(app, MSG_APP.encode_call("send", net.chain_id("beta"), address_word(to), body, GAS_LIMIT, 0,
                                       ACK_ON_FAILURE)) for to, body in zip(targets, bodies)]
    receipts = in_one_block(net.evms["alpha"], net.users[0]["key"], calls)
    ids = [sent_id(r, net.layer("alpha")) for r in receipts]
    outcomes = [net.processed("beta", msg_id) for msg_id in ids]
    assert len({o.tx for o in outcomes}) == 1, "the five messages were not delivered in one transaction"
    assert [o.outcome for o in outcomes] == ["delivered", "delivered", "failed", "delivered", "delivered"]
    refused = revert_data("Refused(bytes)", ["bytes"], [bodies[2]])
    assert (outcomes[2].result, outcomes[2].reason) == (refused, f"Refused(0x{bodies[2].hex()})")
    kept = [net.call("beta", recorder, "MsgRecorder", "received", i)[2] for i in range(4)]
    assert kept == bodies[:2] + bodies[3:]
    wait_for(lambda: net.call("alpha", app, "MsgApp", "ackCount") == 1, TIMEOUT, "the failure acknowledgement")
    acked, outcome, result = net.call("alpha", app, "MsgApp", "ackAt", 0)
    assert ("0x" + acked.hex(), outcome, "0x" + result.hex()) == (ids[2], 2, refused)
    assert not net.call("beta", net.layer("beta"), "MessageLayer", "isRetriable", ids[2])  # acknowledged: final


# --------------------------------------------------------------------------- (d) retry

def test_a_failure_without_acknowledgement_is_retried_once_its_cause_is_gone(net: Net) -> None:
    switch = net.deploy("beta", "MsgSwitch")
    result = send(net.root, SendRequest("alpha", "beta", switch, b"later"), wait=True, timeout=TIMEOUT)
    assert (result.outcome, result.reason, result.ack_id) == ("failed", "NotYet()", None)
    layer, beta = net.layer("beta"), net.evms["beta"]
    assert net.call("beta", layer, "MessageLayer", "isRetriable", result.message_id)
    (_, envelope), = message_sent_logs(net.evms["alpha"].wait_receipt(result.source_tx), net.layer("alpha"))
    retrier = net.users[2]["key"]
    with pytest.raises(ContractRevert, match="RetryFailed"):  # the cause is still there: stays retriable
        beta.transact(retrier, layer, "MessageLayer", "retry", envelope.encode())
    beta.transact(DEPLOYER, switch, "MsgSwitch", "flip")
    beta.transact(retrier, layer, "MessageLayer", "retry", envelope.encode())
    assert net.call("beta", switch, "MsgSwitch", "handled") == 1
    events = processed_events(beta, layer, result.message_id)
    assert [(e.outcome, e.result) for e in events] == [("failed", revert_data("NotYet()", [], [])),
                                                       ("delivered", "0x" + b"switched".hex())]
    with pytest.raises(ContractRevert, match="NotRetriable"):
        beta.transact(retrier, layer, "MessageLayer", "retry", envelope.encode())
    assert net.call("beta", switch, "MsgSwitch", "handled") == 1
    assert net.call("beta", layer, "MessageLayer", "outcomeOf", net.chain_id("alpha"),
                    address_word(net.layer("alpha")), envelope.nonce) == 1


# --------------------------------------------------------------------------- (c) (e) expiry and refunds

def test_expired_message_and_transfer_are_refused_acknowledged_and_refunded(net: Net) -> None:
    alpha, beta = net.evms["alpha"], net.evms["beta"]
    app = net.deploy("alpha", "MsgApp", net.layer("alpha"))
    recorder = net.deploy("beta", "MsgRecorder", net.layer("beta"))
    beta.rpc("evm_increaseTime", 120)  # beta's clock now runs 2 minutes ahead of alpha's, for good
    expiry = head_timestamp(alpha) + 30  # still ahead on alpha, already past on beta
    user = net.users[1]
    before = alpha.balance(user["address"])
    sent = alpha.transact(user["key"], app, "MsgApp", "send", net.chain_id("beta"), address_word(recorder), b"late",
                          GAS_LIMIT, expiry, ACK_ON_FAILURE)
    lock = alpha.transact(user["key"], net.router("alpha"), "TokenRouter", "lockNative", net.chain_id("beta"),
                          user["address"], expiry, value=AMOUNT)
    msg_id, transfer_id = sent_id(sent, net.layer("alpha")), sent_id(lock, net.layer("alpha"))
    for mid in (msg_id, transfer_id):
        assert (net.processed("beta", mid).outcome, net.processed("beta", mid).result) == ("expired", "0x")
    assert net.call("beta", recorder, "MsgRecorder", "count") == 0
    wait_for(lambda: net.call("alpha", app, "MsgApp", "ackCount") == 1, TIMEOUT, "the expiry acknowledgement")
    acked, outcome, result = net.call("alpha", app, "MsgApp", "ackAt", 0)
    assert ("0x" + acked.hex(), outcome, result) == (msg_id, 3, b"")
    refund = net.refunded("alpha", transfer_id)
    assert (refund["sender"], refund["asset"], refund["amount"]) == (user["address"], ZERO, AMOUNT)
    assert refund["outcome"] == 3
    assert alpha.balance(user["address"]) == before - fee_paid(sent, alpha) - fee_paid(lock, alpha)
    assert_collateral_matches_wrapped_supply(net)


def test_a_paused_destination_router_refuses_and_the_sender_is_refunded(net: Net) -> None:
    alpha, beta = net.evms["alpha"], net.evms["beta"]
    user = net.users[1]
    before = alpha.balance(user["address"])
    beta.transact(DEPLOYER, net.router("beta"), "TokenRouter", "pause")
    try:
        lock = alpha.transact(user["key"], net.router("alpha"), "TokenRouter", "lockNative", net.chain_id("beta"),
                              user["address"], 0, value=AMOUNT)
        transfer_id = sent_id(lock, net.layer("alpha"))
        processed = net.processed("beta", transfer_id)
        assert (processed.outcome, processed.reason) == ("failed", "IsPaused()")
        refund = net.refunded("alpha", transfer_id)
    finally:
        beta.transact(DEPLOYER, net.router("beta"), "TokenRouter", "unpause")
    assert (refund["amount"], refund["outcome"], refund["reason"]) == (AMOUNT, 2, bytes.fromhex(processed.result[2:]))
    assert alpha.balance(user["address"]) == before - fee_paid(lock, alpha)
    assert_collateral_matches_wrapped_supply(net)


def test_an_unknown_asset_is_refused_and_the_token_refunded(net: Net) -> None:
    alpha = net.evms["alpha"]
    supply = 10**24
    stray = net.deploy("alpha", "TestToken", "Stray Token", "STR", supply)  # no wrapped form on beta
    alpha.transact(DEPLOYER, net.router("alpha"), "TokenRouter", "registerToken", net.chain_id("beta"), stray, True)
    alpha.transact(DEPLOYER, stray, "TestToken", "approve", net.router("alpha"), AMOUNT)
    lock = alpha.transact(DEPLOYER, net.router("alpha"), "TokenRouter", "lockToken", stray, net.chain_id("beta"),
                          net.users[1]["address"], AMOUNT, 0)
    transfer_id = sent_id(lock, net.layer("alpha"))
    processed = net.processed("beta", transfer_id)
    assert (processed.outcome, processed.reason) == ("failed", f"UnknownAsset({net.chain_id('alpha')}, {stray})")
    assert net.refunded("alpha", transfer_id)["amount"] == AMOUNT
    assert net.call("alpha", stray, "TestToken", "balanceOf", _address(DEPLOYER)) == supply
    assert net.call("alpha", net.router("alpha"), "TokenRouter", "lockedFor", net.chain_id("beta"), stray) == 0
    assert_collateral_matches_wrapped_supply(net)


def test_a_recipient_refusing_the_native_coin_gets_the_burn_reminted(net: Net) -> None:
    alpha, beta = net.evms["alpha"], net.evms["beta"]
    user = net.users[2]
    wrapped = net.chains["beta"]["wrapped_native"]
    lock = alpha.transact(user["key"], net.router("alpha"), "TokenRouter", "lockNative", net.chain_id("beta"),
                          user["address"], 0, value=AMOUNT)
    assert net.processed("beta", sent_id(lock, net.layer("alpha"))).outcome == "delivered"
    refuser = net.deploy("alpha", "RefusingRecipient")
    held = net.call("beta", wrapped, "WrappedToken", "balanceOf", user["address"])
    before = beta.balance(user["address"])
    burn = beta.transact(user["key"], net.router("beta"), "TokenRouter", "burn", wrapped, refuser, AMOUNT // 4, 0)
    assert net.call("beta", wrapped, "WrappedToken", "balanceOf", user["address"]) == held - AMOUNT // 4
    transfer_id = sent_id(burn, net.layer("beta"))
    processed = net.processed("alpha", transfer_id)
    assert processed.outcome == "failed" and processed.reason is not None
    assert processed.reason.startswith("NativeTransferFailed(")
    refund = net.refunded("beta", transfer_id)
    assert (refund["sender"], refund["asset"], refund["amount"]) == (user["address"], wrapped, AMOUNT // 4)
    assert net.call("beta", wrapped, "WrappedToken", "balanceOf", user["address"]) == held
    assert beta.balance(user["address"]) == before - fee_paid(burn, beta)
    assert alpha.balance(refuser) == 0
    assert_collateral_matches_wrapped_supply(net)


# --------------------------------------------------------------------------- (f) relayer send

def relayer_send(net: Net, recipient: str, body: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", "send", "--devnet", str(net.root), "--from", "alpha",
                           "--to", "beta", "--recipient", recipient, "--body", body, *extra],
                          capture_output=True, text=True, timeout=TIMEOUT + 30)


def shown(net: Net, msg_id: str, outcome: str, ack: str) -> dict[str, Any]:
    """`relayer messages show ID --json` of the operator once it gives ``outcome`` and ``ack``."""
    def look() -> dict[str, Any] | None:
        out = subprocess.run([sys.executable, "-m", "relayer", "messages", "show", msg_id, "--config", net.config,
                              "--json"], capture_output=True, text=True, timeout=60)
        life: dict[str, Any] = json.loads(out.stdout) if out.returncode == 0 else {}
        return life if (life.get("outcome"), life.get("ack")) == (outcome, ack) else None

    found: dict[str, Any] = wait_for(look, TIMEOUT, f"messages show {msg_id}: outcome {outcome}, ack {ack}")
    return found


def test_relayer_send_reports_a_failure_with_its_reason_and_a_delivery(net: Net) -> None:
    reverter = net.deploy("beta", "MsgReverter")
    recorder = net.deploy("beta", "MsgRecorder", net.layer("beta"))
    failed = relayer_send(net, reverter, "0xdead", "--wait", "--json", "--timeout", str(TIMEOUT))
    assert failed.returncode == 0, failed.stderr
    assert failed.stdout.count("\n") == 1
    report = json.loads(failed.stdout)
    assert (report["outcome"], report["reason"]) == ("failed", "Refused(0xdead)")
    assert report["result"] == revert_data("Refused(bytes)", ["bytes"], [b"\xde\xad"])
    assert report["destination_tx"] == net.processed("beta", report["message_id"]).tx
    assert f"sent message {report['message_id']}" in failed.stderr
    assert shown(net, report["message_id"], "failed", "none")["outcome_result"] == report["result"]
    delivered = relayer_send(net, recorder, "0xbeef", "--wait", "--json", "--ack", "always")
    assert delivered.returncode == 0, delivered.stderr
    report = json.loads(delivered.stdout)
    assert (report["outcome"], report["result"], report["reason"]) == ("delivered", "0x" + b"ok:\xbe\xef".hex(), None)
    # the acknowledgement came back to the sending account, which has no handler (not a contract)
    assert report["ack_tx"] == net.processed("alpha", report["ack_id"]).tx
    assert report["ack_outcome"] == "failed" and report["ack_reason"].startswith("RecipientNotContract(")
    assert net.call("beta", recorder, "MsgRecorder", "received", 0)[2] == b"\xbe\xef"
    shown(net, report["message_id"], "delivered", "delivered")  # the operator carried the acknowledgement back


def test_relayer_send_gives_up_after_its_timeout(net: Net) -> None:
    recorder = net.deploy("beta", "MsgRecorder", net.layer("beta"))
    out = relayer_send(net, recorder, "0x", "--wait", "--timeout", "0.01")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: message 0x") and "not processed on beta within 0.01 s" in last
