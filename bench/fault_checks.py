"""What the fault matrix (``bench/faults.py``) checks after every trial, read from the chains only
(events and contract state, never the relayer's store or logs):

- every message has exactly one ``MessageProcessed`` on its destination layer (counted by id over
  the whole chain: none is *lost*, none is processed *twice*), with an outcome it may have (a
  recorder delivers, a reverter fails, anything with an expiry may also expire);
- every acknowledgement due (ackMode always, or on failure and the outcome is not delivered) was
  sent exactly once by the destination layer and has exactly one ``MessageProcessed`` on the
  source layer; none is sent for any other message;
- the ``MsgRecorder`` holds each delivered body exactly once (and no expired one), under the
  message's id; the ``MsgApp`` got ``handleAck`` exactly once per acknowledgement due, with the
  destination's outcome, and never otherwise;
- every refused transfer (failed or expired) was ``Refunded`` exactly once by its source router,
  and no delivered one; the recipient holds exactly what the delivered transfers sent it;
- collateral: each router's ``lockedFor(other chain, asset)`` equals the wrapped supply there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.evm.abi import Contract
from fault_traffic import LAYER, OUTCOMES, ROUTER, Sent, Traffic

PROCESSED_TOPIC = "0x" + LAYER.event_topic("MessageProcessed").hex()
REFUNDED_TOPIC = "0x" + ROUTER.event_topic("Refunded").hex()
RECORDER = Contract.load("MsgRecorder")
APP = Contract.load("MsgApp")
ZERO = "0x0000000000000000000000000000000000000000"
CHUNK = 100  # ids per eth_getLogs topic filter


@dataclass
class Verdict:
    """The checks of one trial's messages."""

    messages: int = 0
    acks: int = 0  # acknowledgements due by the outcomes the destinations recorded
    lost: int = 0  # messages without a MessageProcessed on their destination
    acks_lost: int = 0  # acknowledgements due that were not sent or not processed on the source
    twice: int = 0  # envelopes with an effect more than once (processed, recorded, acknowledged, refunded)
    refunds: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # by outcome name
    deliverers: Counter[str] = field(default_factory=Counter)  # operator (or address) -> envelopes processed
    doubles: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def logs_by_id(traffic: Traffic, chain: str, address: str, topic: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Logs of ``topic`` from ``address`` on ``chain`` whose first indexed topic is one of ``ids``,
    over the whole chain."""
    out: list[dict[str, Any]] = []
    unique = sorted(set(ids))
    for start in range(0, len(unique), CHUNK):
        out += traffic.evm[chain].rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest", "address": address,
                                                      "topics": [topic, unique[start:start + CHUNK]]})
    return out


def calls(traffic: Traffic, chain: str, to: str, contract: Contract, fn: str,
          args: Iterable[tuple[Any, ...]]) -> list[Any]:
    """``fn(*a)`` for each ``a`` of ``args`` on ``to``, in one batch, decoded."""
    batch = [("eth_call", [{"to": to, "data": "0x" + contract.encode_call(fn, *a).hex()}, "latest"]) for a in args]
    return [contract.decode_result(fn, bytes.fromhex(r[2:])) for r in traffic.evm[chain].batch(batch)] if batch else []


def recorded(traffic: Traffic, chain: str) -> list[tuple[bytes, str]]:
    """(body, message id) of everything the chain's MsgRecorder received, in order."""
    recorder = traffic.recipients[chain]["recorder"]
    count = int(traffic.evm[chain].call(recorder, "MsgRecorder", "count"))
    return [(bytes(r[2]), "0x" + bytes(r[3]).hex())
            for r in calls(traffic, chain, recorder, RECORDER, "received", [(i,) for i in range(count)])]


def acknowledged(traffic: Traffic, chain: str) -> dict[str, list[int]]:
    """original message id -> outcomes of every handleAck the chain's MsgApp recorded for it."""
    app = traffic.recipients[chain]["app"]
    count = int(traffic.evm[chain].call(app, "MsgApp", "ackCount"))
    out: dict[str, list[int]] = {}
    for ack in calls(traffic, chain, app, APP, "ackAt", [(i,) for i in range(count)]):
        out.setdefault("0x" + bytes(ack[0]).hex(), []).append(int(ack[1]))
    return out


def check(traffic: Traffic, sent: Sequence[Sent], names: dict[str, str]) -> Verdict:
    """Judge ``sent`` (settled and polled) from the chains; ``names`` maps operator addresses (lower
    case) to their names for the deliverers."""
    v = Verdict(messages=len(sent))
    processed: dict[str, list[int]] = {}
    txs: dict[str, Counter[str]] = {name: Counter() for name in traffic.chains}
    for chain, layer in ((name, c["message_layer"]) for name, c in traffic.chains.items()):
        ids = [s.message_id for s in sent if s.dst == chain] + [traffic.acks[s.message_id][0] for s in sent
                                                                if s.src == chain and s.message_id in traffic.acks]
        for lg in logs_by_id(traffic, chain, layer, PROCESSED_TOPIC, ids):
            decoded = LAYER.decode_log(lg)
            assert decoded is not None
            processed.setdefault(str(lg["topics"][1]).lower(), []).append(int(decoded[1]["outcome"]))
            txs[chain][lg["transactionHash"]] += 1
    for chain, counted in txs.items():
        answers = traffic.evm[chain].batch([("eth_getTransactionByHash", [h]) for h in counted])
        for (_, n), tx in zip(counted.items(), answers):
            v.deliverers[names.get(tx["from"].lower(), tx["from"])] += n
    bodies = {chain: recorded(traffic, chain) for chain in traffic.chains}
    body_counts = {chain: Counter(body for body, _ in got) for chain, got in bodies.items()}
    body_ids = {chain: dict(got) for chain, got in bodies.items()}
    app_acks = {chain: acknowledged(traffic, chain) for chain in traffic.chains}
    transfers = [s for s in sent if s.kind == "transfer"]
    refunds: Counter[str] = Counter()
    for chain, router in ((name, c["token_router"]) for name, c in traffic.chains.items()):
        ids = [s.message_id for s in transfers if s.src == chain]
        refunds.update(str(lg["topics"][1]).lower() for lg in logs_by_id(traffic, chain, router, REFUNDED_TOPIC, ids))
    v.refunds = sum(refunds[s.message_id] for s in transfers)
    for s in sent:
        judge_message(s, v, processed, traffic.acks, traffic.ack_sends, body_counts[s.dst], body_ids[s.dst],
                      app_acks[s.src], refunds)
    return v


def judge_message(s: Sent, v: Verdict, processed: dict[str, list[int]], acks: dict[str, tuple[str, int]],
                  ack_sends: Counter[str], bodies: Counter[bytes], body_ids: dict[bytes, str],
                  app_acks: dict[str, list[int]], refunds: Counter[str]) -> None:
    """The checks of one message ``s``, added to ``v``, from what the chains hold: ``processed`` (id ->
    outcomes of its MessageProcessed events), ``acks`` (original id -> the acknowledgement's id, nonce)
    and ``ack_sends`` (original id -> acknowledgements sent), the destination recorder's ``bodies`` (body
    -> times recorded) and ``body_ids`` (body -> id recorded), the source app's ``app_acks`` (original
    id -> outcomes handled) and the source router's ``refunds`` (id -> Refunded events)."""
    name = f"{s.kind} {s.message_id[:10]} {s.src}->{s.dst}"
    seen = processed.get(s.message_id, [])
    if not seen:
        v.lost += 1
        return
    outcome = seen[0]
    v.outcomes[OUTCOMES.get(outcome, str(outcome))] += 1
    doubled = []
    if len(seen) > 1:
        doubled.append(f"processed {len(seen)} times ({seen})")
    if outcome not in s.allowed():
        v.mismatches.append(f"{name}: outcome {OUTCOMES.get(outcome, outcome)}, expected one of "
                            f"{[OUTCOMES[o] for o in s.allowed()]}")
    s.outcome = outcome
    if s.target == "recorder":
        want = 1 if outcome == 1 else 0
        have = bodies[s.body]
        if have > 1:
            doubled.append(f"body recorded {have} times")
        elif have != want:
            v.mismatches.append(f"{name}: body recorded {have} times, expected {want}")
        elif have and body_ids.get(s.body) != s.message_id:
            v.mismatches.append(f"{name}: body recorded under id {body_ids.get(s.body)}")
    due, arrived = s.wants_ack, False
    if due:
        v.acks += 1
        ack = acks.get(s.message_id)
        ack_seen = processed.get(ack[0], []) if ack else []
        arrived = bool(ack_seen)
        if not arrived:
            v.acks_lost += 1
        elif len(ack_seen) > 1:
            doubled.append(f"acknowledgement processed {len(ack_seen)} times")
    sends = ack_sends[s.message_id]
    if sends > 1:
        doubled.append(f"acknowledgement sent {sends} times")
    elif sends and not due:
        v.mismatches.append(f"{name}: an acknowledgement was sent, none was due")
    # the sender's handler ran (handleAck of the app, the router's refund) exactly once per arrived ack
    if s.kind.startswith("app-"):
        got = app_acks.get(s.message_id, [])
        if len(got) > 1:
            doubled.append(f"handleAck {len(got)} times")
        elif len(got) != int(arrived):
            v.mismatches.append(f"{name}: handleAck {len(got)} times, expected {int(arrived)}")
        elif got and got[0] != outcome:
            v.mismatches.append(f"{name}: handleAck with outcome {got[0]}, the destination recorded {outcome}")
    if s.kind == "transfer":
        if refunds[s.message_id] > 1:
            doubled.append(f"refunded {refunds[s.message_id]} times")
        elif refunds[s.message_id] != int(arrived):
            v.mismatches.append(f"{name}: refunded {refunds[s.message_id]} times, expected {int(arrived)}")
    if doubled:
        v.twice += 1
        v.doubles.append(f"{name}: {', '.join(doubled)}")


def balance_mismatches(traffic: Traffic, recipient: str, sent: Iterable[Sent]) -> list[str]:
    """What the recipient holds against what the delivered transfers sent it, per destination asset."""
    holding_of = {"native": "wrapped_native", "token": "wrapped_token", "wrapped-native": "native",
                  "wrapped-token": "test_token"}
    expected: Counter[tuple[str, str]] = Counter()
    for s in sent:
        if s.kind == "transfer" and s.outcome == 1:
            expected[(s.dst, holding_of[s.asset])] += s.amount
    out = []
    for dst, chain in traffic.chains.items():
        for holding in ("wrapped_native", "wrapped_token", "native", "test_token"):
            want = expected[(dst, holding)]
            if holding == "native":
                have = traffic.evm[dst].balance(recipient)
            else:
                have = int(traffic.evm[dst].call(chain[holding], "TestToken", "balanceOf", recipient))
            if have != want:
                out.append(f"{dst} {holding}: has {have}, expected {want}")
    return out


def collateral_violations(traffic: Traffic) -> list[str]:
    """Each router's collateral locked for the other chain (native coin, test token) against the
    total supply of their wrapped forms there (once no transfer is in flight)."""
    out = []
    for name, chain in traffic.chains.items():
        other = traffic.other(name)
        there, other_id = traffic.chains[other], traffic.chains[other]["chain_id"]
        for asset, local, wrapped in (("native", ZERO, "wrapped_native"),
                                      ("token", chain["test_token"], "wrapped_token")):
            locked = int(traffic.evm[name].call(chain["token_router"], "TokenRouter", "lockedFor", other_id, local))
            supply = int(traffic.evm[other].call(there[wrapped], "WrappedToken", "totalSupply"))
            if locked != supply:
                out.append(f"{name} {asset} locked for {other} {locked} != wrapped supply {supply} on {other}")
    return out
