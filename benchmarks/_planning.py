"""Planning cost against catalog size: ``Router.plan()`` for one model served by n endpoints."""

from __future__ import annotations

import itertools
import math
import time
from decimal import Decimal
from typing import Any

__all__ = ["STRATEGY_PREFS", "growth_check", "plan_cost", "strategy_cost"]


def _router(n: int) -> Any:
    import polyroute

    providers = [
        polyroute.ProviderSpec(name=f"p{i}", base_url=f"http://127.0.0.1:9/p{i}/v1") for i in range(min(n, 100))
    ]
    endpoints = tuple(
        polyroute.Endpoint(
            provider=f"p{i % len(providers)}",
            model=f"model-{i}",
            pricing=polyroute.Pricing(prompt=Decimal(i % 97 + 1) / 10**7, completion=Decimal(i % 89 + 1) / 10**6),
            context_length=8192 * (1 + i % 16),
        )
        for i in range(n)
    )
    catalog = polyroute.Catalog(providers, [polyroute.ModelSpec("big", endpoints)])
    return polyroute.Router(catalog)


def plan_cost(sizes: list[int], *, min_time: float) -> list[dict[str, Any]]:
    """Microseconds per ``router.plan("big")`` for each catalog size (repeated for ``min_time`` seconds)."""
    out = []
    for n in sizes:
        router = _router(n)
        plan = router.plan("big")
        assert len(plan.candidates) == n
        calls = 0
        t0 = time.perf_counter()
        while True:
            router.plan("big")
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time and calls >= 3:
                break
        out.append({"n": n, "calls": calls, "us_per_plan": elapsed / calls * 1e6})
    return out


#: request-level preferences per strategy compared at a few catalog sizes
STRATEGY_PREFS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "sort: price": {"sort": "price"},
    "sort: latency": {"sort": "latency"},
    "sort: ordered": {"sort": "ordered"},
}


def strategy_cost(sizes: list[int], *, min_time: float) -> list[dict[str, Any]]:
    """Microseconds per ``router.plan("big", provider=...)`` for each strategy and catalog size."""
    out = []
    for n in sizes:
        router = _router(n)
        for label, prefs in STRATEGY_PREFS.items():
            params = {} if prefs is None else {"provider": prefs}
            assert len(router.plan("big", **params).candidates) == n
            calls = 0
            t0 = time.perf_counter()
            while True:
                router.plan("big", **params)
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time and calls >= 3:
                    break
            out.append({"n": n, "strategy": label, "us_per_plan": elapsed / calls * 1e6})
    return out


def growth_check(points: list[tuple[int, float]]) -> dict[str, Any]:
    """Whether cost grows no faster than n log n, from n = 100 up.

    The least-squares slope of log t against log n is compared with n log n's own slope over the
    same sizes (about 1.15 from 100 to 10,000), plus 0.05 for noise. The worst step between
    consecutive sizes, ``t(n2)/t(n1)`` over ``(n2 log n2)/(n1 log n1)``, is reported too.
    """
    big = [(n, t) for n, t in points if n >= 100]
    worst = 0.0
    for (n1, t1), (n2, t2) in itertools.pairwise(big):
        allowed = (n2 * math.log(n2)) / (n1 * math.log(n1))
        worst = max(worst, (t2 / t1) / allowed)
    xs = [math.log(n) for n, _ in big]
    ys = [math.log(t) for _, t in big]
    slope = float("nan")
    if len(xs) >= 2:
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    ref = [math.log(n * math.log(n)) for n, _ in big]
    ref_slope = float("nan")
    if len(xs) >= 2:
        mr = sum(ref) / len(ref)
        ref_slope = sum((x - mx) * (r - mr) for x, r in zip(xs, ref, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return {
        "loglog_slope": slope,
        "nlogn_slope": ref_slope,
        "worst_step_vs_nlogn": worst,
        "ok": slope <= ref_slope + 0.05,
    }
