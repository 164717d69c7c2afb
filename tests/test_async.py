"""The async engine mirrors the sync one (same decisions, native aiohttp, no threads)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import Disconnect, ErrorReply, FakeClock, ProviderSimulator, Reply, StreamErrorReply


@pytest.mark.asyncio
async def test_async_completion_fails_over(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 1}})
    sim.provider("a").set_default(ErrorReply(503))
    async with router:
        resp = await router.acompletion(model="m", messages=USER)
    assert resp.choices[0].message.content == "Hello from b"
    assert resp.route is not None
    assert [(a.provider, a.outcome) for a in resp.route.attempts] == [("a", "error"), ("a", "error"), ("b", "success")]


@pytest.mark.asyncio
async def test_async_runs_on_the_callers_thread(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    threads: list[int] = []

    class Obs:
        def on_attempt(self, request, request_id, attempt):  # type: ignore[no-untyped-def]
            threads.append(threading.get_ident())

        def on_call(self, request, route, error):  # type: ignore[no-untyped-def]
            pass

    router = make_router({"m": [endpoint("a")]}, observers=[Obs()])
    async with router:
        await router.acompletion(model="m", messages=USER)
    assert threads == [threading.get_ident()]


@pytest.mark.asyncio
async def test_async_backoff_uses_the_injected_clock(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a")]}, router={"retry": {"max_retries": 2}})
    sim.provider("a").enqueue(ErrorReply(429, retry_after=5), ErrorReply(503))
    async with router:
        resp = await router.acompletion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "a"
    assert len(clock.sleeps) == 2 and clock.sleeps[0] == 5.0


@pytest.mark.asyncio
async def test_async_fail_fast(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    sim.provider("a").set_default(ErrorReply(400, message="bad schema"))
    async with router:
        with pytest.raises(errors.BadRequest, match="bad schema"):
            await router.acompletion(model="m", messages=USER)
    assert sim.provider("b").requests == []


@pytest.mark.asyncio
async def test_async_all_fail(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(ErrorReply(502))
    async with router:
        with pytest.raises(errors.NoEndpointAvailable) as info:
            await router.acompletion(model="m", messages=USER)
    assert [a.status for a in info.value.attempts] == [502]


@pytest.mark.asyncio
async def test_async_stream_fails_over_before_content(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(StreamErrorReply(after_chunks=0))
    async with router:
        stream = await router.acompletion(model="m", messages=USER, stream=True)
        chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from b"
    assert stream.route is not None and stream.route.provider == "b"
    assert chunks[-1].route is stream.route


@pytest.mark.asyncio
async def test_async_stream_interrupted_after_content(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    sim.provider("a").set_default(Reply(text="0123456789", chunk_size=2))
    sim.provider("a").enqueue(Disconnect(after_chunks=3))
    got = []
    async with router:
        stream = await router.acompletion(model="m", messages=USER, stream=True)
        with pytest.raises(errors.StreamInterrupted) as info:
            async for chunk in stream:
                got.append(chunk)
    assert isinstance(info.value.error, errors.ConnectionLost)
    assert info.value.delivered_text == "".join(c.choices[0].delta.content or "" for c in got)
    assert sim.provider("b").requests == []


@pytest.mark.asyncio
async def test_async_concurrent_calls(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    async with router:
        results = await asyncio.gather(*(router.acompletion(model="m", messages=USER) for _ in range(50)))
    assert len({r.route.request_id for r in results if r.route}) == 50
    assert len(sim.provider("a").requests) == 50


def test_router_survives_several_event_loops(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})

    async def once() -> str:
        resp = await router.acompletion(model="m", messages=USER)
        return resp.choices[0].message.content or ""

    assert asyncio.run(once()) == "Hello from a"
    assert asyncio.run(once()) == "Hello from a"  # a new loop: a new session, no error

    async def close() -> None:
        await router.aclose()

    asyncio.run(close())
