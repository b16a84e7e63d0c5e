"""The trustless path end to end: ``devnet up --policy qbft``.

Anvil cannot seal QBFT blocks, so each chain sits behind a sealing proxy that serves anvil's
real blocks as a Besu QBFT chain sealed by four validators generated for the devnet (same
fields, a QBFT extraData, Besu's block hash). Three real operator processes follow the chains
through the proxies with the off-chain QBFT light client and deliver real locks and burns by
sending the sealed header to the on-chain ``QbftLightClient`` of the destination (no committee
signatures). A block waiting for a retry is not stranded by a later one; an outsider pushing
every new header to the on-chain client ahead of the relayers strands nothing; alpha's validator
set changes 4 -> 5 -> 4 by votes while transfers flow. Then the validators of alpha equivocate:
two validly sealed headers at one height. The operator that sees both stores the evidence, halts
relaying from alpha and says so in ``relayer status``; a new lock on alpha is not relayed by it,
beta is still relayed.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak

from adapters.evm.abi import Contract
from adapters.evm.messaging import address_word
from adapters.evm.sync_client import SyncEvm
from light_clients.evm.header import decode_header, header_from_rpc
from light_clients.qbft import QbftLightClient
from relayer.cli import build_parser
from relayer.config import check_config
from relayer.devnet import network
from relayer.devnet.proxy import PROXY_MARKER, get_fault, propose_validator, set_fault, validator_schedule
from relayer.devnet.transfer import TransferResult, transfer
from relayer.errors import ContractRevert

pytestmark = pytest.mark.slow
UNIT = 10**18


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("qbftnet")
    started = time.monotonic()
    network.up(root, policy="qbft", report=lambda line: None)
    print(f"\ndevnet up --policy qbft took {time.monotonic() - started:.1f} s")
    try:
        yield root
    finally:
        network.down(root, report=lambda line: None)
        deployment = network.load_deployment(root)
        assert not network.running_pids(deployment)


def deployment(root: Path) -> dict[str, Any]:
    return network.load_deployment(root)


def evm(root: Path, chain: str) -> SyncEvm:
    return SyncEvm(deployment(root)["chains"][chain]["rpc"])


def lc_call(root: Path, chain: str, fn: str, *args: Any) -> Any:
    c = deployment(root)["chains"][chain]
    return evm(root, chain).call(c["light_client"], "QbftLightClient", fn, *args)


def token_balance(root: Path, chain: str, token_key: str, owner: str) -> int:
    c = deployment(root)["chains"][chain]
    return int(evm(root, chain).call(c[token_key], "WrappedToken", "balanceOf", owner))


def status(root: Path, index: int) -> dict[str, Any]:
    config = deployment(root)["operators"][index - 1]["config"]
    out = subprocess.run([sys.executable, "-m", "relayer", "status", "--config", config, "--json"],
                         capture_output=True, text=True, timeout=60, check=True)
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def delivered(root: Path, source: str, destination: str, nonce: int) -> bool:
    """Whether ``destination``'s message layer processed message ``nonce`` of ``source`` (any outcome)."""
    d = deployment(root)["chains"]
    return bool(evm(root, destination).call(d[destination]["message_layer"], "MessageLayer", "outcomeOf",
                                            d[source]["chain_id"], address_word(d[source]["message_layer"]), nonce))


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_devnet_uses_qbft_light_clients_behind_sealing_proxies(devnet: Path) -> None:
    assert build_parser().parse_args(["devnet", "up", "--dir", str(devnet), "--policy", "qbft"]).policy == "qbft"
    d = deployment(devnet)
    assert d["policy"] == "qbft"
    assert all(network.process_alive(p["pid"], PROXY_MARKER) for p in d["proxies"].values())
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        chain, source = d["chains"][name], d["chains"][other]
        assert chain["rpc"] == d["proxies"][name]["url"] and chain["anvil_rpc"] == d["proxies"][name]["upstream"]
        assert lc_call(devnet, name, "flavour") == 0 and lc_call(devnet, name, "sourceChainId") == source["chain_id"]
        expected = d["proxies"][other]["validators"]
        assert list(lc_call(devnet, name, "validators")) == source["qbft"]["validators"] == expected
        assert lc_call(devnet, name, "quorum") == 3
        assert lc_call(devnet, name, "latestNumber") == source["qbft"]["checkpoint_number"] == source["start_block"]
        checkpoint = evm(devnet, other).rpc("eth_getBlockByNumber", hex(source["start_block"]), False)
        assert checkpoint["hash"] == source["qbft"]["checkpoint_hash"]
        keys = devnet / "keys" / f"{name}-validators.json"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        listed = [v["address"] for v in json.loads(keys.read_text())["validators"]]
        assert listed == chain["qbft"]["validators"]
        assert (devnet / "logs" / f"proxy-{name}.log").exists()
    for index in (1, 2, 3):
        config = devnet / f"operator-{index}.toml"
        assert check_config(config) == []
        text = config.read_text()
        assert 'light_client = "qbft"' in text and "[chains.alpha.light_client_options]" in text
    assert int(SyncEvm(d["chains"]["alpha"]["anvil_rpc"]).chain_id) == 1001  # users may also use anvil directly


