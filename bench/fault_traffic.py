"""The traffic of the fault matrix (``bench/faults.py``): token transfers and plain messages
through the message layer of a devnet, sent without waiting, and the polling that follows
each one to the end of its life (processed on its destination, then, when one is due, its
acknowledgement processed back on its source).

What is sent, from the three devnet users at once:

- ``transfer``: through the source chain's ``TokenRouter`` (``lockNative``, ``lockToken``, ``burn``
  of a wrapped asset; acknowledged on failure: an expired transfer is refunded);
- ``record`` / ``revert``: ``MessageLayer.send`` from the user to a ``MsgRecorder`` (records each
  body) or a ``MsgReverter`` (always reverts) on the destination, without acknowledgement;
- ``app-always`` / ``app-on-failure``: through a ``MsgApp`` on the source, to the recorder or the
  reverter, acknowledged always or on failure; the app records every acknowledgement it gets.

A quarter of everything carries an expiry a few seconds ahead of the source chain's clock, which
passes, or not, while the relayer recovers from the fault: such a message ends ``expired`` (and a
transfer is refunded) or ``delivered``, never both, never twice. The recipients
(``adapters/evm/contracts/test/MsgRecipients.sol``) are deployed by ``Traffic.deploy_recipients``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import eth_abi

from adapters.evm.abi import Contract
from adapters.evm.messaging import (
    ACK_ALWAYS,
    ACK_NONE,
    ACK_ON_FAILURE,
    KIND_ACK,
    MESSAGE_SENT_TOPIC,
    OUTCOME_DELIVERED,
    OUTCOME_EXPIRED,
    OUTCOME_FAILED,
    address_word,
    decode_ack_body,
    decode_envelope,
    message_sent_logs,
)
from adapters.evm.sync_client import SyncEvm

LAYER = Contract.load("MessageLayer")
ROUTER = Contract.load("TokenRouter")
APP = Contract.load("MsgApp")
ERC20 = Contract.load("TestToken")
SENT_TOPIC = "0x" + MESSAGE_SENT_TOPIC.hex()
UNIT = 10**18
MAX_UINT = 2**256 - 1
TX_GAS = 400_000  # any user transaction of the traffic (a lock stores the pending refund)
RECORD_GAS = 250_000  # MsgRecorder stores ~7 words per message
APP_GAS = 300_000  # also MsgApp.handleAck's gas: it stores the acknowledgement and its result
REVERT_GAS = 50_000
ASSETS = ("native", "token", "wrapped-native", "wrapped-token")
KINDS = ("transfer", "transfer", "transfer", "record", "revert", "app-always", "app-on-failure")
SHORT_EXPIRY = (6, 16)  # seconds ahead of the source chain's clock (a send must land before it)
SHORT_SHARE = 0.25
OUTCOMES = {0: "none", OUTCOME_DELIVERED: "delivered", OUTCOME_FAILED: "failed", OUTCOME_EXPIRED: "expired"}


@dataclass
class Sent:
    """One message of the traffic: what was sent and what became of it on the chains."""

    src: str
    dst: str
    kind: str  # transfer | record | revert | app-always | app-on-failure
    source_tx: str
    target: str  # router | recorder | reverter
    ack_mode: int = ACK_NONE
    expiry: int = 0  # unix seconds, 0 = none (a transfer then gets the router's default, a day)
    asset: str = ""  # transfers: native | token | wrapped-native | wrapped-token
    amount: int = 0
    body: bytes = b""  # plain messages: unique over the run
    message_id: str = ""
    nonce: int = -1
    outcome: int = 0  # the destination's outcomeOf once processed
    processed_at: float | None = None  # wall clock, seen by the poller
    ack_id: str = ""  # the acknowledgement's id and nonce, once its MessageSent is seen
    ack_nonce: int = -1
    acked_at: float | None = None  # wall clock its acknowledgement was processed on the source

    @property
    def wants_ack(self) -> bool:
        """Whether the outcome so far calls for an acknowledgement back to the source."""
        if not self.outcome:
            return False
        return self.ack_mode == ACK_ALWAYS or (self.ack_mode == ACK_ON_FAILURE and self.outcome != OUTCOME_DELIVERED)

    @property
    def done_at(self) -> float | None:
        """When its life ended (processed, and acknowledged if due), or None while it goes on."""
        if self.processed_at is None:
            return None
        return self.acked_at if self.wants_ack else self.processed_at

    def allowed(self) -> tuple[int, ...]:
        """The outcomes this message may have: one with an expiry (always a few seconds ahead) may also expire."""
        base = OUTCOME_FAILED if self.target == "reverter" else OUTCOME_DELIVERED
        return (base, OUTCOME_EXPIRED) if self.expiry else (base,)


def word(address: str) -> bytes:
    return address_word(address)


class Traffic:
    """Sends the traffic on a devnet's two chains and follows it to the end."""

    def __init__(self, chains: dict[str, dict[str, Any]], evm: dict[str, SyncEvm], users: list[dict[str, str]],
                 rng: random.Random) -> None:
        self.chains = chains
        self.evm = evm
        self.users = users
        self.rng = rng
        self.recipients: dict[str, dict[str, str]] = {}  # chain -> recorder, reverter, app
        self.tag = rng.randbytes(4).hex().encode()
        self.counter = 0
        # acknowledgements seen: original id -> (ack id, ack nonce), and how many were sent per original id
        self.acks: dict[str, tuple[str, int]] = {}
        self.ack_sends: Counter[str] = Counter()
        self.ack_cursor: dict[str, int] = {}

    def other(self, chain: str) -> str:
        return next(name for name in self.chains if name != chain)

    # ------------------------------------------------------------------ setup
    def deploy_recipients(self, key: str) -> None:
        """Deploy a MsgRecorder, a MsgReverter and a MsgApp on each chain (from ``key``), approve the
        test tokens to the routers for every user, and start scanning for acknowledgements here."""
        for name, chain in self.chains.items():
            evm, layer = self.evm[name], chain["message_layer"]
            self.recipients[name] = {"recorder": evm.deploy(key, "MsgRecorder", layer),
                                     "reverter": evm.deploy(key, "MsgReverter"),
                                     "app": evm.deploy(key, "MsgApp", layer)}
            self.ack_cursor[name] = evm.block_number()
        hashes = [(name, self.evm[name].send_transaction(
            user["key"], chain["test_token"], ERC20.encode_call("approve", chain["token_router"], MAX_UINT),
            gas=100_000)) for user in self.users for name, chain in self.chains.items()]
        for name, tx in hashes:
            self.evm[name].wait_receipt(tx)

    # ------------------------------------------------------------------ sending
    def wave(self, recipient: str, kinds: Iterable[str] | None = None) -> list[Sent]:
        """One message from each user, all sent at once (they land in the same blocks)."""
        now = {name: self.chain_time(name) for name in self.chains}
        picks = list(kinds) if kinds is not None else [self.rng.choice(KINDS) for _ in self.users]
        out = []
        for index, kind in zip(range(len(self.users)), picks):
            src = self.rng.choice(list(self.chains))
            expiry = now[src] + self.rng.randint(*SHORT_EXPIRY) if self.rng.random() < SHORT_SHARE else 0
            out.append(self.send(index, src, kind, recipient, expiry))
        return out

    def chain_time(self, name: str) -> int:
        block = self.evm[name].rpc("eth_getBlockByNumber", "latest", False)
        return max(int(block["timestamp"], 16), int(time.time()))

    def send(self, user_index: int, src: str, kind: str, recipient: str, expiry: int = 0,
             asset: str | None = None, amount: int | None = None) -> Sent:
        """Sign and send one message of ``kind`` (no waiting); its id and nonce come with ``settle``."""
        if kind == "transfer":
            return self.transfer(user_index, src, asset or self.rng.choice(ASSETS),
                                 amount or self.rng.randint(1, 10**6) * 10**9, recipient, expiry)
        user, chain, dst = self.users[user_index], self.chains[src], self.other(src)
        there = self.recipients[dst]
        self.counter += 1
        body = b"%s:%d:%s" % (self.tag, self.counter, kind.encode())
        if kind in ("record", "revert"):
            target = "recorder" if kind == "record" else "reverter"
            gas, mode, to = (RECORD_GAS if kind == "record" else REVERT_GAS), ACK_NONE, chain["message_layer"]
            data = LAYER.encode_call("send", self.chains[dst]["chain_id"], word(there[target]), body, gas, expiry, mode)
        else:
            target = self.rng.choice(("recorder", "reverter"))
            mode, to = (ACK_ALWAYS if kind == "app-always" else ACK_ON_FAILURE), self.recipients[src]["app"]
            data = APP.encode_call("send", self.chains[dst]["chain_id"], word(there[target]), body, APP_GAS, expiry,
                                   mode)
        tx = self.evm[src].send_transaction(user["key"], to, data, gas=TX_GAS)
        return Sent(src, dst, kind, tx, target, ack_mode=mode, expiry=expiry, body=body)

    def transfer(self, user_index: int, src: str, asset: str, amount: int, recipient: str, expiry: int = 0) -> Sent:
        """A lock or burn through the source's TokenRouter (acknowledged on failure: refunded)."""
        user, chain, dst = self.users[user_index], self.chains[src], self.other(src)
        dst_id = self.chains[dst]["chain_id"]
        value = 0
        if asset == "native":
            data, value = ROUTER.encode_call("lockNative", dst_id, recipient, expiry), amount
        elif asset == "token":
            data = ROUTER.encode_call("lockToken", chain["test_token"], dst_id, recipient, amount, expiry)
        else:
            wrapped = chain["wrapped_" + asset.removeprefix("wrapped-")]
            data = ROUTER.encode_call("burn", wrapped, recipient, amount, expiry)
        tx = self.evm[src].send_transaction(user["key"], chain["token_router"], data, value=value, gas=TX_GAS)
        return Sent(src, dst, "transfer", tx, "router", ack_mode=ACK_ON_FAILURE, expiry=expiry, asset=asset,
                    amount=amount)

    def settle(self, sent: Iterable[Sent]) -> None:
        """Wait for the source receipts; fill in each message's nonce and id. Raises RuntimeError when
        a source transaction reverted or sent no message."""
        for s in sent:
            if s.nonce >= 0:
                continue
            receipt = self.evm[s.src].wait_receipt(s.source_tx, timeout=60)
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"{s.kind} {s.source_tx} on {s.src} reverted")
            found = message_sent_logs(receipt, self.chains[s.src]["message_layer"])
            if len(found) != 1:
                raise RuntimeError(f"{s.kind} {s.source_tx} on {s.src} sent {len(found)} messages, expected 1")
            envelope = found[0][1]
            s.nonce, s.message_id = envelope.nonce, "0x" + envelope.id.hex()

    # ------------------------------------------------------------------ following
    def poll(self, pending: Iterable[Sent], deadline: float, tick: Callable[[], None] | None = None) -> list[Sent]:
        """Poll until every message is processed on its destination and every acknowledgement due is
        processed on its source, or ``deadline`` (monotonic); returns those whose life did not end."""
        waiting = [s for s in pending if s.done_at is None]
        while waiting:
            if tick:
                tick()
            self._outcomes(waiting)
            self._scan_acks()
            self._ack_outcomes(waiting)
            waiting = [s for s in waiting if s.done_at is None]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        return waiting

    def _outcome_calls(self, on: str, items: list[tuple[str, int]]) -> list[int]:
        """outcomeOf on ``on``'s layer for (source chain name, nonce) pairs, in one batch."""
        layer = self.chains[on]["message_layer"]
        calls = [("eth_call", [{"to": layer, "data": "0x" + LAYER.encode_call(
            "outcomeOf", self.chains[src]["chain_id"], word(self.chains[src]["message_layer"]), nonce).hex()},
            "latest"]) for src, nonce in items]
        return [int(answer, 16) for answer in self.evm[on].batch(calls)] if calls else []

    def _outcomes(self, waiting: list[Sent]) -> None:
        for dst in self.chains:
            group = [s for s in waiting if s.dst == dst and not s.outcome]
            now = time.time()
            for s, outcome in zip(group, self._outcome_calls(dst, [(s.src, s.nonce) for s in group])):
                if outcome:
                    s.outcome, s.processed_at = outcome, now

    def _scan_acks(self) -> None:
        """Read the acknowledgements (MessageSent of kind 1) each layer sent since the last scan."""
        for name, chain in self.chains.items():
            head = self.evm[name].block_number()
            if head < self.ack_cursor[name]:
                continue
            logs = self.evm[name].rpc("eth_getLogs", {"fromBlock": hex(self.ack_cursor[name]), "toBlock": hex(head),
                                                       "address": chain["message_layer"], "topics": [SENT_TOPIC]})
            for lg in logs:
                (raw,) = eth_abi.decode(["bytes"], bytes.fromhex(lg["data"][2:]))
                envelope = decode_envelope(raw)
                if envelope.kind != KIND_ACK:
                    continue
                original = "0x" + decode_ack_body(envelope.body)[0].hex()
                self.ack_sends[original] += 1
                self.acks.setdefault(original, ("0x" + envelope.id.hex(), envelope.nonce))
            self.ack_cursor[name] = head + 1

    def _ack_outcomes(self, waiting: list[Sent]) -> None:
        for s in waiting:
            if s.wants_ack and not s.ack_id and s.message_id in self.acks:
                s.ack_id, s.ack_nonce = self.acks[s.message_id]
        for src in self.chains:  # an acknowledgement travels back to the message's source
            group = [s for s in waiting if s.src == src and s.ack_id and s.acked_at is None]
            now = time.time()
            for s, outcome in zip(group, self._outcome_calls(src, [(s.dst, s.ack_nonce) for s in group])):
                if outcome:
                    s.acked_at = now
