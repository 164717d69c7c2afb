"""The fault matrix (issue 13): every way a provider fails, through the public API.

Each scenario runs against a primary ``a`` and a fallback ``b`` over the simulator. Simulated
delays advance the :class:`FakeClock` shared by the simulator and the router (no real sleeping);
the few real-time limits (a provider that never answers) are a fraction of a second.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import USER, config_for, endpoint

import polyroute
from polyroute import errors
from polyroute._types import ChatCompletion, Route, Usage
from polyroute.testing import (
    Continue,
    Disconnect,
    ErrorReply,
    FakeClock,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    ProviderSimulator,
    RecordedRequest,
    RejectContinuation,
    Reply,
    Stall,
    ToolCallSpec,
    Truncate,
)

#: 60 four-character "tokens", one per stream chunk
FULL = "".join(f"w{i:02d} " for i in range(60))
MODES = ["sync", "async", "sync-stream", "async-stream"]
STREAMS = ["sync-stream", "async-stream"]


@pytest.fixture
def fsim(clock: FakeClock) -> Iterator[ProviderSimulator]:
    """A simulator whose delays advance the test's fake clock."""
    with ProviderSimulator(clock=clock) as s:
        yield s


def build(
    sim: ProviderSimulator, clock: FakeClock, models: dict[str, list[dict[str, Any]]], **router: Any
) -> polyroute.Router:
    settings = {"provider": {"sort": "ordered"}, **router}
    return polyroute.Router.from_config(config_for(sim, models, router=settings), clock=clock, rng=random.Random(7))


# -- 15. an outage from t=0 to t=60 s, one request every 4 s -----------------------------------


def _outage(clock: FakeClock, until: float) -> FunctionBehavior:
    def fn(_req: RecordedRequest) -> Any:
        return ErrorReply(503) if clock.monotonic() < until else Reply(text="a is back")

    return FunctionBehavior(fn)


def _recovery_run(sim: ProviderSimulator, clock: FakeClock, is_async: bool) -> list[tuple[float, str]]:
    sim.add_provider("a").set_default(_outage(clock, 60.0))
    sim.add_provider("b").set_default(Reply(text="b"))
    router = build(sim, clock, {"m": [endpoint("a"), endpoint("b")]}, retry={"max_retries": 2})
    served: list[tuple[float, str]] = []

    async def arun() -> None:
        async with router:
            for i in range(30):
                t = i * 4.0
                clock.advance(max(0.0, t - clock.monotonic()))
                resp = await router.acompletion(model="m", messages=USER)
                assert resp.route is not None
                served.append((t, resp.route.provider))

    if is_async:
        asyncio.run(arun())
    else:
        with router:
            for i in range(30):
                t = i * 4.0
                clock.advance(max(0.0, t - clock.monotonic()))
                resp = router.completion(model="m", messages=USER)
                assert resp.route is not None
                served.append((t, resp.route.provider))
    return served


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_15_recovered_primary_gets_traffic_back_within_one_cooldown(
    fsim: ProviderSimulator, clock: FakeClock, is_async: bool
) -> None:
    served = _recovery_run(fsim, clock, is_async)
    assert all(p in ("a", "b") for _, p in served)  # every request answered
    back = min(t for t, p in served if p == "a")
    assert 60.0 <= back <= 60.0 + 30.0  # within one base cooldown of recovering
    assert all(p == "a" for t, p in served if t >= back)
    a_during_outage = [r for r in fsim.provider("a").requests if r.received_at - clock.time() + clock.monotonic() < 60]
    # the threshold's 3 failures (1 try + 2 retries), then one probe per 30 s cooldown, never retried
    assert len(a_during_outage) <= 3 + 2


# -- driving a call in each mode ----------------------------------------------------------------


class Result:
    """What the caller got: the text, the route, the model and usage the response reported."""

    def __init__(self, text: str, route: Route | None, model: str, usage: Usage | None, chunk_ids: set[str]) -> None:
        self.text = text
        self.route = route
        self.model = model
        self.usage = usage
        self.chunk_ids = chunk_ids


