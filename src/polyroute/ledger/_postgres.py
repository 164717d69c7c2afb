"""The PostgreSQL ledger (psycopg 3): the same schema, shared by many instances.

Tables live in one schema (``public`` unless told otherwise). Migrations run at start-up under
an advisory lock, so instances starting together apply each one exactly once. Rows are written
by a background thread in batches, as for SQLite; a row is acknowledged once its transaction
has committed on the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from polyroute._request import Caller
from polyroute._types import Attempt
from polyroute.ledger._codec import row_from_record, row_params
from polyroute.ledger._row import LedgerRow, row_for_attempt
from polyroute.ledger._schema import COLUMN_NAMES, MIGRATIONS, MIGRATIONS_TABLE, USAGE_TABLE, insert_sql
from polyroute.ledger._url import redact_url
from polyroute.ledger._writer import BackgroundWriter

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresLedger", "connect_postgres", "load_psycopg", "migrate_postgres"]

_INSERT = insert_sql("%s")
_SELECT = f"SELECT {', '.join(COLUMN_NAMES)} FROM {USAGE_TABLE}"


def load_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is installed where this is tested
        raise ImportError("the PostgreSQL ledger needs psycopg 3: pip install 'polyroute[postgres]'") from exc
    return psycopg


def connect_postgres(url: str, schema: str, *, connect_timeout: float = 10.0) -> psycopg.Connection[Any]:
    """An autocommit connection whose ``search_path`` is ``schema``."""
    pg = load_psycopg()
    conn: psycopg.Connection[Any] = pg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
    conn.execute(pg.sql.SQL("SET search_path TO {}").format(pg.sql.Identifier(schema)))
    return conn


def migrate_postgres(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    """Create ``schema`` and apply the migrations it lacks, under an advisory lock; return those applied."""
    pg = load_psycopg()
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"polyroute-migrations:{schema}",))
        conn.execute(pg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg.sql.Identifier(schema)))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {v for (v,) in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        for m in MIGRATIONS:
            if m.version in done:
                continue
            for statement in m.postgres:
                conn.execute(statement)
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, %s)", (m.version, m.name, time.time()))
            applied.append(m.version)
    return applied


class PostgresLedger:
    """The usage ledger in PostgreSQL at ``url`` (``postgresql://user@host:5432/db``), in ``schema``.

    Same interface and guarantees as :class:`~polyroute.ledger.SQLiteLedger`. The URL (which may
    hold a password) never appears in a ``repr`` or a log.
    """

    def __init__(self, url: str, *, schema: str = "public", queue_size: int = 10_000) -> None:
        self._url = url
        self.schema = schema
        setup = connect_postgres(url, schema)
        try:
            migrate_postgres(setup, schema)
        finally:
            setup.close()
        self._conn: psycopg.Connection[Any] | None = None
        self._writer: BackgroundWriter[LedgerRow | tuple[str, Attempt, Caller]] = BackgroundWriter(
            self._write, queue_size=queue_size, name="polyroute-ledger-postgres", on_exit=self._close_connection
        )

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return redact_url(self._url)

    # -- writing (the writer thread) -----------------------------------------------------------

    def _write(self, items: list[LedgerRow | tuple[str, Attempt, Caller]]) -> None:
        rows = [i if isinstance(i, LedgerRow) else row_for_attempt(*i) for i in items]
        if self._conn is None or self._conn.closed:
            self._conn = connect_postgres(self._url, self.schema)
        conn = self._conn
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT, [row_params(r, native=True) for r in rows])
        except Exception:
            self._close_connection()  # reconnect on the next attempt
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
        conn = connect_postgres(self._url, self.schema)
        try:
            with conn.transaction(), conn.cursor(name="polyroute_usage_rows") as cur:
                cur.itersize = 1000
                cur.execute(
                    f"{_SELECT} WHERE started_at >= %s AND started_at < %s ORDER BY id",
                    (since if since is not None else float("-inf"), until if until is not None else float("inf")),
                )
                for rec in cur:
                    yield row_from_record(rec)
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"PostgresLedger({self.url!r}, schema={self.schema!r})"
