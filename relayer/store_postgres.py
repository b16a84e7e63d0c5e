"""The state database on a PostgreSQL server (``store.url = "postgresql://..."``), through psycopg 3
and a psycopg_pool connection pool.

The schema is the SQLite store's (relayer.store.MIGRATIONS, spelled for PostgreSQL by
relayer.store_dialect); its version lives in the one-row table ``relayer_schema`` (SQLite keeps it
in ``PRAGMA user_version``). Every call is synchronous and thread-safe: the pool hands each call its
own connection, so the daemon runs them in worker threads (relayer.store_async) and the event loop
never waits on the network. A connection the server dropped (a restart, a failover) is replaced at
the next call; the call that met it raises StoreError.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from relayer.errors import StoreError, StoreUnavailable
from relayer.store_dialect import POSTGRESQL, Cursor, Dialect, Row

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT = 5  # seconds for one connection attempt at start and in the pool
POOL_TIMEOUT = 10.0  # seconds a call waits for a connection (the pool reconnecting meanwhile) before StoreError
SCHEMA_TABLE = "relayer_schema"
MIGRATION_LOCK = 0x52454C59  # the advisory lock key migrations take ("RELY", the application id)


def is_postgresql(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database (else it is a SQLite file's path)."""
    return url.startswith(SCHEMES)


def describe(url: str) -> str:
    """``url`` without its password, for messages: ``postgresql://USER@HOST:PORT/DBNAME``.
    Raises ValueError when it is not a valid connection URL."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from None
    ports = str(parts.get("port") or "0").split(",")
    if not all(p.isascii() and p.isdigit() and 0 <= int(p) <= 65535 for p in ports):
        raise ValueError(f"the port must be a number up to 65535, got {parts['port']!r}")
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', 'localhost')}{port}/{parts.get('dbname', '')}"


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    names = tuple(c.name for c in cursor.description or ())

    def make(values: Sequence[Any]) -> Row:
        return Row(names, values)

    return make


class _Connection:
    """A pooled connection speaking the store's dialect (relayer.store_dialect.Db)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(POSTGRESQL.sql(sql), tuple(args))


class PostgresBackend:
    """Connections to one PostgreSQL database. Raises StoreError (naming ``store.url``) when the server
    cannot be reached or refuses the login; the first attempt's reason is kept in the message."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.where = describe(url)
        try:
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreError(f"store.url: cannot connect to {self.where}: {reason}; check that the "
                             f"server runs, the database exists and the user may log in") from None
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, timeout=POOL_TIMEOUT,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": _row_factory, "connect_timeout": CONNECT_TIMEOUT})
        self.pool.open()

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self, *, schema: bool = False) -> Iterator[_Connection]:
        """One transaction on a pooled connection (``schema``: holding the migration lock, which
        serializes the processes that open the database at once). Raises StoreError when the server
        cannot be reached or refuses a statement; nothing is half-written."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                db = _Connection(conn)
                if schema:
                    db.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                yield db
        except (psycopg.Error, PoolTimeout) as exc:
            raise self.failed("write", exc) from exc

    def rows(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """The rows of one query; raises StoreError."""
        try:
            with self.pool.connection() as conn:
                return list(_Connection(conn).execute(sql, args).fetchall())
        except (psycopg.Error, PoolTimeout) as exc:
            raise self.failed("read", exc) from exc

    def failed(self, what: str, exc: BaseException) -> StoreError:
        """StoreUnavailable when the server could not be reached (a connection error, no connection
        within POOL_TIMEOUT), StoreError for a refused statement."""
        reason = " ".join(str(exc).split()) or type(exc).__name__
        kind = StoreUnavailable if isinstance(exc, (psycopg.OperationalError, PoolTimeout)) else StoreError
        return kind(f"state database {what} failed: {reason}", path=self.where)

    def header(self, db: _Connection) -> tuple[int, int, int]:
        """(application id, schema version, number of tables) of the database (0, 0, n when it has
        no relayer_schema table)."""
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                            "current_schema()").fetchall()
        names = {r[0] for r in tables}
        if SCHEMA_TABLE not in names:
            return 0, 0, len(names)
        row = db.execute(f"SELECT application_id, version FROM {SCHEMA_TABLE}").fetchone()
        return (int(row[0]), int(row[1]), len(names)) if row else (0, 0, len(names))

    def set_version(self, db: _Connection, application_id: int, version: int) -> None:
        db.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (application_id INTEGER NOT NULL, "
                   f"version INTEGER NOT NULL)")
        db.execute(f"DELETE FROM {SCHEMA_TABLE}")
        db.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?, ?)", (application_id, version))
