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

A reservation lives until it is settled. A store shared between processes gives each hold an
expiry (``hold_seconds`` ahead) so that the holds of a process that died are freed; while a call
runs, its process renews the expiry of every hold it still has (a lease): before each new
reservation once half the lease has passed, and from a background thread every third of it. A
process that dies stops renewing, and its holds expire ``hold_seconds`` after the last renewal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import weakref
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

log = logging.getLogger("polyroute")

#: the renewing thread wakes at most this often (real seconds), however short ``hold_seconds``
_MIN_RENEW_INTERVAL = 0.1


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
        hold_id = secrets.token_hex(8)
        now = g.clock.time()
        if g._renews and g._hold(hold_id, self.charges, now):
            g.renew()
        try:
            refusal = g.store.reserve(hold_id, self.charges, amount, now=now, expires_at=now + g.costs.hold_seconds)
        except BaseException:
            g._release(hold_id)
            raise
        return self._outcome(endpoint, hold_id, amount, refusal)

    async def areserve(self, endpoint: Endpoint) -> Reservation | BudgetExceeded:
        """:meth:`reserve` without blocking the event loop."""
        amount = self.worst_case(endpoint)
        if amount is None:
            return self._unpriced(endpoint)
        g = self._guard
        hold_id = secrets.token_hex(8)
        now = g.clock.time()
        if g._renews and g._hold(hold_id, self.charges, now):
            await g.arenew()
        expires_at = now + g.costs.hold_seconds
        native = getattr(g.store, "areserve", None)
        try:
            if native is not None:
                refusal = await native(hold_id, self.charges, amount, now=now, expires_at=expires_at)
            else:
                refusal = await asyncio.to_thread(
                    g.store.reserve, hold_id, self.charges, amount, now=now, expires_at=expires_at
                )
        except BaseException:
            g._release(hold_id)
            raise
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
        self._guard._release(hold_id)
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
        g = self._guard
        try:
            g.store.settle(reservation.hold_id, reservation.charges, amount)
        finally:  # settled, or unreachable: no longer renewed either way (then it expires)
            g._release(reservation.hold_id)

    async def asettle(self, reservation: Reservation, actual: Decimal | None) -> None:
        """:meth:`settle` without blocking the event loop."""
        amount = reservation.amount if actual is None else actual
        g = self._guard
        store = g.store
        native = getattr(store, "asettle", None)
        try:
            if native is not None:
                await native(reservation.hold_id, reservation.charges, amount)
            else:
                await asyncio.to_thread(store.settle, reservation.hold_id, reservation.charges, amount)
        finally:
            g._release(reservation.hold_id)


class BudgetGuard:
    """Budget rules over a counter store. ``estimator`` estimates prompt tokens (swappable).

    When the store can ``renew`` holds (SQLite, PostgreSQL, Redis), the guard keeps the holds of
    this process's calls in flight alive until they are settled (see the module's docstring).
    """

    __slots__ = (
        "__weakref__",
        "_due",
        "_live",
        "_lock",
        "_renews",
        "_stop",
        "_thread",
        "clock",
        "costs",
        "estimator",
        "rules",
        "store",
    )

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
        #: holds of this process's calls in flight (hold id -> counters), renewed until settled
        self._live: dict[str, tuple[Charge, ...]] = {}
        #: clock time at which the live holds' leases are half gone (``inf``: none live)
        self._due = math.inf
        self._lock = threading.Lock()
        self._renews = callable(getattr(store, "renew", None))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- leases: holds live until settled ------------------------------------------------------

    def _hold(self, hold_id: str, charges: tuple[Charge, ...], now: float) -> bool:
        """Count ``hold_id`` as live (before it is written); ``True`` if a renewal is due first."""
        with self._lock:
            due = now >= self._due
            self._live[hold_id] = charges
            self._due = min(self._due, now + self.costs.hold_seconds / 2)
            if self._thread is None and not self._stop.is_set():
                _RENEWING.add(self)
                self._thread = threading.Thread(
                    target=_renew_forever,
                    args=(weakref.ref(self), self._stop, max(self.costs.hold_seconds / 3, _MIN_RENEW_INTERVAL)),
                    name="polyroute-budget-leases",
                    daemon=True,
                )
                self._thread.start()
        return due

    def _release(self, hold_id: str) -> None:
        if not self._renews:
            return
        with self._lock:
            self._live.pop(hold_id, None)
            if not self._live:
                self._due = math.inf

    def _renewal(self) -> tuple[list[tuple[str, tuple[Charge, ...]]], float] | None:
        """The live holds and their new expiry, with the next renewal scheduled; ``None``: none live."""
        now = self.clock.time()
        with self._lock:
            if not self._live:
                return None
            self._due = now + self.costs.hold_seconds / 2
            return list(self._live.items()), now + self.costs.hold_seconds

    def renew(self) -> None:
        """Extend the expiry of every hold of this process's calls in flight to ``hold_seconds``
        from now. Runs on its own when needed; a failure is logged (the holds may then expire)."""
        renewal = self._renewal()
        if renewal is None:
            return
        try:
            self.store.renew(renewal[0], expires_at=renewal[1])  # type: ignore[attr-defined]
        except Exception:
            log.warning("polyroute budget store failed to renew %d reservation(s)", len(renewal[0]), exc_info=True)

    async def arenew(self) -> None:
        """:meth:`renew` without blocking the event loop."""
        renewal = self._renewal()
        if renewal is None:
            return
        try:
            native = getattr(self.store, "arenew", None)
            if native is not None:
                await native(renewal[0], expires_at=renewal[1])
            else:
                await asyncio.to_thread(self.store.renew, renewal[0], expires_at=renewal[1])  # type: ignore[attr-defined]
        except Exception:
            log.warning("polyroute budget store failed to renew %d reservation(s)", len(renewal[0]), exc_info=True)

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
        """``(spent, reserved)`` for ``subject`` under ``rule`` in the current period (the holds of
        this process's calls in flight renewed first, when due)."""
        now = self.clock.time()
        if now >= self._due:
            self.renew()
        if rule.scope == "key":
            subject = key_fingerprint(subject)
        return self.store.balance(f"{rule.id}|{subject}|{window(rule.period, now)}", now=now)

    def close(self) -> None:
        """Stop renewing holds and release the store's connections."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.store.close()


#: guards whose renewing thread was started (a forked child starts its own)
_RENEWING: weakref.WeakSet[BudgetGuard] = weakref.WeakSet()


def _forked() -> None:
    """In a child process: its parent's calls and renewing threads are not its own."""
    for guard in list(_RENEWING):
        guard._lock = threading.Lock()
        guard._live.clear()
        guard._due = math.inf
        guard._thread = None
        # a new stop event too: the parent's thread may have held its lock (entering or leaving a
        # wait) at the fork, and a lock held by a thread that does not exist here is never released
        stopped = guard._stop.is_set()
        guard._stop = threading.Event()
        if stopped:
            guard._stop.set()
    _RENEWING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _renew_forever(ref: weakref.ref[BudgetGuard], stop: threading.Event, interval: float) -> None:
    """The renewing thread: every ``interval`` real seconds, renew the live holds of the guard
    ``ref`` (so that another process never frees them), until it is closed or collected."""
    while not stop.wait(interval):
        guard = ref()
        if guard is None:
            return
        if guard._live:
            guard.renew()
        del guard
