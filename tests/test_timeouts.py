"""Timeouts: read, first token, and the overall deadline. Real sockets, tiny limits."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import Hang, ProviderSimulator, Reply

FAST = {"retry": {"max_retries": 0}, "timeout": {"read": 0.2, "connect": 1}}


def test_read_timeout_fails_over(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=FAST)
    sim.provider("a").set_default(Hang())
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert resp.route.attempts[0].error == "ReadTimeout"


def test_async_read_timeout_fails_over(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router=FAST)
    sim.provider("a").set_default(Hang())

    async def run() -> None:
        async with router:
            resp = await router.acompletion(model="m", messages=USER)
            assert resp.route is not None and resp.route.provider == "b"
            assert resp.route.attempts[0].error == "ReadTimeout"

    asyncio.run(run())


def test_first_token_timeout_fails_over(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 0}, "timeout": {"read": 5, "first_token": 0.1}},
    )
    sim.provider("a").set_default(Reply(text="late", ttft=3))
    chunks = list(router.completion(model="m", messages=USER, stream=True))
    route = chunks[-1].route
    assert route is not None and route.provider == "b"
    assert route.attempts[0].error == "FirstTokenTimeout"


def test_async_first_token_timeout_fails_over(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 0}, "timeout": {"read": 5, "first_token": 0.1}},
    )
    sim.provider("a").set_default(Reply(text="late", ttft=3))

    async def run() -> None:
        async with router:
            stream = await router.acompletion(model="m", messages=USER, stream=True)
            chunks = [c async for c in stream]
            route = chunks[-1].route
            assert route is not None and route.provider == "b"
            assert route.attempts[0].error == "FirstTokenTimeout"

    asyncio.run(run())


def test_overall_deadline(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    import random

    from tests.conftest import config_for

    import polyroute

    sim.add_provider("a").set_default(Hang())
    sim.add_provider("b").set_default(Hang())
    cfg = config_for(
        sim,
        {"m": [endpoint("a"), endpoint("b")]},
        router={"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}},
    )
    with polyroute.Router.from_config(cfg, rng=random.Random(0)) as router:  # real clock: the deadline is real
        with pytest.raises(errors.DeadlineExceeded) as info:
            router.completion(model="m", messages=USER, timeout=0.3)
    assert info.value.attempts[0].error == "ReadTimeout"
    assert len(sim.provider("a").requests) == 1


def test_async_overall_deadline(sim: ProviderSimulator) -> None:
    import random

    from tests.conftest import config_for

    import polyroute

    sim.add_provider("a").set_default(Hang())
    cfg = config_for(sim, {"m": [endpoint("a")]}, router={"retry": {"max_retries": 0}, "timeout": {"deadline": 0.2}})

    async def run() -> None:
        async with polyroute.Router.from_config(cfg, rng=random.Random(0)) as router:
            with pytest.raises(errors.DeadlineExceeded):
                await router.acompletion(model="m", messages=USER)

    asyncio.run(run())
