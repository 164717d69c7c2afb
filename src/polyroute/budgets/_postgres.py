"""Budget counters in PostgreSQL: atomic across every instance sharing the database.

A reservation locks the counter rows it charges (``SELECT ... ORDER BY counter FOR UPDATE``, in
one order so two calls never deadlock), checks every limit against ``spent`` plus the unexpired
holds, and inserts its holds, in one transaction: concurrent reservations on a counter queue on
its row lock and can never overspend together.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from polyroute.budgets._pool import ConnectionPool
from polyroute.budgets._store import Charge, Refusal
from polyroute.ledger._postgres import connect_postgres, load_psycopg, prepare_postgres
from polyroute.ledger._schema import HOLDS_TABLE, SPEND_TABLE
from polyroute.ledger._url import redact_url

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresBudgetStore"]

_ZERO = Decimal(0)


class PostgresBudgetStore:
    """Budget counters in the PostgreSQL database at ``url``, in ``schema`` (usually the ledger's)."""

    def __init__(self, url: str, *, schema: str = "public", pool_size: int = 8) -> None:
        self._url = url
        self.schema = schema
        prepare_postgres(url, schema)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            lambda: connect_postgres(url, schema), lambda c: c.close(), size=pool_size
        )

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

    def __repr__(self) -> str:
        return f"PostgresBudgetStore({redact_url(self._url)!r}, schema={self.schema!r})"
