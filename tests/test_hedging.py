"""Hedged requests (async): a slow first attempt is raced against the next candidate.

The simulator's ``Hang`` stands for an attempt slower than any hedge delay; the router's fake
clock makes the hedge delay pass at once, so nothing here waits for real.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from tests.routing_support import USER, config, ep, routed

import polyroute
from polyroute import errors
from polyroute.testing import ErrorReply, FakeClock, Hang, ProviderSimulator, Reply

ORDERED = {"provider": {"sort": "ordered"}}


def _attempts(route: object) -> list[tuple[str, str, str | None]]:
    return [(a.provider, a.outcome, a.error) for a in route.attempts]  # type: ignore[attr-defined]


def test_hedging_returns_the_faster_answer_and_records_both_attempts() -> None:
    async def run() -> None:
        with routed({"m": [ep("a", 1.0), ep("b", 2.0)]}, router=ORDERED) as (router, sim, clock):
            sim.provider("a").set_default(Hang())
            sim.provider("b").set_default(Reply(text="from b"))
            resp = await router.acompletion(model="m", messages=USER, hedge=0.5)
            assert resp.choices[0].message.content == "from b"
            route = resp.route
            assert _attempts(route) == [("a", "error", "Cancelled"), ("b", "success", None)]
            lost = route.attempts[0]
            assert lost.message == "hedged: b answered first"
            # the loser is billed its estimated prompt (a provider may bill what it read)
            assert lost.cost == Decimal(router.plan("m", USER).prompt_tokens) * Decimal("1e-6")
            assert route.cost == lost.cost + route.attempts[1].cost
            assert clock.sleeps == [0.5]
            stats = router.stats()
            assert stats["a/a-model"].windows["5m"].cancelled == 1
            assert stats["a/a-model"].windows["5m"].failures == 0  # losing a race is not a failure
            assert stats["a/a-model"].in_flight == 0 and stats["b/b-model"].in_flight == 0
            await router.aclose()

    asyncio.run(run())


def test_the_first_attempt_wins_when_it_answers_first() -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router=ORDERED) as (router, sim, _):
            sim.provider("b").set_default(Hang())
            resp = await router.acompletion(model="m", messages=USER, hedge=0.5)
            assert resp.route.provider == "a"
            assert _attempts(resp.route) == [("b", "error", "Cancelled"), ("a", "success", None)]
            await router.aclose()

    asyncio.run(run())


def test_hedged_streams_keep_the_first_to_produce_content() -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router=ORDERED) as (router, sim, _):
            sim.provider("a").set_default(Hang())
            sim.provider("b").set_default(Reply(text="streamed from b", chunk_size=4))
            stream = await router.acompletion(model="m", messages=USER, stream=True, hedge=0.2)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == "streamed from b"
            assert _attempts(stream.route) == [("a", "error", "Cancelled"), ("b", "success", None)]
            assert router.stats()["a/a-model"].in_flight == 0
            await router.aclose()

    asyncio.run(run())


def test_when_both_racers_fail_the_call_moves_on() -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b"), ep("c")]}, router={**ORDERED, "retry": {"max_retries": 2}}) as (
            router,
            sim,
            _,
        ):
            sim.provider("a").set_default(ErrorReply(502))
            sim.provider("b").set_default(ErrorReply(503))
            resp = await router.acompletion(model="m", messages=USER, hedge=0.1)
            assert resp.route.provider == "c"
            # while two attempts run, neither is retried
            assert sorted((a.provider, a.error) for a in resp.route.attempts) == [
                ("a", "ServerError"),
                ("b", "ServerError"),
                ("c", None),
            ]
            await router.aclose()

    asyncio.run(run())


class GatedClock(FakeClock):
    """A fake clock whose async waits (the hedge timer) last until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def asleep(self, seconds: float) -> None:
        await self.gate.wait()


def test_a_failure_before_the_hedge_delay_is_retried_as_usual() -> None:
    async def run() -> None:
        clock = GatedClock()
        with ProviderSimulator(clock=clock) as sim:
            cfg = config(
                sim, {"m": [ep("a"), ep("b")]}, router={**ORDERED, "retry": {"max_retries": 1, "base_delay": 0}}
            )
            async with polyroute.Router.from_config(cfg, clock=clock) as router:
                sim.provider("a").enqueue(ErrorReply(503))
                resp = await router.acompletion(model="m", messages=USER, hedge=60)
                assert [(a.provider, a.retry, a.outcome) for a in resp.route.attempts] == [
                    ("a", 0, "error"),
                    ("a", 1, "success"),
                ]
                assert sim.provider("b").requests == []

    asyncio.run(run())


