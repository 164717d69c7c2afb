"""The sync and async engines, mirrored: every scenario runs through ``completion`` and ``acompletion``.

Providers are :class:`~polyroute.testing.FunctionBackend` functions (no socket), time is a
FakeClock. The async-only paths (a deadline passing mid-stream, a cancelled task) follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import polyroute
from polyroute import ChatCompletionChunk
from polyroute.errors import (
    BadRequest,
    Cancelled,
    ConfigError,
    NoEndpointAvailable,
    PolyrouteError,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from polyroute.testing import FakeClock, FunctionBackend, ProviderCall, Reply, ToolCallSpec

USER = [{"role": "user", "content": "hello there"}]


def config(*providers: str, router: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model ``m`` served by ``providers`` in this order (``sort: ordered``), each an ``api: custom`` provider."""
    return {
        "providers": {p: {"api": "custom"} for p in providers},
        "models": {
            "m": {
                "endpoints": [
                    {"provider": p, "model": f"{p}-model", "pricing": {"prompt": "1e-6", "completion": "1e-6"}}
                    for p in providers
                ]
            }
        },
        "router": {"provider": {"sort": "ordered"}, **(router or {})},
    }


class Observed:
    """Keeps every finished call's error (``None`` on success) and every attempt."""

    def __init__(self) -> None:
        self.errors: list[PolyrouteError | None] = []
        self.attempts: list[Any] = []

    def on_attempt(self, request: Any, request_id: str, attempt: Any) -> None:
        self.attempts.append(attempt)

    def on_call(self, request: Any, route: Any, error: PolyrouteError | None) -> None:
        self.errors.append(error)


def make_router(
    backends: dict[str, FunctionBackend], clock: FakeClock, *, router: dict[str, Any] | None = None, **kw: Any
) -> polyroute.Router:
    return polyroute.Router.from_config(config(*backends, router=router), clock=clock, backends=backends, **kw)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def complete(router: polyroute.Router, mode: str, **kw: Any) -> polyroute.ChatCompletion:
    kw.setdefault("messages", USER)
    if mode == "sync":
        return router.completion(model="m", **kw)
    return asyncio.run(router.acompletion(model="m", **kw))


def stream(router: polyroute.Router, mode: str, into: list[ChatCompletionChunk], **kw: Any) -> None:
    """Read a whole stream into ``into`` (kept if the stream raises part-way)."""
    kw.setdefault("messages", USER)
    if mode == "sync":
        into.extend(router.completion(model="m", stream=True, **kw))
        return

    async def read() -> None:
        s = await router.acompletion(model="m", stream=True, **kw)
        async for chunk in s:
            into.append(chunk)

    asyncio.run(read())


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def failing(error: PolyrouteError) -> FunctionBackend:
    def answer(call: ProviderCall) -> str:
        raise error

    return FunctionBackend(answer)


# -- mirrored: non-streamed ----------------------------------------------------------------------


def test_an_answer_comes_back_with_its_route_and_cost(mode: str) -> None:
    alpha = FunctionBackend(lambda call: Reply(text="hi there", usage={"prompt_tokens": 10, "completion_tokens": 5}))
    router = make_router({"alpha": alpha}, FakeClock())
    resp = complete(router, mode, max_tokens=20)
    assert resp.choices[0].message.content == "hi there"
    assert resp.route is not None and resp.route.provider == "alpha"
    assert str(resp.route.cost) == "0.000015"
    [call] = alpha.calls
    assert (call.provider, call.model, call.requested, call.stream, call.params) == (
        "alpha",
        "alpha-model",
        "m",
        False,
        {"max_tokens": 20},
    )


def test_a_failing_provider_is_retried_then_failed_over(mode: str) -> None:
    clock = FakeClock()
    alpha = failing(ServerError("down", status=503))
    beta = FunctionBackend(lambda call: "from beta")
    router = make_router({"alpha": alpha, "beta": beta}, clock, rng=__import__("random").Random(1))
    resp = complete(router, mode)
    assert resp.choices[0].message.content == "from beta"
    assert resp.route is not None
    assert [(a.provider, a.outcome, a.retry) for a in resp.route.attempts] == [
        ("alpha", "error", 0),
        ("alpha", "error", 1),
        ("beta", "success", 0),
    ]
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.25  # one seeded backoff


def test_a_retry_after_is_waited_for_at_the_last_provider(mode: str) -> None:
    clock = FakeClock()
    answers = iter([RateLimited("slow down", status=429, retry_after=3.0), "ok"])

    def answer(call: ProviderCall) -> str:
        item = next(answers)
        if isinstance(item, Exception):
            raise item
        return item

    router = make_router({"alpha": FunctionBackend(answer)}, clock)
    assert complete(router, mode).choices[0].message.content == "ok"
    assert clock.sleeps == [3.0]


def test_a_bad_request_is_raised_with_its_attempts(mode: str) -> None:
    router = make_router(
        {"alpha": failing(BadRequest("nope", status=400)), "beta": failing(ServerError("x"))}, FakeClock()
    )
    with pytest.raises(BadRequest) as info:
        complete(router, mode)
    assert [a.provider for a in info.value.attempts] == ["alpha"]


