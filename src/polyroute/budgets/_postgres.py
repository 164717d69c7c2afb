"""Budget counters in PostgreSQL: atomic across every instance sharing the database.

A reservation locks the counter rows it charges (``SELECT ... ORDER BY counter FOR UPDATE``, in
one order so two calls never deadlock), checks every limit against ``spent`` plus the unexpired
holds, and inserts its holds, in one transaction: concurrent reservations on a counter queue on
its row lock and can never overspend together. The holds of calls in flight are renewed
(:meth:`PostgresBudgetStore.renew`) until they are settled; a renewal skips the rows another
transaction has locked (being settled or freed), so it never waits and never deadlocks.

The async engine uses :meth:`PostgresBudgetStore.areserve` / :meth:`~PostgresBudgetStore.asettle`:
the same transactions over psycopg's async connections (a small pool per event loop), so a
reservation queued on a row lock never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from polyroute._secret import remember_url
from polyroute.budgets._pool import ConnectionPool
from polyroute.budgets._store import Charge, Refusal
from polyroute.ledger._postgres import connect_postgres, load_psycopg, prepare_postgres
from polyroute.ledger._schema import HOLDS_TABLE, SPEND_TABLE
from polyroute.ledger._url import redact_url

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresBudgetStore"]

_ZERO = Decimal(0)

_RENEW = (
    f"UPDATE {HOLDS_TABLE} SET expires_at = %s WHERE (hold_id, counter) IN ("
    f"SELECT hold_id, counter FROM {HOLDS_TABLE} WHERE hold_id = ANY(%s) AND expires_at < %s FOR UPDATE SKIP LOCKED)"
)


class PostgresBudgetStore:
    """Budget counters in the PostgreSQL database at ``url``, in ``schema`` (usually the ledger's)."""

    def __init__(self, url: str, *, schema: str = "public", pool_size: int = 8) -> None:
        remember_url(url)  # its password never shows in an error, a log line or a repr
        self._url = url
        self.schema = schema
        prepare_postgres(url, schema)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            lambda: connect_postgres(url, schema), lambda c: c.close(), size=pool_size
        )
        self._pool_size = pool_size
        #: async connections per event loop: (loop, slots, idle connections)
        self._aconns: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore, list[Any]]] = {}
        self._alock = threading.Lock()

    @asynccontextmanager
    async def _aconnection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An async connection of this event loop's pool for the ``async with`` block."""
        pg = load_psycopg()
        loop = asyncio.get_running_loop()
        with self._alock:
            entry = self._aconns.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = self._aconns[id(loop)] = (loop, asyncio.Semaphore(self._pool_size), [])
        _, slots, idle = entry
        async with slots:
            if idle:
                conn = idle.pop()
            else:
                conn = await pg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=10)
                await conn.execute(pg.sql.SQL("SET search_path TO {}").format(pg.sql.Identifier(self.schema)))
            try:
                yield conn
            except BaseException:
                conn.pgconn.finish()
                raise
            idle.append(conn)

    def _lock_state(
        self, conn: psycopg.Connection[Any], counters: list[str], now: float
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        conn.execute(
            f"INSERT INTO {SPEND_TABLE} (counter) SELECT unnest(%s::text[]) ON CONFLICT (counter) DO NOTHING",
            (counters,),
        )
        spent: dict[str, Decimal] = dict(
            conn.execute(
                f"SELECT counter, spent FROM {SPEND_TABLE} WHERE counter = ANY(%s) ORDER BY counter FOR UPDATE",
                (counters,),
            ).fetchall()
        )
        conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE counter = ANY(%s) AND expires_at <= %s", (counters, now))
        held: dict[str, Decimal] = dict(
            conn.execute(
                f"SELECT counter, sum(amount) FROM {HOLDS_TABLE} WHERE counter = ANY(%s) GROUP BY counter",
                (counters,),
            ).fetchall()
        )
        return spent, held

    def reserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        pg = load_psycopg()
        counters = sorted(c.counter for c in charges)
        refusal: Refusal | None = None
        with self._pool.connection() as conn, conn.transaction():
            spent, held = self._lock_state(conn, counters, now)
            for c in charges:
                s, h = spent.get(c.counter, _ZERO), held.get(c.counter, _ZERO)
                if s + h + amount > c.limit:
                    refusal = Refusal(c, s, h)
                    raise pg.Rollback()  # leaves the transaction block, rolled back
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {HOLDS_TABLE} (hold_id, counter, amount, expires_at) VALUES (%s, %s, %s, %s)",
                    [(hold_id, c, amount, expires_at) for c in counters],
                )
        return refusal

    async def _alock_state(
        self, conn: psycopg.AsyncConnection[Any], counters: list[str], now: float
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        await conn.execute(
            f"INSERT INTO {SPEND_TABLE} (counter) SELECT unnest(%s::text[]) ON CONFLICT (counter) DO NOTHING",
            (counters,),
        )
        cur = await conn.execute(
            f"SELECT counter, spent FROM {SPEND_TABLE} WHERE counter = ANY(%s) ORDER BY counter FOR UPDATE",
            (counters,),
        )
        spent: dict[str, Decimal] = dict(await cur.fetchall())
        await conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE counter = ANY(%s) AND expires_at <= %s", (counters, now))
        cur = await conn.execute(
            f"SELECT counter, sum(amount) FROM {HOLDS_TABLE} WHERE counter = ANY(%s) GROUP BY counter",
            (counters,),
        )
        held: dict[str, Decimal] = dict(await cur.fetchall())
        return spent, held

    async def areserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """:meth:`reserve` over an async connection: waiting on a row lock never blocks the loop."""
        pg = load_psycopg()
        counters = sorted(c.counter for c in charges)
        refusal: Refusal | None = None
        async with self._aconnection() as conn, conn.transaction():
            spent, held = await self._alock_state(conn, counters, now)
            for c in charges:
                s, h = spent.get(c.counter, _ZERO), held.get(c.counter, _ZERO)
                if s + h + amount > c.limit:
                    refusal = Refusal(c, s, h)
                    raise pg.Rollback()
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {HOLDS_TABLE} (hold_id, counter, amount, expires_at) VALUES (%s, %s, %s, %s)",
                    [(hold_id, c, amount, expires_at) for c in counters],
                )
        return refusal

    def renew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """Move the expiry of the holds that still exist to ``expires_at`` (never earlier)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(_RENEW, (expires_at, [hold_id for hold_id, _ in holds], expires_at))

    async def arenew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """:meth:`renew` over an async connection."""
        async with self._aconnection() as conn, conn.transaction():
            await conn.execute(_RENEW, (expires_at, [hold_id for hold_id, _ in holds], expires_at))

    async def asettle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """:meth:`settle` over an async connection."""
        counters = sorted(c.counter for c in charges)
        async with self._aconnection() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE hold_id = %s", (hold_id,))
            if amount:
                await conn.execute(
                    f"INSERT INTO {SPEND_TABLE} (counter, spent) SELECT unnest(%s::text[]), %s"
                    f" ON CONFLICT (counter) DO UPDATE SET spent = {SPEND_TABLE}.spent + excluded.spent",
                    (counters, amount),
                )

    def settle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        counters = sorted(c.counter for c in charges)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(f"DELETE FROM {HOLDS_TABLE} WHERE hold_id = %s", (hold_id,))
            if amount:
                conn.execute(
                    f"INSERT INTO {SPEND_TABLE} (counter, spent) SELECT unnest(%s::text[]), %s"
                    f" ON CONFLICT (counter) DO UPDATE SET spent = {SPEND_TABLE}.spent + excluded.spent",
                    (counters, amount),
                )

    def balance(self, counter: str, *, now: float) -> tuple[Decimal, Decimal]:
        with self._pool.connection() as conn, conn.transaction():
            spent = conn.execute(f"SELECT spent FROM {SPEND_TABLE} WHERE counter = %s", (counter,)).fetchone()
            held = conn.execute(
                f"SELECT coalesce(sum(amount), 0) FROM {HOLDS_TABLE} WHERE counter = %s AND expires_at > %s",
                (counter, now),
            ).fetchone()
        return (spent[0] if spent else _ZERO), (held[0] if held else _ZERO)

    def close(self) -> None:
        self._pool.close()
        with self._alock:
            entries, self._aconns = list(self._aconns.values()), {}
        for _, _, idle in entries:
            for conn in idle:
                conn.pgconn.finish()  # libpq's own close: needs no event loop

    def __repr__(self) -> str:
        return f"PostgresBudgetStore({redact_url(self._url)!r}, schema={self.schema!r})"
