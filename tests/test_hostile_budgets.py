"""Budgets: an attempt that could not even be encoded (nothing was sent) is not charged."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

import polyroute
from polyroute import errors
from polyroute.adapters import OpenAIAdapter, register_adapter
from polyroute.catalog._catalog import Catalog
from polyroute.testing import ProviderSimulator


class _Unencodable(OpenAIAdapter):
    def build_request(self, provider: Any, endpoint: Any, request: Any) -> Any:
        raise TypeError("this adapter cannot encode anything")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_an_attempt_that_was_never_sent_is_not_charged(
    asynchronous: bool, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    register_adapter("broken-test", _Unencodable)
    base = make_router({"m": [endpoint("a")]}).catalog
    rule = polyroute.BudgetRule(scope="user", match="*", limit_usd=Decimal("1"), period="total")
    catalog = Catalog(
        [dataclasses.replace(p, api="broken-test") for p in base.providers.values()],
        list(base.models.values()),
        dataclasses.replace(base.settings, budgets=(rule,)),
    )
    with polyroute.Router(catalog) as router:
        with pytest.raises(errors.BadRequest) as info:
            if asynchronous:
                import asyncio

                asyncio.run(router.acompletion("m", USER, user="u1", max_tokens=10))
            else:
                router.completion("m", USER, user="u1", max_tokens=10)
        (attempt,) = info.value.attempts
        assert (attempt.error, attempt.cost) == ("BadRequest", Decimal(0))
        guard = router.budgets
        assert guard is not None
        assert guard.spent(rule, "u1") == (Decimal(0), Decimal(0))
    assert sim.provider("a").requests == []


def test_an_in_memory_reservation_lives_until_settled_however_long_the_call() -> None:
    from polyroute.budgets._store import Charge, MemoryBudgetStore

    store = MemoryBudgetStore()
    charge = (Charge("user|u1|total", Decimal("1.00")),)
    assert store.reserve("h1", charge, Decimal("0.80"), now=0.0, expires_at=1.0) is None
    # long past hold_seconds, the call is still running: its reservation still counts
    refusal = store.reserve("h2", charge, Decimal("0.50"), now=3600.0, expires_at=3601.0)
    assert refusal is not None
    store.settle("h1", charge, Decimal("0.10"))
    assert store.reserve("h2", charge, Decimal("0.50"), now=3600.0, expires_at=3601.0) is None
