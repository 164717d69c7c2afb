"""What the dashboard shows, computed from ledger rows and live statistics: pure functions.

Money goes out as exact decimal strings (``"0.016398"``), so the page shows what the ledger
holds; the page turns them into numbers only to draw. Days are UTC, like ``polyroute usage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from polyroute.health._stats import EndpointStats, Percentiles, WindowStats
from polyroute.ledger import LedgerRow
from polyroute.reports._summary import AttemptCounts, count_attempt

__all__ = [
    "SPEND_GROUPINGS",
    "Aggregate",
    "Cell",
    "aggregate_rows",
    "endpoint_table",
    "key_label",
    "money",
    "summarize_aggregate",
    "summary",
    "window_start",
]

_ZERO = Decimal(0)
#: what the spend chart can be stacked by
SPEND_GROUPINGS = ("provider", "model", "key", "user")
#: the label of spend from calls without a key (or without a user)
NO_KEY = "(no key)"
NO_USER = "(no user)"
OTHER = "other"
_NONE = "(none)"


def money(amount: Decimal) -> str:
    """``amount`` as a plain decimal string with at least two decimals, trailing zeros dropped:
    ``Decimal("0.01639800")`` gives ``"0.016398"``, ``Decimal(3)`` gives ``"3.00"``."""
    text = format(amount.normalize(), "f")
    if text in ("-0", "0"):
        return "0.00"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def key_label(fingerprint: str | None, names: Mapping[str, str]) -> str:
    """How a caller key appears: its name in the key store, else its fingerprint (never a key)."""
    if fingerprint is None or fingerprint == _NONE:
        return NO_KEY
    return names.get(fingerprint, fingerprint)


def _day_list(now: float, days: int) -> list[str]:
    today = datetime.fromtimestamp(now, UTC).date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def window_start(now: float, days: int) -> float:
    """The start (Unix seconds) of the window of the last ``days`` UTC days, today included."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days - 1)).timestamp()


class Cell(AttemptCounts):
    """The attempts of one day for one (provider, model, key, user): counts, tokens and money."""

    __slots__ = ()


#: (day number from the window's start, provider, model, caller key fingerprint, user)
CellKey = tuple[int, str, str, str | None, str | None]


@dataclass(slots=True)
class Aggregate:
    """A window of the ledger boiled down: what :func:`summarize_aggregate` needs, whether it was
    computed by the database (:mod:`._queries`) or from rows (:func:`aggregate_rows`)."""

    cells: dict[CellKey, Cell] = field(default_factory=dict)
    #: distinct calls, and those with a successful attempt
    requests: int = 0
    succeeded: int = 0
    #: distinct calls per model
    model_requests: dict[str, int] = field(default_factory=dict)
    #: the latest calls, newest first, each with its rows (oldest first)
    calls: list[tuple[str, list[LedgerRow]]] = field(default_factory=list)