def test_every_provider_failing_is_no_endpoint_available(mode: str) -> None:
    router = make_router(
        {"alpha": failing(ServerError("a down")), "beta": failing(ServerError("b down"))},
        FakeClock(),
        router={"retry": {"max_retries": 0}},
    )
    with pytest.raises(NoEndpointAvailable) as info:
        complete(router, mode)
    assert len(info.value.attempts) == 2


def test_a_bug_in_the_answering_function_is_not_a_failover(mode: str) -> None:
    def answer(call: ProviderCall) -> str:
        raise KeyError("a bug")

    observed = Observed()
    beta = FunctionBackend(lambda call: "never")
    router = make_router({"alpha": FunctionBackend(answer), "beta": beta}, FakeClock(), observers=[observed])
    with pytest.raises(KeyError):
        complete(router, mode)
    assert beta.calls == []
    assert [(a.error, a.message) for a in observed.attempts] == [
        ("Cancelled", "the call was interrupted" if mode == "sync" else "the call was cancelled")
    ]


def test_tool_calls_come_back_as_tool_calls(mode: str) -> None:
    alpha = FunctionBackend(lambda call: Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Paris"})]))
    resp = complete(make_router({"alpha": alpha}, FakeClock()), mode)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert choice.message.tool_calls[0].function.arguments == '{"city": "Paris"}'


# -- mirrored: streams ----------------------------------------------------------------------------


def test_a_stream_ends_with_the_route_on_its_last_chunk(mode: str) -> None:
    alpha = FunctionBackend(lambda call: Reply(text="Hello, streaming world", chunk_size=5))
    chunks: list[ChatCompletionChunk] = []
    stream(make_router({"alpha": alpha}, FakeClock()), mode, chunks)
    assert text(chunks) == "Hello, streaming world"
    assert chunks[-1].route is not None and chunks[-1].route.provider == "alpha"
    assert all(c.route is None for c in chunks[:-1])
    assert alpha.calls[0].stream


def test_a_stream_failing_before_content_fails_over_invisibly(mode: str) -> None:
    def broken(call: ProviderCall) -> Iterator[str]:
        raise ServerError("reset before the first token")
        yield "never"  # pragma: no cover - makes this a generator

    beta = FunctionBackend(lambda call: iter(["from ", "beta"]))
    chunks: list[ChatCompletionChunk] = []
    stream(make_router({"alpha": FunctionBackend(broken), "beta": beta}, FakeClock()), mode, chunks)
    assert text(chunks) == "from beta"
    route = chunks[-1].route
    assert route is not None and [a.outcome for a in route.attempts] == ["error", "error", "success"]


def test_a_stream_breaking_after_content_is_interrupted_with_what_was_delivered(mode: str) -> None:
    def breaks(call: ProviderCall) -> Iterator[str]:
        yield "Hel"
        yield "lo"
        raise ServerError("connection reset")

    observed = Observed()
    router = make_router(
        {"alpha": FunctionBackend(breaks), "beta": FunctionBackend(lambda c: "x")}, FakeClock(), observers=[observed]
    )
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterrupted) as info:
        stream(router, mode, chunks)
    assert text(chunks) == "Hello"
    assert (info.value.delivered_text, info.value.delivered_chunks) == ("Hello", 2)
    assert [(a.provider, a.outcome) for a in info.value.attempts] == [("alpha", "error")]
    assert observed.errors == [info.value]


def test_a_stream_closed_early_records_a_cancelled_attempt(mode: str) -> None:
    observed = Observed()
    alpha = FunctionBackend(lambda call: iter(["one ", "two ", "three"]))
    router = make_router({"alpha": alpha}, FakeClock(), observers=[observed])
    if mode == "sync":
        s = router.completion(model="m", messages=USER, stream=True)
        next(iter(s))
        s.close()
    else:

        async def read_one() -> None:
            s = await router.acompletion(model="m", messages=USER, stream=True)
            async for _ in s:
                break
            await s.aclose()

        asyncio.run(read_one())
    [attempt] = observed.attempts
    assert (attempt.outcome, attempt.error) == ("error", "Cancelled")
    assert isinstance(observed.errors[0], Cancelled)


def test_tool_calls_stream_as_deltas(mode: str) -> None:
    alpha = FunctionBackend(lambda call: Reply(tool_calls=[ToolCallSpec("f", {"x": 1}, id="call_9")]))
    chunks: list[ChatCompletionChunk] = []
    stream(make_router({"alpha": alpha}, FakeClock()), mode, chunks)
    calls = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or ()]
    assert [(tc.id, tc.function.name, tc.function.arguments) for tc in calls] == [("call_9", "f", '{"x": 1}')]
    assert chunks[-1].finish_reason == "tool_calls" or any(c.finish_reason == "tool_calls" for c in chunks)


# -- sync only: the first-token limit is checked on the clock between chunks ------------------------


