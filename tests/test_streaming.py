"""Streams: failover before the first content, typed errors after it, never a silent success."""

from __future__ import annotations

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import ChatCompletionChunk, errors
from polyroute.testing import (
    Disconnect,
    ErrorReply,
    MalformedJSON,
    ProviderSimulator,
    Reply,
    StreamErrorReply,
    ToolCallSpec,
    Truncate,
)


def _text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_chunks_and_final_route(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Reply(text="The quick brown fox jumps", chunk_size=5))
    stream = router.completion(model="m", messages=USER, stream=True)
    chunks = list(stream)
    assert _text(chunks) == "The quick brown fox jumps"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.route is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert final.route is not None and final.route.provider == "a"
    assert final.route.cost is not None and final.route.usage is not None
    assert stream.route is final.route
    # the caller did not ask for usage: no usage-only chunk, no usage on chunks
    assert all(c.usage is None for c in chunks)
    # but polyroute asked upstream, to account for the call
    assert sim.provider("a").requests[0].json["stream_options"] == {"include_usage": True}


def test_stream_usage_chunk_when_asked(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    chunks = list(router.completion(model="m", messages=USER, stream=True, stream_options={"include_usage": True}))
    final = chunks[-1]
    assert final.choices == [] and final.usage is not None
    assert final.route is not None and final.route.usage == final.usage
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_stream_model_dump_is_openai_json(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    chunks = list(router.completion(model="m", messages=USER, stream=True))
    first = chunks[1].model_dump()
    assert set(first) == {"id", "object", "created", "model", "choices", "system_fingerprint"}
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["content"]
    last = chunks[-1].model_dump(mode="json")
    assert isinstance(last["route"]["cost"], str)
    assert "route" not in chunks[-1].model_dump(exclude_route=True)


@pytest.mark.parametrize(
    "failure",
    [
        ErrorReply(503),
        Disconnect(after_chunks=0),
        StreamErrorReply(after_chunks=0),
        Truncate(after_chunks=0),
        MalformedJSON(),
    ],
)
def test_failover_before_first_content_is_invisible(
    failure: object, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(failure)  # type: ignore[arg-type]
    chunks = list(router.completion(model="m", messages=USER, stream=True))
    assert _text(chunks) == "Hello from b"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role == "assistant") == 1
    route = chunks[-1].route
    assert route is not None and route.provider == "b"
    assert route.attempts[0].outcome == "error"


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Disconnect(after_chunks=2), errors.ConnectionLost),
        (StreamErrorReply(after_chunks=2), errors.ServerError),
        (Truncate(after_chunks=2), errors.IncompleteStream),
    ],
)
def test_failure_after_content_raises_stream_interrupted(
    failure: object, error: type[Exception], sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    sim.provider("a").set_default(Reply(text="abcdefghijklmnop", chunk_size=4))
    sim.provider("a").enqueue(failure)  # type: ignore[arg-type]
    got: list[ChatCompletionChunk] = []
    with pytest.raises(errors.StreamInterrupted) as info:
        for chunk in router.completion(model="m", messages=USER, stream=True):
            got.append(chunk)
    err = info.value
    assert isinstance(err.error, error)
    assert err.delivered_text == _text(got) != ""
    assert err.delivered_chunks == len(got)
    assert [a.outcome for a in err.attempts] == ["error"]
    assert len(sim.provider("b").requests) == 0  # no silent restart after content


def test_truncated_stream_is_never_a_silent_success(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(Truncate(after_chunks=0))
    with pytest.raises(errors.NoEndpointAvailable) as info:
        list(router.completion(model="m", messages=USER, stream=True))
    assert [type(e) for e in info.value.errors] == [errors.IncompleteStream]


def test_sse_comments_are_ignored(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Reply(text="ok then", sse_comments=True))
    assert _text(list(router.completion(model="m", messages=USER, stream=True))) == "ok then"


def test_streamed_tool_calls(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(
        Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Paris", "unit": "celsius"})], chunk_size=6)
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    chunks = list(router.completion(model="m", messages=USER, stream=True, tools=tools))
    args = "".join(tc.function.arguments or "" for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or [])
    names = [
        tc.function.name for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or [] if tc.function.name
    ]
    assert names == ["get_weather"]
    assert args == '{"city": "Paris", "unit": "celsius"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_closing_a_stream_early_records_the_attempt(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    seen = []

    class Obs:
        def on_attempt(self, request, request_id, attempt):  # type: ignore[no-untyped-def]
            seen.append(attempt)

        def on_call(self, request, route, error):  # type: ignore[no-untyped-def]
            seen.append(error)

    router = make_router({"m": [endpoint("a")]}, observers=[Obs()])
    sim.provider("a").set_default(Reply(text="a long answer " * 20, chunk_size=4))
    with router.completion(model="m", messages=USER, stream=True) as stream:
        next(stream)
        next(stream)
    assert seen[0].error == "Cancelled"
    assert isinstance(seen[1], errors.Cancelled)
