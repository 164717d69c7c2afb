"""Budgets: spending limits per user, key, tag or project, per day, week, month or in total.

Checked before every attempt by reserving its worst case, reconciled after; a call that no
endpoint can serve within budget raises :class:`~polyroute.errors.BudgetExceeded` and nothing is
sent. Counters live in the ledger's database (SQLite or PostgreSQL) when there is a ledger,
else in memory. See ``docs/budgets.md``.
"""

from __future__ import annotations

from polyroute.accounting._settings import BudgetRule
from polyroute.budgets._estimate import estimate_prompt_tokens, output_bound, worst_case_cost
from polyroute.budgets._guard import BudgetGuard, CallBudget, Reservation, window
from polyroute.budgets._postgres import PostgresBudgetStore
from polyroute.budgets._sqlite import SQLiteBudgetStore
from polyroute.budgets._store import BudgetStore, Charge, MemoryBudgetStore, Refusal

__all__ = [
    "BudgetGuard",
    "BudgetRule",
    "BudgetStore",
    "CallBudget",
    "Charge",
    "MemoryBudgetStore",
    "PostgresBudgetStore",
    "Refusal",
    "Reservation",
    "SQLiteBudgetStore",
    "estimate_prompt_tokens",
    "output_bound",
    "window",
    "worst_case_cost",
]
