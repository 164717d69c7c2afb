"""Accounting settings: platform fee and reservation sizing, the ledger, budget rules.

Plain immutable data, part of :class:`~polyroute.catalog._catalog.RouterSettings`; built from the
``costs:``, ``ledger:`` and ``budgets:`` sections of the configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

__all__ = ["BudgetPeriod", "BudgetRule", "BudgetScope", "CostSettings", "LedgerSettings", "key_fingerprint"]

BudgetScope = Literal["user", "key", "tag", "project"]
BudgetPeriod = Literal["day", "week", "month", "total"]


def key_fingerprint(key: str) -> str:
    """How a caller's key (``caller_key``, which may be an API key) appears in the ledger, in budget
    counters and in errors: ``key:`` and the first 16 hex digits of its SHA-256, never the key."""
    return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CostSettings:
    """How costs are computed and budget reservations sized."""

    #: a percentage of each attempt's cost added as a separate ``fee`` line (for re-billing)
    platform_fee_percent: Decimal | None = None
    #: output tokens reserved when neither the request (``max_tokens``) nor the endpoint
    #: (``max_output_tokens``, ``context_length``) bounds them
    reserve_max_tokens: int = 4096
    #: the lease of a budget reservation in a shared store: renewed while its call runs; the holds of
    #: a process that died expire this long after its last renewal
    hold_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """Where the usage ledger lives. ``url`` ``None`` means SQLite in the user's data directory.

    ``url`` may hold a database password: it is left out of the ``repr``.
    """

    url: str | None = field(default=None, repr=False)
    #: PostgreSQL schema holding the tables
    schema: str = "public"
    #: rows waiting for the writer; when full, recording waits for room (backpressure)
    queue_size: int = 10_000
    #: ``normal``: acknowledged rows survive a crash of the process; ``full``: also of the machine
    durability: Literal["normal", "full"] = "normal"


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """A spending limit in USD for a scope of callers over a period (UTC calendar periods).

    ``scope`` is which caller attribute it limits: ``user``, ``key`` (``caller_key``), ``tag``
    (any of ``tags``) or ``project``. ``match`` is the value it applies to, or ``"*"`` for every
    value, each with its own limit (``{scope: user, match: "*", limit_usd: 1, period: day}``:
    every user may spend $1 a day).
    """

    scope: BudgetScope
    limit_usd: Decimal
    period: BudgetPeriod = "month"
    match: str = "*"

    @property
    def id(self) -> str:
        """A stable name for this rule: ``scope:match:period`` (a key as its fingerprint)."""
        match = key_fingerprint(self.match) if self.scope == "key" and self.match != "*" else self.match
        return f"{self.scope}:{match}:{self.period}"

    def subjects(self, user: str | None, key: str | None, project: str | None, tags: tuple[str, ...]) -> list[str]:
        """The caller's values this rule limits (none if it does not apply to the caller)."""
        if self.scope == "tag":
            values: tuple[str | None, ...] = tags
        else:
            values = ({"user": user, "key": key, "project": project}[self.scope],)
        return [v for v in values if v is not None and self.match in ("*", v)]

    def model_dump(self) -> Mapping[str, Any]:
        """As written in the configuration."""
        return {"scope": self.scope, "match": self.match, "limit_usd": str(self.limit_usd), "period": self.period}
