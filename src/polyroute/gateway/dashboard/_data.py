"""What the dashboard shows, computed from ledger rows and live statistics: pure functions.

Money goes out as exact decimal strings (``"0.016398"``), so the page shows what the ledger
holds; the page turns them into numbers only to draw. Days are UTC, like ``polyroute usage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from polyroute.health._stats import EndpointStats, Percentiles, WindowStats
from polyroute.ledger import LedgerRow
from polyroute.reports import daily_spend, leaderboard, summarize

__all__ = [
    "SPEND_GROUPINGS",
    "endpoint_table",
    "key_label",
    "money",
    "summary",
]

_ZERO = Decimal(0)
#: what the spend chart can be stacked by
SPEND_GROUPINGS = ("provider", "model", "key", "user")
#: the label of spend from calls without a key (or without a user)
NO_KEY = "(no key)"
NO_USER = "(no user)"
OTHER = "other"


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
    if fingerprint is None or fingerprint == "(none)":
        return NO_KEY
    return names.get(fingerprint, fingerprint)


def _day_list(now: float, days: int) -> list[str]:
    today = datetime.fromtimestamp(now, UTC).date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def window_start(now: float, days: int) -> float:
    """The start (Unix seconds) of the window of the last ``days`` UTC days, today included."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days - 1)).timestamp()


def _spend_series(
    rows: Sequence[LedgerRow], by: str, days: list[str], names: Mapping[str, str], top: int
) -> dict[str, Any]:
    per_day = daily_spend(rows, by=by)
    totals: dict[str, Decimal] = {}
    for amounts in per_day.values():
        for name, amount in amounts.items():
            totals[name] = totals.get(name, _ZERO) + amount
    ranked = sorted(totals, key=lambda n: (-totals[n], n))
    keep = ranked if len(ranked) <= top else ranked[: top - 1]
    kept = set(keep)

    def label(name: str) -> str:
        if by == "key":
            return key_label(name, names)
        if by == "user" and name == "(none)":
            return NO_USER
        return name

    series: list[dict[str, Any]] = []
    for name in keep:
        values = [per_day.get(day, {}).get(name, _ZERO) for day in days]
        series.append({"name": label(name), "total": money(totals[name]), "values": [money(v) for v in values]})
    if len(kept) < len(ranked):
        values = [sum((a for n, a in per_day.get(day, {}).items() if n not in kept), _ZERO) for day in days]
        rest = sum((totals[n] for n in ranked if n not in kept), _ZERO)
        series.append({"name": OTHER, "total": money(rest), "values": [money(v) for v in values], "other": True})
    day_totals = [sum(per_day.get(day, {}).values(), _ZERO) for day in days]
    return {"series": series, "day_totals": [money(v) for v in day_totals]}


def _call(request_id: str, attempts: list[LedgerRow], names: Mapping[str, str]) -> dict[str, Any]:
    first = attempts[0]
    sent = [a for a in attempts if a.outcome != "skipped"]
    served = next((a for a in attempts if a.outcome == "success"), None)
    cost = sum(((a.cost or _ZERO) + (a.fee or _ZERO) for a in attempts), _ZERO)
    priced = all(a.cost is not None for a in sent) if sent else True
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


def _recent_calls(rows: Sequence[LedgerRow], names: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
    calls: dict[str, list[LedgerRow]] = {}
    for row in rows:
        calls.setdefault(row.request_id, []).append(row)
    latest = sorted(calls.items(), key=lambda kv: (max(a.started_at for a in kv[1]), kv[0]), reverse=True)
    out = []
    for request_id, attempts in latest[:limit]:
        attempts.sort(key=lambda a: a.started_at)
        out.append(_call(request_id, attempts, names))
    return out


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
    names = key_names or {}
    start = window_start(now, days)
    rows = [r for r in rows if r.started_at >= start]
    day_list = _day_list(now, days)
    found = summarize(rows, ())
    total = found[0] if found else None
    succeeded = {r.request_id for r in rows if r.outcome == "success"}
    calls = {r.request_id for r in rows}
    spend = _ZERO
    if total is not None:
        spend = total.cost + total.fee
    totals = {
        "requests": len(calls),
        "succeeded": len(succeeded),
        "attempts": total.attempts if total else 0,
        "failed_attempts": total.failed if total else 0,
        "prompt_tokens": total.prompt_tokens if total else 0,
        "completion_tokens": total.completion_tokens if total else 0,
        "total_tokens": total.total_tokens if total else 0,
        "spend": money(spend),
        "unpriced": total.unpriced if total else 0,
    }
    return {
        "days": day_list,
        "since": start,
        "totals": totals,
        "spend": {by: _spend_series(rows, by, day_list, names, top) for by in SPEND_GROUPINGS},
        "leaderboard": [
            {**e.as_dict(), "cost": money(e.cost), "share": str(e.share)} for e in leaderboard(rows, limit=leaders)
        ],
        "calls": _recent_calls(rows, names, recent),
    }


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
