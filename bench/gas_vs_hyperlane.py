"""Destination gas of the same work on our message layer and on Hyperlane's published contracts,
side by side on the same anvil.

    python bench/gas_vs_hyperlane.py [--hardfork NAME --output NAME]

Starts two automining anvil nodes (chain ids 1001 -> 1002) with our message layer and token
router on both (``tests/contracts/apps_env.py``), and deploys on the destination (1002), beside
ours, Hyperlane's contracts as npm ``@hyperlane-xyz/core`` publishes them (pinned in
package.json; ``tests/contracts/hyperlane_env.py`` reads the shipped bytecode, nothing is
compiled). For committees of 1/1, 2/3, 3/5 and 7/10 (the same keys on both sides):

- Hyperlane: a Mailbox whose default ISM is a static message-id multisig ISM of that validator
  set; ``Mailbox.process`` with the first ``threshold`` validators' real signatures over the
  message's checkpoint digest (CheckpointLib), to a LightTestRecipient (empty handler) and as a
  HypERC20 transfer minting to a fresh recipient;
- ours: a CommitteeLightClient of that committee; ``deliverBatch`` of one message with the
  committee's header update of its source block in the same transaction (the first
  ``threshold`` members sign), to an empty handler (MsgEmpty) and as a TokenRouter lock that
  mints the wrapped coin to a fresh recipient.

Ours also (2/3 committee, update included): one message and per message of batches of 8, 32 and
128 from source blocks of 1, 50 and 200 receipts; the unlock of a burned wrapped token (native coin
and ERC-20, each to a fresh recipient) and the refund acknowledgement of an expired transfer.

Every figure is the ``gasUsed`` of one transaction (21000 base and calldata included), measured
on an evm_snapshot that is reverted afterwards, in steady state: each light client, mailbox,
token and replay guard has already served one delivery, so only what every delivery writes is
new. From Prague on (anvil's default hardfork), EIP-7623 makes a transaction pay at least 21000
+ 2.5 x its calldata gas: the table shows that floor beside our batches, whose proofs are mostly
calldata. ``--hardfork cancun`` runs both nodes at the last hardfork without that floor (the one
consortium EVM chains are closer to; Hyperlane's bytecode needs Cancun's opcodes). Writes
``bench/results/NAME.json`` and ``.md`` (NAME ``gas-vs-hyperlane`` unless ``--output``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for extra in (BENCH.parent, BENCH, BENCH.parent / "tests" / "contracts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

NAME = "gas-vs-hyperlane"
COMMITTEES = ((1, 1), (2, 3), (3, 5), (7, 10))  # (threshold, members)
BLOCK_SIZES = (1, 50, 200)
BATCHES = (8, 32, 128)
EMPTY_GAS_LIMIT = 50_000
AMOUNT = 10**18
AIM_BATCH_32 = 40_000
WORKS = (("empty", "one message, empty handler"), ("mint", "token mint to a fresh recipient"))


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


# ---------------------------------------------------------------------- measurement (needs nodes)
def calldata_gas(data: bytes) -> int:
    """Intrinsic gas of transaction input ``data`` (EIP-2028: 16 per non-zero byte, 4 per zero byte)."""
    return sum(16 if byte else 4 for byte in data)


def floor_gas(calldata: int) -> int:
    """EIP-7623's least gas of a transaction (Prague on): 21000 + 10 per calldata token, a token
    being a zero byte and four tokens a non-zero byte, i.e. 21000 + 2.5 x the EIP-2028 calldata gas."""
    return 21_000 + calldata * 10 // 4


def _snapshot_gas(evm: Any, run: Callable[[], dict[str, Any]],
                  check: Callable[[dict[str, Any]], None]) -> dict[str, int]:
    """``{"gas", "calldata_gas"}`` of the transaction ``run`` sends, on a snapshot of ``evm`` that is
    then reverted."""
    snapshot = evm.rpc("evm_snapshot")
    try:
        receipt = run()
        check(receipt)
        sent = evm.rpc("eth_getTransactionByHash", receipt["transactionHash"])
        return {"gas": gas(receipt), "calldata_gas": calldata_gas(bytes.fromhex(sent["input"][2:]))}
    finally:
        if not evm.rpc("evm_revert", snapshot):
            raise RuntimeError("evm_revert refused the snapshot")


class Ours:
    """Our side: the app pair, plus one light client of chain A on B per committee."""

    def __init__(self, pair: Any) -> None:
        from msg_env import DEPLOYER, make_keys

        from adapters.evm import committee as cm

        self.p = pair
        self.m = pair.m
        self.deployer = DEPLOYER
        self.keys = {members: make_keys("committee", members) for _, members in COMMITTEES}
        self.empty = self.m.b.evm.deploy(DEPLOYER, "MsgEmpty")
        self.clients: dict[int, str] = {}
        for threshold, members in COMMITTEES:
            addresses = [cm.signer_address(k) for k in self.keys[members]]
            self.clients[members] = self.m.b.evm.deploy(DEPLOYER, "CommitteeLightClient", self.m.a.chain_id,
                                                        addresses, threshold)

    def use_committee(self, members: int) -> None:
        """Point B's layer at the light client of the committee of ``members``."""
        b, a = self.m.b, self.m.a
        b.evm.transact(self.deployer, b.layer, "MessageLayer", "setRemote", a.chain_id, a.layer_word,
                       self.clients[members], b.verifier)

    def update(self, src: Any, number: int, signer_keys: Sequence[str], light_client: str) -> bytes:
        from adapters.evm import committee as cm

        dst = self.m.other(src)
        block_hash, root = self.m.header(src, number)
        sigs = self.m.signatures(dst, number, block_hash, root, signer_keys, light_client=light_client)
        return cm.encode_committee_update(number, block_hash, root, sigs)

    def deliver_gas(self, dst: Any, proofs: list[bytes], update: bytes, outcomes: list[int]) -> dict[str, int]:
        def check(receipt: dict[str, Any]) -> None:
            got = [e["outcome"] for e in self.m.processed(dst, receipt)]
            if got != outcomes:
                raise RuntimeError(f"deliverBatch recorded outcomes {got}, expected {outcomes}")

        return _snapshot_gas(dst.evm, lambda: self.m.deliver(dst, proofs, update), check)

    def send_empty(self) -> dict[str, Any]:
        return self.m.send(self.m.a, self.empty, b"", gas_limit=EMPTY_GAS_LIMIT)

    def lock(self, recipient: str) -> dict[str, Any]:
        return self.p.lock_native(self.m.a, AMOUNT, recipient)

    def committee_figures(self, threshold: int, members: int) -> dict[str, dict[str, int]]:
        """Gas of one empty-handler message and one mint, each with its header update, for the committee."""
        from msg_env import fresh_address

        m, a, b = self.m, self.m.a, self.m.b
        keys = self.keys[members][:threshold]
        lc = self.clients[members]
        self.use_committee(members)
        # warm-up: this light client's first header, the wrapped supply and replay-guard word non-zero
        for receipt in (self.send_empty(), self.lock(fresh_address(f"warm-{members}"))):
            number = int(receipt["blockNumber"], 16)
            m.deliver(b, [m.proof(a, receipt)], self.update(a, number, keys, lc))
        out = {}
        for work, receipt in (("empty", self.send_empty()), ("mint", self.lock(fresh_address(f"mint-{members}")))):
            number = int(receipt["blockNumber"], 16)
            out[work] = self.deliver_gas(b, [m.proof(a, receipt)], self.update(a, number, keys, lc), [1])
        return out

    def header_accepted_single(self) -> dict[str, int]:
        """One empty-handler message whose header the light client (2/3) already holds."""
        m, a, b = self.m, self.m.a, self.m.b
        self.use_committee(3)
        receipt = self.send_empty()
        number = int(receipt["blockNumber"], 16)
        b.evm.send_and_wait(self.deployer, self.clients[3], _committee_update_call(self.update(
            a, number, self.keys[3][:2], self.clients[3])))
        return self.deliver_gas(b, [m.proof(a, receipt)], b"", [1])

    def block_figures(self) -> list[dict[str, Any]]:
        """Per source block of 1, 50, 200 empty-handler messages: one message alone (the middle one
        of the block) and batches of its first 8, 32, 128 messages, each with the block's update."""
        m, a, b = self.m, self.m.a, self.m.b
        self.use_committee(3)
        keys, lc = self.keys[3][:2], self.clients[3]
        rows = []
        for size in BLOCK_SIZES:
            if size == 1:
                receipts = [self.send_empty()]
            else:
                spec = {"recipient": self.empty, "body": b"", "gas_limit": EMPTY_GAS_LIMIT}
                receipts = m.send_in_one_block(a, [spec] * size, gas=120_000)
            number = int(receipts[0]["blockNumber"], 16)
            block_receipts = a.evm.rpc("eth_getBlockReceipts", hex(number))
            if len(block_receipts) != size:
                raise RuntimeError(f"the source block holds {len(block_receipts)} receipts, not {size}")
            proofs = [m.proof(a, r, receipts=block_receipts) for r in receipts]
            update = self.update(a, number, keys, lc)
            middle = size // 2
            for batch, chosen in ((1, [proofs[middle]]), *((n, proofs[:n]) for n in BATCHES if n <= size)):
                got = self.deliver_gas(b, chosen, update, [1] * batch)
                rows.append({"block_receipts": size, "batch": batch, "total_gas": got["gas"],
                             "calldata_gas": got["calldata_gas"], "per_message_gas": round(got["gas"] / batch),
                             "per_message_calldata_gas": round(got["calldata_gas"] / batch),
                             "proof_bytes": round(sum(len(p) for p in chosen) / batch)})
        return rows

    def unlock_and_ack(self) -> dict[str, dict[str, int]]:
        """Unlock on A of a burn on B (native coin, ERC-20; fresh recipients) and the refund
        acknowledgement of an expired lock, each with B's header update (A's 2/3 light client)."""
        from apps_env import USER
        from msg_env import fresh_address

        p, m, a, b = self.p, self.m, self.m.a, self.m.b
        self.use_committee(3)  # B follows A through the 2/3 client of this bench; A follows B through its own
        keys = self.m.committee[:2]

        def to_b(receipt: dict[str, Any]) -> dict[str, Any]:
            number = int(receipt["blockNumber"], 16)
            return m.deliver(b, [m.proof(a, receipt)], self.update(a, number, self.keys[3][:2], self.clients[3]))

        def back_to_a(receipt: dict[str, Any], outcome: int) -> dict[str, int]:
            number = int(receipt["blockNumber"], 16)
            update = self.update(b, number, keys, a.light_client)
            return self.deliver_gas(a, [m.proof(b, receipt)], update, [outcome])

        token = p.token(a)
        for _ in range(2):  # wrapped native and wrapped token on B, held by USER
            to_b(self.lock(USER))
            to_b(p.lock_token(a, AMOUNT, USER))
        wrapped_native, wrapped_token = p.wrapped(b, a, "0x" + "00" * 20), p.wrapped(b, a, token)
        # warm-up: A's light client's first header of B
        warm = p.burn(b, wrapped_native, AMOUNT, fresh_address("unlock-warm"))
        m.deliver(a, [m.proof(b, warm)], self.update(b, int(warm["blockNumber"], 16), keys, a.light_client))
        out = {"unlock_native_fresh_recipient":
               back_to_a(p.burn(b, wrapped_native, AMOUNT, fresh_address("unlock-native")), 1),
               "unlock_erc20_fresh_recipient":
               back_to_a(p.burn(b, wrapped_token, AMOUNT, fresh_address("unlock-token")), 1)}
        # an expired lock: B refuses it (outcome 3) and acknowledges; the ack refunds USER on A
        now = int(a.evm.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        expiring = p.lock_native(a, AMOUNT, fresh_address("expired"), expiry=now + 60)
        b.evm.rpc("evm_increaseTime", 3600)
        b.evm.rpc("evm_mine")
        refused = to_b(expiring)
        if [e["outcome"] for e in m.processed(b, refused)] != [3]:
            raise RuntimeError("the expiring lock was not refused as expired")
        out["ack_refund_of_expired_lock"] = back_to_a(refused, 1)
        return out


def _committee_update_call(update: bytes) -> bytes:
    from adapters.evm.abi import Contract

    return Contract.load("CommitteeLightClient").encode_call("submitUpdate", update)


def hyperlane_figures(ours: Ours) -> dict[int, dict[str, dict[str, int]]]:
    """Per committee size: gas of Mailbox.process for an empty handler and a HypERC20 mint."""
    import hyperlane_env as hl
    from eth_utils import keccak
    from msg_env import fresh_address

    a, b = ours.m.a, ours.m.b
    deployer = ours.deployer
    hook = hl.deploy(b.evm, deployer, "TestPostDispatchHook")
    factory = hl.deploy(b.evm, deployer, "StaticMessageIdMultisigIsmFactory")
    origin_router = hl.word(fresh_address("hyperlane-origin-router"))
    sender = hl.word(fresh_address("hyperlane-sender"))
    tree_hook = hl.word(fresh_address("hyperlane-merkle-tree-hook"))
    out: dict[int, dict[str, dict[str, int]]] = {}
    nonce = 0
    for threshold, members in COMMITTEES:
        keys = ours.keys[members]
        dest = hl.hyperlane_destination(b.evm, deployer, b.chain_id, keys, threshold, a.chain_id, origin_router,
                                        factory, hook)

        def processed(work: str, label: str, *, measure: bool, dest: hl.HyperlaneDestination = dest,
                      keys: list[str] = keys, threshold: int = threshold) -> dict[str, int]:
            nonlocal nonce
            nonce += 1
            if work == "empty":
                raw = hl.message(nonce, a.chain_id, sender, b.chain_id, hl.word(dest.recipient), b"")
            else:
                raw = hl.message(nonce, a.chain_id, origin_router, b.chain_id, hl.word(dest.token),
                                 hl.token_body(fresh_address(label), AMOUNT))
            meta = hl.metadata(raw, a.chain_id, tree_hook, keccak(text=f"checkpoint-root-{nonce}"), nonce,
                               keys[:threshold])
            if not measure:
                return {"gas": gas(dest.process(deployer, raw, meta))}
            return _snapshot_gas(b.evm, lambda: dest.process(deployer, raw, meta), lambda r: None)

        for work, _ in WORKS:  # warm-up: the mailbox's first delivery, the recipient's first mint
            processed(work, f"hyperlane-warm-{work}-{members}", measure=False)
        out[members] = {work: processed(work, f"hyperlane-{work}-{members}", measure=True) for work, _ in WORKS}
    return out


def measure(hardfork: str | None = None) -> dict[str, Any]:
    """Start the nodes (anvil's default hardfork, or ``hardfork``), deploy both sides and measure
    every figure."""
    import hyperlane_env as hl
    from apps_env import app_pair

    with app_pair(["--hardfork", hardfork] if hardfork else None) as pair:
        ours = Ours(pair)
        b = pair.b
        theirs = hyperlane_figures(ours)
        pairs = []
        for threshold, members in COMMITTEES:
            mine = ours.committee_figures(threshold, members)
            for work, _ in WORKS:
                pairs.append({"threshold": threshold, "members": members, "work": work,
                              "ours_gas": mine[work]["gas"], "ours_calldata_gas": mine[work]["calldata_gas"],
                              "hyperlane_gas": theirs[members][work]["gas"],
                              "hyperlane_calldata_gas": theirs[members][work]["calldata_gas"]})
        single_accepted = ours.header_accepted_single()
        blocks = ours.block_figures()
        other = ours.unlock_and_ack()
        latest = b.evm.rpc("eth_getBlockByNumber", "latest", False)
        info = b.evm.rpc("anvil_nodeInfo")
    return {
        "hyperlane_package": f"@hyperlane-xyz/core {hl.installed_version()}",
        "hardfork": str(info.get("hardFork", "unknown")),
        "block_gas_limit": int(latest["gasLimit"], 16),
        "pairs": pairs,
        "ours_single_header_already_accepted": single_accepted,
        "ours_blocks": blocks,
        "ours_other": other,
        "aims": {"single_with_update": "at or below Hyperlane's figure for the same work and committee",
                 "per_message_batch_32_block_50": AIM_BATCH_32},
        "notes": ("anvil automine, chain ids 1001->1002, both sides on the destination anvil; each figure the "
                  "gasUsed of one transaction (21000 base and calldata included) on a snapshot reverted "
                  "afterwards, after one warm-up delivery per light client / mailbox / token; signatures by the "
                  "first `threshold` members (ascending address) on both sides; ours: deliverBatch with the "
                  "committee header update in the same transaction; Hyperlane: Mailbox.process with a static "
                  "message-id multisig ISM (its checkpoint root and index are opaque to the destination); "
                  "mints of 1e18 to a fresh recipient; empty-handler messages carry an empty body "
                  "(ours with a 50,000 handler gas limit)"),
    }


# ---------------------------------------------------------------------- rendering (reads the JSON only)
LABELS = dict(WORKS)
OTHER_LABELS = (("unlock_native_fresh_recipient", "unlock of the native coin (burned on B) to a fresh account"),
                ("unlock_erc20_fresh_recipient", "unlock of an ERC-20 (burned on B) to a fresh account"),
                ("ack_refund_of_expired_lock", "acknowledgement of an expired lock, refunding its sender"))


def ratio(ours: int, theirs: int) -> str:
    return f"{ours / theirs:.2f}"


def of_limit(value: int, limit: int) -> str:
    """``value`` as a share of the block gas limit, in percent (two decimals)."""
    return f"{100 * value / limit:.2f} %"


FLOOR_NOTE = {
    True: ("This hardfork has EIP-7623 (Prague on): a transaction pays at least 21000 + 2.5 x its calldata gas; "
           "a batch marked (the floor) paid exactly that, so only fewer proof bytes would make it cheaper."),
    False: ("This hardfork predates EIP-7623: the floor column shows what the same transaction would at least "
            "cost from Prague on."),
}
# hardforks before Prague (anvil's names): no calldata floor
BEFORE_PRAGUE = {"frontier", "homestead", "tangerine", "spuriousdragon", "byzantium", "constantinople", "petersburg",
                 "istanbul", "muirglacier", "berlin", "london", "arrowglacier", "grayglacier", "paris", "merge",
                 "shanghai", "cancun"}


def floor_applies(doc: dict[str, Any]) -> bool:
    return str(doc["hardfork"]).lower().replace("_", "") not in BEFORE_PRAGUE


def headline(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the 2/3 empty-handler pair, the 50-receipt block's batch of 32)."""
    pair = next(p for p in doc["pairs"] if (p["threshold"], p["members"], p["work"]) == (2, 3, "empty"))
    batch = next(r for r in doc["ours_blocks"] if (r["block_receipts"], r["batch"]) == (50, 32))
    return pair, batch


def markdown(doc: dict[str, Any]) -> str:
    limit = doc["block_gas_limit"]
    pair, batch = headline(doc)
    aim = doc["aims"]["per_message_batch_32_block_50"]
    accepted = doc["ours_single_header_already_accepted"]
    lines = [
        "# Destination gas: our message layer beside Hyperlane, same anvil",
        "",
        f"Hyperlane: {doc['hyperlane_package']} as published on npm (its shipped bytecode). "
        f"Anvil hardfork {doc['hardfork']}, block gas limit {limit:,}. {doc['notes']}. "
        "Calldata gas: 16 per non-zero and 4 per zero byte of the transaction input (EIP-2028), part of the gas. "
        + FLOOR_NOTE[floor_applies(doc)],
        "",
        f"- One message, empty handler, committee 2/3: ours **{pair['ours_gas']:,}** with the header update in the "
        f"same transaction, Hyperlane **{pair['hyperlane_gas']:,}**: ratio "
        f"{ratio(pair['ours_gas'], pair['hyperlane_gas'])} (aim: at most 1.00).",
        f"- Batch of 32 from a 50-receipt source block, update included: ours **{batch['per_message_gas']:,}** per "
        f"message, aim {aim:,}: ratio {ratio(batch['per_message_gas'], aim)}.",
        "",
        "## The same work on both",
        "",
        "| committee | work | ours (update included) | of which calldata | Hyperlane | of which calldata "
        "| ours / Hyperlane | ours, of block gas limit | Hyperlane, of block gas limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in doc["pairs"]:
        ours, theirs = p["ours_gas"], p["hyperlane_gas"]
        lines.append(f"| {p['threshold']}/{p['members']} | {LABELS[p['work']]} | {ours:,} | {p['ours_calldata_gas']:,} "
                     f"| {theirs:,} | {p['hyperlane_calldata_gas']:,} | {ratio(ours, theirs)} "
                     f"| {of_limit(ours, limit)} | {of_limit(theirs, limit)} |")
    lines += [
        "",
        f"Ours without the update (the header already accepted), one empty-handler message: {accepted['gas']:,} "
        f"(calldata {accepted['calldata_gas']:,}).",
        "",
        "## Ours by source block and batch (committee 2/3, update included)",
        "",
        "One message alone is the middle message of its block; a batch is the block's first messages.",
        "",
        "| receipts in the source block | messages in the transaction | gas of the transaction | per message "
        "| of which calldata | EIP-7623 floor per message | per message / 40,000 aim | proof bytes per message "
        "| transaction, of block gas limit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["ours_blocks"]:
        floor = floor_gas(r["calldata_gas"])
        at_floor = " (the floor)" if floor_applies(doc) and r["total_gas"] == floor else ""
        lines.append(f"| {r['block_receipts']} | {r['batch']} | {r['total_gas']:,}{at_floor} "
                     f"| {r['per_message_gas']:,} | {r['per_message_calldata_gas']:,} | {round(floor / r['batch']):,} "
                     f"| {ratio(r['per_message_gas'], aim)} | {r['proof_bytes']:,} "
                     f"| {of_limit(r['total_gas'], limit)} |")
    lines += ["", "## Ours: the way back (committee 2/3, update included)", "",
              "| path | gas | of which calldata | of block gas limit |", "|---|---:|---:|---:|"]
    for key, label in OTHER_LABELS:
        got = doc["ours_other"][key]
        lines.append(f"| {label} | {got['gas']:,} | {got['calldata_gas']:,} | {of_limit(got['gas'], limit)} |")
    lines.append("")
    return "\n".join(lines)


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if not doc.get("readme_rows", True):
        return []
    pair, batch = headline(doc)
    aim = doc["aims"]["per_message_batch_32_block_50"]
    fork = f" ({doc['hardfork']})"
    return [(f"destination gas, one message with its 2/3 header update (empty handler){fork}", f"{pair['ours_gas']:,}",
             f"{pair['hyperlane_gas']:,} (Hyperlane, same work)", ratio(pair["ours_gas"], pair["hyperlane_gas"])),
            (f"destination gas per message, batch of 32 from a 50-receipt block, update included{fork}",
             f"{batch['per_message_gas']:,}", f"{aim:,} (aim)", ratio(batch["per_message_gas"], aim))]


def main(argv: list[str] | None = None) -> None:
    import argparse

    from common import start, write_result

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hardfork", help="anvil --hardfork for both nodes (default: anvil's own default)")
    parser.add_argument("--output", default=NAME, help=f"result name under bench/results (default {NAME})")
    args = parser.parse_args(argv)
    started = start()
    figures = measure(args.hardfork)
    figures["readme_rows"] = args.output == NAME  # the README table shows the default run's figures only
    write_result(args.output, NAME, figures, started)


if __name__ == "__main__":
    main()
