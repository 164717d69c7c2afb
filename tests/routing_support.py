"""Helpers for the routing tests: a simulator paced by the router's fake clock, priced endpoints."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polyroute
from polyroute.testing import FakeClock, ProviderSimulator

USER = [{"role": "user", "content": "hello there"}]


def ep(provider: str, price: float = 1.0, **extra: Any) -> dict[str, Any]:
    """An endpoint config entry priced at ``price`` USD per million tokens (prompt and completion)."""
    per_token = f"{price}e-6"
    return {
        "provider": provider,
        "model": f"{provider}-model",
        "pricing": {"prompt": per_token, "completion": per_token},
        **extra,
    }


def config(
    sim: ProviderSimulator,
    models: dict[str, list[dict[str, Any]]],
    *,
    router: dict[str, Any] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A router config over ``sim``, adding the providers the endpoints name."""
    names = sorted({e["provider"] for eps in models.values() for e in eps})
    providers = {}
    for name in names:
        p = sim.ensure_provider(name)
        providers[name] = {"base_url": p.base_url}
    return {
        "providers": providers,
        "models": {m: {"endpoints": eps, **(model_options or {}).get(m, {})} for m, eps in models.items()},
        "router": {"retry": {"max_retries": 0}, **(router or {})},
    }


@contextmanager
def routed(
    models: dict[str, list[dict[str, Any]]],
    *,
    router: dict[str, Any] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    seed: int = 7,
    **kwargs: Any,
) -> Iterator[tuple[polyroute.Router, ProviderSimulator, FakeClock]]:
    """A router and a simulator sharing one fake clock: simulated latencies are exact, nothing sleeps."""
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        cfg = config(sim, models, router=router, model_options=model_options)
        with polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(seed), **kwargs) as router_:
            yield router_, sim, clock


def order(plan: polyroute.Plan) -> list[str]:
    """The providers of a plan's candidates, in order."""
    return [c.endpoint.provider for c in plan.candidates]


def excluded(plan: polyroute.Plan) -> dict[str, str]:
    """Excluded providers and their reasons."""
    return {e.endpoint.provider: e.reason for e in plan.excluded}
