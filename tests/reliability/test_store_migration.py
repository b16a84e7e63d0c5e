"""The state database across releases: a file written by the release before issue 9 (main at
de69b14, tests/fixtures/state-de69b14.sql, schema version 1) is opened by today's store with every
row meaning what it meant (1 -> 2 -> 3), and so is a file at version 2 (2 -> 3: no EVM or committee
names left in the tables); the migration framework steps, rolls back and resumes; a file of a newer
release, or whose tables are not its version's, is refused with one line and exit 2; the daemon
starts on the release's state directory.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eth_abi
import pytest
import structlog
from eth_account import Account

from adapters.evm.display import describe
from relayer import store as store_module
from relayer.devnet import network
from relayer.errors import StoreError, StoreRefused
from relayer.store import SCHEMA_VERSION, Message, Migration, Store
from relayer.store_legacy import encode_body, encode_locator
from relayer.types import Envelope, MessageId

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "state-de69b14.sql"
EXAMPLE = REPO_ROOT / "configs" / "example-operator.toml"
EXAMPLE_OPERATOR_1 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PASSWORD = "store migration password"
RELEASE_VERSION = 1  # the user_version the release before issue 9 wrote
BODY_TYPES = ["string", "address", "address", "address", "uint256"]  # the EVM family's message body
LOCATOR_TYPES = ["bytes32", "uint256", "uint256"]  # ... and locator (adapters/evm/source.py)
RELEASED = store_module.MIGRATIONS  # the steps of this code (tests add steps of their own after them)


def release_db(path: Path) -> Path:
    """A fresh file holding the previous release's state database (its dump loaded as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path))
    db.executescript(FIXTURE.read_text())
    db.close()
    return path