def aggregate_rows(rows: Iterable[LedgerRow], *, since: float, recent: int = 30) -> Aggregate:
    """The :class:`Aggregate` of the ``rows`` that started at ``since`` or later."""
    agg = Aggregate()
    cells = agg.cells
    calls: dict[str, list[LedgerRow]] = {}
    succeeded: set[str] = set()
    by_model: dict[str, set[str]] = {}
    for r in rows:
        if r.started_at < since:
            continue
        calls.setdefault(r.request_id, []).append(r)
        by_model.setdefault(r.model, set()).add(r.request_id)
        key = (int((r.started_at - since) // 86400), r.provider, r.model, r.caller_key, r.user)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        if count_attempt(cell, r) and r.outcome == "success":
            succeeded.add(r.request_id)
    agg.requests = len(calls)
    agg.succeeded = len(succeeded)
    agg.model_requests = {m: len(ids) for m, ids in by_model.items()}
    latest = sorted(calls.items(), key=lambda kv: (max(a.started_at for a in kv[1]), kv[0]), reverse=True)
    agg.calls = [(rid, sorted(attempts, key=lambda a: a.started_at)) for rid, attempts in latest[:recent]]
    return agg


def _spend_series(per_day: list[dict[str, Decimal]], by: str, names: Mapping[str, str], top: int) -> dict[str, Any]:
    totals: dict[str, Decimal] = {}
    for amounts in per_day:
        for name, amount in amounts.items():
            totals[name] = totals.get(name, _ZERO) + amount
    ranked = sorted(totals, key=lambda n: (-totals[n], n))
    keep = ranked if len(ranked) <= top else ranked[: top - 1]
    kept = set(keep)

    def label(name: str) -> str:
        if by == "key":
            return key_label(name, names)
        if by == "user" and name == _NONE:
            return NO_USER
        return name

    series: list[dict[str, Any]] = []
    for name in keep:
        values = [day.get(name, _ZERO) for day in per_day]
        series.append({"name": label(name), "total": money(totals[name]), "values": [money(v) for v in values]})
    if len(kept) < len(ranked):
        values = [sum((a for n, a in day.items() if n not in kept), _ZERO) for day in per_day]
        rest = sum((totals[n] for n in ranked if n not in kept), _ZERO)
        series.append({"name": OTHER, "total": money(rest), "values": [money(v) for v in values], "other": True})
    day_totals = [sum(day.values(), _ZERO) for day in per_day]
    return {"series": series, "day_totals": [money(v) for v in day_totals]}


def _call(request_id: str, attempts: list[LedgerRow], names: Mapping[str, str]) -> dict[str, Any]:
    first = attempts[0]
    sent = [a for a in attempts if a.outcome != "skipped"]
    served = next((a for a in attempts if a.outcome == "success"), None)
    cost = sum(((a.cost or _ZERO) + (a.fee or _ZERO) for a in attempts), _ZERO)
    priced = all(a.cost is not None for a in sent)
    ends = [a.started_at + (a.latency_s or 0.0) for a in sent]
    return {
        "id": request_id,
        "started_at": first.started_at,
        "time": datetime.fromtimestamp(first.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "model": first.model,
        "user": first.user,
        "key": key_label(first.caller_key, names) if first.caller_key else None,
        "outcome": "success" if served is not None else ("skipped" if not sent else "error"),
        "provider": served.provider if served is not None else None,
        "attempts": len(sent),
        "route": [
            {
                "provider": a.provider,
                "endpoint_model": a.endpoint_model,
                "outcome": a.outcome,
                "status": a.status,
                "error": a.error,
                "retry": a.retry,
                "latency_s": a.latency_s,
            }
            for a in attempts
        ],
        "prompt_tokens": sum(a.prompt_tokens for a in attempts),
        "completion_tokens": sum(a.completion_tokens for a in attempts),
        "total_tokens": sum(a.total_tokens for a in attempts),
        "cost": money(cost) if priced else None,
        "latency_s": (max(ends) - first.started_at) if ends else None,
    }


def summarize_aggregate(
    agg: Aggregate,
    *,
    now: float,
    days: int,
    key_names: Mapping[str, str] | None = None,
    top: int = 8,
    leaders: int = 10,
) -> dict[str, Any]:
    """What the page shows of a window of ``days`` UTC days ending today (see :func:`summary`)."""
    names = key_names or {}
    day_list = _day_list(now, days)
    spend_by: dict[str, list[dict[str, Decimal]]] = {by: [{} for _ in day_list] for by in SPEND_GROUPINGS}
    models: dict[str, list[Any]] = {}
    attempts = failed = unpriced = prompt = completion = 0
    cost = fee = _ZERO
    for (day, provider, model, key, user), c in agg.cells.items():
        attempts += c.attempts
        failed += c.failed
        unpriced += c.unpriced
        prompt += c.prompt_tokens
        completion += c.completion_tokens
        cost += c.cost
        fee += c.fee
        m = models.setdefault(model, [0, 0, _ZERO])
        m[0] += c.prompt_tokens
        m[1] += c.completion_tokens
        m[2] += c.cost
        if not 0 <= day < days or c.attempts == 0:
            continue
        amount = c.cost + c.fee
        for by, name in (("provider", provider), ("model", model), ("key", key or _NONE), ("user", user or _NONE)):
            cells = spend_by[by][day]
            cells[name] = cells.get(name, _ZERO) + amount
    grand = prompt + completion
    ranked = sorted(models.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
    board = []
    for rank, (model, (p, c, spent)) in enumerate(ranked[:leaders], 1):
        share = (Decimal(p + c) * 100 / grand).quantize(Decimal("0.01")) if grand else _ZERO
        board.append(
            {
                "rank": rank,
                "model": model,
                "total_tokens": p + c,
                "prompt_tokens": p,
                "completion_tokens": c,
                "requests": agg.model_requests.get(model, 0),
                "cost": money(spent),
                "share": str(share),
            }
        )
    return {
        "days": day_list,
        "since": window_start(now, days),
        "totals": {
            "requests": agg.requests,
            "succeeded": agg.succeeded,
            "attempts": attempts,
            "failed_attempts": failed,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": grand,
            "spend": money(cost + fee),
            "unpriced": unpriced,
        },
        "spend": {by: _spend_series(spend_by[by], by, names, top) for by in SPEND_GROUPINGS},
        "leaderboard": board,
        "calls": [_call(rid, rows, names) for rid, rows in agg.calls],
    }


def summary(
    rows: Iterable[LedgerRow],
    *,
    now: float,
    days: int,
    key_names: Mapping[str, str] | None = None,
    top: int = 8,
    leaders: int = 10,
    recent: int = 30,
) -> dict[str, Any]:
    """Everything the dashboard shows from the ledger over the last ``days`` UTC days (today
    included) of ``rows``: totals, spend per day stacked by each of :data:`SPEND_GROUPINGS` (the
    ``top`` largest, the rest as ``other``), the model leaderboard by tokens and the ``recent``
    latest calls with their route. ``key_names`` maps key fingerprints to key names."""
    agg = aggregate_rows(rows, since=window_start(now, days), recent=recent)
    return summarize_aggregate(agg, now=now, days=days, key_names=key_names, top=top, leaders=leaders)


def _pct(p: Percentiles | None, name: str) -> float | None:
    return p.get(name) if p is not None else None


def _window(w: WindowStats | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "attempts": w.attempts,
        "successes": w.successes,
        "failures": w.failures,
        "not_counted": w.not_counted,
        "success_ratio": w.success_ratio,
        "ttft_p50": _pct(w.ttft, "p50"),
        "ttft_p95": _pct(w.ttft, "p95"),
        "latency_p50": _pct(w.latency, "p50"),
        "latency_p95": _pct(w.latency, "p95"),
        "throughput_p50": _pct(w.throughput, "p50"),
    }


def endpoint_table(stats: Mapping[str, EndpointStats]) -> list[dict[str, Any]]:
    """One row per endpoint from :meth:`Router.stats() <polyroute.Router.stats>`: breaker, in
    flight, and per window (``5m``, ``30m``) success ratio, TTFT, latency and throughput."""
    out = []
    for key in sorted(stats):
        s = stats[key]
        out.append(
            {
                "key": s.key,
                "provider": s.provider,
                "model": s.model,
                "breaker": s.breaker,
                "in_flight": s.in_flight,
                "last_success_s": s.last_success_s,
                "last_failure_s": s.last_failure_s,
                "windows": {label: _window(w) for label, w in s.windows.items()},
            }
        )
    return out
