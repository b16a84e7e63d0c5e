"""Releases to Litecoin through the operators' daemons when things go wrong (issue 11 item 8), on one
``relayer devnet up --with litecoin`` (real anvils, real litecoind, three real relayer processes):

* one operator down (SIGKILL) before a burn: the two others release it (two custody signatures, neither the
  stopped operator's); back up, the stopped operator records it delivered without releasing it again;
* the designated submitter killed (``RELAYER_LITECOIN_FAULT=after-journal-before-broadcast``) after the M
  signatures are combined and journaled, before the broadcast: released once, by the others or by its own
  recovery when restarted at once (the same transaction); restarted, it settles its journal, nothing more;
* one operator's litecoind answers through a lying proxy (a custody output's amount): it
  refuses to co-sign with the reason, nothing is signed or sent while the honest operators are fewer than M,
  and the burn is released once when the third comes back.

Evidence is the chains' (balances read from litecoind, every block scanned for the burn's release marker,
signatures checked against the custody keys), not the relayers' word. Slow: real processes."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import eth_abi
import httpx
import pytest
from embit.ec import PublicKey, Signature
from embit.transaction import Transaction
from eth_utils import keccak

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import litecoin, network
from relayer.devnet.cli import devnet_down, devnet_up
from relayer.devnet.litecoin_burn import WATCH_WALLET
from relayer.devnet.litecoin_transfer import WalletRpc
from relayer.devnet.processes import process_alive
from relayer_litecoin.custody import Custody
from relayer_litecoin.faults import ENV as FAULT_ENV
from relayer_litecoin.keys import read_public_key
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.regtest import INSTALL_HINT

pytestmark = pytest.mark.slow

BURNED_TOPIC = "0x" + keccak(text="BurnedForLitecoin(uint64,address,string,uint64,bytes32)").hex()
AMOUNT = 50_000_000  # each burn: 0.5 LTC
BURNER = 0  # the user who burns (holds 2 wLTC from the module's deposit)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("litecoind") is None:
        pytest.skip(INSTALL_HINT)
    folder = tmp_path_factory.mktemp("devnet")
    try:
        assert devnet_up(folder, detach=True, with_litecoin=True) == 0
        deposited = _transfer(folder, "--from", "litecoin", "--to", "alpha", "--asset", "native", "--amount", "2",
                              "--user", str(BURNER), "--wait", "--json", "--timeout", "180")
        assert deposited.returncode == 0, deposited.stderr
        yield folder
    finally:
        assert devnet_down(folder) == 0


# ------------------------------------------------------------------------------------------- helpers

def _deployment(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "deployment.json").read_text())
    return data


def _transfer(folder: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", "transfer", "--devnet", str(folder), *args],
                          capture_output=True, text=True, timeout=timeout)


def _burn(folder: Path) -> subprocess.Popen[str]:
    """``relayer transfer --to litecoin --wait`` of 0.5 wLTC to a fresh address, running (it mines a regtest
    block about every second while it waits)."""
    return subprocess.Popen([sys.executable, "-m", "relayer", "transfer", "--devnet", str(folder), "--from", "alpha",
                             "--to", "litecoin", "--asset", "wrapped-native", "--amount", "0.5", "--user",
                             str(BURNER), "--wait", "--json", "--timeout", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _released(burn: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = burn.communicate(timeout=240)
    assert burn.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["amount"] == AMOUNT and 0 < result["fee"] <= result["max_fee_rate"] * result["vsize"]
    assert result["paid"] == result["recipient_balance"] == AMOUNT - result["fee"]
    return result


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)
    return found


def _burned(folder: Path, since: int, burn: subprocess.Popen[str]) -> tuple[int, str]:
    """(alpha block, message id) of ``burn``'s burn logged by WrappedLitecoin from alpha block ``since`` on."""
    alpha = _deployment(folder)["chains"]["alpha"]

    def logs() -> list[dict[str, Any]]:
        assert burn.poll() in (None, 0), burn.communicate()[1]
        with SyncEvm(alpha["rpc"]) as evm:
            found: list[dict[str, Any]] = evm.rpc("eth_getLogs", {
                "address": alpha["litecoin"]["wrapped"], "topics": [BURNED_TOPIC], "fromBlock": hex(since),
                "toBlock": "latest"})
        return found

    (log,) = _wait(logs, 60, "the burn on alpha")
    *_, message_id = eth_abi.decode(["string", "uint64", "bytes32"], bytes.fromhex(log["data"][2:]))
    return int(log["blockNumber"], 16), "0x" + message_id.hex()