def test_hedging_is_configured_per_router_and_turned_off_per_call() -> None:
    async def run() -> None:
        settings = {**ORDERED, "routing": {"hedge": {"delay": 0.3}}}
        with routed({"m": [ep("a"), ep("b")]}, router=settings) as (router, sim, clock):
            sim.provider("b").set_default(Hang())
            resp = await router.acompletion(model="m", messages=USER)
            assert len(resp.route.attempts) == 2 and clock.sleeps == [0.3]
            resp = await router.acompletion(model="m", messages=USER, hedge=False)
            assert len(resp.route.attempts) == 1 and clock.sleeps == [0.3]
            await router.aclose()

    asyncio.run(run())


def test_percentile_delay_follows_observed_time_to_first_token() -> None:
    async def run() -> None:
        settings = {**ORDERED, "routing": {"hedge": {"delay": "p95", "default_delay": 4.0, "min_samples": 5}}}
        with routed({"m": [ep("a"), ep("b")]}, router=settings) as (router, sim, clock):
            sim.provider("a").set_default(Reply(latency=0.8))
            sim.provider("b").set_default(Hang())
            await router.acompletion(model="m", messages=USER)  # too few samples: the default delay
            assert clock.sleeps == [4.0]
            for _ in range(20):  # (the hedged call's own sample includes the 4 s the hedge advanced the clock)
                await router.acompletion(model="m", messages=USER, hedge=False)
            clock.sleeps.clear()
            await router.acompletion(model="m", messages=USER)
            assert clock.sleeps == [pytest.approx(0.8, rel=0.06)]
            await router.aclose()

    asyncio.run(run())


def test_only_the_first_attempt_is_hedged_and_only_with_a_next_candidate() -> None:
    async def run() -> None:
        with routed({"m": [ep("a")]}, router=ORDERED) as (router, _, clock):
            resp = await router.acompletion(model="m", messages=USER, hedge=0.1)
            assert len(resp.route.attempts) == 1 and clock.sleeps == []
            await router.aclose()

    asyncio.run(run())


def test_sync_calls_refuse_hedge_and_bad_values_are_rejected() -> None:
    with routed({"m": [ep("a"), ep("b")]}) as (router, sim, _):
        with pytest.raises(errors.InvalidRequest) as info:
            router.completion(model="m", messages=USER, hedge=True)
        assert info.value.param == "hedge" and "acompletion" in str(info.value)
        with pytest.raises(errors.InvalidRequest) as info:
            router.completion(model="m", messages=USER, hedge="p42")
        assert info.value.param == "hedge"
        router.completion(model="m", messages=USER, hedge=False)
    assert len(sim.provider("a").requests) + len(sim.provider("b").requests) == 1


def test_a_caller_cancelling_a_hedged_call_cancels_both_attempts() -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router=ORDERED) as (router, sim, _):
            for name in ("a", "b"):
                sim.provider(name).set_default(Hang())
            task = asyncio.ensure_future(router.acompletion(model="m", messages=USER, hedge=0.1))
            for _ in range(1000):
                if sum(s.in_flight for s in router.stats().values()) == 2:
                    break
                await asyncio.sleep(0)
            assert sum(s.in_flight for s in router.stats().values()) == 2
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stats = router.stats()
            assert [stats[k].in_flight for k in ("a/a-model", "b/b-model")] == [0, 0]
            assert [stats[k].windows["5m"].cancelled for k in ("a/a-model", "b/b-model")] == [1, 1]
            await router.aclose()

    asyncio.run(run())


def test_both_racers_are_charged_to_budgets() -> None:
    async def run() -> None:
        budget = [{"scope": "user", "match": "*", "limit_usd": "1", "period": "day"}]
        clock = FakeClock()
        with ProviderSimulator(clock=clock) as sim:
            cfg = config(sim, {"m": [ep("a", 1.0), ep("b", 2.0)]}, router=ORDERED)
            cfg["budgets"] = budget
            async with polyroute.Router.from_config(cfg, clock=clock) as router:
                sim.provider("a").set_default(Hang())
                resp = await router.acompletion(model="m", messages=USER, user="ann", hedge=0.5)
                guard = router.budgets
                assert guard is not None
                spent, reserved = guard.spent(guard.rules[0], "ann")
                assert spent == resp.route.cost and reserved == 0
                assert resp.route.cost == sum(a.cost for a in resp.route.attempts)

    asyncio.run(run())