def raw_rows(path: Path, table: str, order: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(str(path))
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    finally:
        db.close()


def header_fields(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(str(path))
    try:
        return (db.execute("PRAGMA application_id").fetchone()[0], db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


# ---------------------------------------------------------------------- the previous release's file

def test_release_fixture_is_what_that_release_wrote(tmp_path: Path) -> None:
    path = release_db(tmp_path / "relayer.db")
    assert header_fields(path) == (store_module.APPLICATION_ID, RELEASE_VERSION)
    states = {r["state"] for r in raw_rows(path, "messages", "id")}
    assert states == {"final", "submitted", "included", "confirmed", "delivered-by-peer", "failed"}
    assert {r["state"] for r in raw_rows(path, "txs", "hash")} == {"sent", "replaced", "dropped", "reverted",
                                                                 "mined", "confirmed"}


def test_release_state_is_read_with_the_same_meaning(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    path = release_db(tmp_path / "relayer.db")
    before = {t: raw_rows(path, t, o) for t, o in (
        ("messages", "id"), ("txs", "hash"), ("headers", "chain, number"), ("attestations", "number"),
        ("cursors", "chain"), ("light_clients", "chain"), ("validator_changes", "chain, number"),
        ("message_attempts", "rowid"))}

    store = Store(path)
    try:
        assert header_fields(path) == (store_module.APPLICATION_ID, SCHEMA_VERSION)
        migrated = [e for e in events if e["event"] == "store.migrated"]
        if SCHEMA_VERSION > RELEASE_VERSION:
            assert len(migrated) == 1, events
            assert migrated[0]["from_version"] == RELEASE_VERSION and migrated[0]["to_version"] == SCHEMA_VERSION
            assert migrated[0]["steps"] == [m.summary for m in RELEASED if m.version > RELEASE_VERSION]
            # 1 -> 2 -> 3 -> 4 (leases) -> 5 (outcomes)
            assert len(migrated[0]["steps"]) == SCHEMA_VERSION - RELEASE_VERSION == 4
            backup = Path(migrated[0]["backup"])
            assert backup == path.with_name(f"relayer.db.schema-v{RELEASE_VERSION}.bak")
            assert raw_rows(backup, "messages", "id") == before["messages"]  # what a rollback restores
            assert header_fields(backup) == (store_module.APPLICATION_ID, RELEASE_VERSION)
        else:  # nothing to migrate: the file is read as it is
            assert migrated == [] and not list(tmp_path.glob("*.bak"))

        # messages: every row, every field it had, the same state, attempts and history
        assert len(store.messages()) == len(before["messages"]) == 11
        for row in before["messages"]:
            m = store.message(row["id"])
            assert m is not None, row["id"]
            for field in ("src_chain", "dst_chain", "nonce", "block_number", "block_hash", "state", "reason",
                          "attempts", "final_at", "delivered_tx"):
                assert getattr(m, field) == row[field], (field, row)
            assert m.cost == row["gas_used"]
            shown = describe(m.body, m.locator)  # what relayer messages shows, in the family's words
            assert shown is not None
            for field in ("kind", "token", "sender", "recipient", "amount"):
                assert shown.body[field] == row[field], (field, row)
            for field in ("tx_hash", "tx_index", "log_index"):
                assert shown.locator[field] == row[field], (field, row)
            assert int(shown.body["amount"]) > 10**18
            history = [(h["at"], h["outcome"], h["reason"]) for h in store.message_history(row["id"])]
            assert history == [(a["at"], a["outcome"], a["reason"]) for a in before["message_attempts"]
                               if a["message_id"] == row["id"]]
        # ... now kept as an envelope: the EVM columns are gone, the body and locator say the same
        columns = [r["name"] for r in raw_rows(path, "pragma_table_info('messages')", "cid")]
        assert not {"kind", "tx_hash", "tx_index", "log_index", "token", "sender", "recipient", "amount"} & \
            set(columns), columns
        assert {"body", "locator", "labels"} <= set(columns)
        for row in before["messages"]:
            m = store.message(row["id"])
            assert m is not None
            kind, token, sender, recipient, amount = eth_abi.decode(BODY_TYPES, m.body)
            assert (kind, token, sender, recipient, amount) == (
                row["kind"], row["token"].lower(), row["sender"].lower(), row["recipient"].lower(), int(row["amount"]))
            # byte for byte what the EVM source encodes for a new message (abi.encode)
            assert m.body == eth_abi.encode(BODY_TYPES, [row["kind"], row["token"], row["sender"], row["recipient"],
                                                         int(row["amount"])])
            assert m.locator == eth_abi.encode(LOCATOR_TYPES, [bytes.fromhex(row["tx_hash"][2:]), row["tx_index"],
                                                               row["log_index"]])
            tx_hash, tx_index, log_index = eth_abi.decode(LOCATOR_TYPES, m.locator)
            assert ("0x" + tx_hash.hex(), tx_index, log_index) == (row["tx_hash"], row["tx_index"], row["log_index"])
            assert dict(m.labels) == {"kind": row["kind"], "tx": row["tx_hash"], "amount": row["amount"]}
            envelope = m.envelope()
            assert (envelope.id, envelope.body, envelope.locator, envelope.block_hash.hex()) == \
                (row["id"], m.body, m.locator, row["block_hash"][2:])

        counts = store.counts()
        assert counts[("alpha", "beta")] == {"confirmed": 2, "included": 1, "submitted": 1, "final": 2}
        assert counts[("beta", "alpha")] == {"delivered-by-peer": 1, "final": 3, "failed": 1}
        # what the submitters do next: beta's due message, alpha's due ones, the one waiting for its retry
        due_beta = [m.nonce for m in store.open_messages("beta", now=1_764_005_100.0)]
        assert due_beta == [46]  # 45 waits for its retry at t+600
        assert [m.nonce for m in store.open_messages("beta")] == [45, 46]
        assert [m.nonce for m in store.open_messages("alpha")] == [19, 21, 22]
        assert {m.nonce for m in store.set_aside()} == {45, 19, 20}  # 21's retry reset its attempts
        assert store.oldest_open("alpha", "beta") == min(r["final_at"] for r in before["messages"]
                                                         if r["src_chain"] == "alpha" and r["state"] in
                                                         ("final", "submitted"))

        # the journal: open transactions to settle at start, replacements at one nonce, gas spent
        assert [(t.chain, t.nonce, t.state) for t in store.open_txs()] == [("beta", 9, "sent")]
        assert [t.state for t in store.txs_at_nonce("beta", 9)] == ["replaced", "sent"]
        open_tx = store.open_txs()[0]
        row = next(r for r in before["txs"] if r["hash"] == open_tx.hash)
        assert (open_tx.raw, list(open_tx.message_ids), open_tx.created_at) == \
            (row["raw"], json.loads(row["message_ids"]), row["created_at"])
        assert store.max_nonce("beta") == 9 and store.max_nonce("alpha") == 4  # the dropped 3 excluded
        assert store.spent("beta") == 212_345 + 150_001 and store.spent("alpha") == 48_000
        for row in before["txs"]:
            assert [t.hash for t in store.txs_in_state(row["chain"], row["state"]) if t.hash == row["hash"]]
        carried = store.message_txs(before["messages"][0]["id"])
        assert all(t["hash"] in {r["hash"] for r in before["txs"]} for t in carried)

        # headers, attestations, cursors, light clients, validator-set changes, evidence
        for row in before["headers"]:
            h = store.header(row["chain"], row["number"])
            renamed = {"receipts_root": "commitment", "rlp": "encoded"}
            assert h is not None and vars(h) == {renamed.get(k, k): v for k, v in row.items()}
        assert store.latest_header("alpha") is not None and store.latest_header("alpha").number == 4_997
        for row in before["attestations"]:
            assert store.attestation(row["src_chain_id"], row["dst_chain_id"], row["number"], row["epoch"]) == row
        assert store.cursors() == {r["chain"]: r["next_block"] for r in before["cursors"]}
        for row in before["light_clients"]:
            assert store.light_client_state(row["chain"]) == json.loads(row["state"])
        assert store.validator_changes("beta") == [(r["number"], r["recorded_at"]) for r in before["validator_changes"]]
        evidence = store.evidence(include_resolved=True)
        assert [(e["id"], e["chain"], e["kind"], e["resolution"] is None) for e in evidence] == \
            [(1, "alpha", "reorg-below-finality", False), (2, "beta", "conflicting-sealed-headers", True)]
        assert evidence[0]["resolution"]["resolved_by"] == "ops@alpha"
        assert [e["id"] for e in store.evidence()] == [2]  # the open one still halts beta

        # and it keeps working: a new row gets the next evidence id, a retry is recorded
        store.add_evidence("alpha", 5_000, "reorg-below-finality", {}, now=1_764_010_000.0)
        assert [e["id"] for e in store.evidence()] == [2, 3]
        assert store.retry_failed([m.id for m in store.messages(state="failed")], by="test", now=1.0)
    finally:
        store.close()
    assert integrity(path) == "ok"
    Store(path).close()  # a second open has nothing to do
    assert [e for e in events if e["event"] == "store.migrated"] == migrated


def integrity(path: Path) -> str:
    db = sqlite3.connect(str(path))
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


# ---------------------------------------------------------------------- envelopes in today's store

def test_messages_are_kept_as_envelopes_of_any_family(tmp_path: Path) -> None:
    """A message of another family (body and locator of its own) is kept and read back byte for
    byte with its labels; an EVM one reads back the same, and only its family's view reads what
    its body and locator say."""
    store = Store(tmp_path / "relayer.db")
    try:
        other = Envelope(id=MessageId("0x" + "01" * 32), src_chain="alpha", dst_chain="beta", nonce=3, block_number=9,
                         block_hash=b"\x02" * 32, body=b"\x00opaque payload\xff", locator=b"shard 4 / event 7",
                         labels={"kind": "call", "tx": "t-1"})
        user = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        evm = Message(id="0x" + "03" * 32, src_chain="alpha", dst_chain="beta", nonce=4, block_number=9,
                      block_hash="0x" + "02" * 32, body=encode_body("lock", "0x" + "00" * 20, user, user, 10**30),
                      locator=encode_locator("0x" + "04" * 32, 2, 1), labels={"kind": "lock"}, final_at=5.0)
        new = store.record_scan("alpha", 10, [], [Message.from_envelope(other, final_at=5.0), evm], [], now=5.0)
        assert len(new) == 2
        read = store.message(other.id)
        assert read is not None and read.envelope() == other and dict(read.labels) == dict(other.labels)
        assert describe(read.body, read.locator) is None  # not the EVM encoding
        read = store.message(evm.id)
        assert read == evm and read.body == evm.body and eth_abi.decode(BODY_TYPES, read.body)[4] == 10**30
        shown = describe(read.body, read.locator)
        assert shown is not None and shown.body["amount"] == str(10**30) and shown.body["sender"] == user
        assert dict(shown.locator) == {"tx_hash": "0x" + "04" * 32, "tx_index": 2, "log_index": 1}
        assert [m.nonce for m in store.open_messages("beta")] == [3, 4]
    finally:
        store.close()


def test_a_version_2_file_is_migrated_to_neutral_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       events: list[dict[str, Any]]) -> None:
    """A file at version 2 (the envelope store before the names left it): headers keep a commitment
    and an encoded form, messages and transactions a cost, attestations their policy's record; every
    value is what it was, a backup of version 2 is kept, and nothing EVM or committee named is left."""
    path = release_db(tmp_path / "relayer.db")
    with monkeypatch.context() as patched:
        _steps_upto(patched, 2)
        Store(path).close()
    store_module._expected_shape.cache_clear()
    assert header_fields(path)[1] == 2
    before = {t: raw_rows(path, t, o) for t, o in (("headers", "chain, number"), ("messages", "id"), ("txs", "hash"),
                                                   ("attestations", "number, epoch"))}
    store = Store(path)
    try:
        [migrated] = [e for e in events if e["event"] == "store.migrated" and e["from_version"] == 2]
        assert migrated["to_version"] == SCHEMA_VERSION == 5
        assert header_fields(Path(migrated["backup"])) == (store_module.APPLICATION_ID, 2)
        assert Path(migrated["backup"]) == path.with_name("relayer.db.schema-v2.bak")
        for row in before["headers"]:
            h = store.header(row["chain"], row["number"])
            assert h is not None and (h.commitment, h.encoded) == (row["receipts_root"], row["rlp"])
        for row in before["messages"]:
            m = store.message(row["id"])
            assert m is not None and m.cost == row["gas_used"] and m.body == row["body"]
        assert store.spent("beta") == sum(r["gas_used"] or 0 for r in before["txs"] if r["chain"] == "beta")
        assert {t["hash"]: t["cost"] for t in store.message_txs(before["messages"][0]["id"])} == \
            {r["hash"]: r["gas_used"] for r in before["txs"] if r["hash"] in
             {t["hash"] for t in store.message_txs(before["messages"][0]["id"])}}
        for row in before["attestations"]:
            assert store.attestation(row["src_chain_id"], row["dst_chain_id"], row["number"], row["epoch"]) == row
            assert row in store.attestations_of(row["src_chain_id"], row["dst_chain_id"], row["number"])
    finally:
        store.close()
    columns = {t: {r["name"] for r in raw_rows(path, f"pragma_table_info('{t}')", "cid")}
               for t in ("headers", "messages", "txs", "attestations")}
    named = {"receipts_root", "rlp", "gas_used", "signer", "signature", "tx_index", "log_index", "token", "amount"}
    assert not named & set().union(*columns.values()), columns
    assert columns["attestations"] == {"src_chain_id", "dst_chain_id", "number", "epoch", "record"}
    assert integrity(path) == "ok"


def _steps_upto(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """Make the store stop at ``version`` (as the release that wrote it did)."""
    migrations = tuple(m for m in RELEASED if m.version <= version)
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version)
    store_module._expected_shape.cache_clear()


# ---------------------------------------------------------------------- the framework, with steps of its own

def _add_note(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE messages ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE messages SET note = 'from ' || src_chain")


def _broken(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE half_done (x INTEGER)")
    raise sqlite3.OperationalError("disk I/O error")


def _steps(monkeypatch: pytest.MonkeyPatch, *extra: Migration) -> int:
    migrations = (*RELEASED, *extra)
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", migrations[-1].version)
    store_module._expected_shape.cache_clear()
    monkeypatch.setattr(store_module, "_expected_shape", store_module._expected_shape)
    return migrations[-1].version


@pytest.fixture(autouse=True)
def _fresh_shape_cache() -> Iterator[None]:
    yield
    store_module._expected_shape.cache_clear()


def test_an_older_file_is_migrated_step_by_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                events: list[dict[str, Any]]) -> None:
    path = release_db(tmp_path / "relayer.db")
    Store(path).close()  # at today's version
    base = SCHEMA_VERSION
    messages = raw_rows(path, "messages", "id")
    top = _steps(monkeypatch, Migration(base + 1, "add a note", _add_note),
                 Migration(base + 2, "index the notes", store_module._run_sql("CREATE INDEX notes ON messages (note)")))
    Store(path).close()
    assert header_fields(path)[1] == top
    after = raw_rows(path, "messages", "id")
    assert [{k: v for k, v in r.items() if k != "note"} for r in after] == messages
    assert {r["note"] for r in after} == {"from alpha", "from beta"}
    event = [e for e in events if e["event"] == "store.migrated"][-1]  # the first took the release file to today
    assert (event["from_version"], event["to_version"]) == (base, top)
    assert event["steps"] == ["add a note", "index the notes"]
    assert header_fields(Path(event["backup"]))[1] == base


def test_a_failed_step_rolls_back_and_the_next_start_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = release_db(tmp_path / "relayer.db")
    Store(path).close()
    base = SCHEMA_VERSION
    _steps(monkeypatch, Migration(base + 1, "add a note", _add_note), Migration(base + 2, "broken", _broken))
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value) and "disk I/O error" in str(info.value)
    assert header_fields(path)[1] == base + 1  # the first step is kept, the second left nothing behind
    assert "half_done" not in {r["name"] for r in raw_rows(path, "sqlite_master", "name")}
    _steps(monkeypatch, Migration(base + 1, "add a note", _add_note),
           Migration(base + 2, "fixed", store_module._run_sql("CREATE TABLE half_done (x INTEGER)")))
    Store(path).close()
    assert header_fields(path)[1] == base + 2 and integrity(path) == "ok"


def test_a_new_file_is_created_at_the_latest_version_in_one_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               events: list[dict[str, Any]]) -> None:
    top = _steps(monkeypatch, Migration(SCHEMA_VERSION + 1, "add a note", _add_note))
    path = tmp_path / "relayer.db"
    Store(path).close()
    assert header_fields(path) == (store_module.APPLICATION_ID, top)
    assert not [e for e in events if e["event"] == "store.migrated"]
    assert not list(tmp_path.glob("*.bak"))


# ---------------------------------------------------------------------- refusals

def _newer(path: Path) -> None:
    Store(path).close()
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()


def _development_build(path: Path) -> None:
    """user_version 1 but a messages table without retry_at (as builds before 4787fb5 wrote it)."""
    release_db(path)
    db = sqlite3.connect(str(path))
    db.executescript("DROP INDEX messages_open; ALTER TABLE messages DROP COLUMN retry_at;")
    db.close()


REFUSED = {"newer": (_newer, ["newer relayer release", f"reads version {SCHEMA_VERSION} at most",
                               "run the newer release", "restore a backup"]),
           "development-build": (_development_build, ["says schema version 1", "restore a backup",
                                                      "move the file away"])}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_a_file_of_another_schema_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "relayer.db"
    make, words = REFUSED[kind]
    make(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreRefused) as info:
        Store(path)
    message = str(info.value)
    assert str(path) in message and all(w in message for w in words), message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob("*.bak"))


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


def test_a_newer_release_file_stops_the_cli_in_one_line_with_exit_2(operator_config: Path) -> None:
    db = operator_config.parent / "state" / "operator-1" / "relayer.db"
    _newer(db)
    for command in ("status", "run"):
        result = relayer(command, "--config", operator_config)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr + result.stdout and result.stdout == "", result
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: the state database has schema version") and str(db) in line, line
        assert "run the newer release" in line


@pytest.mark.parametrize("command", [["status"], ["messages", "list"], ["evidence", "list"]])
def test_a_command_migrates_the_release_file_and_keeps_stdout_for_its_document(operator_config: Path,
                                                                              command: list[str]) -> None:
    """The first command of the new release to open the file migrates it; ``store.migrated``
    goes to stderr as JSON, so that ``--json`` output stays one document."""
    db = release_db(operator_config.parent / "state" / "operator-1" / "relayer.db")
    result = relayer(*command, "--config", operator_config, "--json")
    assert result.returncode == 0, result
    doc = json.loads(result.stdout)
    assert doc, result.stdout
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events.count("store.migrated") == (1 if SCHEMA_VERSION > RELEASE_VERSION else 0), result.stderr
    assert header_fields(db)[1] == SCHEMA_VERSION


# ---------------------------------------------------------------------- the daemon on the release's state

def test_the_daemon_starts_on_the_release_state_directory(devnet: Path) -> None:
    """Operator-1 of a running devnet restarted on the previous release's database (same chain
    names and ids; its blocks lie ahead of the devnet's heads): it opens it, migrates it if
    needed, becomes ready, acts on what the rows say (beta halted by the open evidence, the
    journal's open transaction recovered: its rebroadcast is refused, the throwaway key that
    signed it has no funds here) and stops cleanly; its rows are still there afterwards."""
    assert network.stop_operator(devnet, 1)
    db = devnet / "state" / "operator-1" / "relayer.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    release_db(db)
    before = raw_rows(db, "messages", "id")
    log_path = devnet / "logs" / "operator-1.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    network.start_operator(devnet, 1)
    try:
        network.wait_healthy(devnet, [1], report=lambda line: None)
        deadline = time.monotonic() + 60
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not any(e["event"] == "daemon.ready" for e in lines):
            time.sleep(0.5)
            lines = _events(log_path, start)
        assert any(e["event"] == "daemon.ready" for e in lines), lines
    finally:
        network.stop_operator(devnet, 1)
    lines = _events(log_path, start)
    names = [e["event"] for e in lines]
    assert names.count("store.migrated") == (1 if SCHEMA_VERSION > RELEASE_VERSION else 0), names
    assert "daemon.store_failed" not in names and names[-1] == "daemon.stopped", names
    # what the rows meant still decides: the open evidence halts beta, the open journal entry is settled
    halted = [e for e in lines if e["event"] == "service.halted"]
    assert len(halted) == 1 and "relaying from beta is halted by evidence 2" in halted[0]["error"], halted
    assert "tx.recovering" in names, names
    assert header_fields(db)[1] == SCHEMA_VERSION
    after = {r["id"]: r for r in raw_rows(db, "messages", "id")}
    assert set(after) >= {r["id"] for r in before}
    assert integrity(db) == "ok"


def _events(path: Path, start: int) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read().decode(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------------- the same migrations on PostgreSQL

def pg_schema(url: str) -> tuple[tuple[int, int], dict[str, list[str]]]:
    """(application id, version) of a PostgreSQL state database and its tables' columns."""
    import psycopg
    with psycopg.connect(url) as conn:
        header = conn.execute("SELECT application_id, version FROM relayer_schema").fetchone()
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute("SELECT table_name, column_name FROM information_schema.columns WHERE "
                                          "table_schema = current_schema() ORDER BY table_name, ordinal_position"):
            columns.setdefault(table, []).append(column)
    assert header is not None
    return (header[0], header[1]), columns


def test_a_postgresql_database_is_created_at_the_latest_version_with_the_same_tables(
        pg_url: str, tmp_path: Path, events: list[dict[str, Any]]) -> None:
    Store(pg_url).close()
    Store(pg_url).close()  # a second open has nothing to do
    header, columns = pg_schema(pg_url)
    assert header == (store_module.APPLICATION_ID, SCHEMA_VERSION)
    sqlite_tables = store_module._expected_shape(SCHEMA_VERSION)["tables"]
    assert {t: [c[0] for c in cols] for t, cols in sqlite_tables.items()} == {
        t: cols for t, cols in columns.items() if t != "relayer_schema"}
    assert not [e for e in events if e["event"] == "store.migrated"]


def test_an_older_postgresql_database_is_migrated_by_the_same_steps(pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                     events: list[dict[str, Any]]) -> None:
    with monkeypatch.context() as patched:
        _steps_upto(patched, 2)
        store = Store(pg_url)
        with store.transaction() as db:
            db.execute("INSERT INTO headers VALUES (?,?,?,?,?,?,?)",
                       ("alpha", 7, "0x07", "0x06", "0x" + "ee" * 32, 1700, "0xf9"))
            db.execute("INSERT INTO attestations VALUES (?,?,?,?,?,?,?,?)",
                       (1, 2, 7, 0, "0x07", "0x" + "ee" * 32, "0xsigner", "0xsig"))
        store.close()
    assert pg_schema(pg_url)[0] == (store_module.APPLICATION_ID, 2)
    store = Store(pg_url)
    try:
        assert pg_schema(pg_url)[0] == (store_module.APPLICATION_ID, SCHEMA_VERSION)
        kept = store.header("alpha", 7)
        assert kept is not None and kept.commitment == "0x" + "ee" * 32 and kept.encoded == "0xf9"
        record = store.attestation(1, 2, 7, 0)
        assert record is not None and record["signer"] == "0xsigner" and record["signature"] == "0xsig"
    finally:
        store.close()
    [migrated] = [e for e in events if e["event"] == "store.migrated"]
    assert migrated["from_version"] == 2 and migrated["to_version"] == SCHEMA_VERSION


def test_a_postgresql_database_of_another_application_or_a_newer_release_is_refused(pg_server: Any) -> None:
    import psycopg
    other = pg_server.create_database()
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreRefused, match="not a relayer's state"):
        Store(other)
    newer = pg_server.create_database()
    Store(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("UPDATE relayer_schema SET version = version + 1")
    with pytest.raises(StoreRefused, match="newer relayer release"):
        Store(newer)


def _with_store_url(config: Path, url: str) -> None:
    config.write_text(config.read_text() + f'\n[store]\nurl = "{url}"\n')


def test_an_unreachable_database_stops_the_cli_in_one_line_naming_store_url(operator_config: Path) -> None:
    _with_store_url(operator_config, f"postgresql://relayer:secret@127.0.0.1:{network.free_port()}/relayer")
    for command in ("status", "run"):
        result = relayer(command, "--config", operator_config)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr + result.stdout and "secret" not in result.stderr + result.stdout
        lines = [line for line in (result.stderr + result.stdout).strip().splitlines() if "store.url" in line]
        assert len(lines) == 1 and "cannot connect to postgresql://relayer@127.0.0.1" in lines[0], result


@pytest.mark.parametrize("url", ["mysql://relayer@db/relayer", "postgresql://relayer@db:port/relayer",
                                 "postgresql://relayer@db/relayer?sslmode=sometimes&bogus"])
def test_a_malformed_store_url_is_a_config_error(operator_config: Path, url: str) -> None:
    _with_store_url(operator_config, url)
    result = relayer("status", "--config", operator_config)
    assert result.returncode == 2, result
    [line] = result.stderr.strip().splitlines()
    assert "store.url: " in line and "Traceback" not in result.stderr, line
