"""Admission of one attempt: a rate-limit slot and a budget reservation, taken before it is sent.

A :class:`Gate` is what the engines call when an :class:`~polyroute.execution._execution.Execution`
asks them to :class:`~polyroute.execution._execution.Reserve` or
:class:`~polyroute.execution._execution.Settle`: the sync engine with :meth:`Gate.reserve` and
:meth:`Gate.settle`, the async one with :meth:`Gate.areserve` and :meth:`Gate.asettle`, whose
database or Redis I/O never blocks the event loop (psycopg's async API, ``redis.asyncio``,
SQLite in a worker thread).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from polyroute._clock import Clock
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import BudgetExceeded

if TYPE_CHECKING:
    from polyroute.budgets import CallBudget, Reservation

__all__ = ["Gate", "Limiter", "RateRefusal"]

log = logging.getLogger("polyroute")


class Limiter(Protocol):
    """Rate-limit slots (see :class:`polyroute.state.RateLimits`)."""

    def take(self, endpoint_key: str, now: float) -> float | None:
        """Count one request; or the seconds until a slot frees (nothing taken)."""
        ...

    async def atake(self, endpoint_key: str, now: float) -> float | None:
        """:meth:`take`, without blocking the event loop."""
        ...

    def checks(self, endpoint_key: str) -> tuple[object, ...]:
        """The limits an attempt at ``endpoint_key`` counts against (empty: none)."""
        ...


class RateRefusal:
    """An endpoint at its rate limit: skipped, and free again in ``wait`` seconds."""

    __slots__ = ("wait",)

    def __init__(self, wait: float) -> None:
        self.wait = wait

    def __str__(self) -> str:
        return f"rate limit reached: a request slot frees in {self.wait:.2f} s"


def _unreachable(exc: BaseException) -> BudgetExceeded:
    log.error("polyroute budget store failed (%s: %s); nothing was sent", type(exc).__name__, exc)
    return BudgetExceeded(f"the budget store could not be reached ({type(exc).__name__}); nothing was sent")


class Gate:
    """The rate limits and budgets one call is subject to."""

    __slots__ = ("budget", "clock", "limits")

    def __init__(self, budget: CallBudget | None, limits: Limiter | None, clock: Clock) -> None:
        self.budget = budget
        self.limits = limits
        self.clock = clock

    def reserve(self, endpoint: Endpoint) -> Reservation | BudgetExceeded | RateRefusal | None:
        """Take a rate-limit slot, then reserve the attempt's worst case."""
        limits = self.limits
        if limits is not None and limits.checks(endpoint.key):
            wait = limits.take(endpoint.key, self.clock.monotonic())
            if wait is not None:
                return RateRefusal(wait)
        if self.budget is None:
            return None
        try:
            return self.budget.reserve(endpoint)
        except Exception as exc:
            return _unreachable(exc)

    async def areserve(self, endpoint: Endpoint) -> Reservation | BudgetExceeded | RateRefusal | None:
        """:meth:`reserve` without blocking the event loop."""
        limits = self.limits
        if limits is not None and limits.checks(endpoint.key):
            wait = await limits.atake(endpoint.key, self.clock.monotonic())
            if wait is not None:
                return RateRefusal(wait)
        if self.budget is None:
            return None
        try:
            return await self.budget.areserve(endpoint)
        except Exception as exc:
            return _unreachable(exc)

    def settle(self, holds: Sequence[tuple[Reservation, Decimal | None]]) -> None:
        """Charge finished attempts' actual costs (``None``: unknown, charge the reservation)."""
        if self.budget is None:
            return
        for hold, actual in holds:
            try:
                self.budget.settle(hold, actual)
            except Exception:
                log.exception("polyroute budget store failed to settle a reservation (it will expire)")

    async def asettle(self, holds: Sequence[tuple[Reservation, Decimal | None]]) -> None:
        """:meth:`settle` without blocking the event loop."""
        if self.budget is None:
            return
        for hold, actual in holds:
            try:
                await self.budget.asettle(hold, actual)
            except Exception:
                log.exception("polyroute budget store failed to settle a reservation (it will expire)")
