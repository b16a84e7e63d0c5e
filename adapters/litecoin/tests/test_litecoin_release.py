"""Releases from the custody (EVM -> Litecoin) and returns of refused deposits against a real litecoind in
regtest: 2 of 3 operators sign with one down, the figures exact; the submitter killed between combining
and broadcasting and no second release after restarts; a lying node refused before anything is signed; a
stuck release replaced by fee and only one confirming; a refused deposit returned through
``relayer litecoin return``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog
import trio
from embit.transaction import Transaction

from relayer.errors import RpcError, VerificationError
from relayer_litecoin.block import Block
from relayer_litecoin.journal import Journal
from relayer_litecoin.keys import load_signer, write_keystore
from relayer_litecoin.marker import Kind, Marker, markers_of
from relayer_litecoin.network import REGTEST
from relayer_litecoin.policy import ReleasePolicy, submitters
from relayer_litecoin.release import SEQUENCE_RBF, ReleaseError, ReleaseRequest, build
from relayer_litecoin.returns import authorize_return, refused_deposit, return_request
from relayer_litecoin.source import RETURN_HINT
from relayer_litecoin.testing import (
    CUSTODY,
    CUSTODY_ADDRESS,
    OPERATORS,
    Devnet,
    LyingTransport,
    ReleaseTeam,
    header_chain,
)
from relayer_litecoin.utxo import custody_utxos

SECRETS = [bytes([i]) * 32 for i in (1, 2, 3)]  # the secrets of testing.OPERATORS
AMOUNT = 50_000_000  # 0.5 LTC
RELAYER = str(Path(sys.executable).with_name("relayer"))


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    net = Devnet("-mempoolreplacement=1")  # Litecoin Core 0.21 refuses replacements by fee by default
    yield net
    net.stop()


def marker_of(name: str) -> Marker:
    return Marker(Kind.RELEASE, hashlib.sha256(name.encode()).digest())


def roles(marker: Marker) -> tuple[int, int, int]:
    """(designated submitter, the next, the last) as indexes into OPERATORS."""
    keys = [s.public_key for s in OPERATORS]
    order = submitters(CUSTODY, marker)
    return keys.index(order[0]), keys.index(order[1]), keys.index(order[2])


def fund(devnet: Devnet, *amounts: str) -> None:
    for amount in amounts:
        devnet.deposit(Decimal(amount))
    devnet.mine(2)  # final at 1 confirmation


def received(devnet: Devnet, address: str) -> int:
    return int(Decimal(str(devnet.call("getreceivedbyaddress", address, 1))) * 100_000_000)


def spends_in_chain(devnet: Devnet, marker: Marker, since: int) -> list[str]:
    """The txids of custody spends carrying ``marker`` in the chain's blocks from ``since``."""
    found = []
    for height in range(since, int(devnet.node.call("getblockcount")) + 1):
        block = Block.parse(bytes.fromhex(devnet.node.call("getblock", devnet.node.call("getblockhash", height), 0)))
        found += [tx.txid().hex() for tx in block.txs if marker in markers_of(tx)]
    return found


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    """A process run to its end (timeout 300 s), its output as text."""
    with trio.fail_after(300):
        done = await trio.run_process(list(args), capture_stdout=True, capture_stderr=True, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def journals(folder: Path, pattern: str = "*.json") -> list[str]:
    """The texts of the release journals in ``folder`` (those matching ``pattern``)."""
    return [p.read_text() for p in folder.glob(pattern) if "key" not in p.name]


def no_secret_in(*texts: str) -> None:
    for secret in SECRETS:
        for text in texts:
            assert secret.hex() not in text and secret.hex()[:16] not in text


async def test_two_of_three_operators_release_with_one_down_and_the_figures_are_exact(devnet: Devnet,
                                                                                     tmp_path: Path) -> None:
    fund(devnet, "1", "0.3")
    marker = marker_of("two of three")
    me, down, other = roles(marker)
    signers = []
    for i, secret in enumerate(SECRETS):  # the operators' keys through their keystores
        write_keystore(tmp_path / f"key{i}.json", secret, b"pw", n=1 << 10)
        signers.append(load_signer(tmp_path / f"key{i}.json", b"pw", REGTEST))
    address = devnet.call("getnewaddress")
    request = ReleaseRequest(marker, address, AMOUNT)
    start = int(devnet.node.call("getblockcount"))
    # every operator builds the byte-identical transaction from the same outputs, in any order
    chain = header_chain(devnet.node.url)
    candidates = await custody_utxos(chain.source.rpc, chain, CUSTODY.script_pubkey)
    await chain.source.rpc.aclose()
    built = [build(request, order, CUSTODY, REGTEST, 10).tx.serialize() for order in (candidates, candidates[::-1])]
    assert built[0] == built[1]

    team = ReleaseTeam(devnet.node.url, tmp_path, me, order=(down, me, other), down=(down,), signers=signers)
    try:
        began = trio.current_time()
        with structlog.testing.capture_logs() as logs:
            outcome = await team.submitter.release(request)
        took = trio.current_time() - began
    finally:
        await team.aclose()
    release = outcome.release
    assert outcome.state == "broadcast" and release is not None and release.tx.serialize() == built[0]
    events = [e["event"] for e in logs]
    assert events == ["release.built", "release.signer_failed", "release.signed", "release.signed",
                      "release.combined", "release.broadcast"], events
    (failed,) = [e for e in logs if e["event"] == "release.signer_failed"]
    assert failed["operator"] == OPERATORS[down].public_key.hex() and "unreachable" in failed["error"]
    assert {e["operator"] for e in logs if e["event"] == "release.signed"} == {OPERATORS[me].address,
                                                                               OPERATORS[other].address}
    no_secret_in(json.dumps(logs, default=str), *journals(tmp_path))

    tx = Transaction.parse(outcome.raw)
    inputs = sum(u.value for u in release.inputs)
    assert [u.value for u in release.inputs] == [100_000_000]  # the largest output covers 0.5 LTC
    assert tx.version == 2 and tx.locktime == 0 and all(v.sequence == SEQUENCE_RBF for v in tx.vin)
    paid, op_return, change = tx.vout
    assert paid.value == AMOUNT - release.fee and release.fee == 10 * release.vsize
    assert bytes(op_return.script_pubkey.data) == marker.script() and op_return.value == 0
    assert bytes(change.script_pubkey.data) == CUSTODY.script_pubkey and change.value == inputs - AMOUNT
    entry = devnet.node.call("getmempoolentry", outcome.txid)
    assert round(Decimal(str(entry["fees"]["base"])) * 100_000_000) == release.fee == inputs - paid.value - change.value
    assert entry["vsize"] <= release.vsize and entry["bip125-replaceable"]
    print(f"\nrelease: fee {release.fee} litoshis = 10 litoshis/vbyte x {release.vsize} vbytes estimated "
          f"(real {entry['vsize']}); paid {paid.value}; release() took {took:.2f} s (history scan, proofs, 3 asked)")

    (block,) = devnet.mine(1)
    assert received(devnet, address) == AMOUNT - release.fee
    assert spends_in_chain(devnet, marker, start) == [outcome.txid]
    # the release's change to the custody is not a refused deposit
    source_chain = header_chain(devnet.node.url, confirmations=0)
    try:
        await source_chain.sync()
        contents = await source_chain.source.block_contents(source_chain.at(start + 1))
        assert contents.block_hash.hex() == block
        with structlog.testing.capture_logs() as seen:
            source_chain.source.deposits(contents)
        assert not [e for e in seen if e["event"] == "deposit.refused"]
    finally:
        await source_chain.source.rpc.aclose()

    # another operator taking over with nothing of the first one's journal finds it and releases nothing
    again = ReleaseTeam(devnet.node.url, tmp_path / "other", other)
    (tmp_path / "other").mkdir()
    try:
        with structlog.testing.capture_logs() as logs:
            found = await again.submitter.release(request, takeover=True)
        assert (found.state, found.txid, found.height) == ("found", outcome.txid, start + 1)
        assert [e["event"] for e in logs] == ["release.found"]
        with pytest.raises(ReleaseError, match="designated"):
            await again.submitter.release(request)
    finally:
        await again.aclose()


CHILD = """
import os, signal, sys, trio
from pathlib import Path
from relayer_litecoin.marker import Kind, Marker
from relayer_litecoin.release import ReleaseRequest
from relayer_litecoin.testing import ReleaseTeam

async def main():
    url, folder, me, marker, address, amount = sys.argv[1:]
    team = ReleaseTeam(url, Path(folder), int(me))
    request = ReleaseRequest(Marker(Kind.RELEASE, bytes.fromhex(marker)), address, int(amount))
    outcome = await team.submitter.prepare(request)
    print(outcome.state, outcome.txid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the submitter dies between combining and broadcasting

trio.run(main)
"""


async def test_the_submitter_killed_between_combining_and_broadcasting_releases_once(devnet: Devnet,
                                                                                    tmp_path: Path) -> None:
    fund(devnet, "0.8")
    marker = marker_of("killed")
    me, _, other = roles(marker)
    address = devnet.call("getnewaddress")
    request = ReleaseRequest(marker, address, AMOUNT)
    start = int(devnet.node.call("getblockcount"))
    child = await run(sys.executable, "-c", CHILD, devnet.node.url, str(tmp_path), str(me), marker.id.hex(), address,
                      str(AMOUNT))
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    state, txid = child.stdout.strip().splitlines()[-1].split()
    assert state == "signed"
    record = Journal(tmp_path / "submitter.json").get(str(marker))
    assert record is not None and [t["txid"] for t in record["txs"]] == [txid]
    assert txid not in devnet.node.call("getrawmempool")  # killed before broadcasting

    # had the combined transaction been lost, the recorded inputs rebuild it byte for byte
    lost = tmp_path / "lost"
    shutil.copytree(tmp_path, lost, ignore=shutil.ignore_patterns("lost"))
    journal = Journal(lost / "submitter.json")
    journal.put(str(marker), dict(record, txs=[]))
    rebuilt_team = ReleaseTeam(devnet.node.url, lost, me)
    try:
        rebuilt = await rebuilt_team.submitter.prepare(request)
        assert (rebuilt.state, rebuilt.txid) == ("signed", txid)
        with pytest.raises(ReleaseError, match="another request"):
            await rebuilt_team.submitter.prepare(ReleaseRequest(marker, address, AMOUNT + 1))
    finally:
        await rebuilt_team.aclose()

    for restart in range(2):  # the restart broadcasts the journal's transaction; the next one finds it
        team = ReleaseTeam(devnet.node.url, tmp_path, me)
        try:
            outcome = await team.submitter.release(request)
        finally:
            await team.aclose()
        assert outcome.txid == txid and outcome.state == ("broadcast", "found")[restart]
        assert devnet.node.call("getrawmempool").count(txid) == 1
    devnet.mine(1)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    team = ReleaseTeam(devnet.node.url, fresh, other)  # everything lost: the chain still says it
    try:
        found = await team.submitter.release(request, takeover=True)
        assert (found.state, found.txid, found.height) == ("found", txid, start + 1)
    finally:
        await team.aclose()
    assert spends_in_chain(devnet, marker, start) == [txid]
    assert received(devnet, address) == AMOUNT - record["txs"][0]["fee"]

    # an operator signs no second set of inputs for a marker, whatever a submitter (or its node) says
    team = ReleaseTeam(devnet.node.url, tmp_path, me)
    try:
        fund(devnet, "0.7")
        chain = team.submitter.chain
        await chain.sync()
        others = await custody_utxos(team.submitter.rpc, chain, CUSTODY.script_pubkey)
        second = build(request, others, CUSTODY, REGTEST, 10)
        assert second.outpoints != tuple(record["inputs"])
        with pytest.raises(ReleaseError, match="already signed other inputs"):
            await team.operators[other].sign(request, str(second.psbt(CUSTODY).to_base64()), 10)
    finally:
        await team.aclose()


def lie_about_custody_value(method: str, params: list[Any], result: Any) -> Any:
    """A node that adds one litoshi to every custody output of the transactions it serves."""
    if method == "getrawtransaction" and isinstance(result, str):
        tx = Transaction.parse(bytes.fromhex(result))
        for out in tx.vout:
            if bytes(out.script_pubkey.data) == CUSTODY.script_pubkey:
                out.value += 1
        return tx.serialize().hex()
    return result


def lie_about_branch(method: str, params: list[Any], result: Any) -> Any:
    """A node whose merkle proofs carry one altered hash."""
    if method == "gettxoutproof":
        raw = bytearray(bytes.fromhex(result))
        raw[80 + 4 + 1] ^= 1  # the first hash of the partial tree
        return raw.hex()
    return result


def lie_about_amount(method: str, params: list[Any], result: Any) -> Any:
    """A node whose UTXO set claims one litoshi more per output (scantxoutset and gettxout)."""
    def more(amount: Any) -> float:
        return float(Decimal(str(amount)) + Decimal("0.00000001"))

    if method == "scantxoutset":
        for item in result["unspents"]:
            item["amount"] = more(item["amount"])
    if method == "gettxout" and result is not None:
        result["value"] = more(result["value"])
    return result


@pytest.mark.parametrize(("alter", "why"), [
    (lie_about_custody_value, "is not the proven one"),
    (lie_about_branch, "does not lead to the verified merkle root"),
    (lie_about_amount, "claimed another value"),
])
async def test_a_lying_node_is_refused_before_anything_is_signed(devnet: Devnet, tmp_path: Path, alter: Any,
                                                                 why: str) -> None:
    fund(devnet, "0.6")
    marker = marker_of(f"lying {why}")
    me, _, _ = roles(marker)
    request = ReleaseRequest(marker, devnet.call("getnewaddress"), AMOUNT)
    team = ReleaseTeam(devnet.node.url, tmp_path, me, submitter_transport=LyingTransport(alter))
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(VerificationError, match=why):
            await team.submitter.release(request)
    finally:
        await team.aclose()
    assert not [e for e in logs if e["event"].startswith("release.")]
    assert not journals(tmp_path, "operator*.json") and Journal(tmp_path / "submitter.json").get(str(marker)) is None

    # an honest submitter whose operators' nodes lie gets no signature from them: nothing is released
    team = ReleaseTeam(devnet.node.url, tmp_path, me, transports={i: LyingTransport(alter) for i in range(3)})
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(ReleaseError, match="0 custody signatures"):
            await team.submitter.release(request)
    finally:
        await team.aclose()
    failures = [e for e in logs if e["event"] == "release.signer_failed"]
    assert len(failures) == 3 and all(why in e["error"] for e in failures)
    assert not [e for e in logs if e["event"] in ("release.signed", "release.broadcast")]
    assert not journals(tmp_path, "operator*.json")  # no operator signed (or wrote down it would)
    assert not [t for t in devnet.node.call("getrawmempool")
                if marker in markers_of(Transaction.parse(bytes.fromhex(devnet.node.call("getrawtransaction", t))))]


async def test_a_stuck_release_is_replaced_by_fee_and_only_one_confirms(devnet: Devnet, tmp_path: Path) -> None:
    fund(devnet, "0.9")
    marker = marker_of("stuck")
    me, _, _ = roles(marker)
    address = devnet.call("getnewaddress")
    request = ReleaseRequest(marker, address, AMOUNT)
    policy = ReleasePolicy(fee_rate=10, max_fee_rate=40, bump_after=1, bump_factor=150)
    team = ReleaseTeam(devnet.node.url, tmp_path, me, policy=policy)
    try:
        first = await team.submitter.release(request)
        # the miners ignore it (as they would a fee below the market's)
        devnet.node.call("prioritisetransaction", first.txid, 0, -10_000_000)
        devnet.mine(1)
        assert first.txid in devnet.node.call("getrawmempool")
        assert await team.submitter.pending(marker) == 1 >= policy.bump_after
        # no operator signs another marker's spend of these inputs (it would evict this release)
        assert first.release is not None
        thief = ReleaseRequest(marker_of("another"), address, AMOUNT)
        evicting = build(thief, list(first.release.inputs), CUSTODY, REGTEST, 30)
        with pytest.raises(ReleaseError, match="spent in the mempool by another"):
            await team.operators[me].sign(thief, str(evicting.psbt(CUSTODY).to_base64()), 30)
        with structlog.testing.capture_logs() as logs:
            second = await team.submitter.bump(request)
        assert second.state == "replaced" and second.release is not None and first.release is not None
        assert [e["event"] for e in logs][-2:] == ["release.replaced", "release.broadcast"]
        assert second.release.fee_rate == 15 and second.release.fee == 15 * second.release.vsize
        old, new = Transaction.parse(first.raw), Transaction.parse(second.raw)
        assert [(v.txid, v.vout) for v in old.vin] == [(v.txid, v.vout) for v in new.vin]
        assert old.vout[1:] == new.vout[1:]  # the same marker and change: only the recipient pays more
        assert new.vout[0].value == old.vout[0].value - (second.release.fee - first.release.fee)
        mempool = devnet.node.call("getrawmempool")
        assert second.txid in mempool and first.txid not in mempool
        print(f"\nRBF: fee {first.release.fee} -> {second.release.fee} litoshis "
              f"(10 -> 15 litoshis/vbyte x {second.release.vsize} vbytes)")
        (block,) = devnet.mine(1)
        txids = devnet.node.call("getblock", block)["tx"]
        assert second.txid in txids and first.txid not in txids
        assert received(devnet, address) == AMOUNT - second.release.fee
        with pytest.raises(RpcError, match="missingorspent|conflict"):
            await team.submitter.rpc.call("sendrawtransaction", first.raw.hex())
        settled = await team.submitter.bump(request)
        assert (settled.state, settled.txid) == ("found", second.txid)
        assert await team.submitter.pending(marker) is None
    finally:
        await team.aclose()


async def test_a_refused_deposit_is_kept_logged_and_returned_by_the_operators(devnet: Devnet, tmp_path: Path) -> None:
    keys = [s.public_key.hex() for s in OPERATORS]
    config = write_config(tmp_path / "relayer.toml", f"""
[chains.ltc]
chain_id = 7001
adapter = "litecoin"
light_client = "litecoin"
rpc = ["{devnet.node.url}"]
confirmations = 1
light_client_options = {{ network = "regtest" }}
[chains.ltc.litecoin]
network = "regtest"
[chains.ltc.litecoin.custody]
threshold = 2
keys = {json.dumps(keys)}
[chains.ltc.litecoin.release]
fee_rate = 12
""")
    bare = devnet.pay([{CUSTODY_ADDRESS: "0.4"}])
    valid = devnet.deposit(Decimal("0.2"))
    devnet.mine(2)
    height = devnet.height_of(bare)
    chain = header_chain(devnet.node.url)
    try:
        await chain.sync()
        contents = await chain.source.block_contents(chain.at(height))
        with structlog.testing.capture_logs() as logs:
            chain.source.deposits(contents)
    finally:
        await chain.source.rpc.aclose()
    (refused,) = [e for e in logs if e["event"] == "deposit.refused"]
    assert refused["tx"] == bare and refused["action"] == RETURN_HINT.format(tx=bare, block=height)

    to = devnet.call("getnewaddress")
    relayer = [RELAYER, "litecoin", "return", "--config", str(config),
               "--chain", "ltc", "--block", str(height)]
    made = await run(*relayer, "--deposit", bare, "--to", to, "--json")
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["amount"] == 40_000_000 and result["fee_rate"] == 12 and result["fee"] == 12 * result["vsize"]
    assert result["paid"] == 40_000_000 - result["fee"] and result["marker"] == f"return:0x{bare}"
    wrong = await run(*relayer, "--deposit", bare, "--to", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9")
    assert wrong.returncode == 2 and "--to" in wrong.stderr and "Traceback" not in wrong.stderr
    relayed = await run(*relayer, "--deposit", valid, "--to", to)
    assert relayed.returncode == 1 and "valid deposit" in relayed.stderr and "Traceback" not in relayed.stderr

    # the operators check it is a refused deposit, rebuild the command's transaction and sign it
    marker = Marker(Kind.RETURN, bytes.fromhex(bare))
    me, _, _ = roles(marker)
    team = ReleaseTeam(devnet.node.url, tmp_path, me, authorize=authorize_return(CUSTODY),
                       policy=ReleasePolicy(fee_rate=12))
    try:
        chain = team.submitter.chain
        await chain.sync()
        utxos = await refused_deposit(team.submitter.rpc, chain, CUSTODY, bytes.fromhex(bare), height)
        outcome = await team.submitter.release(return_request(bytes.fromhex(bare), utxos, to), candidates=utxos)
        assert outcome.txid == result["txid"] and outcome.state == "broadcast"
        devnet.mine(1)
        assert received(devnet, to) == result["paid"]
        again = await team.submitter.release(return_request(bytes.fromhex(bare), utxos, to))
        assert again.state == "found" and again.txid == outcome.txid
        with pytest.raises(ReleaseError, match="valid deposit"):
            valid_utxos = await custody_utxos(team.submitter.rpc, chain, CUSTODY.script_pubkey)
            mine = [u for u in valid_utxos if u.outpoint.txid.hex() == valid]
            request = return_request(bytes.fromhex(valid), mine, to)
            await team.operators[me].sign(request, str(build(request, mine, CUSTODY, REGTEST, 12).psbt(CUSTODY)
                                                      .to_base64()), 12)
    finally:
        await team.aclose()
    spent = await run(*relayer, "--deposit", bare, "--to", to)
    assert spent.returncode == 1 and "spent already" in spent.stderr


def test_the_journal_survives_a_torn_write(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.json")
    journal.put("a", {"inputs": ["x:0"]})
    (tmp_path / "j.json.tmp").write_text("{ torn")  # a crash while writing the next version
    assert Journal(tmp_path / "j.json").get("a") == {"inputs": ["x:0"]}
    os.remove(tmp_path / "j.json.tmp")


async def test_a_node_that_refuses_replacements_says_so_and_the_first_release_stays(tmp_path: Path) -> None:
    plain = Devnet()  # Litecoin Core 0.21's default: -mempoolreplacement=0
    try:
        fund(plain, "0.9")
        marker = marker_of("no replacement")
        me, _, _ = roles(marker)
        request = ReleaseRequest(marker, plain.call("getnewaddress"), AMOUNT)
        team = ReleaseTeam(plain.node.url, tmp_path, me)
        try:
            first = await team.submitter.release(request)
            with pytest.raises(ReleaseError, match="mempoolreplacement"):
                await team.submitter.bump(request)
            assert plain.node.call("getrawmempool") == [first.txid]
        finally:
            await team.aclose()
    finally:
        plain.stop()
