"""Durable relayer state in SQLite (WAL), or in PostgreSQL (``store.url``, relayer.store_postgres):
cursors, verified headers, messages, attestations and the signed-transaction journal.

Every state change that must survive a crash happens in one transaction together with whatever
made it necessary (a message and the cursor that moved past it; a signed transaction and the
messages it carries). Calls are synchronous and short (sub-millisecond on local disk, a round trip
or two to PostgreSQL) and not cancellable; the methods are thread-safe. On PostgreSQL the follower's
scan, the submitter's round and lease acquisition call them in worker threads (relayer.store_async);
the rest, and the chain families' Destination journaling, call them in place.

Both backends run the same SQL (written in SQLite's dialect; relayer.store_dialect spells it for
PostgreSQL). The schema carries its version (SQLite: ``PRAGMA user_version``; PostgreSQL: the
table ``relayer_schema``) and is built and upgraded only by ``MIGRATIONS``, in order, one
transaction per step: a database of an older release is migrated at open (``store.migrated``; a
SQLite file's copy kept beside it), one of a newer release or of another application is refused
(StoreRefused). A message is kept as its envelope: ids, route, nonce,
block, an opaque ``body`` and ``locator`` (what they hold is the chain family's business).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from relayer import store_legacy
from relayer.errors import LeaseLost, StoreError, StoreRefused
from relayer.store_dialect import Db
from relayer.store_postgres import PostgresBackend, is_postgresql
from relayer.types import Envelope, MessageId

log = structlog.get_logger("relayer.store")

APPLICATION_ID = 0x52454C59  # "RELY"

# Message states: observed -> final -> submitted -> included -> confirmed, or failed / delivered-by-peer.
# ``included``: delivered by a mined transaction of ours that is not yet at the destination's
# finality depth (a reorg there can still drop it); ``confirmed`` only at that depth.
# Journal states: signed -> sent -> mined -> confirmed, or replaced / dropped / reverted.
# An evidence row halts its chain until it has a row in evidence_resolutions (who, when, why);
# message_attempts keeps every refused attempt and operator retry of a message (its history).
OPEN_STATES = ("final", "submitted")


class EvidenceKind(str, Enum):
    """Why an evidence row halts its chain (its ``kind``; the follower decides it by the error's type)."""

    CONFLICTING_SEALED_HEADERS = "conflicting-sealed-headers"  # a MisbehaviourError: the validators equivocated
    REORG_BELOW_FINALITY = "reorg-below-finality"  # a BrokenLinkError at the accepted head: a final block replaced


STATES = ("final", "submitted", "included", "confirmed", "delivered-by-peer", "failed")

# The tables of schema version 1: every release up to the one before issue 9 (main at de69b14)
# wrote exactly these, with user_version 1. Frozen: later changes are migrations below.
SCHEMA_V1 = """
CREATE TABLE cursors (chain TEXT PRIMARY KEY, next_block INTEGER NOT NULL);
CREATE TABLE headers (
    chain TEXT NOT NULL, number INTEGER NOT NULL, hash TEXT NOT NULL, parent_hash TEXT NOT NULL,
    receipts_root TEXT NOT NULL, timestamp INTEGER NOT NULL, rlp TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (chain, number));
CREATE TABLE messages (
    id TEXT PRIMARY KEY, src_chain TEXT NOT NULL, dst_chain TEXT NOT NULL, kind TEXT NOT NULL,
    nonce INTEGER NOT NULL, block_number INTEGER NOT NULL, block_hash TEXT NOT NULL,
    tx_hash TEXT NOT NULL, tx_index INTEGER NOT NULL, log_index INTEGER NOT NULL,
    token TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL, amount TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    final_at REAL NOT NULL, delivered_tx TEXT, gas_used INTEGER, updated_at REAL NOT NULL,
    retry_at REAL NOT NULL DEFAULT 0);
CREATE INDEX messages_open ON messages (dst_chain, state, src_chain, block_number);
CREATE TABLE attestations (
    src_chain_id INTEGER NOT NULL, dst_chain_id INTEGER NOT NULL, number INTEGER NOT NULL,
    epoch INTEGER NOT NULL, block_hash TEXT NOT NULL, receipts_root TEXT NOT NULL,
    signer TEXT NOT NULL, signature TEXT NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, number, epoch));
CREATE TABLE txs (
    hash TEXT PRIMARY KEY, chain TEXT NOT NULL, nonce INTEGER NOT NULL, raw TEXT NOT NULL,
    state TEXT NOT NULL, message_ids TEXT NOT NULL, created_at REAL NOT NULL,
    gas_used INTEGER, error TEXT);
CREATE INDEX txs_open ON txs (chain, state);
CREATE TABLE light_clients (chain TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chain TEXT NOT NULL, number INTEGER NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL, recorded_at REAL NOT NULL);
CREATE TABLE validator_changes (
    chain TEXT NOT NULL, number INTEGER NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (chain, number));
CREATE TABLE evidence_resolutions (
    evidence_id INTEGER PRIMARY KEY REFERENCES evidence (id), resolved_at REAL NOT NULL,
    resolved_by TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE message_attempts (
    message_id TEXT NOT NULL, at REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT, tx TEXT);
CREATE INDEX message_attempts_by_id ON message_attempts (message_id, at);
"""


# Version 4: a lease per unit of exclusive work (``submitter:CHAIN``, ``follower:CHAIN``; relayer.leases).
# ``holder`` names one process (host:pid:random), ``token`` grows by one at every change of holder (the
# fencing token every journal write of that unit is checked against), times are Unix seconds.
SCHEMA_V4_LEASES = """
CREATE TABLE leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    token INTEGER NOT NULL, since REAL NOT NULL, renewed_at REAL NOT NULL, expires_at REAL NOT NULL,
    renewals INTEGER NOT NULL DEFAULT 0)
"""


# Version 5: what the destination did with a message it processed (relayer.contract.MessageOutcome):
# ``outcome`` delivered | failed | expired (NULL: not known, e.g. processed by a peer's delivery),
# ``outcome_result`` the handler's return or revert data (0x-hex), ``ack_sent`` 1 when the destination
# sent an acknowledgement back; ``acknowledges``: on an acknowledgement, the id of the message it
# acknowledges (relayer.types.Envelope.acknowledges).
SCHEMA_V5_OUTCOMES = """
ALTER TABLE messages ADD COLUMN outcome TEXT;
ALTER TABLE messages ADD COLUMN outcome_result TEXT;
ALTER TABLE messages ADD COLUMN ack_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN acknowledges TEXT;
CREATE INDEX messages_acknowledges ON messages (acknowledges)
"""

#: A message's acknowledgement state (``Message.ack``) by the state of the acknowledgement itself.
ACK_BY_STATE = {"final": "relaying", "submitted": "relaying", "included": "delivered", "confirmed": "delivered",
                "delivered-by-peer": "delivered", "failed": "failed"}


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``apply`` takes a database at ``version - 1`` to ``version``.

    It runs inside the transaction that also sets ``user_version`` (all or nothing); it must not
    commit, and it converts existing rows rather than dropping them. Never edit a released step:
    add the next one."""

    version: int
    summary: str
    apply: Callable[[Db], None]


def _run_sql(sql: str) -> Callable[[Db], None]:
    """A migration step made of SQL statements (no ``;`` inside literals), run one by one."""
    def apply(db: Db) -> None:
        for statement in (s.strip() for s in sql.split(";")):
            if statement:
                db.execute(statement)
    return apply


def _neutral_messages(db: Db) -> None:
    """Version 2: a message is kept as its envelope. The columns kind, tx_hash, tx_index,
    log_index, token, sender, recipient and amount (every row of version 1 is an EVM bridge
    transfer) become its opaque ``body`` and ``locator`` in the EVM family's encodings, and
    ``labels`` (kind, tx, amount) for logs; every other column is kept as it was. Open messages
    are taken in (source, block, nonce) order, which within a block is the order of the logs."""
    db.execute("""CREATE TABLE messages_v2 (
        id TEXT PRIMARY KEY, src_chain TEXT NOT NULL, dst_chain TEXT NOT NULL, nonce INTEGER NOT NULL,
        block_number INTEGER NOT NULL, block_hash TEXT NOT NULL, body BLOB NOT NULL, locator BLOB NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
        final_at REAL NOT NULL, delivered_tx TEXT, gas_used INTEGER, updated_at REAL NOT NULL,
        retry_at REAL NOT NULL DEFAULT 0)""")
    rows = db.execute("SELECT * FROM messages ORDER BY rowid").fetchall()
    names = [d[0] for d in db.execute("SELECT * FROM messages LIMIT 0").description]
    for values in rows:
        r = dict(zip(names, values))
        body = store_legacy.encode_body(r["kind"], r["token"], r["sender"], r["recipient"], int(r["amount"]))
        locator = store_legacy.encode_locator(r["tx_hash"], r["tx_index"], r["log_index"])
        labels = json.dumps(store_legacy.labels(r["kind"], r["tx_hash"], int(r["amount"])))
        db.execute("INSERT INTO messages_v2 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (r["id"], r["src_chain"], r["dst_chain"], r["nonce"], r["block_number"], r["block_hash"], body,
                    locator, labels, r["state"], r["reason"], r["attempts"], r["final_at"], r["delivered_tx"],
                    r["gas_used"], r["updated_at"], r["retry_at"]))
    db.execute("DROP TABLE messages")
    db.execute("ALTER TABLE messages_v2 RENAME TO messages")
    db.execute("CREATE INDEX messages_open ON messages (dst_chain, state, src_chain, block_number)")


def _neutral_names(db: Db) -> None:
    """Version 3: no chain family's names in the tables. A header's ``receipts_root`` and ``rlp`` are
    its ``commitment`` and ``encoded`` form (relayer.contract.VerifiedHeader); what a delivery and a
    transaction cost (``gas_used``) is their ``cost``; an attestation is kept as the record its update
    policy made (``record``, JSON: every column of version 2 by name), keyed by route, block and epoch."""
    for table, old, new in (("headers", "receipts_root", "commitment"), ("headers", "rlp", "encoded"),
                            ("messages", "gas_used", "cost"), ("txs", "gas_used", "cost")):
        db.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    db.execute("""CREATE TABLE attestations_v3 (
        src_chain_id INTEGER NOT NULL, dst_chain_id INTEGER NOT NULL, number INTEGER NOT NULL,
        epoch INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (src_chain_id, dst_chain_id, number, epoch))""")
    cursor = db.execute("SELECT * FROM attestations ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        r = dict(zip(names, values))
        db.execute("INSERT INTO attestations_v3 VALUES (?,?,?,?,?)",
                   (r["src_chain_id"], r["dst_chain_id"], r["number"], r["epoch"], json.dumps(r)))
    db.execute("DROP TABLE attestations")
    db.execute("ALTER TABLE attestations_v3 RENAME TO attestations")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of the releases up to de69b14", _run_sql(SCHEMA_V1)),
    Migration(2, "messages keep an opaque body and locator instead of EVM transfer columns", _neutral_messages),
    Migration(3, "headers keep a commitment and their encoded form, costs and attestation records have neutral "
                 "names", _neutral_names),
    Migration(4, "leases: which process holds which unit of exclusive work, with a fencing token",
              _run_sql(SCHEMA_V4_LEASES)),
    Migration(5, "messages keep their outcome on the destination and what acknowledges them",
              _run_sql(SCHEMA_V5_OUTCOMES)),
)
SCHEMA_VERSION = MIGRATIONS[-1].version  # the version this code reads and writes


@dataclass(frozen=True)
class StoredHeader:
    """A verified header as the store keeps it (relayer.contract.VerifiedHeader, hex-encoded):
    ``commitment`` is the root its messages are proven against, ``encoded`` the header in its chain's
    own encoding (0x-hex; what a light client rebuilds it from and an update policy may carry)."""

    chain: str
    number: int
    hash: str
    parent_hash: str
    commitment: str
    timestamp: int
    encoded: str = ""


@dataclass(frozen=True)
class Message:
    """One cross-chain message as the store knows it: the envelope (``relayer.types.Envelope``:
    ids, route, nonce, the verified block it was found in, an opaque ``body`` and ``locator``,
    ``labels`` for logs) and where it stands; ``cost``: its share of what the delivery that carried
    it cost, in the destination's unit. What body and locator say is shown by the family
    (``relayer.contract.MessageDescriber``), never read here."""

    id: str
    src_chain: str
    dst_chain: str
    nonce: int
    block_number: int
    block_hash: str
    body: bytes = b""
    locator: bytes = b""
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    state: str = "final"
    reason: str | None = None
    attempts: int = 0
    final_at: float = 0.0
    delivered_tx: str | None = None
    cost: int | None = None
    outcome: str | None = None
    outcome_result: str | None = None
    ack_sent: int = 0
    acknowledges: str | None = None

    @classmethod
    def from_envelope(cls, envelope: Envelope, *, final_at: float) -> Message:
        """The record of a message a source found, final at ``final_at``."""
        return cls(id=envelope.id, src_chain=envelope.src_chain, dst_chain=envelope.dst_chain,
                   nonce=envelope.nonce, block_number=envelope.block_number,
                   block_hash="0x" + envelope.block_hash.hex(), body=envelope.body, locator=envelope.locator,
                   labels=dict(envelope.labels), final_at=final_at, acknowledges=envelope.acknowledges)

    def envelope(self) -> Envelope:
        """The message as the contract's roles take it."""
        return Envelope(id=MessageId(self.id), src_chain=self.src_chain, dst_chain=self.dst_chain, nonce=self.nonce,
                        block_number=self.block_number, block_hash=bytes.fromhex(self.block_hash.removeprefix("0x")),
                        body=self.body, locator=self.locator, labels=dict(self.labels),
                        acknowledges=MessageId(self.acknowledges) if self.acknowledges else None)


@dataclass(frozen=True)
class JournalTx:
    hash: str
    chain: str
    nonce: int
    raw: str
    state: str
    message_ids: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class LeaseRow:
    """Who holds a unit of exclusive work (relayer.leases): ``holder`` (host:pid:random), since when,
    until when unless renewed, and the fencing ``token`` (one more at every change of holder)."""

    name: str
    holder: str
    host: str
    pid: int
    token: int
    since: float
    renewed_at: float
    expires_at: float
    renewals: int = 0

    def describe(self, now: float | None = None) -> dict[str, Any]:
        """The row as ``relayer status`` shows it."""
        now = time.time() if now is None else now
        return {"lease": self.name, "holder": self.holder, "host": self.host, "pid": self.pid, "token": self.token,
                "since": self.since, "renewed_at": self.renewed_at, "renewals": self.renewals,
                "expires_in_s": round(self.expires_at - now, 1), "live": self.expires_at > now}


class Store:
    """The state database of one operator. Raises StoreError when it cannot be used."""

    def __init__(self, path: Path | str, *, pool_size: int = 4) -> None:
        """Open (creating or migrating) the SQLite file at ``path``, or the PostgreSQL database a
        ``postgresql://`` URL names (through a pool of at most ``pool_size`` connections). Raises
        StoreError when it cannot be reached or used, StoreRefused when it is not ours to use."""
        self.pool_size = pool_size  # PostgreSQL connections, and worker threads of relayer.store_async
        self.reads = 0  # queries answered by _rows (a plain int: free; exported as relayer_store_reads_total)
        self._lock = threading.RLock()  # one SQLite connection, used by one thread at a time
        self._pg: PostgresBackend | None = None
        self._fences: dict[str, int] = {}  # lease name -> the token this process holds it at (hold_fence)
        if isinstance(path, str) and is_postgresql(path):
            self.backend = "postgresql"
            self._pg = PostgresBackend(path, pool_size=pool_size)
            self.where = self._pg.where
            try:
                self._init_postgresql(self._pg)
            except BaseException:
                self._pg.close()
                raise
            return
        self.backend = "sqlite"
        path = Path(path)
        self.path = path
        self.where = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open state database: {exc}; check that the folder exists and "
                             f"is writable by the relayer's user", path=str(path)) from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._init_schema()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise StoreError(f"cannot use state database: {exc}; move the file away or fix "
                                 f"the permissions", path=str(path)) from exc
            raise

    def _init_postgresql(self, pg: PostgresBackend) -> None:
        """Create the schema in an empty database or bring an older one to SCHEMA_VERSION, by the
        same MIGRATIONS as a SQLite file (each step in one transaction holding the migration lock).
        Raises StoreRefused for a database holding other tables or written by a newer release."""
        with pg.transaction(schema=True) as db:
            app_id, version, objects = pg.header(db)
        if app_id != APPLICATION_ID and objects:
            raise StoreRefused("store.url: this database holds tables that are not a relayer's state; give "
                               "the relayer a database of its own", path=self.where)
        if version > SCHEMA_VERSION:
            raise StoreRefused(f"store.url: the state database has schema version {version}, written by a "
                               f"newer relayer release; this one reads version {SCHEMA_VERSION} at most: run "
                               f"the newer release", path=self.where)
        pending = [m for m in MIGRATIONS if m.version > version]
        for group in ([pending] if not objects else [[m] for m in pending]):
            with pg.transaction(schema=True) as db:
                _, now_at, now_objects = pg.header(db)
                todo = [m for m in group if m.version > now_at] if now_objects else group
                for migration in todo:
                    migration.apply(db)
                if todo:
                    pg.set_version(db, APPLICATION_ID, todo[-1].version)
        if objects and pending:
            log.info("store.migrated", path=self.where, from_version=version, to_version=SCHEMA_VERSION,
                     steps=[m.summary for m in pending], backup=None)

    def _init_schema(self) -> None:
        """Create the schema in a new file, or bring an older one to SCHEMA_VERSION.

        Raises StoreRefused, leaving the file untouched, for another application's file, one
        written by a newer release, or one whose tables are not those of its version."""
        app_id, version, objects = self._header()
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and objects):
            raise StoreRefused("this file is not a relayer state database (another application's "
                               "SQLite file); point operator.state_dir at the relayer's own folder or "
                               "move the file away", path=str(self.path))
        if version > SCHEMA_VERSION:
            raise StoreRefused(f"the state database has schema version {version}, written by a newer "
                               f"relayer release; this one reads version {SCHEMA_VERSION} at most: run "
                               f"the newer release, or restore a backup this release wrote (see "
                               f"'Upgrade and rollback' in deploy/README.md)", path=str(self.path))
        if objects and _shape(self._db) != _expected_shape(version):
            raise StoreRefused(f"the state database says schema version {version} but its tables are "
                               f"not that version's (a development build's file, or an older release "
                               f"ran on a migrated one); restore a backup or move the file away to "
                               f"start afresh", path=str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        if not objects:
            self._migrate(0, fresh=True)
        elif version < SCHEMA_VERSION:
            backup = self._backup(version)
            done = self._migrate(version, fresh=False)
            log.info("store.migrated", path=str(self.path), from_version=version, to_version=done,
                     steps=[m.summary for m in MIGRATIONS if version < m.version <= done],
                     backup=str(backup))

    def _header(self) -> tuple[int, int, int]:
        """(application_id, user_version, number of schema objects) of the open file."""
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        objects = self._db.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        return int(app_id), int(version), int(objects.fetchone()[0])

    def _migrate(self, version: int, *, fresh: bool) -> int:
        """Apply every migration above ``version``; returns the version reached.

        A new file gets them all in one transaction (a first start that dies half-way leaves an
        empty file, never tables without the application id, which the next start would refuse);
        an existing one gets one transaction per step, each setting user_version, so a crash
        between steps resumes at the next start. Each step re-reads the version under the write
        lock: another process that opened the file at the same time may have done it already."""
        pending = [m for m in MIGRATIONS if m.version > version]
        for group in ([pending] if fresh else [[m] for m in pending]):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                _, now_at, objects = self._header()
                todo = [m for m in group if m.version > now_at] if objects else group
                for migration in todo:
                    migration.apply(self._db)
                if todo:
                    self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                    self._db.execute(f"PRAGMA user_version={todo[-1].version}")
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return SCHEMA_VERSION

    def _backup(self, version: int) -> Path:
        """Copy the file as it is before a migration to ``NAME.schema-vN.bak`` beside it (what a
        rollback to the release that wrote it restores). Raises sqlite3.Error/OSError."""
        target = self.path.with_name(f"{self.path.name}.schema-v{version}.bak")
        partial = target.with_name(target.name + ".partial")
        copy = sqlite3.connect(str(partial))
        try:
            self._db.backup(copy)
        finally:
            copy.close()
        partial.replace(target)
        return target

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        else:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        """One atomic write; raises StoreError when the database refuses it (nothing is half-written).

        A failed statement or COMMIT rolls the whole transaction back (SQLite may already have
        done so itself after an I/O error); the StoreError names the original failure.
        """
        if self._pg is not None:
            with self._pg.transaction() as pg:
                yield pg
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._write_failed(exc) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.DatabaseError):
                    raise self._write_failed(exc) from exc
                raise

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already done so; never raises."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is unusable; the next statement reports it

    def _write_failed(self, exc: sqlite3.DatabaseError) -> StoreError:
        code = getattr(exc, "sqlite_errorname", None)
        reason = f"{exc} ({code})" if code and code != "SQLITE_ERROR" else str(exc)
        return StoreError(f"state database write failed: {reason}", path=str(self.path))

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        self.reads += 1
        if self._pg is not None:
            return self._pg.rows(sql, args)
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"state database read failed: {exc}", path=str(self.path)) from exc

    # cursors ------------------------------------------------------------------
    def cursor(self, chain: str) -> int | None:
        rows = self._rows("SELECT next_block FROM cursors WHERE chain=?", chain)
        return int(rows[0][0]) if rows else None

    def cursors(self) -> dict[str, int]:
        return {r["chain"]: r["next_block"] for r in self._rows("SELECT * FROM cursors")}

    # headers ------------------------------------------------------------------
    def header(self, chain: str, number: int) -> StoredHeader | None:
        rows = self._rows("SELECT * FROM headers WHERE chain=? AND number=?", chain, number)
        return StoredHeader(**dict(rows[0])) if rows else None

    def latest_header(self, chain: str) -> StoredHeader | None:
        rows = self._rows("SELECT * FROM headers WHERE chain=? ORDER BY number DESC LIMIT 1", chain)
        return StoredHeader(**dict(rows[0])) if rows else None

    def record_scan(self, chain: str, next_block: int, headers: list[StoredHeader],
                    messages: list[Message], attestations: list[dict[str, Any]],
                    light_client_state: dict[str, Any] | None = None,
                    validator_changes: tuple[int, ...] = (), now: float = 0.0) -> list[Message]:
        """Persist one scanned range atomically; returns the messages that were new.

        ``validator_changes``: numbers of blocks listing another validator set than their parent
        (the headers of each and of its parent must be among ``headers``)."""
        new: list[Message] = []
        with self.transaction() as db:
            self._fenced(db, f"follower:{chain}")
            for number in validator_changes:
                db.execute("INSERT INTO validator_changes VALUES (?,?,?) ON CONFLICT DO NOTHING", (chain, number, now))
            if light_client_state is not None:
                db.execute("INSERT INTO light_clients VALUES (?,?) ON CONFLICT(chain) DO UPDATE SET "
                           "state=excluded.state", (chain, json.dumps(light_client_state, default=_hexify)))
            for h in headers:
                db.execute("INSERT INTO headers VALUES (?,?,?,?,?,?,?) ON CONFLICT (chain, number) DO UPDATE SET "
                           "hash=excluded.hash, parent_hash=excluded.parent_hash, commitment=excluded.commitment, "
                           "timestamp=excluded.timestamp, encoded=excluded.encoded",
                           (h.chain, h.number, h.hash, h.parent_hash, h.commitment, h.timestamp, h.encoded))
            for m in messages:
                if _insert_message(db, m):
                    new.append(m)
            for a in attestations:
                _insert_attestation(db, a)
            db.execute("INSERT INTO cursors VALUES (?,?) ON CONFLICT(chain) DO UPDATE SET "
                       "next_block=excluded.next_block", (chain, next_block))
        return new

    def validator_changes(self, chain: str, after: int = -1) -> list[tuple[int, float]]:
        """(number, recorded_at) of the recorded validator-set changes of ``chain`` above ``after``, ascending."""
        rows = self._rows("SELECT number, recorded_at FROM validator_changes WHERE chain=? AND number>? "
                          "ORDER BY number", chain, after)
        return [(int(r[0]), float(r[1])) for r in rows]

    def light_client_state(self, chain: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT state FROM light_clients WHERE chain=?", chain)
        return json.loads(rows[0][0]) if rows else None

    # evidence of misbehaviour -----------------------------------------------------
    def add_evidence(self, chain: str, number: int, kind: EvidenceKind | str, detail: dict[str, Any],
                     now: float) -> None:
        """Keep an evidence row (it halts ``chain`` until resolved). Raises StoreError."""
        value = kind.value if isinstance(kind, EvidenceKind) else kind
        with self.transaction() as db:
            db.execute("INSERT INTO evidence (chain, number, kind, detail, recorded_at) VALUES (?,?,?,?,?)",
                       (chain, number, value, json.dumps(detail, default=_hexify), now))

    def evidence(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        """Evidence rows, oldest first: only the open ones (those that halt their chain) unless
        ``include_resolved``; each with ``resolution`` (None while open)."""
        where = "" if include_resolved else " WHERE r.evidence_id IS NULL"
        return [_evidence(r) for r in self._rows(_EVIDENCE_SQL + where + " ORDER BY e.id")]

    def evidence_item(self, evidence_id: int) -> dict[str, Any] | None:
        rows = self._rows(_EVIDENCE_SQL + " WHERE e.id=?", evidence_id)
        return _evidence(rows[0]) if rows else None

    def resolve_evidence(self, evidence_id: int, *, by: str, reason: str, detail: dict[str, Any],
                         now: float, rewind: Rewind | None = None) -> dict[str, Any]:
        """Keep the operator's resolution of an evidence row (the halt is released once no other
        open row names the chain) and, for a replaced history, rewind the chain to ``rewind.anchor``
        in the same transaction; the messages that rewind set aside are kept in the resolution's
        ``detail`` (returned). Raises StoreError (also when the row is already resolved)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM evidence_resolutions WHERE evidence_id=?", (evidence_id,)).fetchone():
                raise StoreError(f"evidence {evidence_id} is already resolved", path=self.where)
            if rewind is not None:
                detail = {**detail, "set_aside": _rewind(db, rewind)}
            db.execute("INSERT INTO evidence_resolutions VALUES (?,?,?,?,?)",
                       (evidence_id, now, by, reason, json.dumps(detail, default=_hexify)))
        return detail

    def headers_below(self, chain: str, number: int) -> list[StoredHeader]:
        """Stored headers of ``chain`` below ``number``, highest first."""
        rows = self._rows("SELECT * FROM headers WHERE chain=? AND number<? ORDER BY number DESC", chain, number)
        return [StoredHeader(**dict(r)) for r in rows]

    # messages -----------------------------------------------------------------
    def message(self, message_id: str) -> Message | None:
        rows = self._rows("SELECT * FROM messages WHERE id=?", message_id)
        return _message(rows[0]) if rows else None

    def open_messages(self, dst_chain: str, now: float | None = None, limit: int = 1000) -> list[Message]:
        """Final messages for ``dst_chain`` whose retry time (after a failed attempt) has come."""
        rows = self._rows("SELECT * FROM messages WHERE dst_chain=? AND state='final' AND retry_at <= ? "
                          "ORDER BY src_chain, block_number, nonce LIMIT ?", dst_chain,
                          float("inf") if now is None else now, limit)
        return [_message(r) for r in rows]

    def retry_later(self, message_id: str, reason: str, retry_at: float, *, failed: bool, now: float) -> None:
        """Record a failed attempt: the message waits until ``retry_at``, or is ``failed`` for good."""
        with self.transaction() as db:
            db.execute("UPDATE messages SET state=?, reason=?, attempts=attempts+1, retry_at=?, updated_at=? "
                       "WHERE id=?", ("failed" if failed else "final", reason, retry_at, now, message_id))
            _attempt(db, message_id, now, "failed" if failed else "refused", reason)

    def messages(self, *, state: str | None = None, route: tuple[str, str] | None = None,
                 limit: int = 1000) -> list[Message]:
        """Messages, newest first, optionally of one state and one (source, destination) route."""
        sql, args = "SELECT * FROM messages WHERE 1=1", list[Any]()
        if state is not None:
            sql, args = sql + " AND state=?", [*args, state]
        if route is not None:
            sql, args = sql + " AND src_chain=? AND dst_chain=?", [*args, *route]
        return [_message(r) for r in self._rows(sql + " ORDER BY final_at DESC, nonce DESC LIMIT ?", *args, limit)]

    def message_history(self, message_id: str) -> list[dict[str, Any]]:
        """Every refused attempt, give-up and operator retry of a message, oldest first."""
        return [dict(r) for r in self._rows("SELECT at, outcome, reason, tx FROM message_attempts "
                                            "WHERE message_id=? ORDER BY at, rowid", message_id)]

    def message_txs(self, message_id: str) -> list[dict[str, Any]]:
        """Every journaled transaction that carried the message (replacements included), oldest first."""
        rows = self._rows("SELECT hash, chain, nonce, state, created_at, cost, error, message_ids FROM txs "
                          "WHERE instr(message_ids, ?) > 0 ORDER BY created_at", json.dumps(message_id))
        return [{k: r[k] for k in r.keys() if k != "message_ids"} | {"messages": len(json.loads(r["message_ids"]))}
                for r in rows]

    def retry_failed(self, ids: list[str], *, by: str, now: float) -> list[str]:
        """Put ``failed`` messages back in line with a fresh attempt budget (the history is kept);
        returns the ids that were failed. Raises StoreError."""
        done = []
        with self.transaction() as db:
            for mid in ids:
                cur = db.execute("UPDATE messages SET state='final', attempts=0, retry_at=0, updated_at=? "
                                 "WHERE id=? AND state='failed'", (now, mid))
                if cur.rowcount:
                    _attempt(db, mid, now, "retry-requested", f"by {by}")
                    done.append(mid)
        return done

    def set_aside(self, limit: int = 50) -> list[Message]:
        """Messages with a failed attempt: ``failed`` for good, or ``final`` waiting for a retry
        (most recently updated first, at most ``limit``)."""
        rows = self._rows("SELECT * FROM messages WHERE reason IS NOT NULL AND attempts > 0 AND state IN "
                          "('final','failed') ORDER BY updated_at DESC LIMIT ?", limit)
        return [_message(r) for r in rows]

    def not_executed(self, limit: int = 50) -> list[Message]:
        """Messages the destination processed without executing them (outcome failed or expired),
        most recently updated first, at most ``limit``."""
        rows = self._rows("SELECT * FROM messages WHERE outcome IN ('failed','expired') "
                          "ORDER BY updated_at DESC LIMIT ?", limit)
        return [_message(r) for r in rows]

    def messages_in_state(self, state: str) -> list[Message]:
        return [_message(r) for r in self._rows("SELECT * FROM messages WHERE state=?", state)]

    def set_state(self, ids: list[str], state: str, *, reason: str | None = None,
                  delivered_tx: str | None = None, cost: int | None = None,
                  now: float = 0.0, bump_attempts: bool = False) -> None:
        with self.transaction() as db:
            for mid in ids:
                db.execute("UPDATE messages SET state=?, reason=?, delivered_tx=COALESCE(?, delivered_tx),"
                           " cost=COALESCE(?, cost), updated_at=?, attempts=attempts+? WHERE id=?",
                           (state, reason, delivered_tx, cost, now, int(bump_attempts), mid))
                if bump_attempts:
                    _attempt(db, mid, now, state, reason)

    def set_outcomes(self, outcomes: Mapping[str, tuple[str, str, bool]], *, now: float) -> None:
        """Record what the destination did with processed messages: id -> (outcome, result 0x-hex,
        whether it sent an acknowledgement back). Raises StoreError."""
        with self.transaction() as db:
            for mid, (outcome, result, acked) in outcomes.items():
                db.execute("UPDATE messages SET outcome=?, outcome_result=?, ack_sent=CASE WHEN ?=1 THEN 1 ELSE "
                           "ack_sent END, updated_at=? WHERE id=?", (outcome, result, int(acked), now, mid))

    def ack_state(self, m: Message) -> str | None:
        """Where the acknowledgement of ``m`` stands: ``none`` (none was sent: not asked for, or ``m`` is
        itself one), ``awaiting`` (sent by the destination, not yet final there or not yet seen),
        ``relaying``, ``delivered`` or ``failed`` (by the acknowledgement's own state); None when the
        outcome is not known here (processed by another operator's delivery)."""
        if m.acknowledges is None and m.ack_sent:
            rows = self._rows("SELECT state FROM messages WHERE acknowledges=? ORDER BY final_at LIMIT 1", m.id)
            return ACK_BY_STATE.get(rows[0]["state"], "relaying") if rows else "awaiting"
        return "none" if m.outcome is not None or m.acknowledges is not None else None

    def outcome_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (source, destination) route, the number of messages of each known outcome."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("SELECT src_chain, dst_chain, outcome, count(*) AS n FROM messages "
                            "WHERE outcome IS NOT NULL GROUP BY src_chain, dst_chain, outcome"):
            out.setdefault((r["src_chain"], r["dst_chain"]), {})[r["outcome"]] = r["n"]
        return out

    def counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (source, destination) route, the number of messages in each state."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("SELECT src_chain, dst_chain, state, count(*) AS n FROM messages "
                            "GROUP BY src_chain, dst_chain, state"):
            out.setdefault((r["src_chain"], r["dst_chain"]), {})[r["state"]] = r["n"]
        return out

    def oldest_open(self, src: str, dst: str) -> float | None:
        rows = self._rows("SELECT min(final_at) FROM messages WHERE src_chain=? AND dst_chain=? "
                          "AND state IN ('final','submitted')", src, dst)
        return rows[0][0] if rows and rows[0][0] is not None else None

    # attestations ---------------------------------------------------------------
    def attestation(self, src_chain_id: int, dst_chain_id: int, number: int,
                    epoch: int) -> dict[str, Any] | None:
        """This operator's attestation record of one block for one route at ``epoch`` (as its update
        policy made it), or None."""
        rows = self._rows("SELECT record FROM attestations WHERE src_chain_id=? AND dst_chain_id=? "
                          "AND number=? AND epoch=?", src_chain_id, dst_chain_id, number, epoch)
        return _record(rows[0]) if rows else None

    def attestations_of(self, src_chain_id: int, dst_chain_id: int, number: int) -> list[dict[str, Any]]:
        """This operator's own attestation records of one block for one destination (every epoch)."""
        rows = self._rows("SELECT record FROM attestations WHERE src_chain_id=? AND dst_chain_id=? AND number=? "
                          "ORDER BY epoch", src_chain_id, dst_chain_id, number)
        return [_record(r) for r in rows]

    def add_attestation(self, attestation: dict[str, Any]) -> None:
        """Keep an attestation record (JSON-able, with ``src_chain_id``, ``dst_chain_id``, ``number`` and
        ``epoch``); one already kept for that key stays."""
        with self.transaction() as db:
            _insert_attestation(db, attestation)

    # transaction journal ----------------------------------------------------------
    def journal_signed(self, tx: JournalTx, now: float) -> None:
        """Record a signed transaction and mark its messages submitted, before it is sent. Raises
        LeaseLost (nothing written) when another process took over the chain's submitter lease."""
        with self.transaction() as db:
            self._journal_tx(db, tx)
            for mid in tx.message_ids:
                db.execute("UPDATE messages SET state='submitted', delivered_tx=?, updated_at=? "
                           "WHERE id=? AND state='final'", (tx.hash, now, mid))

    def journal_replacement(self, tx: JournalTx) -> None:
        """Record a replacement (same nonce, higher fees) before it is sent. Raises LeaseLost as
        journal_signed."""
        with self.transaction() as db:
            self._journal_tx(db, tx)
            for mid in tx.message_ids:
                db.execute("UPDATE messages SET delivered_tx=? WHERE id=? AND state='submitted'", (tx.hash, mid))

    # relayer.contract.TxJournal: the same journal as a Destination of any family uses it
    def journal(self, hash: str, chain: str, sequence: int, raw: str, message_ids: Sequence[str]) -> None:
        """Record a signed transaction (a first attempt or a replacement of the same messages) and mark
        its messages submitted, before it is sent. Raises LeaseLost as journal_signed."""
        tx = JournalTx(hash, chain, sequence, raw, "signed", tuple(message_ids), time.time())
        with self.transaction() as db:
            self._journal_tx(db, tx)
            for mid in tx.message_ids:
                db.execute("UPDATE messages SET state=CASE WHEN state='final' THEN 'submitted' ELSE state END, "
                           "delivered_tx=?, updated_at=? WHERE id=? AND state IN ('final','submitted')",
                           (tx.hash, tx.created_at, mid))

    def open_transactions(self, chain: str) -> list[tuple[str, int, str, tuple[str, ...]]]:
        """(hash, sequence, raw, message ids) of ``chain``'s signed or sent transactions, in order."""
        return [(t.hash, t.nonce, t.raw, t.message_ids) for t in self.open_txs(chain)]

    def _journal_tx(self, db: Db, tx: JournalTx) -> None:
        """Insert ``tx`` as signed, fenced by the chain's submitter lease (raises LeaseLost)."""
        self._fenced(db, f"submitter:{tx.chain}")
        db.execute("INSERT INTO txs (hash, chain, nonce, raw, state, message_ids, created_at) "
                   "VALUES (?,?,?,?,?,?,?)", (tx.hash, tx.chain, tx.nonce, tx.raw, "signed",
                                              json.dumps(list(tx.message_ids)), tx.created_at))

    def set_tx_state(self, tx_hash: str, state: str, *, cost: int | None = None,
                     error: str | None = None) -> None:
        """Record where a journaled transaction stands (``cost``: what it cost once mined, in the chain's unit)."""
        with self.transaction() as db:
            db.execute("UPDATE txs SET state=?, cost=COALESCE(?, cost), error=? WHERE hash=?",
                       (state, cost, error, tx_hash))

    def open_txs(self, chain: str | None = None) -> list[JournalTx]:
        sql = "SELECT * FROM txs WHERE state IN ('signed','sent')"
        rows = self._rows(sql + " AND chain=? ORDER BY nonce, created_at", chain) if chain else \
            self._rows(sql + " ORDER BY chain, nonce, created_at")
        return [_journal(r) for r in rows]

    def txs_in_state(self, chain: str, state: str) -> list[JournalTx]:
        """Journaled transactions of ``chain`` in ``state``, by nonce."""
        rows = self._rows("SELECT * FROM txs WHERE chain=? AND state=? ORDER BY nonce, created_at", chain, state)
        return [_journal(r) for r in rows]

    def txs_at_nonce(self, chain: str, nonce: int) -> list[JournalTx]:
        """Every journaled attempt at ``nonce`` on ``chain`` (original and replacements), oldest first."""
        rows = self._rows("SELECT * FROM txs WHERE chain=? AND nonce=? ORDER BY created_at", chain, nonce)
        return [_journal(r) for r in rows]

    def max_nonce(self, chain: str) -> int | None:
        """Highest nonce of a journaled transaction that may still be mined (dropped ones excluded)."""
        rows = self._rows("SELECT max(nonce) FROM txs WHERE chain=? AND state != 'dropped'", chain)
        return rows[0][0] if rows and rows[0][0] is not None else None

    def spent(self, chain: str) -> int:
        """What this operator's journaled transactions on ``chain`` cost, in the chain's unit."""
        rows = self._rows("SELECT coalesce(sum(cost), 0) FROM txs WHERE chain=?", chain)
        return int(rows[0][0])

    # leases (relayer.leases) ----------------------------------------------------------
    def lease(self, name: str) -> LeaseRow | None:
        """The lease row ``name``, or None when no process ever held it."""
        rows = self._rows("SELECT * FROM leases WHERE name=?", name)
        return _lease(rows[0]) if rows else None

    def leases(self) -> list[LeaseRow]:
        """Every lease row, by name."""
        return [_lease(r) for r in self._rows("SELECT * FROM leases ORDER BY name")]

    def acquire_lease(self, name: str, holder: str, host: str, pid: int, *, now: float, ttl: float,
                      take_from: int | None = None) -> LeaseRow | None:
        """Take lease ``name`` for ``holder`` when it is free, expired, already ours, or still at token
        ``take_from`` (a dead holder's); the token grows by one. Returns the row held, or None when another
        process holds it. One conditional statement: of processes racing for it, one wins. Raises StoreError."""
        with self.transaction() as db:
            cur = db.execute("INSERT INTO leases (name, holder, host, pid, token, since, renewed_at, expires_at) "
                             "VALUES (?,?,?,?,1,?,?,?) ON CONFLICT DO NOTHING",
                             (name, holder, host, pid, now, now, now + ttl))
            if cur.rowcount != 1:
                cur = db.execute("UPDATE leases SET holder=?, host=?, pid=?, token=token+1, since=?, renewed_at=?, "
                                 "expires_at=?, renewals=0 WHERE name=? AND (expires_at < ? OR holder=? OR token=?)",
                                 (holder, host, pid, now, now, now + ttl, name, now, holder,
                                  -1 if take_from is None else take_from))
                if cur.rowcount != 1:
                    return None
            row = db.execute("SELECT * FROM leases WHERE name=?", (name,)).fetchone()
        return _lease(row)

    def renew_lease(self, name: str, holder: str, token: int, *, now: float, ttl: float) -> bool:
        """Push lease ``name``'s expiry to ``now + ttl`` if ``holder`` still holds it at ``token``;
        False when it does not (taken over). Raises StoreError."""
        with self.transaction() as db:
            cur = db.execute("UPDATE leases SET renewed_at=?, expires_at=?, renewals=renewals+1 "
                             "WHERE name=? AND holder=? AND token=?", (now, now + ttl, name, holder, token))
            return cur.rowcount == 1

    def release_lease(self, name: str, holder: str, token: int) -> None:
        """Let lease ``name`` expire at once (a clean stop), if ``holder`` still holds it at ``token``."""
        with self.transaction() as db:
            db.execute("UPDATE leases SET expires_at=0 WHERE name=? AND holder=? AND token=?", (name, holder, token))

    def hold_fence(self, name: str, token: int) -> None:
        """From now on, every journal write of the unit ``name`` (``submitter:CHAIN``: the journal of
        CHAIN; ``follower:CHAIN``: its scans) checks in its own transaction that the lease is still at
        ``token``, and raises LeaseLost (nothing written) when it is not."""
        self._fences[name] = token

    def drop_fence(self, name: str) -> None:
        self._fences.pop(name, None)

    def _fenced(self, db: Db, name: str) -> None:
        """Refuse the transaction unless lease ``name`` is still at this process's token (when it holds
        a fence for it). The UPDATE locks the row until commit: a takeover waits for this write, or this
        write sees the new token and is refused."""
        token = self._fences.get(name)
        if token is None:
            return
        if db.execute("UPDATE leases SET token=token WHERE name=? AND token=?", (name, token)).rowcount != 1:
            raise LeaseLost(f"lease {name} is no longer at token {token}: another process took it over; "
                            f"nothing was written", lease=name, token=token)


@dataclass(frozen=True)
class Rewind:
    """Take a chain back to ``anchor`` (a stored header the chain still has): its follower resumes
    from there; headers, attestations and undelivered messages of the replaced history go."""

    chain: str
    chain_id: int
    anchor: StoredHeader
    light_client_state: dict[str, Any]


_EVIDENCE_SQL = ("SELECT e.*, r.resolved_at, r.resolved_by, r.reason, r.detail AS resolution_detail "
                 "FROM evidence e LEFT JOIN evidence_resolutions r ON r.evidence_id = e.id")


def _evidence(row: Any) -> dict[str, Any]:
    data = dict(row)
    resolution = None
    if data["resolved_at"] is not None:
        resolution = {"resolved_at": data["resolved_at"], "resolved_by": data["resolved_by"],
                      "reason": data["reason"], "detail": json.loads(data["resolution_detail"])}
    return {"id": data["id"], "chain": data["chain"], "number": data["number"], "kind": data["kind"],
            "detail": json.loads(data["detail"]), "recorded_at": data["recorded_at"], "resolution": resolution}


def _rewind(db: Db, r: Rewind) -> list[dict[str, Any]]:
    """Drop what ``r.chain`` had above the anchor; returns the undelivered messages it set aside."""
    number = r.anchor.number
    undelivered = "src_chain=? AND block_number>? AND state NOT IN ('included','confirmed','delivered-by-peer')"
    set_aside = [{k: row[k] for k in row.keys()}
                 for row in db.execute(f"SELECT * FROM messages WHERE {undelivered}", (r.chain, number)).fetchall()]
    db.execute(f"DELETE FROM messages WHERE {undelivered}", (r.chain, number))
    db.execute("DELETE FROM headers WHERE chain=? AND number>?", (r.chain, number))
    db.execute("DELETE FROM attestations WHERE src_chain_id=? AND number>?", (r.chain_id, number))
    db.execute("INSERT INTO light_clients VALUES (?,?) ON CONFLICT(chain) DO UPDATE SET state=excluded.state",
               (r.chain, json.dumps(r.light_client_state, default=_hexify)))
    db.execute("INSERT INTO cursors VALUES (?,?) ON CONFLICT(chain) DO UPDATE SET next_block=excluded.next_block",
               (r.chain, number + 1))
    return set_aside


def _attempt(db: Db, message_id: str, now: float, outcome: str, reason: str | None,
             tx: str | None = None) -> None:
    db.execute("INSERT INTO message_attempts VALUES (?,?,?,?,?)", (message_id, now, outcome, reason, tx))


def _hexify(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    raise TypeError(f"cannot store {type(value).__name__}")


def _insert_message(db: Db, m: Message) -> bool:
    cur = db.execute(
        "INSERT INTO messages (id, src_chain, dst_chain, nonce, block_number, block_hash, body, locator,"
        " labels, state, final_at, updated_at, acknowledges) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        (m.id, m.src_chain, m.dst_chain, m.nonce, m.block_number, m.block_hash, m.body, m.locator,
         json.dumps(dict(m.labels)), m.state, m.final_at, m.final_at, m.acknowledges))
    if cur.rowcount == 1 and m.acknowledges:  # an acknowledgement exists, so the destination sent one
        db.execute("UPDATE messages SET ack_sent=1 WHERE id=?", (m.acknowledges,))
    return cur.rowcount == 1


def _insert_attestation(db: Db, a: dict[str, Any]) -> None:
    db.execute("INSERT INTO attestations VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
               (a["src_chain_id"], a["dst_chain_id"], a["number"], a["epoch"], json.dumps(a, default=_hexify)))


def _record(row: Any) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(row["record"])
    return record


def _message(row: Any) -> Message:
    data = dict(row)
    data.pop("updated_at", None)
    data.pop("retry_at", None)
    data["labels"] = json.loads(data["labels"])
    return Message(**data)


def _lease(row: Any) -> LeaseRow:
    return LeaseRow(**{k: row[k] for k in row.keys()})


def _journal(row: Any) -> JournalTx:
    return JournalTx(hash=row["hash"], chain=row["chain"], nonce=row["nonce"], raw=row["raw"],
                     state=row["state"], message_ids=tuple(json.loads(row["message_ids"])),
                     created_at=row["created_at"])


def _shape(db: sqlite3.Connection) -> dict[str, Any]:
    """Tables with their columns (name, type, not null, default, key) and index names."""
    names = db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                       "ORDER BY name").fetchall()
    tables = {n: [tuple(c)[1:] for c in db.execute("SELECT * FROM pragma_table_info(?)", (n,))]
              for t, n in names if t == "table"}
    return {"tables": tables, "indexes": sorted(n for t, n in names if t == "index")}


@cache
def _expected_shape(version: int) -> dict[str, Any]:
    """The shape a file at ``version`` has: migrations 1..version applied to an empty database."""
    db = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS:
            if migration.version <= version:
                migration.apply(db)
        return _shape(db)
    finally:
        db.close()