def _from_completion(resp: ChatCompletion) -> Result:
    return Result(resp.choices[0].message.content or "", resp.route, resp.model, resp.usage, {resp.id})


def call(router: polyroute.Router, mode: str, **params: Any) -> Result:
    """One call to model ``m`` in ``mode``; the streamed ones read to the end."""
    kwargs: dict[str, Any] = {"model": "m", "messages": USER, **params}
    if mode == "sync":
        return _from_completion(router.completion(**kwargs))
    if mode == "sync-stream":
        chunks = list(router.completion(**kwargs, stream=True, stream_options={"include_usage": True}))
        return _from_chunks(chunks)

    async def run() -> Result:
        async with router:
            if mode == "async":
                return _from_completion(await router.acompletion(**kwargs))
            stream = await router.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
            return _from_chunks([c async for c in stream])

    return asyncio.run(run())


def _from_chunks(chunks: list[Any]) -> Result:
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
    models = [c.model for c in chunks if c.choices and c.choices[0].delta.content]
    return Result(text, chunks[-1].route, models[-1] if models else chunks[-1].model, usage, {c.id for c in chunks})


def served(result: Result) -> list[tuple[str, str]]:
    assert result.route is not None
    return [(a.provider, a.outcome) for a in result.route.attempts]


def two(
    sim: ProviderSimulator,
    clock: FakeClock,
    *,
    b_api: str = "openai",
    b_continuation: str | None = "prefix",
    **router: Any,
) -> polyroute.Router:
    """Primary ``a`` and fallback ``b`` for model ``m`` (``b`` declares ``b_continuation``)."""
    sim.add_provider("a")
    sim.add_provider("b", api=b_api)
    b = endpoint("b")
    if b_continuation is not None:
        b["continuation"] = b_continuation
    return build(sim, clock, {"m": [endpoint("a"), b]}, **router)


# -- 1-5: errors before any response ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_01_429_with_retry_after_once_fails_over_without_waiting(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    router = two(fsim, clock)
    fsim.provider("a").enqueue(ErrorReply(429, retry_after=2))
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert served(res) == [("a", "error"), ("b", "success")]
    assert clock.sleeps == []  # the 2 s Retry-After was not waited for: b was free
    assert clock.monotonic() < 1


