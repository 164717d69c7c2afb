"""Reading ledger rows by request id or by key fingerprint (blocking: run it in a thread)."""

from __future__ import annotations

from typing import Literal

from polyroute.ledger import Ledger, LedgerRow, MemoryLedger, PostgresLedger, SQLiteLedger

__all__ = ["rows_where"]

Column = Literal["request_id", "caller_key"]


def rows_where(ledger: Ledger, column: Column, value: str, *, since: float = 0.0) -> list[LedgerRow]:
    """The committed rows whose ``column`` is ``value`` and which started at ``since`` or later."""
    if isinstance(ledger, SQLiteLedger | PostgresLedger | MemoryLedger):  # they filter in the database
        if column == "request_id":
            return list(ledger.rows(since=since, request_id=value))
        return list(ledger.rows(since=since, caller_key=value))
    return [r for r in ledger.rows(since=since) if getattr(r, column) == value]
