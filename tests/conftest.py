"""Shared fixtures: a provider simulator, a fake clock, and a router factory over them."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import polyroute
from polyroute.testing import FakeClock, ProviderSimulator

PRICES = {"prompt": "1e-6", "completion": "2e-6"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as s:
        yield s


def endpoint(provider: str, model: str | None = None, **extra: Any) -> dict[str, Any]:
    """An endpoint config entry for a simulated provider."""
    return {"provider": provider, "model": model or f"{provider}-model", "pricing": dict(PRICES), **extra}


def config_for(
    sim: ProviderSimulator,
    models: dict[str, list[dict[str, Any]]],
    *,
    router: dict[str, Any] | None = None,
    fallbacks: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A config with every provider the endpoints name added to ``sim`` (if not already)."""
    names = {ep["provider"] for eps in models.values() for ep in eps}
    providers = {}
    for name in sorted(names):
        p = sim.ensure_provider(name)
        providers[name] = {"api": p.api, "base_url": p.base_url}
    return {
        "providers": providers,
        "models": {m: {"endpoints": eps, "fallbacks": (fallbacks or {}).get(m, [])} for m, eps in models.items()},
        "router": router or {},
    }


RouterFactory = Callable[..., polyroute.Router]


@pytest.fixture
def make_router(sim: ProviderSimulator, clock: FakeClock) -> Iterator[RouterFactory]:
    """Build routers over ``sim`` with the fake clock and a seeded RNG; closes them afterwards.

    Endpoints are tried in configured order (``provider.sort: ordered``) unless the test's
    ``router`` settings give their own ``provider`` preferences: these tests are about
    failover, and the default strategy (price-weighted load balancing) is tested on its own.
    """
    made: list[polyroute.Router] = []

    def factory(
        models: dict[str, list[dict[str, Any]]],
        *,
        router: dict[str, Any] | None = None,
        fallbacks: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> polyroute.Router:
        settings = dict(router or {})
        settings.setdefault("provider", {"sort": "ordered"})
        cfg = config_for(sim, models, router=settings, fallbacks=fallbacks)
        r = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(1234), **kwargs)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


USER = [{"role": "user", "content": "hello there"}]


# -- PostgreSQL (ledger and budget tests) ------------------------------------------------------

POSTGRES_URL_ENV = "POLYROUTE_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL; skips the test, saying why, when none is configured."""
    import os

    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(
            f"no PostgreSQL configured: set {POSTGRES_URL_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    return url


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema for one test (parallel runs never collide), dropped afterwards."""
    import psycopg

    schema = f"polyroute_test_{random.SystemRandom().getrandbits(48):012x}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