def test_sync_a_late_first_token_fails_over() -> None:
    clock = FakeClock()

    def slow(call: ProviderCall) -> Iterator[Any]:
        yield ChatCompletionChunk("x", 0, "alpha-model", [polyroute.ChunkChoice(0, polyroute.Delta(role="assistant"))])
        clock.advance(5.0)  # a keep-alive arrives, but no content within the 2 s limit
        yield ChatCompletionChunk("x", 0, "alpha-model", [polyroute.ChunkChoice(0, polyroute.Delta())])
        yield "too late"

    router = make_router(
        {"alpha": FunctionBackend(slow), "beta": FunctionBackend(lambda c: iter(["fast"]))},
        clock,
        router={"timeout": {"first_token": 2}, "retry": {"max_retries": 0}},
    )
    chunks = list(router.completion(model="m", messages=USER, stream=True))
    assert text(chunks) == "fast"
    route = chunks[-1].route
    assert route is not None and route.attempts[0].error == "FirstTokenTimeout"


def test_sync_an_async_answering_function_is_refused() -> None:
    async def answer(call: ProviderCall) -> str:
        return "async only"

    router = make_router({"alpha": FunctionBackend(answer)}, FakeClock())
    with pytest.raises(TypeError, match="async"):
        router.completion(model="m", messages=USER)
    assert asyncio.run(router.acompletion(model="m", messages=USER)).choices[0].message.content == "async only"


# -- async only: the deadline mid-stream, cancellation --------------------------------------------------


def test_async_the_deadline_passing_mid_stream_interrupts_it() -> None:
    clock = FakeClock()

    async def stalls(call: ProviderCall) -> AsyncIterator[str]:
        clock.advance(10.5)  # the first token comes after the call's 10 s deadline...
        yield "Hel"
        await asyncio.sleep(0)  # ...and the next read is past it
        yield "lo"

    router = make_router({"alpha": FunctionBackend(stalls)}, clock)
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(PolyrouteError) as info:  # the call's deadline has passed: no resuming elsewhere
        stream(router, "async", chunks, timeout=10.0)
    assert text(chunks) in ("", "Hel")
    assert any(a.error == "ReadTimeout" and "deadline passed" in (a.message or "") for a in info.value.attempts)


async def _cancel_while_reading(router: polyroute.Router, started: asyncio.Event) -> list[ChatCompletionChunk]:
    got: list[ChatCompletionChunk] = []

    async def consume() -> None:
        s = await router.acompletion(model="m", messages=USER, stream=True)
        async for chunk in s:
            got.append(chunk)

    task = asyncio.create_task(consume())
    for _ in range(100):  # bounded: the backend reaches its wait in a few loop turns
        if started.is_set():
            break
        await asyncio.sleep(0)
    assert started.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return got


def test_async_cancelling_a_task_mid_stream_records_a_cancelled_attempt() -> None:
    async def main() -> tuple[list[ChatCompletionChunk], Observed]:
        gate, started = asyncio.Event(), asyncio.Event()

        async def waits(call: ProviderCall) -> AsyncIterator[str]:
            yield "Hel"
            started.set()
            await gate.wait()  # never set: the caller cancels first
            yield "lo"

        observed = Observed()
        router = make_router({"alpha": FunctionBackend(waits)}, FakeClock(), observers=[observed])
        return await _cancel_while_reading(router, started), observed

    got, observed = asyncio.run(main())
    assert text(got) == "Hel"
    [attempt] = observed.attempts
    assert (attempt.error, attempt.message) == ("Cancelled", "the caller closed the stream before it ended")
    assert isinstance(observed.errors[0], Cancelled)


def test_async_cancelling_a_task_before_the_first_token_records_a_cancelled_attempt() -> None:
    async def main() -> tuple[list[ChatCompletionChunk], Observed]:
        gate, started = asyncio.Event(), asyncio.Event()

        async def waits(call: ProviderCall) -> AsyncIterator[str]:
            started.set()
            await gate.wait()
            yield "never"

        observed = Observed()
        router = make_router({"alpha": FunctionBackend(waits)}, FakeClock(), observers=[observed])
        return await _cancel_while_reading(router, started), observed

    got, observed = asyncio.run(main())
    assert got == []
    [attempt] = observed.attempts
    assert (attempt.error, attempt.message) == ("Cancelled", "the call was cancelled")


# -- wiring ---------------------------------------------------------------------------------------------


def test_an_api_custom_provider_without_a_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api: custom") as info:
        polyroute.Router.from_config(config("alpha"))
    assert info.value.path == "providers.alpha.api"
    with pytest.raises(ConfigError, match="not a configured provider"):
        polyroute.Router.from_config(
            config("alpha"), backends={"alpha": failing(ServerError("x")), "typo": failing(ServerError("x"))}
        )


def test_a_given_backend_survives_a_reload() -> None:
    alpha = FunctionBackend(lambda call: "same backend")
    router = make_router({"alpha": alpha}, FakeClock())
    router.reload(config("alpha", router={"retry": {"max_retries": 3}}))
    assert router.completion(model="m", messages=USER).choices[0].message.content == "same backend"
    assert len(alpha.calls) == 1
