"""The PostgreSQL ledger (psycopg 3): the same schema, shared by many instances.

Tables live in one schema (``public`` unless told otherwise). Migrations run at start-up under
an advisory lock, so instances starting together apply each one exactly once. Rows are written
by a background thread in batches, as for SQLite; a row is acknowledged once its transaction
has committed on the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from polyroute._secret import remember_url
from polyroute.ledger._codec import row_from_record, row_params
from polyroute.ledger._queued import Item, QueuedLedger, as_row, row_filter, time_range
from polyroute.ledger._row import LedgerRow
from polyroute.ledger._schema import apply_migrations, insert_sql, rows_sql
from polyroute.ledger._url import redact_url

if TYPE_CHECKING:
    import psycopg

    from polyroute.budgets import PostgresBudgetStore

__all__ = ["PostgresLedger", "connect_postgres", "load_psycopg", "migrate_postgres", "prepare_postgres"]

_INSERT = insert_sql("%s")
_ROWS = rows_sql("%s")


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
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"polyroute-migrations:{schema}",))
        conn.execute(pg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pg.sql.Identifier(schema)))
        applied = apply_migrations(conn, "postgres")
    return applied


def prepare_postgres(url: str, schema: str) -> None:
    """Create ``schema`` if absent and bring its tables up to date, over a connection of its own."""
    setup = connect_postgres(url, schema)
    try:
        migrate_postgres(setup, schema)
    finally:
        setup.close()


class PostgresLedger(QueuedLedger["psycopg.Connection[Any]"]):
    """The usage ledger in PostgreSQL at ``url`` (``postgresql://user@host:5432/db``), in ``schema``.

    Same interface and guarantees as :class:`~polyroute.ledger.SQLiteLedger`. The URL (which may
    hold a password) never appears in a ``repr`` or a log.
    """

    def __init__(self, url: str, *, schema: str = "public", queue_size: int = 10_000) -> None:
        remember_url(url)  # its password never shows in an error, a log line or a repr
        self._url = url
        self.schema = schema
        prepare_postgres(url, schema)
        self._start_writer(queue_size=queue_size, name="polyroute-ledger-postgres")

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return redact_url(self._url)

    # -- writing (the writer thread) -----------------------------------------------------------

    def _connect(self, current: psycopg.Connection[Any] | None) -> psycopg.Connection[Any]:
        if current is None or current.closed:
            return connect_postgres(self._url, self.schema)
        return current

    def _insert(self, conn: psycopg.Connection[Any], items: list[Item]) -> None:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT, [row_params(as_row(i), native=True) for i in items])
        except Exception:
            self._close_connection()  # reconnect on the next attempt
            raise

    #: the SQL placeholder of :meth:`connect_reader`'s connections
    paramstyle = "%s"

    def connect_reader(self) -> psycopg.Connection[Any]:
        """A new autocommit connection to the ledger's database, its ``search_path`` the ledger's
        schema, for queries of your own (the table is ``polyroute_usage``, its columns those of
        :class:`~polyroute.ledger.LedgerRow`). The caller closes it; the URL and its password
        stay inside the ledger."""
        return connect_postgres(self._url, self.schema)

    def budget_store(self, *, pool_size: int = 8) -> PostgresBudgetStore:
        """A new :class:`~polyroute.budgets.PostgresBudgetStore` keeping budget counters in the
        ledger's database and schema (where a router with this ledger keeps them), with up to
        ``pool_size`` connections of its own. The caller closes it; the URL and its password go
        from the ledger to the store and nowhere else (neither shows them in a ``repr``)."""
        from polyroute.budgets import PostgresBudgetStore

        return PostgresBudgetStore(self._url, schema=self.schema, pool_size=pool_size)

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
            with conn.transaction(), conn.cursor(name="polyroute_usage_rows") as cur:
                cur.itersize = 1000
                sql = _ROWS if not columns else rows_sql("%s", where=columns)
                cur.execute(sql, time_range(since, until) + values)
                for rec in cur:
                    yield row_from_record(rec)
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"PostgresLedger({self.url!r}, schema={self.schema!r})"
