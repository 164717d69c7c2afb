"""The SQLite ledger: a file in WAL mode, written by a background thread.

Acknowledged rows (committed) survive the process being killed: WAL with ``synchronous=NORMAL``
makes a commit durable against a crash of the process; ``durability="full"`` also fsyncs every
commit, for a crash of the machine. Several processes may share the file (SQLite serialises
their writes); for many machines use :class:`~polyroute.ledger.PostgresLedger`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from polyroute.ledger._codec import row_from_record, row_params
from polyroute.ledger._queued import Item, QueuedLedger, as_row, row_filter, time_range
from polyroute.ledger._row import LedgerRow
from polyroute.ledger._schema import apply_migrations, insert_sql, rows_sql

if TYPE_CHECKING:
    from polyroute.budgets import SQLiteBudgetStore

__all__ = ["SQLiteLedger", "connect", "migrate", "prepare_sqlite", "write_transaction"]

_ROWS = rows_sql("?")
#: rows per ``INSERT`` statement. Each statement is one step, during which the writer thread
#: releases the GIL; its rows are built just before it, so the writer never holds the GIL (and
#: keeps the event loop waiting) for more than a few rows' worth of Python.
_CHUNKS = (8, 4, 2, 1)
_INSERTS = {n: insert_sql("?", rows=n) for n in _CHUNKS}


def _insert_rows(conn: sqlite3.Connection, items: list[Item]) -> None:
    """Insert the rows of ``items`` with multi-row ``INSERT`` statements of a few rows each."""
    at = 0
    for size in _CHUNKS:
        while len(items) - at >= size:
            params = [v for item in items[at : at + size] for v in row_params(as_row(item), native=False)]
            conn.execute(_INSERTS[size], params)
            at += size


def connect(path: Path, *, durability: Literal["normal", "full"] = "normal") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, with a generous busy timeout."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the database's one writer lock); commit at the end, roll back on an error.

    The block may end the transaction itself (``ROLLBACK``); then nothing is committed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations this database lacks (one writer at a time); return the versions applied."""
    with write_transaction(conn):
        return apply_migrations(conn, "sqlite")


def prepare_sqlite(path: Path, *, durability: Literal["normal", "full"] = "normal") -> None:
    """Create the database file at ``path`` (and its directory) if absent and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    setup = connect(path, durability=durability)
    try:
        migrate(setup)
    finally:
        setup.close()


class SQLiteLedger(QueuedLedger[sqlite3.Connection]):
    """The usage ledger in an SQLite file (created, with its directory, if absent).

    :meth:`record` queues a row and returns at once; a background thread commits rows in
    batches. :meth:`flush` waits until every row recorded so far is committed (acknowledged);
    :meth:`close` flushes and stops the thread (also run at interpreter exit).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        queue_size: int = 10_000,
        durability: Literal["normal", "full"] = "normal",
    ) -> None:
        self.path = Path(path).expanduser()
        self.durability = durability
        prepare_sqlite(self.path, durability=durability)
        self._start_writer(queue_size=queue_size, name="polyroute-ledger-sqlite")

    def _connect(self, current: sqlite3.Connection | None) -> sqlite3.Connection:
        return current if current is not None else connect(self.path, durability=self.durability)

    def _insert(self, conn: sqlite3.Connection, items: list[Item]) -> None:
        with write_transaction(conn):
            _insert_rows(conn, items)

    #: the SQL placeholder of :meth:`connect_reader`'s connections
    paramstyle = "?"

    def connect_reader(self) -> sqlite3.Connection:
        """A new read-only connection to the ledger's file, for queries of your own (the table is
        ``polyroute_usage``, its columns those of :class:`~polyroute.ledger.LedgerRow`; money is
        stored as decimal text). It sees committed rows only (:meth:`flush` first for the latest).
        The caller closes it."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)

    def budget_store(self, *, pool_size: int = 8) -> SQLiteBudgetStore:
        """A new :class:`~polyroute.budgets.SQLiteBudgetStore` keeping budget counters in the
        ledger's file (where a router with this ledger keeps them), with up to ``pool_size``
        connections of its own. The caller closes it."""
        from polyroute.budgets import SQLiteBudgetStore

        return SQLiteBudgetStore(self.path, pool_size=pool_size)

    def rows(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        request_id: str | None = None,
        caller_key: str | None = None,
    ) -> Iterator[LedgerRow]:
        """Committed rows whose attempt started in ``[since, until)`` (Unix seconds), oldest first;
        only those of call ``request_id`` and of ``caller_key`` (a key's fingerprint) when given."""
        columns, values = row_filter(request_id, caller_key)
        conn = self.connect_reader()
        try:
            sql = _ROWS if not columns else rows_sql("?", where=columns)
            cur = conn.execute(sql, time_range(since, until) + values)
            while batch := cur.fetchmany(1000):
                for rec in batch:
                    yield row_from_record(rec)
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"
