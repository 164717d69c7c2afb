"""Budget counters: what each (rule, subject, period) has spent and has on hold.

A reservation puts the same amount on hold on every counter a call is charged to, atomically,
and only if none would go over its limit (``spent + held + amount <= limit``); settling it
removes the hold and adds the actual cost to ``spent``. A hold lives until it is settled: the
stores shared between processes give it an expiry (so that a process that died mid-call does not
pin the budget forever), which the :class:`~polyroute.budgets.BudgetGuard` of the process holding
it renews while its call runs. Four stores: in memory (one process), SQLite (the
ledger's file: processes on one machine), PostgreSQL (many machines) and Redis (many machines,
no database round trip: :class:`polyroute.state.RedisBudgetStore`).

A store may also define ``async def areserve(...)`` and ``async def asettle(...)`` with the same
arguments: the async engine awaits them instead of running ``reserve`` / ``settle`` in a worker
thread.

A store whose holds expire defines ``renew(holds, *, expires_at)`` (and may define ``async def
arenew`` with the same arguments): move the expiry of each ``(hold_id, charges)`` in ``holds``
that still exists to ``expires_at`` (never earlier than it was). The guard calls it for the holds
of its calls in flight. A store without ``renew`` must keep holds until they are settled, as
:class:`MemoryBudgetStore` does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

__all__ = ["BudgetStore", "Charge", "MemoryBudgetStore", "Refusal"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Charge:
    """One counter a call is charged to, with its limit. ``counter`` is ``rule|subject|window``."""

    counter: str
    limit: Decimal


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reservation that would overspend ``charge``: what it had spent and held at the time."""

    charge: Charge
    spent: Decimal
    held: Decimal


@runtime_checkable
class BudgetStore(Protocol):
    """Atomic reservations against budget counters; safe across the threads of a process."""

    def reserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """Hold ``amount`` on every counter in ``charges``, or on none and return why."""
        ...

    def settle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """Remove hold ``hold_id`` and add ``amount`` (the actual cost; zero to release) to ``spent``."""
        ...

    def balance(self, counter: str, *, now: float) -> tuple[Decimal, Decimal]:
        """``(spent, held)`` of ``counter`` (unexpired holds only)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class MemoryBudgetStore:
    """Counters in this process's memory: microseconds per reservation, gone at exit."""

    def __init__(self) -> None:
        self._spent: dict[str, Decimal] = {}
        self._holds: dict[str, dict[str, tuple[Decimal, float]]] = {}  # counter -> hold id -> (amount, expiry)
        self._lock = threading.Lock()

    def _held(self, counter: str, now: float) -> Decimal:
        holds = self._holds.get(counter)
        if not holds:
            return _ZERO
        expired = [h for h, (_, exp) in holds.items() if exp <= now]
        for h in expired:
            del holds[h]
        return sum((a for a, _ in holds.values()), _ZERO)

    def reserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        with self._lock:
            for c in charges:
                spent = self._spent.get(c.counter, _ZERO)
                held = self._held(c.counter, now)
                if spent + held + amount > c.limit:
                    return Refusal(c, spent, held)
            # a hold lives until it is settled: ``expires_at`` is for stores shared between
            # processes (it frees the holds of a process that died); this one dies with its process
            for c in charges:
                self._holds.setdefault(c.counter, {})[hold_id] = (amount, math.inf)
        return None

    def settle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        with self._lock:
            for c in charges:
                holds = self._holds.get(c.counter)
                if holds is not None:
                    holds.pop(hold_id, None)
                if amount:
                    self._spent[c.counter] = self._spent.get(c.counter, _ZERO) + amount

    async def areserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """:meth:`reserve` (microseconds in memory: no thread needed)."""
        return self.reserve(hold_id, charges, amount, now=now, expires_at=expires_at)

    async def asettle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """:meth:`settle` (microseconds in memory: no thread needed)."""
        self.settle(hold_id, charges, amount)

    def balance(self, counter: str, *, now: float) -> tuple[Decimal, Decimal]:
        with self._lock:
            return self._spent.get(counter, _ZERO), self._held(counter, now)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"MemoryBudgetStore(counters={len(self._spent)})"
