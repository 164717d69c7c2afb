"""Wiring the ledger and budgets into a router, from its settings or from objects given to it.

Budget counters live in the state backend when it has a store of its own (Redis: shared by
every process, no database round trip); else next to the ledger rows: in the SQLite file or
PostgreSQL database of the ledger when the router has one, so they survive restarts and are
shared by every process using that database; without a ledger, in this process's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute.catalog._catalog import RouterSettings

if TYPE_CHECKING:
    from polyroute.budgets import BudgetGuard, BudgetStore, CallBudget
    from polyroute.ledger import Ledger, LedgerObserver

__all__ = ["Accounts"]


def _store_for(ledger: Ledger | None) -> BudgetStore:
    from polyroute.budgets import MemoryBudgetStore
    from polyroute.ledger import PostgresLedger, SQLiteLedger

    if isinstance(ledger, (SQLiteLedger, PostgresLedger)):
        return ledger.budget_store()
    return MemoryBudgetStore()


class Accounts:
    """A router's ledger (and the observer feeding it) and budget guard, and who closes them."""

    __slots__ = ("_own_guard", "_owns_ledger", "guard", "ledger", "observer")

    def __init__(
        self,
        settings: RouterSettings,
        clock: Clock,
        *,
        ledger: Ledger | None = None,
        budgets: BudgetGuard | None = None,
        store: Callable[[Callable[[], BudgetStore]], BudgetStore] | None = None,
    ) -> None:
        self._owns_ledger = ledger is None and settings.ledger is not None
        if self._owns_ledger:
            from polyroute.ledger import open_ledger

            assert settings.ledger is not None
            ledger = open_ledger(settings.ledger)
        self.ledger = ledger
        self.observer: LedgerObserver | None = None
        if ledger is not None:
            from polyroute.ledger import LedgerObserver

            self.observer = LedgerObserver(ledger)
        #: the guard opened from the configuration (closed by :meth:`close`, even once replaced)
        self._own_guard: BudgetGuard | None = None
        if budgets is None and settings.budgets:
            from polyroute.budgets import BudgetGuard

            own = ledger

            def default() -> BudgetStore:
                return _store_for(own)

            counters = store(default) if store is not None else default()
            budgets = self._own_guard = BudgetGuard(settings.budgets, counters, clock=clock, costs=settings.costs)
        #: the guard checked before every attempt (``None``: no budgets)
        self.guard = budgets

    def start(self, request: ChatRequest) -> CallBudget | None:
        """The budgets of one call, or ``None`` when none applies."""
        return self.guard.start(request) if self.guard is not None else None

    def close(self) -> None:
        """Flush the ledger; close what this router opened."""
        if self._own_guard is not None:
            self._own_guard.close()
        if self.ledger is not None:
            if self._owns_ledger:
                self.ledger.close()
            else:
                self.ledger.flush()
