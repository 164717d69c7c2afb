"""Reading ledger rows by request id or by key fingerprint (blocking: run it in a thread)."""

from __future__ import annotations

import sqlite3
from typing import Literal

from polyroute.ledger import Ledger, LedgerRow, PostgresLedger, SQLiteLedger
from polyroute.ledger._codec import row_from_record
from polyroute.ledger._schema import COLUMN_NAMES, USAGE_TABLE

__all__ = ["rows_where"]

Column = Literal["request_id", "caller_key"]


def _sql(column: Column, placeholder: str) -> str:
    names = ", ".join(COLUMN_NAMES)
    return (
        f"SELECT {names} FROM {USAGE_TABLE} WHERE {column} = {placeholder} AND started_at >= {placeholder} ORDER BY id"
    )


def rows_where(ledger: Ledger, column: Column, value: str, *, since: float = 0.0) -> list[LedgerRow]:
    """The committed rows whose ``column`` is ``value`` and which started at ``since`` or later."""
    if isinstance(ledger, SQLiteLedger):
        uri = ledger.path.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        try:
            return [row_from_record(r) for r in conn.execute(_sql(column, "?"), (value, since))]
        finally:
            conn.close()
    if isinstance(ledger, PostgresLedger):
        from polyroute.ledger._postgres import connect_postgres

        pg = connect_postgres(ledger._url, ledger.schema)
        try:
            return [row_from_record(r) for r in pg.execute(_sql(column, "%s"), (value, since))]
        finally:
            pg.close()
    return [r for r in ledger.rows(since=since) if getattr(r, column) == value]