def test_transfers_both_ways_through_the_on_chain_qbft_clients(devnet: Path) -> None:
    latest_before = {name: lc_call(devnet, name, "latestNumber") for name in ("alpha", "beta")}
    recipient = Account.create().address
    lanes: list[list[tuple[str, str, str, str, str | None]]] = [
        [("alpha", "beta", "native", "1.5", recipient), ("alpha", "beta", "token", "3", recipient)],
        [("beta", "alpha", "native", "0.25", recipient), ("beta", "alpha", "token", "2", recipient)],
        [("alpha", "beta", "native", "2", None), ("beta", "alpha", "wrapped-native", "0.5", recipient)],
    ]

    def lane(index: int) -> list[TransferResult]:
        return [transfer(devnet, s, t, asset, Decimal(amount), recipient=to, wait=True, timeout=90,
                         user_index=index) for s, t, asset, amount, to in lanes[index]]

    with ThreadPoolExecutor(3) as pool:
        results = [r for rs in pool.map(lane, range(3)) for r in rs]
    assert token_balance(devnet, "beta", "wrapped_native", recipient) == int(Decimal("1.5") * UNIT)
    assert token_balance(devnet, "beta", "wrapped_token", recipient) == 3 * UNIT
    assert token_balance(devnet, "alpha", "wrapped_native", recipient) == UNIT // 4
    assert token_balance(devnet, "alpha", "wrapped_token", recipient) == 2 * UNIT
    assert evm(devnet, "alpha").balance(recipient) == UNIT // 2  # the wrapped coin came back as the original
    for r in results:
        assert r.destination_tx is not None and r.destination_gas
        root = lc_call(devnet, r.destination, "receiptsRootOf", r.source_block)
        assert int.from_bytes(root, "big") != 0  # the sealed source header is accepted on-chain
    for name in ("alpha", "beta"):
        assert lc_call(devnet, name, "latestNumber") > latest_before[name]
    print("\nQBFT path: " + "; ".join(
        f"{r.source}->{r.destination} {r.asset}: {r.latency_s:.2f} s, {r.destination_gas} gas"
        f" ({r.messages_in_destination_tx} in tx)" for r in results))


def test_locks_in_consecutive_blocks_arrive_while_one_operator_is_down(devnet: Path) -> None:
    """A later block delivered by its designated operator does not strand an earlier one whose
    designated operator is down (its peers deliver it after the grace period)."""
    network.stop_operator(devnet, 3)
    recipient = Account.create().address
    results = [transfer(devnet, "alpha", "beta", "native", Decimal("0.1"), recipient=recipient, user_index=2)
               for _ in range(6)]
    assert len({r.source_block for r in results}) >= 4
    wait_for(lambda: all(delivered(devnet, "alpha", "beta", r.nonce) for r in results), 90,
             "every lock to be delivered by two of three operators")
    assert token_balance(devnet, "beta", "wrapped_native", recipient) == 6 * UNIT // 10
    for index in (1, 2):
        counts = {r["route"]: r["messages"] for r in status(devnet, index)["routes"]}
        assert counts["alpha->beta"]["failed"] == 0, counts
    network.start_operator(devnet, 3)
    network.wait_healthy(devnet, [3], report=lambda line: None)


