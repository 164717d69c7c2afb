"""The usage ledger: one row per attempt, in SQLite (default) or PostgreSQL.

::

    from polyroute.ledger import SQLiteLedger
    ledger = SQLiteLedger("usage.db")
    router = polyroute.Router.from_config("polyroute.yaml", ledger=ledger)
    ...
    ledger.flush()                       # every row recorded so far is committed
    for row in ledger.rows(since=...):   # LedgerRow
        ...

Recording never does I/O on the request path: rows go on a bounded queue that a background
thread commits in batches. See ``docs/ledger.md``.
"""

from __future__ import annotations

from polyroute.ledger._ledger import Ledger, LedgerObserver, MemoryLedger, open_ledger
from polyroute.ledger._postgres import PostgresLedger
from polyroute.ledger._row import LedgerRow, row_for_attempt
from polyroute.ledger._sqlite import SQLiteLedger
from polyroute.ledger._url import default_ledger_path, redact_url

__all__ = [
    "Ledger",
    "LedgerObserver",
    "LedgerRow",
    "MemoryLedger",
    "PostgresLedger",
    "SQLiteLedger",
    "default_ledger_path",
    "open_ledger",
    "redact_url",
    "row_for_attempt",
]
