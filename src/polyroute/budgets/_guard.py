"""Checking budgets before an attempt is sent, and charging them after.

Before each attempt the engine asks for a reservation of the worst case the attempt can cost at
that endpoint's prices (estimated prompt tokens plus the output bound, fee included) on every
counter the caller is charged to. If any would go over its limit the endpoint is skipped with
:class:`~polyroute.errors.BudgetExceeded`; when no endpoint fits, the call fails with it and
nothing was sent. After the attempt the reservation is settled at the actual cost (cost plus
platform fee), or released if the attempt cost nothing; an attempt whose cost is unknown is
charged its reservation.

Each has an async twin (:meth:`CallBudget.areserve`, :meth:`CallBudget.asettle`) for the async
engine: it awaits the store's own ``areserve`` / ``asettle`` when it has them (PostgreSQL with
psycopg's async API, Redis with ``redis.asyncio``, SQLite in a worker thread), else runs the
store's blocking method in a worker thread, so the event loop never waits on a database.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute.accounting._cost import count_images
from polyroute.accounting._settings import BudgetPeriod, BudgetRule, CostSettings, key_fingerprint
from polyroute.budgets._estimate import TokenEstimator, estimate_prompt_tokens, output_bound, worst_case_cost
from polyroute.budgets._store import BudgetStore, Charge, Refusal
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import BudgetExceeded

__all__ = ["BudgetGuard", "CallBudget", "Reservation", "window"]


def window(period: BudgetPeriod, t: float) -> str:
    """The UTC calendar period containing Unix time ``t``: ``2025-03-07``, ``2025-W10``, ``2025-03``, ``total``."""
    if period == "total":
        return "total"
    d = datetime.fromtimestamp(t, UTC)
    if period == "day":
        return d.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    return d.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Reservation:
    """An amount on hold on some counters, for one attempt."""

    hold_id: str
    charges: tuple[Charge, ...]
    amount: Decimal


class CallBudget:
    """The budgets that apply to one call, with its prompt estimate computed once."""

    __slots__ = ("_guard", "_images", "_prompt_tokens", "charges", "labels", "request")

    def __init__(self, guard: BudgetGuard, request: ChatRequest, charges: tuple[Charge, ...], labels: dict[str, str]):
        self._guard = guard
        self.request = request
        self.charges = charges
        self.labels = labels
        tools = request.params.get("tools")
        self._prompt_tokens = guard.estimator(request.messages, tools if isinstance(tools, list) else None)
        self._images = count_images(request.messages)

    def worst_case(self, endpoint: Endpoint) -> Decimal | None:
        """The most an attempt at ``endpoint`` can cost, fee included (``None``: no prices)."""
        g = self._guard
        output = output_bound(self.request, endpoint, g.costs.reserve_max_tokens)
        return worst_case_cost(
            endpoint.pricing,
            self._prompt_tokens,
            output,
            images=self._images,
            fee_percent=g.costs.platform_fee_percent,
        )

    def reserve(self, endpoint: Endpoint) -> Reservation | BudgetExceeded:
        """Hold the worst case of an attempt at ``endpoint``, or say which budget it would break."""
        amount = self.worst_case(endpoint)
        if amount is None:
            return self._unpriced(endpoint)
        g = self._guard
        now = g.clock.time()
        hold_id = secrets.token_hex(8)
        refusal = g.store.reserve(hold_id, self.charges, amount, now=now, expires_at=now + g.costs.hold_seconds)
        return self._outcome(endpoint, hold_id, amount, refusal)

    async def areserve(self, endpoint: Endpoint) -> Reservation | BudgetExceeded:
        """:meth:`reserve` without blocking the event loop."""
        amount = self.worst_case(endpoint)
        if amount is None:
            return self._unpriced(endpoint)
        g = self._guard
        now = g.clock.time()
        hold_id = secrets.token_hex(8)
        expires_at = now + g.costs.hold_seconds
        native = getattr(g.store, "areserve", None)
        if native is not None:
            refusal = await native(hold_id, self.charges, amount, now=now, expires_at=expires_at)
        else:
            refusal = await asyncio.to_thread(
                g.store.reserve, hold_id, self.charges, amount, now=now, expires_at=expires_at
            )
        return self._outcome(endpoint, hold_id, amount, refusal)

    def _unpriced(self, endpoint: Endpoint) -> BudgetExceeded:
        return BudgetExceeded(
            f"{endpoint.key} has no known prices, and a budget applies to this caller",
            scope=self.labels[self.charges[0].counter],
        )

    def _outcome(
        self, endpoint: Endpoint, hold_id: str, amount: Decimal, refusal: Refusal | None
    ) -> Reservation | BudgetExceeded:
        if refusal is None:
            return Reservation(hold_id, self.charges, amount)
        c = refusal.charge
        return BudgetExceeded(
            f"budget {self.labels[c.counter]} would be exceeded: ${refusal.spent} spent and ${refusal.held} reserved"
            f" of ${c.limit}; this call at {endpoint.key} may cost up to ${amount}",
            scope=self.labels[c.counter],
            limit=c.limit,
            spent=refusal.spent + refusal.held,
            requested=amount,
        )

    def settle(self, reservation: Reservation, actual: Decimal | None) -> None:
        """Charge the actual cost (the reservation when unknown) and release the hold."""
        amount = reservation.amount if actual is None else actual
        self._guard.store.settle(reservation.hold_id, reservation.charges, amount)

    async def asettle(self, reservation: Reservation, actual: Decimal | None) -> None:
        """:meth:`settle` without blocking the event loop."""
        amount = reservation.amount if actual is None else actual
        store = self._guard.store
        native = getattr(store, "asettle", None)
        if native is not None:
            await native(reservation.hold_id, reservation.charges, amount)
        else:
            await asyncio.to_thread(store.settle, reservation.hold_id, reservation.charges, amount)


class BudgetGuard:
    """Budget rules over a counter store. ``estimator`` estimates prompt tokens (swappable)."""

    __slots__ = ("clock", "costs", "estimator", "rules", "store")

    def __init__(
        self,
        rules: Sequence[BudgetRule],
        store: BudgetStore,
        *,
        clock: Clock,
        costs: CostSettings | None = None,
        estimator: TokenEstimator = estimate_prompt_tokens,
    ) -> None:
        self.rules = tuple(rules)
        self.store = store
        self.clock = clock
        self.costs = costs or CostSettings()
        self.estimator = estimator

    def start(self, request: ChatRequest) -> CallBudget | None:
        """The budgets that apply to ``request``'s caller, or ``None`` (nothing to check)."""
        caller = request.caller
        charges: list[Charge] = []
        labels: dict[str, str] = {}
        now: float | None = None
        for rule in self.rules:
            subjects = rule.subjects(caller.user, caller.key, caller.project, caller.tags)
            if not subjects:
                continue
            if now is None:
                now = self.clock.time()
            period = window(rule.period, now)
            for subject in subjects:
                if rule.scope == "key":
                    subject = key_fingerprint(subject)  # noqa: PLW2901 - keys never reach a database or an error
                counter = f"{rule.id}|{subject}|{period}"
                if counter not in labels:
                    charges.append(Charge(counter, rule.limit_usd))
                    labels[counter] = f"{rule.scope} {subject!r} ({rule.period} {period}, ${rule.limit_usd})"
        if not charges:
            return None
        return CallBudget(self, request, tuple(charges), labels)

    def spent(self, rule: BudgetRule, subject: str) -> tuple[Decimal, Decimal]:
        """``(spent, reserved)`` for ``subject`` under ``rule`` in the current period."""
        now = self.clock.time()
        if rule.scope == "key":
            subject = key_fingerprint(subject)
        return self.store.balance(f"{rule.id}|{subject}|{window(rule.period, now)}", now=now)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()
