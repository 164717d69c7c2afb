"""Budget counters in the SQLite ledger file: atomic across the processes of one machine.

Each reservation is one ``BEGIN IMMEDIATE`` transaction (SQLite's single writer lock): read the
counters, check every limit, insert the holds, commit; so concurrent reservations, from threads
or processes, are serialised and can never overspend together. The holds of calls in flight are
renewed (:meth:`SQLiteBudgetStore.renew`) until they are settled.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from polyroute.budgets._pool import ConnectionPool
from polyroute.budgets._store import Charge, Refusal
from polyroute.ledger._schema import HOLDS_TABLE, SPEND_TABLE
from polyroute.ledger._sqlite import connect, prepare_sqlite, write_transaction

__all__ = ["SQLiteBudgetStore"]

_ZERO = Decimal(0)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SQLiteBudgetStore:
    """Budget counters in the SQLite file at ``path`` (usually the ledger's)."""

    def __init__(self, path: str | os.PathLike[str], *, pool_size: int = 8) -> None:
        self.path = Path(path).expanduser()
        prepare_sqlite(self.path)
        self._pool: ConnectionPool[sqlite3.Connection] = ConnectionPool(
            lambda: connect(self.path), lambda c: c.close(), size=pool_size
        )

    def _state(
        self, conn: sqlite3.Connection, counters: list[str], now: float
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        marks = _marks(len(counters))
        conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE expires_at <= ? AND counter IN ({marks})", (now, *counters))
        spent = {
            c: Decimal(v)
            for c, v in conn.execute(f"SELECT counter, spent FROM {SPEND_TABLE} WHERE counter IN ({marks})", counters)
        }
        held: dict[str, Decimal] = {}
        for c, v in conn.execute(f"SELECT counter, amount FROM {HOLDS_TABLE} WHERE counter IN ({marks})", counters):
            held[c] = held.get(c, _ZERO) + Decimal(v)
        return spent, held

    def reserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        counters = [c.counter for c in charges]
        with self._pool.connection() as conn, write_transaction(conn):
            spent, held = self._state(conn, counters, now)
            for c in charges:
                s, h = spent.get(c.counter, _ZERO), held.get(c.counter, _ZERO)
                if s + h + amount > c.limit:
                    conn.execute("ROLLBACK")
                    return Refusal(c, s, h)
            conn.executemany(
                f"INSERT INTO {HOLDS_TABLE} (hold_id, counter, amount, expires_at) VALUES (?, ?, ?, ?)",
                [(hold_id, c, str(amount), expires_at) for c in counters],
            )
        return None

    def settle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        counters = [c.counter for c in charges]
        with self._pool.connection() as conn, write_transaction(conn):
            conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE hold_id = ?", (hold_id,))
            if amount:
                marks = _marks(len(counters))
                spent = {
                    c: Decimal(v)
                    for c, v in conn.execute(
                        f"SELECT counter, spent FROM {SPEND_TABLE} WHERE counter IN ({marks})", counters
                    )
                }
                conn.executemany(
                    f"INSERT INTO {SPEND_TABLE} (counter, spent) VALUES (?, ?)"
                    " ON CONFLICT (counter) DO UPDATE SET spent = excluded.spent",
                    [(c, str(spent.get(c, _ZERO) + amount)) for c in counters],
                )

    def renew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """Move the expiry of the holds that still exist to ``expires_at`` (never earlier)."""
        ids = [hold_id for hold_id, _ in holds]
        with self._pool.connection() as conn, write_transaction(conn):
            for i in range(0, len(ids), 500):  # within SQLite's limit on parameters
                chunk = ids[i : i + 500]
                conn.execute(
                    f"UPDATE {HOLDS_TABLE} SET expires_at = ?"
                    f" WHERE hold_id IN ({_marks(len(chunk))}) AND expires_at < ?",
                    (expires_at, *chunk, expires_at),
                )

    async def arenew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """:meth:`renew` in a worker thread."""
        await asyncio.to_thread(self.renew, holds, expires_at=expires_at)

    async def areserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """:meth:`reserve` in a worker thread (SQLite has no async API): the event loop runs on
        while the transaction waits for the database's write lock."""
        return await asyncio.to_thread(self.reserve, hold_id, charges, amount, now=now, expires_at=expires_at)

    async def asettle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """:meth:`settle` in a worker thread."""
        await asyncio.to_thread(self.settle, hold_id, charges, amount)

    def balance(self, counter: str, *, now: float) -> tuple[Decimal, Decimal]:
        with self._pool.connection() as conn:
            conn.execute("BEGIN")
            try:
                spent, held = self._state(conn, [counter], now)
            finally:
                conn.execute("COMMIT")
        return spent.get(counter, _ZERO), held.get(counter, _ZERO)

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"SQLiteBudgetStore({str(self.path)!r})"
