"""Routing strategies, fed by the live statistics, against the simulator on a shared fake clock."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from tests.routing_support import USER, ep, order, routed

import polyroute
from polyroute import errors
from polyroute.testing import ErrorReply, Hang, Reply

THREE = {"m": [ep("a", 1.0), ep("b", 2.0), ep("c", 3.0)]}


def test_default_draws_the_first_endpoint_by_inverse_square_of_price() -> None:
    with routed(THREE) as (router, _, _):
        plans = [router.plan("m", USER) for _ in range(4000)]
    firsts = Counter(p.candidates[0].endpoint.provider for p in plans)
    # weights 1, 1/4, 1/9 -> 36/49, 9/49, 4/49
    assert firsts["a"] / 4000 == pytest.approx(36 / 49, abs=0.03)
    assert firsts["b"] / 4000 == pytest.approx(9 / 49, abs=0.03)
    assert firsts["c"] / 4000 == pytest.approx(4 / 49, abs=0.03)
    # the rest follow, cheapest first
    assert {tuple(order(p)) for p in plans} == {("a", "b", "c"), ("b", "a", "c"), ("c", "a", "b")}
    assert "inverse-square" in plans[0].candidates[0].reason


def test_default_moves_an_endpoint_with_a_recent_outage_behind_stable_ones_for_30s() -> None:
    with routed(THREE, seed=1) as (router, sim, clock):
        sim.provider("a").enqueue(ErrorReply(503))
        resp = router.completion(model="m", messages=USER, provider={"order": ["a"]})
        assert [x.outcome for x in resp.route.attempts] == ["error", "success"]
        for _ in range(20):
            plan = router.plan("m", USER)
            assert order(plan)[-1] == "a"
            assert plan.candidates[-1].reason.startswith("recent outage (failed 0 s ago)")
        clock.advance(31)
        assert Counter(router.plan("m", USER).candidates[0].endpoint.provider for _ in range(50))["a"] > 25


def test_a_success_ends_the_outage_at_once() -> None:
    with routed(THREE) as (router, sim, _):
        sim.provider("a").enqueue(ErrorReply(503))
        router.completion(model="m", messages=USER, provider={"order": ["a"]})
        router.completion(model="m", messages=USER, provider={"order": ["a"]})  # a succeeds
        assert all(not c.reason.startswith("recent outage") for c in router.plan("m", USER).candidates)


def test_a_failing_endpoint_drops_to_the_end_of_the_plan_and_returns_after_its_cooldown() -> None:
    settings = {"provider": {"sort": "price"}, "breaker": {"failure_threshold": 2, "cooldown": 30}}
    with routed(THREE, router=settings) as (router, sim, clock):
        sim.provider("a").set_default(ErrorReply(503))
        for _ in range(2):
            assert router.completion(model="m", messages=USER).route.provider == "b"
        plan = router.plan("m", USER)
        assert order(plan) == ["b", "c", "a"]
        assert plan.candidates[-1].reason == "circuit open: moved to the end"
        resp = router.completion(model="m", messages=USER)
        assert [x.provider for x in resp.route.attempts] == ["b"]
        assert len(sim.provider("a").requests) == 2
        clock.advance(31)
        assert order(router.plan("m", USER)) == ["a", "b", "c"]
        sim.provider("a").set_default(Reply())
        assert router.completion(model="m", messages=USER).route.provider == "a"
        assert router.stats()["a/a-model"].breaker == "closed"


def test_latency_an_endpoint_the_simulator_makes_slow_loses_traffic() -> None:
    with routed({"m": [ep("a"), ep("b")]}, router={"provider": {"sort": "latency"}}) as (router, sim, _):
        sim.provider("a").set_default(Reply(latency=0.1))
        sim.provider("b").set_default(Reply(latency=0.3))
        served = [router.completion(model="m", messages=USER).route.provider for _ in range(10)]
        # each unmeasured endpoint is tried once, then the faster one takes the traffic
        assert served == ["a", "b"] + ["a"] * 8
        sim.provider("a").set_default(Reply(latency=2.0))
        served = [router.completion(model="m", messages=USER).route.provider for _ in range(10)]
    assert served == ["a"] + ["b"] * 9  # one slow answer is enough
    plan_reason = "recent TTFT"
    assert plan_reason in router.plan("m", USER).candidates[0].reason


def test_latency_puts_endpoints_with_only_failures_last() -> None:
    settings = {"provider": {"sort": "latency"}, "breaker": {"failure_threshold": 10}}
    with routed(THREE, router=settings) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(503))
        served = [router.completion(model="m", messages=USER).route.provider for _ in range(4)]
        assert served == ["b", "c", "b", "b"]
        assert order(router.plan("m", USER))[-1] == "a"


def test_throughput_prefers_the_endpoint_generating_faster() -> None:
    with routed({"m": [ep("a"), ep("b")]}) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="short", latency=0.2))  # 1 token in 0.2 s
        sim.provider("b").set_default(Reply(text="token " * 200, latency=0.5))  # 300 tokens in 0.5 s
        served = [router.completion(model="m:nitro", messages=USER).route.provider for _ in range(4)]
        assert served == ["a", "b", "b", "b"]
        stats = router.stats()
        fast, slow = stats["b/b-model"].windows["5m"].throughput, stats["a/a-model"].windows["5m"].throughput
        assert fast is not None and slow is not None
        assert fast.p50 == pytest.approx(600, rel=0.01) and slow.p50 == pytest.approx(5, rel=0.01)
        # time to first token alone would have chosen a
        assert order(router.plan("m", USER, provider={"sort": "latency"})) == ["a", "b"]


def test_price_breaks_ties_by_latency() -> None:
    with routed({"m": [ep("a", 1.0), ep("b", 1.0), ep("c", 0.5)]}, router={"provider": {"sort": "price"}}) as (
        router,
        sim,
        _,
    ):
        sim.provider("a").set_default(Reply(latency=1.0))
        sim.provider("b").set_default(Reply(latency=0.2))
        for name in ("a", "b"):
            router.completion(model="m", messages=USER, provider={"only": [name]})
        assert order(router.plan("m", USER)) == ["c", "b", "a"]


def test_least_busy_counts_requests_in_flight() -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router={"provider": {"sort": "least_busy"}}) as (router, sim, _):
            sim.provider("a").set_default(Hang())
            hung = [asyncio.ensure_future(router.acompletion(model="m", messages=USER, provider={"only": ["a"]}))
                    for _ in range(3)]  # fmt: skip
            for _ in range(1000):
                if router.stats()["a/a-model"].in_flight == 3:
                    break
                await asyncio.sleep(0)
            assert router.stats()["a/a-model"].in_flight == 3
            plan = router.plan("m", USER)
            assert order(plan) == ["b", "a"] and plan.candidates[1].reason == "least_busy: 3 in flight"
            for task in hung:
                task.cancel()
            results = await asyncio.gather(*hung, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            assert router.stats()["a/a-model"].in_flight == 0
            assert order(router.plan("m", USER)) == ["a", "b"]
            await router.aclose()

    asyncio.run(run())


def test_weighted_follows_configured_weights() -> None:
    models = {"m": [ep("a", weight=3), ep("b", weight=1), ep("c", weight=0)]}
    with routed(models, router={"provider": {"sort": "weighted"}}) as (router, _, _):
        firsts = Counter(router.plan("m", USER).candidates[0].endpoint.provider for _ in range(4000))
    assert firsts["a"] / 4000 == pytest.approx(0.75, abs=0.03)
    assert firsts["c"] == 0


class CheapestPromptFirst:
    """A custom strategy: by prompt price only, leaving out the most expensive (it is appended)."""

    def rank(self, options: Sequence[polyroute.Option], rng: random.Random) -> list[tuple[polyroute.Option, str]]:
        ranked = sorted(options, key=lambda o: o.endpoint.pricing.prompt or 0)
        return [(o, "cheapest prompt") for o in ranked[:-1]]


def test_custom_strategies_are_registered_on_the_router() -> None:
    assert isinstance(CheapestPromptFirst(), polyroute.Strategy)
    models = {"m": [ep("c", 3.0), ep("a", 1.0), ep("b", 2.0)]}
    with routed(models, strategies={"prompt-price": CheapestPromptFirst()}) as (router, _, _):
        plan = router.plan("m", USER, provider={"sort": "prompt-price"})
        assert order(plan) == ["a", "b", "c"]
        assert plan.candidates[0].reason == "prompt-price: cheapest prompt"
        assert "configured order" in plan.candidates[2].reason
        assert "prompt-price" in router.strategies
        with pytest.raises(errors.InvalidRequest) as info:
            router.completion(model="m", messages=USER, provider={"sort": "nope"})
    assert info.value.param == "provider.sort" and "prompt-price" in str(info.value)


def test_a_config_may_name_a_registered_strategy() -> None:
    with routed(THREE, router={"provider": {"sort": "mine"}}, strategies={"mine": CheapestPromptFirst()}) as (
        router,
        _,
        _,
    ):
        assert router.completion(model="m", messages=USER).route.provider == "a"
