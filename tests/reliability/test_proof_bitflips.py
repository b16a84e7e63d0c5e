"""Random single-byte flips of a valid receipt proof, sent to the real contracts on anvil.

A real TokenRouter ``lockToken`` on chain A (its receipt has three logs: the token's Transfer,
the layer's MessageSent and the router's TransferSent), mined in a block with 23 other locks so
that its proof has branch nodes above the leaf, its header accepted by chain B's light client, the
valid EvmReceiptVerifier proof built. Then K random single-byte flips across the proof's nodes,
key, logIndex (and blockNumber) go to chain B's MessageLayer as ``deliverBatch`` eth_calls in
JSON-RPC batches, and a few as real transactions: every one must revert, and the recipient's
wrapped balance and the wrapped token's totalSupply never move. Finally the unmodified proof
mints exactly once (a second delivery processes nothing).

``BITFLIP_SEED`` reproduces a run (the seed is printed); ``BITFLIP_COUNT`` changes K.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contracts"))

from apps_env import NATIVE, ROUTER, AppPair, app_pair, fresh_address  # noqa: E402
from msg_env import CHAIN_A, DEPLOYER, LAYER, USER, USER_KEY  # noqa: E402

from adapters.evm.abi import decode_revert  # noqa: E402
from adapters.evm.messaging import encode_evm_proof  # noqa: E402
from relayer.errors import ContractRevert  # noqa: E402

ETHER = 10**18
FLIPS = int(os.environ.get("BITFLIP_COUNT", "500"))
SENT_AS_TRANSACTIONS = 6
Proof = tuple[int, bytes, list[bytes], int]


@pytest.fixture(scope="module")
def pair() -> Iterator[AppPair]:
    with app_pair() as p:
        yield p


def flipped(proof: Proof, rng: random.Random) -> tuple[str, Proof]:
    """``proof`` with one byte changed (XOR a non-zero mask) in a node, the key, logIndex or blockNumber."""
    number, key, nodes, log_index = proof
    mask = rng.randrange(1, 256)
    target = rng.choices(["node", "key", "logIndex", "blockNumber"], weights=[80, 8, 8, 4])[0]
    if target == "node":
        sizes = [len(n) for n in nodes]
        at = rng.randrange(sum(sizes))  # uniform over every byte of every node
        which = 0
        while at >= sizes[which]:
            at -= sizes[which]
            which += 1
        node = bytearray(nodes[which])
        node[at] ^= mask
        return f"node[{which}]", (number, key, [*nodes[:which], bytes(node), *nodes[which + 1:]], log_index)
    if target == "key":
        raw = bytearray(key)
        raw[rng.randrange(len(raw))] ^= mask
        return "key", (number, bytes(raw), nodes, log_index)
    byte = rng.choices(range(32), weights=[1] * 28 + [4] * 4)[0]  # mostly the low bytes: small wrong values
    change = mask << (8 * (31 - byte))
    if target == "logIndex":
        return "logIndex", (number, key, nodes, log_index ^ change)
    return "blockNumber", (number ^ change, key, nodes, log_index)


def lock_in_a_busy_block(pair: AppPair, recipient: str, amount: int, others: int = 23) -> dict[str, Any]:
    """A lockToken for ``recipient`` mined in one block with ``others`` other router locks, so that its
    proof has branch nodes above the leaf; returns its receipt."""
    a, router, token = pair.a, pair.router(pair.a), pair.token(pair.a)
    a.evm.transact(USER_KEY, token, "TestToken", "approve", router, amount * (others + 1))
    nonce = a.evm.nonce(USER)
    target = others // 2 + 1
    a.evm.rpc("evm_setAutomine", False)
    try:
        hashes = []
        for i in range(others + 1):
            if i == target:
                data = ROUTER.encode_call("lockToken", token, pair.b.chain_id, recipient, amount, 0)
                value = 0
            else:
                data = ROUTER.encode_call("lockNative", pair.b.chain_id, USER, 0)
                value = 1000 + i
            hashes.append(a.evm.send_transaction(USER_KEY, router, data, value=value, gas=400_000,
                                                 nonce=nonce + i))
        a.evm.rpc("evm_mine")
    finally:
        a.evm.rpc("evm_setAutomine", True)
    receipts = [a.evm.wait_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1 and all(int(r["status"], 16) == 1 for r in receipts)
    return receipts[target]


def eth_call_batch(url: str, sender: str, to: str, calldatas: list[bytes]) -> list[tuple[bool, str]]:
    """(reverted, reason or result) of each eth_call, sent as JSON-RPC batches (of at most 100: anvil
    refuses a request of 500 such calls as invalid)."""
    payload = [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
                "params": [{"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(3_000_000)}, "latest"]}
               for i, data in enumerate(calldatas)]
    reply: list[dict[str, Any]] = []
    for start in range(0, len(payload), 100):
        answers = httpx.post(url, json=payload[start:start + 100], timeout=120).json()
        assert isinstance(answers, list) and len(answers) == len(payload[start:start + 100]), answers
        reply += answers
    out: list[tuple[bool, str]] = []
    for answer in sorted(reply, key=lambda r: r["id"]):
        error = answer.get("error")
        if error is None:
            out.append((False, str(answer.get("result"))))
            continue
        data = error.get("data")
        assert isinstance(data, str) and data.startswith("0x"), error  # a revert, not an RPC failure
        out.append((True, decode_revert(bytes.fromhex(data[2:])).split("(")[0]))
    return out


def test_bit_flipped_proofs_never_mint(pair: AppPair, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair.a, pair.b
    seed = int(os.environ.get("BITFLIP_SEED", str(random.SystemRandom().randrange(2**32))))
    rng = random.Random(seed)
    recipient = fresh_address("bitflips")
    amount = 7 * ETHER
    receipt = lock_in_a_busy_block(pair, recipient, amount)
    assert len(receipt["logs"]) == 3  # Transfer, MessageSent, TransferSent: a wrong logIndex still finds a log
    pair.m.accept(a, int(receipt["blockNumber"], 16))
    proof: Proof = pair.m.proof_parts(a, receipt)
    assert len(proof[2]) >= 3, "expected branch nodes above the leaf"
    wrapped = pair.wrapped(b, a, pair.token(a))
    assert wrapped != NATIVE

    def balances() -> tuple[int, int]:
        return (int(b.evm.call(wrapped, "WrappedToken", "balanceOf", recipient)),
                int(b.evm.call(wrapped, "WrappedToken", "totalSupply")))

    before = balances()
    sender = Account.from_key(DEPLOYER).address
    forged = [flipped(proof, rng) for _ in range(FLIPS)]
    assert all(f[1] != proof for f in forged)
    calldatas = [LAYER.encode_call("deliverBatch", CHAIN_A, b"", [encode_evm_proof(*p)]) for _, p in forged]
    results = eth_call_batch(b.evm.url, sender, b.layer, calldatas)

    accepted = [(forged[i][0], results[i][1]) for i in range(FLIPS) if not results[i][0]]
    assert not accepted, f"seed {seed}: flipped proofs accepted: {accepted[:5]}"
    reasons = Counter(reason for _, reason in results)
    targets = Counter(target.split("[")[0] for target, _ in forged)

    # a few as real transactions, mined with a fixed gas limit (no estimation to refuse them first)
    sent = rng.sample(range(FLIPS), SENT_AS_TRANSACTIONS)
    for i in sent:
        with pytest.raises(ContractRevert) as info:
            b.evm.transact(DEPLOYER, b.layer, "MessageLayer", "deliverBatch", CHAIN_A, b"",
                           [encode_evm_proof(*forged[i][1])], gas=3_000_000)
        assert "tx" in info.value.fields, "expected a mined, reverted transaction"
    assert balances() == before, f"seed {seed}: a flipped proof changed a balance"

    # the unmodified proof mints exactly once; again, it is skipped (nothing processed, no revert)
    minted = pair.m.deliver(b, [encode_evm_proof(*proof)])
    assert int(minted["status"], 16) == 1
    assert [p["outcome"] for p in pair.m.processed(b, minted)] == [1]
    assert balances() == (before[0] + amount, before[1] + amount)
    again = pair.m.deliver(b, [encode_evm_proof(*proof)])
    assert int(again["status"], 16) == 1 and pair.m.processed(b, again) == []
    assert b.evm.call(b.layer, "MessageLayer", "deliverBatch", CHAIN_A, b"", [encode_evm_proof(*proof)]) == 0
    assert balances() == (before[0] + amount, before[1] + amount)

    with capsys.disabled():
        print(f"\nproof bit flips (seed {seed}): {FLIPS} flipped proofs {dict(targets)} as deliverBatch = "
              f"{len(results)} eth_calls, {sum(r[0] for r in results)} reverted, 0 accepted; "
              f"{SENT_AS_TRANSACTIONS} mined transactions reverted; reasons {dict(reasons)}; "
              f"valid proof minted once ({len(proof[2])} nodes, {sum(map(len, proof[2]))} bytes)")


def test_flips_cover_every_part_of_the_proof() -> None:
    """The flip generator reaches every node, the key, logIndex and blockNumber, and never returns the input."""
    proof: Proof = (5, b"\x80", [b"\x01" * 40, b"\x02" * 300, b"\x03" * 600], 1)
    rng = random.Random(1)
    seen: Counter[str] = Counter()
    for _ in range(2000):
        target, forged = flipped(proof, rng)
        assert forged != proof
        seen[target] += 1
    assert set(seen) == {"node[0]", "node[1]", "node[2]", "key", "logIndex", "blockNumber"}, seen

