"""Store trouble: the disk refusing writes, corrupt and foreign database files, and the restart.

(a) A child process writes to a Store under ``RLIMIT_FSIZE`` (SIGXFSZ ignored, so the write
    fails with EFBIG): a StoreError names the file, nothing is half-written, the file is intact
    and the next open continues from the last committed write.
(b) ``relayer run`` whose state database cannot grow stops with exit status 1 and one JSON
    line ``daemon.store_failed`` naming the file and what to do; no traceback.
(c) A corrupt file (random bytes) and another application's SQLite database are refused with
    a StoreError naming the path (left untouched); ``relayer status``/``relayer run`` print one
    line and exit 1 (corrupt) or 2 (another application's: StoreRefused, as a config error).
(d) Restarted without the limit, the daemon continues where it stopped and every message is
    delivered.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from adapters.evm.messaging import address_word
from adapters.evm.sync_client import SyncEvm
from relayer.devnet import network
from relayer.devnet.transfer import TransferResult, transfer
from relayer.errors import StoreError
from relayer.store import Message, Store, StoredHeader
from relayer.store_legacy import encode_body, encode_locator

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "store trouble password"


# ---------------------------------------------------------------------- (a) a write refused by the OS

# Runs in a child process: argv = path, mode, slack. Commits a few scans (each with its journal
# entry), then lowers RLIMIT_FSIZE to just above the current file sizes (+ slack) and keeps
# writing until the OS refuses. Prints what was committed and what the failure looked like.
WRITER = r"""
import json, os, resource, signal, sys
from pathlib import Path
from relayer.errors import StoreError
from relayer.store import JournalTx, Message, Store, StoredHeader
from relayer.store_legacy import encode_body, encode_locator

path, mode, slack = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = Store(path)

def message(block, i):
    return Message(id=f"0x{block:08x}{i:056x}", src_chain="alpha", dst_chain="beta",
                   nonce=block * 100_000 + i, block_number=block, block_hash="0x" + "ab" * 32,
                   body=encode_body("lock", "0x" + "00" * 20, "0x" + "11" * 20, "0x" + "22" * 20, 10**18 + i),
                   locator=encode_locator("0x" + "cd" * 32, 0, i), final_at=1.0)

def header(block):
    return StoredHeader("alpha", block, "0x%064x" % block, "0x%064x" % (block - 1), "0x" + "ee" * 32,
                        block, "0x" + "f0" * 500)

committed = {"cursor": None, "messages": [], "txs": []}

def step(block, count):
    messages = [message(block, i) for i in range(count)]
    attestation = {"src_chain_id": 1001, "dst_chain_id": 1002, "number": block, "epoch": 0,
                   "block_hash": "0x%064x" % block, "receipts_root": "0x" + "ee" * 32,
                   "signer": "0x" + "33" * 20, "signature": "0x" + "44" * 65}
    store.record_scan("alpha", block + 1, [header(block)], messages, [attestation],
                      light_client_state={"head": block, "padding": "x" * 3000})
    committed["cursor"] = block + 1
    committed["messages"] += [m.id for m in messages]
    tx = JournalTx(hash="0x%064x" % (10**6 + block), chain="beta", nonce=block, raw="0x" + "55" * 400,
                   state="signed", message_ids=tuple(m.id for m in messages[:3]), created_at=1.0)
    store.journal_signed(tx, now=2.0)
    committed["txs"].append([tx.hash, list(tx.message_ids)])

block = 0
for _ in range(3):
    step(block, 2)
    block += 1

files = [p for p in (path, Path(str(path) + "-wal")) if p.exists()]
limit = max(p.stat().st_size for p in files) + slack
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

count = 4000 if mode == "big" else 2  # "big": one transaction larger than the page cache
error = None
try:
    while block < 2000:
        step(block, count)
        block += 1
except StoreError as exc:
    error = str(exc)
left_open = store._db.in_transaction
seen = {"cursor": store.cursor("alpha"), "final": len(store.messages_in_state("final")),
        "submitted": len(store.messages_in_state("submitted")), "open_txs": len(store.open_txs())}
