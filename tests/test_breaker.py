"""Circuit breakers: shared by calls, opened by repeated failures, probed half-open, never shortened."""

from __future__ import annotations

from tests.conftest import USER, RouterFactory, endpoint

from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply

SETTINGS = {"retry": {"max_retries": 0}, "breaker": {"failure_threshold": 2, "cooldown": 30}}


def test_repeated_failures_open_the_breaker(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=SETTINGS)
    sim.provider("a").set_default(ErrorReply(503))
    router.completion(model="m", messages=USER)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 2
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None
    # open: planned last, and skipped without a request
    assert [(a.provider, a.outcome) for a in resp.route.attempts] == [("b", "success")]
    assert len(sim.provider("a").requests) == 2
    assert router.health.snapshot(router.clock.monotonic())["a/a-model"].state == "open"


def test_open_breaker_is_skipped_when_it_is_the_only_way(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    import pytest

    from polyroute import errors

    router = make_router({"m": [endpoint("a")]}, router=SETTINGS)
    sim.provider("a").set_default(ErrorReply(503))
    for _ in range(2):
        with pytest.raises(errors.NoEndpointAvailable):
            router.completion(model="m", messages=USER)
    with pytest.raises(errors.NoEndpointAvailable) as info:
        router.completion(model="m", messages=USER)
    assert [(a.outcome, a.error) for a in info.value.attempts] == [("skipped", "CircuitOpen")]
    assert len(sim.provider("a").requests) == 2


def test_half_open_probe_closes_on_success(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=SETTINGS)
    a = sim.provider("a")
    a.enqueue(ErrorReply(503), ErrorReply(503))
    router.completion(model="m", messages=USER)
    router.completion(model="m", messages=USER)
    clock.advance(31)
    resp = router.completion(model="m", messages=USER)  # the probe
    assert resp.route is not None and resp.route.provider == "a"
    assert router.health.snapshot(clock.monotonic())["a/a-model"].state == "closed"


def test_failed_probe_reopens_for_the_base_cooldown(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=SETTINGS)
    sim.provider("a").set_default(ErrorReply(503))
    router.completion(model="m", messages=USER)
    router.completion(model="m", messages=USER)
    clock.advance(31)
    router.completion(model="m", messages=USER)  # probe fails
    assert len(sim.provider("a").requests) == 3
    clock.advance(31)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 4  # re-opened for the base 30 s, not doubled
    clock.advance(29)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 4  # one probe per cooldown, no more
    clock.advance(2)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 5


def test_a_failed_probe_is_never_retried(sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 2, "base_delay": 0}, "breaker": {"failure_threshold": 3, "cooldown": 30}},
    )
    sim.provider("a").set_default(ErrorReply(503))
    router.completion(model="m", messages=USER)  # 1 try + 2 retries: the third failure opens it
    assert len(sim.provider("a").requests) == 3
    clock.advance(31)
    resp = router.completion(model="m", messages=USER)  # the probe fails: no retry, straight to b
    assert len(sim.provider("a").requests) == 4
    assert resp.route is not None
    assert [(a.provider, a.outcome) for a in resp.route.attempts] == [("a", "error"), ("b", "success")]


def test_retries_recheck_the_breaker(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 5, "base_delay": 0}, "breaker": {"failure_threshold": 2, "cooldown": 30}},
    )
    sim.provider("a").set_default(ErrorReply(503))
    resp = router.completion(model="m", messages=USER)
    # the second failure opened the breaker: the four retries left were not sent
    assert len(sim.provider("a").requests) == 2
    assert resp.route is not None and resp.route.provider == "b"


def test_cooldown_is_at_least_retry_after_and_never_shortened(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 0, "max_retry_after": 1}, "breaker": {"failure_threshold": 1, "cooldown": 5}},
    )
    sim.provider("a").enqueue(ErrorReply(503, retry_after=120), ErrorReply(503))
    router.completion(model="m", messages=USER)
    clock.advance(100)  # past the 5 s cooldown, inside the 120 s Retry-After
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 1
    clock.advance(21)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 2


def test_breaker_is_shared_by_concurrent_async_calls(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    import asyncio

    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=SETTINGS)
    sim.provider("a").set_default(ErrorReply(503))
    sim.provider("b").set_default(Reply(text="ok"))

    async def burst() -> None:
        async with router:
            await asyncio.gather(*(router.acompletion(model="m", messages=USER) for _ in range(2)))
            await asyncio.gather(*(router.acompletion(model="m", messages=USER) for _ in range(10)))

    asyncio.run(burst())
    assert len(sim.provider("a").requests) == 2
    assert len(sim.provider("b").requests) == 12