def test_header_verify_reads_a_sealed_block_through_the_proxy(devnet: Path) -> None:
    d = deployment(devnet)
    number = d["chains"]["alpha"]["start_block"] + 1
    out = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "qbft",
                          "--rpc", d["chains"]["alpha"]["rpc"], "--block", str(number)],
                         capture_output=True, text=True, timeout=60)
    verdict = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr
    assert verdict["valid"] is True and len(verdict["signers"]) >= 3 and verdict["quorum"] == 3
    validators = {v.lower() for v in d["chains"]["alpha"]["qbft"]["validators"]}
    assert set(verdict["signers"]) <= validators
    assert verdict["hash"] == evm(devnet, "alpha").rpc("eth_getBlockByNumber", hex(number), False)["hash"]


def accepted_order(root: Path) -> list[int]:
    """Block numbers of alpha in the order beta's on-chain QBFT client accepted them."""
    c = deployment(root)["chains"]["beta"]
    qlc = Contract.load("QbftLightClient")
    logs = evm(root, "beta").rpc("eth_getLogs", {"address": c["light_client"], "fromBlock": "0x0", "toBlock": "latest"})
    decoded = [(int(lg["blockNumber"], 16), int(lg["logIndex"], 16), qlc.decode_log(lg)) for lg in logs]
    return [d[1]["number"] for _, _, d in sorted(decoded, key=lambda x: x[:2])
            if d is not None and d[0] == "HeaderAccepted"]


def overtaken(order: list[int], block: int) -> bool:
    """Whether a later header than ``block`` was accepted before ``block``'s own."""
    return block in order and any(n > block for n in order[: order.index(block)])


def test_a_block_waiting_for_a_retry_is_not_stranded_by_a_later_one(devnet: Path) -> None:
    """The delivery of block N is refused (three times: backoff) while block N+k's lock is delivered:
    N+k's header is accepted first, and N still arrives once its retry comes."""
    d = deployment(devnet)
    beta_admin = d["proxies"]["beta"]["admin_url"]
    early, late = Account.create().address, Account.create().address
    set_fault(beta_admin, "revert", match=early[2:], count=3)  # only deliveries proving the lock to `early`
    try:
        first = transfer(devnet, "alpha", "beta", "native", Decimal("0.1"), recipient=early, user_index=0)
        wait_for(lambda: get_fault(beta_admin)["served"] >= 1, 30, "the first delivery to be refused")
        second = transfer(devnet, "alpha", "beta", "native", Decimal("0.2"), recipient=late, user_index=1,
                          wait=True, timeout=60)
        assert second.source_block > first.source_block and not delivered(devnet, "alpha", "beta", first.nonce)
        wait_for(lambda: delivered(devnet, "alpha", "beta", first.nonce), 90,
                 "the refused block to arrive at its retry")
    finally:
        set_fault(beta_admin, "none")
    assert token_balance(devnet, "beta", "wrapped_native", early) == UNIT // 10
    assert overtaken(accepted_order(devnet), first.source_block)
    log = "".join((devnet / "logs" / f"operator-{i}.log").read_text() for i in (1, 2, 3))
    assert '"message.attempt_failed"' in log and "refused by the devnet proxy" in log