expected = {"cursor": committed["cursor"], "messages": len(committed["messages"]),
            "submitted": sum(len(ids) for _, ids in committed["txs"]), "txs": len(committed["txs"])}
seen_ok = seen == {"cursor": expected["cursor"], "final": expected["messages"] - expected["submitted"],
                   "submitted": expected["submitted"], "open_txs": expected["txs"]}
if committed["cursor"] == block + 1:
    block += 1  # the scan committed, its journal entry failed
try:
    step(block, 1)
    second = None
except StoreError as exc:
    second = str(exc)
print(json.dumps({"limit": limit, "error": error, "second_error": second, "left_open": left_open,
                  "seen_ok": seen_ok, "seen": seen, "committed": committed}))
"""


def _child_write(path: Path, mode: str, slack: int) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-c", WRITER, str(path), mode, str(slack)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def integrity(path: Path) -> str:
    db = sqlite3.connect(str(path))
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(("mode", "slack"), [("small", 0), ("small", 5_000), ("small", 60_000),
                                             ("big", 0), ("big", 200_000)])
def test_refused_write_keeps_committed_state(tmp_path: Path, mode: str, slack: int) -> None:
    path = tmp_path / "state" / "relayer.db"
    report = _child_write(path, mode, slack)
    committed = report["committed"]
    error = report["error"]
    assert error is not None, f"the OS never refused a write under a {report['limit']} byte limit"
    assert error.startswith("state database write failed:") and str(path) in error, error
    assert "disk I/O error" in error or "disk is full" in error, error
    # a smaller write afterwards either fits (and is committed) or fails the same clean way
    assert report["second_error"] is None or str(path) in report["second_error"]
    assert report["left_open"] is False, "a failed write left the SQLite transaction open"
    # in the failing process: reads still work and see exactly the committed writes
    assert report["seen_ok"], report["seen"]

    # a new process: the file is intact and holds every committed write, nothing of the failed one
    assert integrity(path) == "ok"
    store = Store(path)
    try:
        assert store.cursor("alpha") == committed["cursor"]
        ids = {m.id for state in ("final", "submitted") for m in store.messages_in_state(state)}
        assert ids == set(committed["messages"])
        journal = {tx.hash: list(tx.message_ids) for tx in store.open_txs("beta")}
        assert journal == dict(committed["txs"])
        for tx_hash, message_ids in committed["txs"]:
            for mid in message_ids:
                stored = store.message(mid)
                assert stored is not None and stored.state == "submitted" and stored.delivered_tx == tx_hash
        nxt = committed["cursor"]  # the scan that failed (or the one after a failed journal entry)
        assert store.header("alpha", nxt) is None and store.attestation(1001, 1002, nxt, 0) is None
        assert store.light_client_state("alpha") == {"head": nxt - 1, "padding": "x" * 3000}
        # ... and the next start continues where it stopped
        header = StoredHeader("alpha", nxt, "0x" + "01" * 32, "0x" + "02" * 32, "0x" + "03" * 32, 1)
        store.record_scan("alpha", nxt + 1, [header], [_message(nxt)], [])
        assert store.cursor("alpha") == nxt + 1 and store.message(_message(nxt).id) is not None
    finally:
        store.close()
    assert integrity(path) == "ok"


def _message(block: int) -> Message:
    return Message(id=f"0xresumed{block}", src_chain="alpha", dst_chain="beta", nonce=block,
                   block_number=block, block_hash="0x" + "ab" * 32,
                   body=encode_body("lock", "0x" + "00" * 20, "0x" + "11" * 20, "0x" + "22" * 20, 1),
                   locator=encode_locator("0x" + "cd" * 32, 0, 0), final_at=1.0)


OPENER = r"""
import resource, signal, sys
from pathlib import Path
from relayer.errors import StoreError
from relayer.store import Store
limit = int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    Store(Path(sys.argv[1])).close()
    print("opened")
except StoreError as exc:
    print("refused", exc)