def _alpha_height(folder: Path) -> int:
    with SyncEvm(_deployment(folder)["chains"]["alpha"]["rpc"]) as evm:
        return int(evm.rpc("eth_blockNumber"), 16)


def _designated(folder: Path, block: int) -> int:
    """The operator (1-based) whose turn a message of alpha block ``block`` is (relayer.submitter.Turn:
    members ordered by address)."""
    d = _deployment(folder)
    ordered = sorted((op["address"] for op in d["operators"]), key=str.lower)
    chosen = ordered[(block + d["chains"]["alpha"]["chain_id"]) % len(ordered)]
    return next(i for i, op in enumerate(d["operators"], 1) if op["address"] == chosen)


def _wallet(folder: Path, name: str | None = None) -> WalletRpc:
    ltc = _deployment(folder)["chains"]["litecoin"]
    return WalletRpc(ltc["rpc"], name or ltc["user"]["wallet"])


def _carrying(folder: Path, message_id: str) -> tuple[list[str], list[str]]:
    """(txids in blocks, txids in the mempool) of the transactions with the release marker of ``message_id``."""
    d, wallet = _deployment(folder), _wallet(folder)
    ltc = d["chains"]["litecoin"]
    # a release names its burn's origin chain (marker version 2)
    marker = Marker(Kind.RELEASE, bytes.fromhex(message_id[2:]), d["chains"]["alpha"]["chain_id"]).script().hex()
    tip = int(wallet.call("getblockcount"))
    mined = [tx["txid"] for height in range(int(ltc["start_block"]), tip + 1)
             for tx in wallet.call("getblock", wallet.call("getblockhash", height), 2)["tx"]
             if marker in [out["scriptPubKey"]["hex"] for out in tx["vout"]]]
    pool = [txid for txid in wallet.call("getrawmempool")
            if marker in [o["scriptPubKey"]["hex"] for o in wallet.call("getrawtransaction", txid, True)["vout"]]]
    return mined, pool


def _settle_blocks(folder: Path, blocks: int = 3) -> None:
    """Blocks and time for a second release by any operator, were there one."""
    wallet = _wallet(folder)
    for _ in range(blocks):
        wallet.call("generatetoaddress", 1, _deployment(folder)["chains"]["litecoin"]["user"]["address"])
        time.sleep(2)


def _signers(folder: Path, release: dict[str, Any]) -> set[int]:
    """The operators (1-based) whose custody key signed every input of the release (checked against each
    input's sighash; the custody's witness script)."""
    d = _deployment(folder)
    keys = {i: read_public_key(litecoin.key_path(folder, i)) for i in range(1, len(d["operators"]) + 1)}
    custody = Custody.of(d["chains"]["litecoin"]["custody"]["threshold"],
                         [bytes.fromhex(k) for k in d["chains"]["litecoin"]["custody"]["keys"]])
    tx = Transaction.parse(bytes.fromhex(release["hex"]))
    watch, signers = _wallet(folder, WATCH_WALLET), set(keys)
    for index, vin in enumerate(release["vin"]):
        prev = watch.call("decoderawtransaction", watch.call("gettransaction", vin["txid"], True)["hex"])
        value = int(Decimal(str(prev["vout"][vin["vout"]]["value"])) * 10**8)
        *signatures, script = [bytes.fromhex(w) for w in vin["txinwitness"]]
        assert script == custody.witness_script and signatures[0] == b""
        assert len(signatures[1:]) == custody.threshold
        digest = custody.sighash(tx, index, value)
        signed = {i for i, key in keys.items() for sig in signatures[1:]
                  if PublicKey.parse(key).verify(Signature.parse(sig[:-1]), digest)}
        signers &= signed
    return signers