class HeaderPusher(threading.Thread):
    """An outside account that pushes the sealed header of every new alpha block that holds no logs
    to beta's on-chain QBFT client as soon as it appears: ahead of every block with a message."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        d = deployment(root)
        self.alpha, self.beta = SyncEvm(d["chains"]["alpha"]["rpc"]), SyncEvm(d["chains"]["beta"]["rpc"])
        self.light_client = d["chains"]["beta"]["light_client"]
        account = Account.create()
        self.key = "0x" + bytes(account.key).hex()
        SyncEvm(d["chains"]["beta"]["anvil_rpc"]).rpc("anvil_setBalance", account.address, hex(10 * UNIT))
        self.stop = threading.Event()
        self.pushed: list[int] = []

    def run(self) -> None:
        last = -1
        while not self.stop.is_set():
            head = self.alpha.block_number()
            if head != last:
                block = self.alpha.rpc("eth_getBlockByNumber", hex(head), False)
                if int(block["logsBloom"], 16) == 0:
                    try:
                        self.beta.transact(self.key, self.light_client, "QbftLightClient", "updateHeader",
                                           header_from_rpc(block).rlp)
                        self.pushed.append(head)
                    except ContractRevert:
                        pass
                last = head
            self.stop.wait(0.05)


def test_an_outsider_pushing_headers_ahead_of_the_relayers_strands_nothing(devnet: Path) -> None:
    """While the operators are down, a burst of locks goes into alpha and an outside account pushes
    the header of every other block to beta's QBFT client: every message block is overtaken by a
    later accepted header before any relayer sees it, and every message still arrives."""
    pusher = HeaderPusher(devnet)
    pusher.start()
    recipient = Account.create().address
    for index in (1, 2, 3):
        network.stop_operator(devnet, index)
    try:
        def lane(index: int) -> list[TransferResult]:
            out = []
            for _ in range(3):
                out.append(transfer(devnet, "alpha", "beta", "native", Decimal("0.1"), recipient=recipient,
                                    user_index=index))
                time.sleep(1.0)
            return out

        with ThreadPoolExecutor(3) as pool:
            results = [r for rs in pool.map(lane, range(3)) for r in rs]
        top = max(r.source_block for r in results)
        wait_for(lambda: any(n > top for n in pusher.pushed), 30, "the outsider to push a header above the burst")
    finally:
        for index in (1, 2, 3):
            network.start_operator(devnet, index)
        network.wait_healthy(devnet, [1, 2, 3], report=lambda line: None)
    try:
        wait_for(lambda: all(delivered(devnet, "alpha", "beta", r.nonce) for r in results), 120,
                 "every message of the burst to arrive")
    finally:
        pusher.stop.set()
        pusher.join(30)
    assert token_balance(devnet, "beta", "wrapped_native", recipient) == 9 * UNIT // 10
    order = accepted_order(devnet)
    blocks = {r.source_block for r in results}
    assert all(overtaken(order, b) for b in blocks), (sorted(blocks), pusher.pushed)
    for index in (1, 2, 3):
        counts = {r["route"]: r["messages"] for r in status(devnet, index)["routes"]}
        assert counts["alpha->beta"]["failed"] == 0, counts


def test_validator_set_changes_4_5_4_are_followed_while_transfers_flow(devnet: Path) -> None:
    d = deployment(devnet)
    admin = d["proxies"]["alpha"]["admin_url"]
    original = list(lc_call(devnet, "beta", "validators"))
    epochs_before = lc_call(devnet, "beta", "epochCount")
    newcomer = "0x" + keccak(text="e2e-qbft-newcomer").hex()
    stop, results, errors = threading.Event(), [], []
    recipient = Account.create().address

    def flow(source: str, target: str, user: int) -> None:
        try:
            while not stop.is_set():
                results.append(transfer(devnet, source, target, "native", Decimal("0.01"), recipient=recipient,
                                        user_index=user))
                stop.wait(0.7)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    lanes = [threading.Thread(target=flow, args=args, daemon=True)
             for args in (("alpha", "beta", 0), ("alpha", "beta", 1), ("beta", "alpha", 2))]
    for t in lanes:
        t.start()
    try:
        added = propose_validator(admin, add_key=newcomer)
        assert len(added["validators"]) == 5
        wait_for(lambda: list(lc_call(devnet, "beta", "validators")) == added["validators"], 90,
                 "beta's QBFT client of alpha to follow the added validator")
        time.sleep(3)  # transfers in the five-validator epoch
        dropped = propose_validator(admin, drop=added["recipient"])
        assert dropped["validators"] == original
        wait_for(lambda: list(lc_call(devnet, "beta", "validators")) == original, 90,
                 "beta's QBFT client of alpha to follow the dropped validator")
        time.sleep(3)
    finally:
        stop.set()
        for t in lanes:
            t.join(60)
    assert not errors, errors
    wait_for(lambda: all(delivered(devnet, r.source, r.destination, r.nonce) for r in results), 120,
             "every transfer made during the changes to arrive")
    assert lc_call(devnet, "beta", "epochCount") == epochs_before + 2
    assert list(lc_call(devnet, "beta", "validators")) == validator_schedule(admin)["validators"]
    five = {r.source_block for r in results if r.source == "alpha"
            and added["change_at"] <= r.source_block < dropped["change_at"]}
    assert five, "no transfer from alpha in the five-validator epoch"
    for block in five:  # a header sealed by the five is accepted on-chain and proves its message
        assert int.from_bytes(lc_call(devnet, "beta", "receiptsRootOf", block), "big") != 0
    for index in (1, 2, 3):
        counts = {r["route"]: r["messages"] for r in status(devnet, index)["routes"]}
        assert counts["alpha->beta"]["failed"] == 0 and counts["beta->alpha"]["failed"] == 0, counts
    log = "".join((devnet / "logs" / f"operator-{i}.log").read_text() for i in (1, 2, 3))
    assert log.count('"validators.changed"') >= 2 and '"header.validator_change_sent"' in log


def test_equivocation_halts_relaying_from_that_chain_with_evidence(devnet: Path) -> None:
    d = deployment(devnet)
    network.stop_operator(devnet, 2)  # operator-1 alone reads alpha from now on
    network.stop_operator(devnet, 3)
    alpha = evm(devnet, "alpha")
    conflict = alpha.block_number() + 3  # a block operator-1 has not verified yet
    set_fault(d["proxies"]["alpha"]["admin_url"], "conflict", block=conflict)
    wait_for(lambda: status(devnet, 1)["evidence"], 30, "operator-1 to store evidence of misbehaviour")
    assert get_fault(d["proxies"]["alpha"]["admin_url"])["served"] == 1

    doc = status(devnet, 1)
    assert doc["chains"]["alpha"]["halted"] == f"misbehaviour at block {conflict} (conflicting-sealed-headers)"
    assert "halted" not in doc["chains"]["beta"]
    [evidence] = doc["evidence"]
    assert evidence["chain"] == "alpha" and evidence["number"] == conflict
    headers = evidence["detail"]["headers"]
    assert len({h["hash"] for h in headers}) == 2
    validators = {v.lower() for v in d["chains"]["alpha"]["qbft"]["validators"]}
    for h in headers:  # two validly sealed headers at one height, each by a quorum of the set
        header = decode_header(bytes.fromhex(h["rlp"][2:]))
        assert header.number == conflict and QbftLightClient.hash_of(header).hex() == h["hash"][2:]
        assert len(h["signers"]) >= 3 and set(h["signers"]) <= validators
    log = (devnet / "logs" / "operator-1.log").read_text()
    assert '"misbehaviour.detected"' in log
    api = d["operators"][0]["api"]
    services = httpx.get(f"{api}/v1/status", timeout=5).json()["services"]
    assert services["follower:alpha"]["state"] == "halted" and services["follower:beta"]["state"] == "running"

    lock = transfer(devnet, "alpha", "beta", "native", Decimal("0.1"), user_index=0)
    back = transfer(devnet, "beta", "alpha", "native", Decimal("0.1"), user_index=1, wait=True, timeout=60)
    assert back.destination_tx is not None  # beta is still relayed (by operator-1 alone)
    time.sleep(5)
    assert not delivered(devnet, "alpha", "beta", lock.nonce)  # alpha is not
    counts = {r["route"]: r["messages"] for r in status(devnet, 1)["routes"]}
    assert counts["alpha->beta"]["final"] == 0 and counts["alpha->beta"]["submitted"] == 0
