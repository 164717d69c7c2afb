"""A window of the ledger aggregated by the database itself (blocking: run it in a thread).

For :class:`~polyroute.ledger.SQLiteLedger` and :class:`~polyroute.ledger.PostgresLedger` the
dashboard does not turn every row into a :class:`~polyroute.ledger.LedgerRow`: the database
groups the window by day, provider, model, key and user, counts distinct calls, and hands over
only the rows of the latest calls. Money stays exact: PostgreSQL sums ``NUMERIC``; SQLite, which
stores decimals as text, sums them with an aggregate function in Python's ``Decimal``. Any other
ledger is read row by row (:func:`~._data.aggregate_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from polyroute.gateway.dashboard._data import Aggregate, Cell, aggregate_rows
from polyroute.ledger import Ledger, PostgresLedger, SQLiteLedger
from polyroute.ledger._codec import row_from_record
from polyroute.ledger._schema import COLUMN_NAMES, USAGE_TABLE

__all__ = ["aggregate"]

#: rows read, newest first, to find the latest calls before falling back to grouping every call
_SCAN = 2000

Execute = Callable[[str, Sequence[Any]], list[Any]]


class _DecimalSum:
    """``polyroute_decsum(text)``: an exact sum of decimal strings, as text (SQLite)."""

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return str(self.total)


def _cells_sql(p: str, day: str, money_sum: str, window: str) -> str:
    return (
        f"SELECT {day} AS day, provider, model, caller_key, user_id, "
        "SUM(CASE WHEN outcome <> 'skipped' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN outcome = 'skipped' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN outcome NOT IN ('success', 'skipped') THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN outcome <> 'skipped' AND cost IS NULL THEN 1 ELSE 0 END), "
        f"SUM(prompt_tokens), SUM(completion_tokens), {money_sum}(cost), {money_sum}(fee) "
        f"FROM {USAGE_TABLE} WHERE {window} >= {p} "
        "GROUP BY 1, provider, model, caller_key, user_id"
    )


def _aggregate(
    execute: Execute, p: str, day: str, money_sum: str, *, since: float, recent: int, window: str = "started_at"
) -> Aggregate:
    """``window`` is the column expression the window is selected on (``+started_at``: not by index)."""
    agg = Aggregate()
    for rec in execute(_cells_sql(p, day, money_sum, window), (since, since)):
        agg.cells[(int(rec[0]), rec[1], rec[2], rec[3], rec[4])] = Cell(
            attempts=int(rec[5]),
            skipped=int(rec[6]),
            failed=int(rec[7]),
            unpriced=int(rec[8]),
            prompt_tokens=int(rec[9] or 0),
            completion_tokens=int(rec[10] or 0),
            cost=Decimal(str(rec[11])) if rec[11] is not None else Decimal(0),
            fee=Decimal(str(rec[12])) if rec[12] is not None else Decimal(0),
        )
    [(requests, succeeded)] = execute(
        "SELECT COUNT(DISTINCT request_id), COUNT(DISTINCT CASE WHEN outcome = 'success' THEN request_id END) "
        f"FROM {USAGE_TABLE} WHERE {window} >= {p}",
        (since,),
    )
    agg.requests, agg.succeeded = int(requests), int(succeeded)
    agg.model_requests = {
        m: int(n)
        for m, n in execute(
            f"SELECT model, COUNT(DISTINCT request_id) FROM {USAGE_TABLE} WHERE {window} >= {p} GROUP BY model",
            (since,),
        )
    }
    if recent <= 0:
        return agg
    # the latest calls: the newest rows first (the started_at index), their distinct calls in order
    latest: list[str] = []
    newest = execute(
        f"SELECT request_id FROM {USAGE_TABLE} WHERE started_at >= {p} ORDER BY started_at DESC LIMIT {_SCAN}",
        (since,),
    )
    for (rid,) in newest:
        if rid not in latest:
            latest.append(rid)
            if len(latest) == recent:
                break
    if len(latest) < recent and len(newest) == _SCAN:  # many attempts per call: group them all
        latest = [
            rid
            for (rid, _) in execute(
                f"SELECT request_id, MAX(started_at) FROM {USAGE_TABLE} WHERE {window} >= {p} "
                f"GROUP BY request_id ORDER BY 2 DESC, 1 DESC LIMIT {int(recent)}",
                (since,),
            )
        ]
    if latest:
        marks = ", ".join([p] * len(latest))
        rows = [
            row_from_record(rec)
            for rec in execute(
                f"SELECT {', '.join(COLUMN_NAMES)} FROM {USAGE_TABLE} "
                f"WHERE request_id IN ({marks}) AND started_at >= {p} ORDER BY started_at",
                (*latest, since),
            )
        ]
        by_id: dict[str, list[Any]] = {rid: [] for rid in latest}
        for row in rows:
            by_id[row.request_id].append(row)
        agg.calls = [(rid, by_id[rid]) for rid in latest if by_id[rid]]
    return agg


def _sqlite(ledger: SQLiteLedger, since: float, recent: int) -> Aggregate:
    conn = ledger.connect_reader()
    try:
        conn.create_aggregate("polyroute_decsum", 1, _DecimalSum)  # type: ignore[arg-type]

        def execute(sql: str, params: Sequence[Any]) -> list[Any]:
            return conn.execute(sql, tuple(params)).fetchall()

        # a window holding much of the table is read faster in one pass than through the index
        [(in_window,)] = execute(f"SELECT COUNT(*) FROM {USAGE_TABLE} WHERE started_at >= ?", (since,))
        [(total,)] = execute(f"SELECT COUNT(*) FROM {USAGE_TABLE}", ())
        window = "+started_at" if in_window * 10 > total else "started_at"
        day = "CAST((started_at - ?) / 86400.0 AS INTEGER)"
        return _aggregate(execute, "?", day, "polyroute_decsum", since=since, recent=recent, window=window)
    finally:
        conn.close()


def _postgres(ledger: PostgresLedger, since: float, recent: int) -> Aggregate:
    conn = ledger.connect_reader()
    try:

        def execute(sql: str, params: Sequence[Any]) -> list[Any]:
            return conn.execute(sql, tuple(params)).fetchall()

        day = "CAST(FLOOR((started_at - %s) / 86400.0) AS INTEGER)"
        return _aggregate(execute, "%s", day, "SUM", since=since, recent=recent)
    finally:
        conn.close()


def aggregate(ledger: Ledger, *, since: float, recent: int = 30) -> Aggregate:
    """The :class:`~._data.Aggregate` of ``ledger``'s rows that started at ``since`` or later."""
    if isinstance(ledger, SQLiteLedger):
        return _sqlite(ledger, since, recent)
    if isinstance(ledger, PostgresLedger):
        return _postgres(ledger, since, recent)
    return aggregate_rows(ledger.rows(since=since), since=since, recent=recent)
