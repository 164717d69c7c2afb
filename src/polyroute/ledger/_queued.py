"""The :class:`~polyroute.ledger.Ledger` interface over a :class:`BackgroundWriter`, for database ledgers.

:class:`QueuedLedger` queues rows (or attempts, whose rows it builds on the writer thread), reports
what was acknowledged and dropped, and keeps the writer thread's one connection. A database ledger
(:class:`~polyroute.ledger.SQLiteLedger`, :class:`~polyroute.ledger.PostgresLedger`) supplies how
to open that connection and how to insert a batch of rows in one transaction.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from polyroute._request import Caller
from polyroute._types import Attempt
from polyroute.ledger._row import LedgerRow, row_for_attempt
from polyroute.ledger._writer import BackgroundWriter

__all__ = ["Item", "QueuedLedger", "as_row", "row_filter", "time_range"]


class _Connection(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Connection)
#: what the queue holds: a row, or an attempt to make one of
Item = LedgerRow | tuple[str, Attempt, Caller]
_Item = Item


def as_row(item: _Item) -> LedgerRow:
    """The row of a queued item: a row, or an attempt whose row is built now (on the writer thread)."""
    return item if isinstance(item, LedgerRow) else row_for_attempt(*item)


def time_range(since: float | None, until: float | None) -> tuple[float, float]:
    """``[since, until)`` with open ends made infinite, for a ``started_at`` range query."""
    return (since if since is not None else float("-inf"), until if until is not None else float("inf"))


def row_filter(request_id: str | None, caller_key: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The columns ``rows()`` tests for equality, and their values (those given)."""
    given = [(c, v) for c, v in (("request_id", request_id), ("caller_key", caller_key)) if v is not None]
    return tuple(c for c, _ in given), tuple(v for _, v in given)


class QueuedLedger(Generic[C]):
    """Records rows on a bounded queue that one background thread commits in batches.

    Subclasses call :meth:`_start_writer` at the end of ``__init__`` and implement
    :meth:`_connect` and :meth:`_insert` (both run on the writer thread).
    """

    _conn: C | None
    _writer: BackgroundWriter[_Item]

    def _start_writer(self, *, queue_size: int, name: str) -> None:
        self._conn = None
        self._writer = BackgroundWriter(self._write, queue_size=queue_size, name=name, on_exit=self._close_connection)

    # -- writing (the writer thread) -----------------------------------------------------------

    def _connect(self, current: C | None) -> C:
        """The writer's connection: ``current`` if still usable, else a new one."""
        raise NotImplementedError

    def _insert(self, conn: C, items: list[_Item]) -> None:
        """Insert the rows of ``items`` (:func:`as_row` makes each) in one committed transaction
        (or none of them, and raise)."""
        raise NotImplementedError

    def _write(self, items: list[_Item]) -> None:
        self._conn = self._connect(self._conn)
        self._insert(self._conn, items)

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
        """Rows given up on (each logged): refused on their own, or after repeated database errors."""
        return self._writer.dropped

    @property
    def rejected(self) -> int:
        """Rows dropped because the database refused them on their own; no other row is lost with them."""
        return self._writer.rejected
