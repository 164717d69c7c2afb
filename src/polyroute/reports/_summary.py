"""Usage reports from ledger rows: totals by any grouping, the model leaderboard, daily spend.

Pure functions over :class:`~polyroute.ledger.LedgerRow` iterables, exact in ``Decimal``. Skipped
attempts (nothing sent) carry no tokens or cost and are counted apart. Grouping by ``tag``
counts a row under each of its tags (so tag totals can add up to more than the whole); a row
without tags is under ``(none)``. Days are UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from polyroute.ledger import LedgerRow

__all__ = [
    "GROUPINGS",
    "LeaderboardEntry",
    "UsageTotals",
    "daily_spend",
    "leaderboard",
    "summarize",
]

_ZERO = Decimal(0)
NONE = "(none)"


def _day(row: LedgerRow) -> str:
    return datetime.fromtimestamp(row.started_at, UTC).strftime("%Y-%m-%d")


def _one(value: str | None) -> tuple[str, ...]:
    return (value if value is not None else NONE,)


#: the groupings a report can use, and the values of a row under each
GROUPINGS: Mapping[str, Callable[[LedgerRow], tuple[str, ...]]] = {
    "model": lambda r: (r.model,),
    "provider": lambda r: (r.provider,),
    "endpoint": lambda r: (f"{r.provider}/{r.endpoint_model}",),
    "user": lambda r: _one(r.user),
    "key": lambda r: _one(r.caller_key),
    "project": lambda r: _one(r.project),
    "tag": lambda r: r.tags or (NONE,),
    "day": lambda r: (_day(r),),
    "outcome": lambda r: (r.outcome,),
    "kind": lambda r: (r.kind,),
}


@dataclass(slots=True)
class AttemptCounts:
    """Attempts counted from ledger rows: those sent (``attempts``, ``failed`` among them) and
    ``skipped`` (nothing sent), their tokens, cost and fee, and those whose cost is unknown."""

    attempts: int = 0
    skipped: int = 0
    failed: int = 0
    unpriced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = _ZERO
    fee: Decimal = _ZERO


def count_attempt(counts: AttemptCounts | UsageTotals, row: LedgerRow) -> bool:
    """Count ``row`` in ``counts``' attempt, token and money fields; ``False`` for a skipped attempt."""
    if row.outcome == "skipped":
        counts.skipped += 1
        return False
    counts.attempts += 1
    if row.outcome != "success":
        counts.failed += 1
    counts.prompt_tokens += row.prompt_tokens
    counts.completion_tokens += row.completion_tokens
    if row.cost is None:
        counts.unpriced += 1
    else:
        counts.cost += row.cost
    if row.fee is not None:
        counts.fee += row.fee
    return True


@dataclass(slots=True)
class UsageTotals:
    """Totals for one group. ``requests`` counts distinct calls; ``attempts`` those sent."""

    group: tuple[str, ...]
    requests: int = 0
    attempts: int = 0
    failed: int = 0
    skipped: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = _ZERO
    fee: Decimal = _ZERO
    #: attempts whose cost is unknown (no prices, or no usage reported)
    unpriced: int = 0
    _ids: set[str] = field(default_factory=set, repr=False)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, row: LedgerRow) -> None:
        """Count ``row`` in these totals."""
        self._ids.add(row.request_id)
        self.requests = len(self._ids)
        if count_attempt(self, row):
            self.cached_tokens += row.cached_tokens
            self.cache_write_tokens += row.cache_write_tokens
            self.reasoning_tokens += row.reasoning_tokens

    def as_dict(self, by: Sequence[str]) -> dict[str, Any]:
        """A flat record: the group's values under their grouping names, then the totals."""
        out: dict[str, Any] = dict(zip(by, self.group, strict=True))
        out.update(
            requests=self.requests,
            attempts=self.attempts,
            failed=self.failed,
            skipped=self.skipped,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            total_tokens=self.total_tokens,
            cost=self.cost,
            fee=self.fee,
            unpriced=self.unpriced,
        )
        return out


def _groups(row: LedgerRow, by: Sequence[str]) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = [()]
    for name in by:
        keys = [(*k, v) for k in keys for v in GROUPINGS[name](row)]
    return keys


def summarize(rows: Iterable[LedgerRow], by: Sequence[str] = ("model",)) -> list[UsageTotals]:
    """Totals per group of ``by`` (names from :data:`GROUPINGS`), dearest first (``day``: by day)."""
    unknown = [b for b in by if b not in GROUPINGS]
    if unknown:
        raise ValueError(f"unknown grouping {unknown[0]!r}; expected one of {sorted(GROUPINGS)}")
    totals: dict[tuple[str, ...], UsageTotals] = {}
    for row in rows:
        for key in _groups(row, by):
            t = totals.get(key)
            if t is None:
                t = totals[key] = UsageTotals(key)
            t.add(row)
    out = list(totals.values())
    if by and by[0] == "day":
        out.sort(key=lambda t: (t.group[0], -t.cost, t.group))
    else:
        out.sort(key=lambda t: (-t.cost, -t.total_tokens, t.group))
    return out


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """A model's place by tokens processed, like OpenRouter's rankings."""

    rank: int
    model: str
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    requests: int
    cost: Decimal
    #: percent of all tokens
    share: Decimal

    def as_dict(self) -> dict[str, Any]:
        """A flat record."""
        return {
            "rank": self.rank,
            "model": self.model,
            "total_tokens": self.total_tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
            "cost": self.cost,
            "share": self.share,
        }


def leaderboard(rows: Iterable[LedgerRow], *, limit: int | None = None) -> list[LeaderboardEntry]:
    """Models ranked by total tokens (ties by name), with their share of all tokens in percent."""
    totals = summarize(rows, ("model",))
    totals.sort(key=lambda t: (-t.total_tokens, t.group))
    grand = sum(t.total_tokens for t in totals)
    entries = []
    for i, t in enumerate(totals[:limit] if limit else totals, 1):
        share = (Decimal(t.total_tokens) * 100 / grand).quantize(Decimal("0.01")) if grand else _ZERO
        entries.append(
            LeaderboardEntry(
                rank=i,
                model=t.group[0],
                total_tokens=t.total_tokens,
                prompt_tokens=t.prompt_tokens,
                completion_tokens=t.completion_tokens,
                requests=t.requests,
                cost=t.cost,
                share=share,
            )
        )
    return entries


def daily_spend(rows: Iterable[LedgerRow], *, by: str = "provider") -> dict[str, dict[str, Decimal]]:
    """Spend (cost plus fee) per UTC day and per ``by`` value, days in order."""
    values = GROUPINGS[by]
    out: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        if row.cost is None and row.fee is None:
            continue
        amount = (row.cost or _ZERO) + (row.fee or _ZERO)
        day = out.setdefault(_day(row), {})
        for v in values(row):
            day[v] = day.get(v, _ZERO) + amount
    return dict(sorted(out.items()))