def _rows(folder: Path, index: int, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of operator ``index``'s SQLite store (read-only)."""
    path = folder / "state" / f"operator-{index}" / "relayer.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(query, args).fetchall()


def _message_state(folder: Path, index: int, message_id: str) -> str | None:
    rows = _rows(folder, index, "SELECT state FROM messages WHERE id=?", message_id)
    return str(rows[0][0]) if rows else None


def _log(folder: Path, index: int) -> str:
    return (folder / "logs" / f"operator-{index}.log").read_text(errors="replace")


def _start(folder: Path, *indices: int, env: dict[str, str] | None = None) -> None:
    for index in indices:
        network.start_operator(folder, index, env)
    network.wait_healthy(folder, list(indices), report=lambda _line: None)


def _stop(folder: Path, *indices: int, sig: int = signal.SIGTERM) -> None:
    for index in indices:
        network.stop_operator(folder, index, sig)


def _running(folder: Path, index: int) -> bool:
    return process_alive(_deployment(folder)["operators"][index - 1].get("pid"), network.OPERATOR_MARKER)


# --------------------------------------------------------------------------------------------- tests

def test_one_operator_down_the_two_others_release_once(devnet: Path) -> None:
    down = 3
    _stop(devnet, down, sig=signal.SIGKILL)
    try:
        since = _alpha_height(devnet)
        burn = _burn(devnet)
        block, message_id = _burned(devnet, since, burn)
        r = _released(burn)
        assert r["message_id"] == message_id
        print(f"\noperator-{down} down (SIGKILL), operator-{_designated(devnet, block)} designated: released in "
              f"{r['latency_s']} s, fee {r['fee']} litoshis")
        release = _wallet(devnet).call("getrawtransaction", r["release_txid"], True,
                                       _wallet(devnet).call("getblockhash", r["release_block"]))
        assert _signers(devnet, release) == {1, 2, 3} - {down}
    finally:
        _start(devnet, down)
    # back up, it recognises the release as a peer's and releases nothing
    _wait(lambda: _message_state(devnet, down, message_id) in ("delivered-by-peer", "confirmed"), 60,
          f"operator-{down} records the release")
    _settle_blocks(devnet)
    assert _carrying(devnet, message_id) == ([r["release_txid"]], [])
    assert _message_state(devnet, down, message_id) == "delivered-by-peer"
    assert _rows(devnet, down, "SELECT hash FROM txs WHERE message_ids LIKE ?", f"%{message_id}%") == []


@pytest.mark.parametrize("restart", ["after-the-release", "at-once"])
def test_the_submitter_killed_between_combining_and_broadcasting_releases_once(devnet: Path, restart: str) -> None:
    """Restarted after the others released (its journaled spend is in a block: settled as mined) or at once
    (its recover broadcasts the journaled spend while the others wait their turn: whoever sends it first, it
    is the same transaction)."""
    _stop(devnet, 1, 2, 3)
    since = _alpha_height(devnet)
    burn = _burn(devnet)
    block, message_id = _burned(devnet, since, burn)
    killed = _designated(devnet, block)
    others = [i for i in (1, 2, 3) if i != killed]
    try:
        for index in others:
            network.start_operator(devnet, index)
        network.start_operator(devnet, killed, {FAULT_ENV: "after-journal-before-broadcast"})
        network.wait_healthy(devnet, others, report=lambda _line: None)
        _wait(lambda: not _running(devnet, killed), 90, f"operator-{killed} reaches the fault point")
        injected = [json.loads(line) for line in _log(devnet, killed).splitlines() if '"fault.injected"' in line]
        assert injected and injected[-1]["point"] == "after-journal-before-broadcast"
        seen = len(_log(devnet, killed))
        # it died with the release combined and journaled, not broadcast
        [(journaled, state)] = _rows(devnet, killed, "SELECT hash, state FROM txs WHERE chain='litecoin' "
                                                     "AND message_ids LIKE ?", f"%{message_id}%")
        assert state == "signed"
        assert _carrying(devnet, message_id) == ([], [])
        if restart == "at-once":
            _start(devnet, killed)
        r = _released(burn)
    finally:
        if not _running(devnet, killed):
            _start(devnet, killed)  # without the fault
    resent = '"release.broadcast"' in _log(devnet, killed)[seen:]
    print(f"\nrestart {restart}: operator-{killed} (designated) killed after journaling {journaled}; released as "
          f"{r['release_txid']} in {r['latency_s']} s; the restarted operator broadcast it again: {resent}")
    release = _wallet(devnet).call("getrawtransaction", r["release_txid"], True,
                                   _wallet(devnet).call("getblockhash", r["release_block"]))
    signers = _signers(devnet, release)
    assert len(signers) == 2
    if restart == "after-the-release":
        assert signers == set(others) and not resent
    # restarted, it settles its journaled transaction (the same spend) without a second release
    _wait(lambda: _message_state(devnet, killed, message_id) in ("confirmed", "delivered-by-peer"), 60,
          f"operator-{killed} settles its journal")
    _settle_blocks(devnet)
    assert _carrying(devnet, message_id) == ([r["release_txid"]], [])
    assert r["release_txid"] == journaled  # the release rules build one transaction per burn
    assert _rows(devnet, killed, "SELECT state FROM txs WHERE hash=?", journaled)[0][0] not in ("signed", "sent")
    assert Decimal(str(_wallet(devnet).call("getreceivedbyaddress", r["recipient"]))) * 10**8 == r["paid"]


class LyingNode:
    """An HTTP proxy before litecoind whose answers to one JSON-RPC method are altered by ``alter``."""

    def __init__(self, upstream: str, method: str, alter: Callable[[Any], Any]) -> None:
        self.upstream, self.method, self.alter, self.lies = upstream, method, alter, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                reply = httpx.post(proxy.upstream, content=body, timeout=30,
                                   headers={"Authorization": self.headers["Authorization"],
                                            "Content-Type": "application/json"})
                answer = reply.json()
                calls = json.loads(body)
                for call, result in zip(calls if isinstance(calls, list) else [calls],
                                        answer if isinstance(answer, list) else [answer]):
                    if call.get("method") == proxy.method and result.get("result") is not None:
                        result["result"] = proxy.alter(result["result"])
                        proxy.lies += 1
                data = json.dumps(answer).encode()
                try:
                    self.send_response(reply.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the operator stopped meanwhile
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _custody_amount_plus_one(custody_script: str) -> Callable[[Any], Any]:
    def alter(result: Any) -> Any:  # gettxout: the custody output's amount, one LTC more
        if isinstance(result, dict) and result.get("scriptPubKey", {}).get("hex") == custody_script:
            result["value"] = round(float(result["value"]) + 1, 8)
        return result
    return alter


def test_an_operator_whose_node_lies_refuses_to_cosign(devnet: Path) -> None:
    """The liar's litecoind answers ``gettxout`` with the custody output's amount one LTC more (the library's
    tests, test_litecoin_release.py, cover the other lies on a real node: a transaction, a merkle branch)."""
    d = _deployment(devnet)
    ltc = d["chains"]["litecoin"]
    upstream = ltc["rpc"].split("@", 1)[1]
    custody_script = "0020" + ltc["custody"]["program"]
    liar_node = LyingNode(f"http://{upstream}", "gettxout", _custody_amount_plus_one(custody_script))
    _stop(devnet, 1, 2, 3)
    since = _alpha_height(devnet)
    burn = _burn(devnet)
    block, message_id = _burned(devnet, since, burn)
    submitter = _designated(devnet, block)
    liar, honest = [i for i in (1, 2, 3) if i != submitter]
    config = devnet / f"operator-{liar}.toml"
    text = config.read_text()
    seen = len(_log(devnet, liar))

    def since_start() -> str:
        return _log(devnet, liar)[seen:]

    try:
        config.write_text(text.replace(f"@{upstream}", f"@127.0.0.1:{liar_node.port}/"))
        _start(devnet, submitter, liar)
        # the submitter and the liar: fewer than M honest signatures; the liar refuses, nothing is sent
        _wait(lambda: '"cosign.refused"' in since_start(), 90, f"operator-{liar} refuses to co-sign")
        refusals = [json.loads(line) for line in since_start().splitlines() if '"cosign.refused"' in line]
        assert "does not prove the release's inputs" in refusals[0]["reason"], refusals[0]
        assert "the node claimed another value than the proven output's" in refusals[0]["reason"], refusals[0]
        assert liar_node.lies > 0 and '"cosign.signed"' not in since_start()
        assert _carrying(devnet, message_id) == ([], [])
        assert _rows(devnet, submitter, "SELECT hash FROM txs WHERE message_ids LIKE ?", f"%{message_id}%") == []
        _start(devnet, honest)
        r = _released(burn)
        assert '"cosign.signed"' not in since_start()
    finally:
        if burn.poll() is None:
            burn.kill()
        config.write_text(text)
        _stop(devnet, liar)
        liar_node.close()
        for index in (1, 2, 3):
            if not _running(devnet, index):
                _start(devnet, index)
    release = _wallet(devnet).call("getrawtransaction", r["release_txid"], True,
                                   _wallet(devnet).call("getblockhash", r["release_block"]))
    assert _signers(devnet, release) == {submitter, honest}
    _settle_blocks(devnet, 2)
    assert _carrying(devnet, message_id) == ([r["release_txid"]], [])
    print(f"\noperator-{liar} refused ({liar_node.lies} lies told); released by operator-{submitter} + "
          f"operator-{honest} in {r['latency_s']} s")
