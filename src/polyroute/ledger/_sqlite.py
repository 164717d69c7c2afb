"""The SQLite ledger: a file in WAL mode, written by a background thread.

Acknowledged rows (committed) survive the process being killed: WAL with ``synchronous=NORMAL``
makes a commit durable against a crash of the process; ``durability="full"`` also fsyncs every
commit, for a crash of the machine. Several processes may share the file (SQLite serialises
their writes); for many machines use :class:`~polyroute.ledger.PostgresLedger`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from polyroute._request import Caller
from polyroute._types import Attempt
from polyroute.ledger._codec import row_from_record, row_params
from polyroute.ledger._row import LedgerRow, row_for_attempt
from polyroute.ledger._schema import COLUMN_NAMES, MIGRATIONS, MIGRATIONS_TABLE, USAGE_TABLE, insert_sql
from polyroute.ledger._writer import BackgroundWriter

__all__ = ["SQLiteLedger", "connect", "migrate"]

_INSERT = insert_sql("?")
_SELECT = f"SELECT {', '.join(COLUMN_NAMES)} FROM {USAGE_TABLE}"


def connect(path: Path, *, durability: Literal["normal", "full"] = "normal") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, with a generous busy timeout."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations this database lacks (one writer at a time); return the versions applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at REAL NOT NULL)"
        )
        done = {v for (v,) in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        applied = []
        for m in MIGRATIONS:
            if m.version in done:
                continue
            for statement in m.sqlite:
                conn.execute(statement)
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?, ?)", (m.version, m.name, time.time()))
            applied.append(m.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


class SQLiteLedger:
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.durability = durability
        setup = connect(self.path, durability=durability)
        try:
            migrate(setup)
        finally:
            setup.close()
        self._conn: sqlite3.Connection | None = None
        self._writer: BackgroundWriter[LedgerRow | tuple[str, Attempt, Caller]] = BackgroundWriter(
            self._write, queue_size=queue_size, name="polyroute-ledger-sqlite", on_exit=self._close_connection
        )

    # -- writing (the writer thread) -----------------------------------------------------------

    def _write(self, items: list[LedgerRow | tuple[str, Attempt, Caller]]) -> None:
        rows = [i if isinstance(i, LedgerRow) else row_for_attempt(*i) for i in items]
        if self._conn is None:
            self._conn = connect(self.path, durability=self.durability)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, [row_params(r, native=False) for r in rows])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the Ledger interface ------------------------------------------------------------------

    def record(self, row: LedgerRow) -> None:
        """Queue ``row`` for writing; returns at once unless the queue is full."""
        self._writer.put(row)

    def record_attempt(self, request_id: str, attempt: Attempt, caller: Caller) -> None:
        """Queue the row of ``attempt``; it is built on the writer thread, off the request path."""
        self._writer.put((request_id, attempt, caller))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row recorded so far is committed; ``False`` on timeout."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Commit everything recorded, then stop the writer."""
        self._writer.close()

    @property
    def acknowledged(self) -> int:
        """Rows committed by this ledger object so far."""
        return self._writer.acknowledged

    @property
    def dropped(self) -> int:
        """Rows given up on after repeated database errors (each logged)."""
        return self._writer.dropped

    def rows(self, *, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        """Committed rows whose attempt started in ``[since, until)`` (Unix seconds), oldest first."""
        conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        try:
            cur = conn.execute(
                f"{_SELECT} WHERE started_at >= ? AND started_at < ? ORDER BY id",
                (since if since is not None else float("-inf"), until if until is not None else float("inf")),
            )
            while batch := cur.fetchmany(1000):
                for rec in batch:
                    yield row_from_record(rec)
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"