@pytest.mark.parametrize("mode", MODES)
def test_02_429_on_every_call_fails_over(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(ErrorReply(429))
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert served(res)[-1] == ("b", "success")
    assert clock.monotonic() < 1


@pytest.mark.parametrize("mode", MODES)
def test_03_one_500_is_retried_on_the_same_endpoint(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").enqueue(ErrorReply(500))
    res = call(router, mode)
    assert res.text == "Hello from a"
    assert served(res) == [("a", "error"), ("a", "success")]


@pytest.mark.parametrize("mode", MODES)
def test_04_503_on_every_call_fails_over(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(ErrorReply(503))
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert served(res) == [("a", "error"), ("a", "error"), ("b", "success")]
    assert clock.monotonic() < 1


@pytest.mark.parametrize("mode", MODES)
def test_05_tcp_reset_before_the_response_fails_over(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(Disconnect())
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert served(res)[-1] == ("b", "success")


# -- 6, 7: silence -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_06_silent_provider_moves_on_after_one_timeout(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    # the one real-time limit in this file: a provider that never answers is only noticed by a
    # timeout (0.2 s here; 120 s by default)
    router = two(fsim, clock, timeout={"read": 0.2}, retry={"max_retries": 2})
    fsim.provider("a").set_default(Hang())
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert served(res) == [("a", "error"), ("b", "success")]  # no retry of the silent endpoint
    assert res.route is not None and res.route.attempts[0].error in ("ReadTimeout", "FirstTokenTimeout")
    assert len(fsim.provider("a").requests) == 1


@pytest.mark.parametrize("mode", STREAMS)
def test_07_slow_first_token_fails_over_at_the_default_limit(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(Reply(text="late", ttft=20))
    res = call(router, mode)
    assert res.text == "Hello from b"
    assert res.route is not None
    assert [(a.provider, a.error) for a in res.route.attempts] == [("a", "FirstTokenTimeout"), ("b", None)]
    assert "15.000s" in (res.route.attempts[0].message or "")


@pytest.mark.parametrize("mode", STREAMS)
def test_07_no_first_token_limit_without_another_candidate(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    fsim.add_provider("a").set_default(Reply(text="late but fine", ttft=20))
    router = build(fsim, clock, {"m": [endpoint("a")]})
    res = call(router, mode)
    assert res.text == "late but fine"


@pytest.mark.parametrize("mode", STREAMS)
def test_07_reasoning_counts_as_a_first_token(sim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    # real time, small limits: reasoning starts at once, the answer text only after 2.4 s
    a = sim.add_provider("a")
    a.enqueue(Reply(text="warm-up"))  # the first request of a process is slow to connect
    a.set_default(Reply(text="answer", reasoning="thinking " * 2, chunk_delay=1.2, chunk_size=9))
    sim.add_provider("b")
    cfg = config_for(
        sim,
        {"m": [endpoint("a"), endpoint("b")]},
        router={"provider": {"sort": "ordered"}, "timeout": {"first_token_failover": 2}},
    )
    router = polyroute.Router.from_config(cfg, rng=random.Random(7))
    assert call(router, mode).text == "warm-up"
    res = call(router, mode)
    assert res.text == "answer"
    assert served(res) == [("a", "success")]


# -- 8-11, 14: broken streams -------------------------------------------------------------------


def _full(after: int) -> Reply:
    return Reply(text=FULL, chunk_size=4)


@pytest.mark.parametrize("mode", STREAMS)
@pytest.mark.parametrize(("api", "declared", "wire_mark"), [("openai", "prefix", "prefix"), ("anthropic", None, None)])
def test_08_cut_stream_is_continued_on_an_endpoint_that_can(
    fsim: ProviderSimulator, clock: FakeClock, mode: str, api: str, declared: str | None, wire_mark: str | None
) -> None:
    router = two(fsim, clock, b_api=api, b_continuation=declared)
    fsim.provider("a").set_default(Truncate(after_chunks=40, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    res = call(router, mode)
    assert res.text == FULL  # one uninterrupted answer
    assert len(res.chunk_ids) == 1  # under one stream id
    seen = fsim.provider("b").requests[-1]
    delivered = FULL[: 40 * 4]
    assert seen.prefill is not None and seen.prefill.strip() == delivered.strip()
    if wire_mark is not None:
        assert seen.messages[-1][wire_mark] is True
    route = res.route
    assert route is not None and served(res) == [("a", "error"), ("b", "success")]
    broken, cont = route.attempts
    assert broken.error == "IncompleteStream" and broken.usage_estimated
    assert broken.usage is not None and broken.usage.completion_tokens == 54  # 160 bytes at 3 a token
    assert broken.cost is not None and broken.cost > 0 and cont.cost is not None
    assert route.cost == broken.cost + cont.cost
    assert res.model == "b-model" and route.provider == "b"


def test_08_vllm_continue_final_message(fsim: ProviderSimulator, clock: FakeClock) -> None:
    router = two(fsim, clock, b_continuation="continue_final_message")
    fsim.provider("a").set_default(Disconnect(after_chunks=40, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    res = call(router, "sync-stream")
    assert res.text == FULL
    body = fsim.provider("b").requests[-1].json
    assert body is not None and body["continue_final_message"] is True and body["add_generation_prompt"] is False


@pytest.mark.parametrize("mode", STREAMS)
def test_09_stalled_stream_is_continued(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(Stall(after_chunks=20, seconds=30, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    res = call(router, mode)
    assert res.text == FULL
    assert served(res) == [("a", "error"), ("b", "success")]


@pytest.mark.parametrize("mode", STREAMS)
def test_09_idle_limit_breaks_a_stream_that_stalls_between_chunks(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    # a real stall (it never ends), so a real idle limit: 0.2 s here, 20 s by default
    router = two(fsim, clock, timeout={"idle": 0.2})
    fsim.provider("a").set_default(Hang(after_chunks=20, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    res = call(router, mode)
    assert res.text == FULL
    assert res.route is not None
    assert res.route.attempts[0].error == "ReadTimeout"
    if mode == "async-stream":
        assert "stalled" in (res.route.attempts[0].message or "")


@pytest.mark.parametrize("mode", STREAMS)
def test_10_malformed_frame_is_a_break_and_is_continued(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(MalformedJSON(frame=10, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    res = call(router, mode)
    assert res.text == FULL  # never a silently skipped frame: the missing text came from b
    assert res.route is not None and res.route.attempts[0].error == "MalformedResponse"
    assert fsim.provider("b").requests[-1].prefill == FULL[: 8 * 4]  # frames 2-9 were content


@pytest.mark.parametrize("mode", STREAMS)
def test_10_without_a_continuation_a_malformed_frame_raises(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    router = two(fsim, clock, b_continuation=None)
    fsim.provider("a").set_default(MalformedJSON(frame=10, reply=Reply(text=FULL, chunk_size=4)))
    with pytest.raises(errors.StreamInterrupted) as info:
        call(router, mode)
    assert isinstance(info.value.error, errors.MalformedResponse)
    assert info.value.delivered_text == FULL[: 8 * 4]


@pytest.mark.parametrize("mode", STREAMS)
def test_11_complete_stream_without_done_is_a_success(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(Reply(text=FULL, chunk_size=4, done=False))
    res = call(router, mode)
    assert res.text == FULL
    assert served(res) == [("a", "success")]


@pytest.mark.parametrize("mode", STREAMS)
@pytest.mark.parametrize("declared", [None, "prefill"], ids=["undeclared", "declared-but-rejects"])
def test_14_fallback_that_rejects_continuations_gives_the_original_cause(
    fsim: ProviderSimulator, clock: FakeClock, mode: str, declared: str | None
) -> None:
    router = two(fsim, clock, b_continuation=declared)
    fsim.provider("a").set_default(Truncate(after_chunks=40, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(RejectContinuation(then=Reply(text=FULL)))
    with pytest.raises(errors.StreamInterrupted) as info:
        call(router, mode)
    assert isinstance(info.value.error, errors.IncompleteStream)  # the original cause, never b's 400
    assert info.value.delivered_text == FULL[: 40 * 4]
    if declared is None:
        assert fsim.provider("b").requests == []  # never sent to an endpoint that did not declare it
    else:
        assert [r.prefill is not None for r in fsim.provider("b").requests] == [True]


@pytest.mark.parametrize("mode", STREAMS)
def test_a_break_inside_a_tool_call_is_not_continued(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    calls = [ToolCallSpec(name="lookup", arguments={"query": "x" * 200})]
    said = "Let me look that up."
    reply = Reply(text=said, tool_calls=calls, chunk_size=8)
    fsim.provider("a").set_default(Truncate(after_chunks=6, reply=reply))  # text, then inside the tool call
    fsim.provider("b").set_default(Continue(text=FULL))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    with pytest.raises(errors.StreamInterrupted) as info:
        call(router, mode, tools=tools)
    assert info.value.delivered_text == said
    assert fsim.provider("b").requests == []


def test_structured_output_is_not_continued(fsim: ProviderSimulator, clock: FakeClock) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(Truncate(after_chunks=5, reply=Reply(text='{"a": "' + "x" * 80)))
    fsim.provider("b").set_default(Continue(text=FULL))
    with pytest.raises(errors.StreamInterrupted):
        call(router, "sync-stream", response_format={"type": "json_object"})
    assert fsim.provider("b").requests == []


def test_recovery_can_be_turned_off(fsim: ProviderSimulator, clock: FakeClock) -> None:
    router = two(fsim, clock, stream_recovery=False)
    fsim.provider("a").set_default(Truncate(after_chunks=40, reply=Reply(text=FULL, chunk_size=4)))
    fsim.provider("b").set_default(Continue(text=FULL))
    with pytest.raises(errors.StreamInterrupted):
        call(router, "sync-stream")


@pytest.mark.parametrize("across", [False, True])
def test_recovery_across_models_only_when_configured(fsim: ProviderSimulator, clock: FakeClock, across: bool) -> None:
    fsim.add_provider("a").set_default(Truncate(after_chunks=40, reply=Reply(text=FULL, chunk_size=4)))
    fsim.add_provider("c").set_default(Continue(text=FULL))
    models = {"m": [endpoint("a")], "m2": [{**endpoint("c"), "continuation": "prefix"}]}
    cfg = config_for(
        fsim,
        models,
        router={"provider": {"sort": "ordered"}, "stream_recovery": {"across_models": across}},
        fallbacks={"m": ["m2"]},
    )
    router = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(7))
    if across:
        res = call(router, "async-stream")
        assert res.text == FULL and served(res) == [("a", "error"), ("c", "success")]
    else:
        with pytest.raises(errors.StreamInterrupted):
            call(router, "async-stream")
        assert fsim.provider("c").requests == []


def test_a_continuation_that_breaks_again_is_continued_again(fsim: ProviderSimulator, clock: FakeClock) -> None:
    fsim.add_provider("a").set_default(Truncate(after_chunks=20, reply=Reply(text=FULL, chunk_size=4)))
    fsim.add_provider("b")
    fsim.add_provider("c").set_default(Continue(text=FULL))
    rest = Reply(text=FULL[80:], chunk_size=4)
    fsim.provider("b").set_default(Truncate(after_chunks=10, reply=rest))
    eps = [endpoint("a"), {**endpoint("b"), "continuation": "prefix"}, {**endpoint("c"), "continuation": "prefix"}]
    router = build(fsim, clock, {"m": eps})
    res = call(router, "sync-stream")
    assert res.text == FULL
    assert served(res) == [("a", "error"), ("b", "error"), ("c", "success")]
    assert fsim.provider("c").requests[-1].prefill == FULL[:120]


# -- 12, 13: the request's own problems ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_12_context_length_goes_to_a_larger_context(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    fsim.add_provider("a").set_default(ErrorReply.context_length_exceeded())
    fsim.add_provider("b")
    fsim.add_provider("c")
    eps = [endpoint("a", context_length=8192), endpoint("b", context_length=8192), endpoint("c", context_length=128000)]
    router = build(fsim, clock, {"m": eps})
    res = call(router, mode)
    assert res.text == "Hello from c"
    assert fsim.provider("b").requests == []


@pytest.mark.parametrize("mode", MODES)
def test_13_content_filter_reaches_the_caller_at_once(fsim: ProviderSimulator, clock: FakeClock, mode: str) -> None:
    router = two(fsim, clock)
    reason = "Your request was rejected as a result of our safety system."
    fsim.provider("a").set_default(ErrorReply(400, message=reason, code="content_filter"))
    with pytest.raises(errors.ContentFiltered, match="safety system"):
        call(router, mode)
    assert len(fsim.provider("a").requests) == 1
    assert fsim.provider("b").requests == []


# -- 16: the response describes the endpoint that answered --------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_16_model_and_usage_describe_the_endpoint_that_answered(
    fsim: ProviderSimulator, clock: FakeClock, mode: str
) -> None:
    router = two(fsim, clock)
    fsim.provider("a").set_default(ErrorReply(503))
    fsim.provider("b").set_default(
        Reply(
            text="from b", model="b-model-2025", usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        )
    )
    res = call(router, mode)
    assert res.model == "b-model-2025"
    assert res.usage is not None and (res.usage.prompt_tokens, res.usage.completion_tokens) == (7, 3)
    assert res.route is not None and res.route.provider == "b" and res.route.usage == res.usage