"""


def test_first_start_on_a_full_disk_leaves_a_usable_file(tmp_path: Path) -> None:
    """A first start that cannot write its schema must not leave tables without the application
    id behind: the next start would refuse its own file as another application's."""
    outcomes = set()
    for limit in (0, 4096, 16_384, 32_768, 40_000, 60_000, 90_000, 120_000, 10**7):
        path = tmp_path / f"fresh-{limit}" / "relayer.db"
        result = subprocess.run([sys.executable, "-c", OPENER, str(path), str(limit)], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        outcome = result.stdout.split()[0]
        outcomes.add(outcome)
        if outcome == "refused":
            assert str(path) in result.stdout
        Store(path).close()  # opens (and finishes the schema) without the limit
        assert integrity(path) == "ok"
    assert outcomes == {"opened", "refused"}


# ---------------------------------------------------------------------- (c) corrupt and foreign files

def _foreign_database(path: Path) -> None:
    db = sqlite3.connect(str(path))
    db.executescript("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO customers (name) VALUES ('alice'), ('bob');")
    db.close()


def _foreign_application_id(path: Path) -> None:
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA application_id=1234")  # another application's (still empty) file
    db.close()


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(64 * 1024))


def _clobbered_relayer_db(path: Path) -> None:
    Store(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = random.Random(8).randbytes(4096 - 100)  # the schema page, header kept
    path.write_bytes(bytes(data))


BAD_FILES = {"random-bytes": _random_bytes, "foreign-sqlite": _foreign_database,
             "foreign-application-id": _foreign_application_id, "clobbered-schema": _clobbered_relayer_db}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "relayer.db"
    BAD_FILES[kind](path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value)
    assert "move the file away" in str(info.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the refused file was modified"
    assert not Path(str(path) + "-wal").exists()


@pytest.fixture
def operator_config(tmp_path: Path) -> Path:
    """The example operator config with a fresh keystore (as tests/test_cli_config.py builds it)."""
    account = Account.create()
    (tmp_path / "keys").mkdir()
    keystore = Account.encrypt(account.key, PASSWORD, kdf="pbkdf2", iterations=1024)
    for name, text in (("operator-1.json", json.dumps(keystore)), ("operator-1.password", PASSWORD)):
        (tmp_path / "keys" / name).write_text(text)
        (tmp_path / "keys" / name).chmod(0o600)
    path = tmp_path / "operator.toml"
    path.write_text(EXAMPLE.read_text().replace(EXAMPLE_OPERATOR_1, account.address))
    (tmp_path / "state" / "operator-1").mkdir(parents=True)
    return path


def relayer(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relayer", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind", ["random-bytes", "foreign-sqlite"])
def test_cli_refuses_bad_file_in_one_line(operator_config: Path, kind: str) -> None:
    """A file SQLite cannot read exits 1 (daemon.store_failed; systemd retries, as for a full
    disk); another application's database is refused like a configuration error: exit 2, one
    ``error:`` line naming it, and systemd does not restart into the same refusal."""
    db = operator_config.parent / "state" / "operator-1" / "relayer.db"
    BAD_FILES[kind](db)
    code = 2 if kind == "foreign-sqlite" else 1
    status = relayer("status", "--config", operator_config)
    assert status.returncode == code, status
    assert "Traceback" not in status.stderr + status.stdout
    lines = status.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(db) in lines[0], status.stderr
    assert status.stdout == ""

    run = relayer("run", "--config", operator_config)
    assert run.returncode == code, run
    assert "Traceback" not in run.stderr + run.stdout
    if code == 2:
        assert run.stderr.strip() == lines[0] and run.stdout == "", run
        return
    assert run.stderr.strip() == "", run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    line = json.loads(lines[0])
    assert line["event"] == "daemon.store_failed" and line["level"] == "error"
    assert str(db) in line["error"] and str(db.parent) in line["action"]


# ---------------------------------------------------------------------- (b) + (d) the daemon on a devnet

class Output:
    """The lines a child process writes to a pipe, collected by a thread (a pipe is not subject to
    RLIMIT_FSIZE, a log file would be)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> list[str]:
        self._thread.join(timeout=10)
        return self.lines


def limited_relayer(config: Path, limit: int) -> subprocess.Popen[str]:
    """``relayer run --config CONFIG`` with every file it writes capped at ``limit`` bytes."""
    code = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
            f"sys.argv = ['relayer', 'run', '--config', {str(config)!r}]; "
            "runpy.run_module('relayer', run_name='__main__', alter_sys=True)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=config.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def is_delivered(root: Path, result: TransferResult) -> bool:
    chains = network.load_deployment(root)["chains"]
    dst, src = chains[result.destination], chains[result.source]
    with SyncEvm(dst["rpc"]) as evm:  # processed by the destination's message layer (any outcome)
        return bool(evm.call(dst["message_layer"], "MessageLayer", "outcomeOf", src["chain_id"],
                             address_word(src["message_layer"]), result.nonce))


def test_daemon_stops_cleanly_when_the_disk_refuses_and_resumes(devnet: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # operator-3 stays down for the whole test: operator-2 alone (1 of a 2-of-3 committee) cannot
    # deliver, so every delivery below needs operator-1 and its state database
    assert network.stop_operator(devnet, 3)
    assert network.stop_operator(devnet, 1)
    deployment = network.load_deployment(devnet)
    config = Path(deployment["operators"][0]["config"])
    state = devnet / "state" / "operator-1"
    db = state / "relayer.db"
    cursors_before = _cursors(db)

    # messages the stopped operator has not seen yet
    sent = [transfer(devnet, "alpha", "beta", "native", Decimal("0.5")),
            transfer(devnet, "beta", "alpha", "token", Decimal("2"))]
    time.sleep(3)  # the blocks holding them become final while operator-1 is down
    assert not any(is_delivered(devnet, r) for r in sent)

    # (b) every file just above its current size: the first scan that must be written fails
    limit = max(p.stat().st_size for p in state.iterdir()) + 4096
    process = limited_relayer(config, limit)
    output = Output(process)
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    lines = output.join()
    text = "\n".join(lines)
    assert code == 1, text
    assert "Traceback" not in text, text
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    failed = [e for e in events if e["event"] == "daemon.store_failed"]
    assert len(failed) == 1, text
    assert str(db) in failed[0]["error"] and "write failed" in failed[0]["error"], failed
    assert str(state) in failed[0]["action"] and "ulimit" in failed[0]["action"], failed
    assert not [e for e in events if e["level"] in ("error", "critical") and e is not failed[0]], text
    assert integrity(db) == "ok"
    with capsys.disabled():
        print(f"\nlimited daemon: files capped at {limit} bytes, exit {code}, events "
              f"{[e['event'] for e in events]}: {failed[0]['error']}")

    # (d) restarted without the limit it continues from its cursors and delivers everything
    cursors_failed = _cursors(db)
    assert all(cursors_failed.get(c, 0) >= n for c, n in cursors_before.items())
    network.start_operator(devnet, 1)
    network.wait_healthy(devnet, [1], report=lambda line: None)
    late = transfer(devnet, "alpha", "beta", "native", Decimal("0.25"), wait=True, timeout=90)
    assert late.destination_tx is not None
    deadline = time.monotonic() + 60
    while not all(is_delivered(devnet, r) for r in sent) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(is_delivered(devnet, r) for r in sent), [r.message_id for r in sent]
    # operator-1's own database follows: each message ends confirmed (or delivered by operator-2)
    ids = [r.message_id for r in [*sent, late]]
    deadline = time.monotonic() + 30
    states = _states(db, ids)
    while not all(states.get(i) in ("confirmed", "delivered-by-peer") for i in ids) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        states = _states(db, ids)
    assert all(states.get(i) in ("confirmed", "delivered-by-peer") for i in ids), states
    network.stop_operator(devnet, 1)
    assert integrity(db) == "ok"


def _cursors(db: Path) -> dict[str, int]:
    store = Store(db)
    try:
        return store.cursors()
    finally:
        store.close()


def _states(db: Path, ids: list[str]) -> dict[str, str]:
    """State of each message in a running operator's database (read-only, beside the writer)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        marks = ",".join("?" * len(ids))
        return dict(conn.execute(f"SELECT id, state FROM messages WHERE id IN ({marks})", ids).fetchall())
    finally:
        conn.close()
