"""``polyroute.testing.FunctionBackend``: what each kind of answer becomes, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import polyroute
from polyroute import ChatCompletion, ChatCompletionChunk
from polyroute.testing import FakeClock, FunctionBackend, ProviderCall, Reply, ToolCallSpec

USER = [{"role": "user", "content": "hello there"}]


def router_for(backend: FunctionBackend, clock: FakeClock | None = None, **router: Any) -> polyroute.Router:
    cfg = {
        "providers": {"alpha": {"api": "custom"}},
        "models": {"m": {"endpoints": [{"provider": "alpha", "model": "alpha-1"}]}},
        "router": router,
    }
    return polyroute.Router.from_config(cfg, clock=clock, backends={"alpha": backend})


def streamed(router: polyroute.Router, **kw: Any) -> list[ChatCompletionChunk]:
    return list(router.completion(model="m", messages=USER, stream=True, **kw))


def text(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_chat_completion_is_returned_as_it_is_and_streamed_whole() -> None:
    made = ChatCompletion.from_dict(
        {
            "id": "x-1",
            "created": 7,
            "model": "alpha-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "made"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    )
    router = router_for(FunctionBackend(lambda call: made))
    resp = router.completion(model="m", messages=USER)
    assert resp is made and resp.route is not None
    chunks = streamed(router, stream_options={"include_usage": True})
    assert text(chunks) == "made"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3


def test_a_replys_timings_advance_the_given_clock() -> None:
    clock = FakeClock()
    backend = FunctionBackend(
        lambda call: Reply(text="abcdefgh", latency=1.0, ttft=0.5, chunk_delay=0.25, chunk_size=2), clock=clock
    )
    router = router_for(backend, clock)
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.latency_s == 1.0
    chunks = streamed(router)
    assert text(chunks) == "abcdefgh"
    assert clock.elapsed == 1.0 + 1.0 + 0.5 + 3 * 0.25
    route = chunks[-1].route
    assert route is not None and route.attempts[0].ttft_s == 1.5


def test_reasoning_and_tool_calls_in_a_whole_response() -> None:
    reply = Reply(reasoning="think", tool_calls=[ToolCallSpec("f", '{"a": 1}', id="c1")])
    resp = router_for(FunctionBackend(lambda call: reply)).completion(model="m", messages=USER)
    message = resp.choices[0].message
    assert message.reasoning == "think"
    assert message.tool_calls is not None and message.tool_calls[0].id == "c1"
    chunks = streamed(router_for(FunctionBackend(lambda call: reply)))
    assert any(c.choices and c.choices[0].delta.reasoning == "think" for c in chunks)


def test_pieces_are_joined_for_a_whole_response() -> None:
    piece = ChatCompletionChunk("p", 0, "alpha-1", [polyroute.ChunkChoice(0, polyroute.Delta(content="!"))])
    resp = router_for(FunctionBackend(lambda call: ["Hel", "lo", piece])).completion(model="m", messages=USER)
    assert resp.choices[0].message.content == "Hello!"


def test_a_wrong_answer_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="returns a str, a Reply"):
        router_for(FunctionBackend(lambda call: 42)).completion(model="m", messages=USER)
    with pytest.raises(TypeError, match="a stream piece is a str or a ChatCompletionChunk"):
        streamed(router_for(FunctionBackend(lambda call: [1, 2])))


def test_async_functions_and_async_generators() -> None:
    async def answer(call: ProviderCall) -> str:
        await asyncio.sleep(0)
        return f"async {call.index}"

    async def pieces(call: ProviderCall) -> AsyncIterator[str]:
        for p in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield p

    async def main() -> tuple[str | None, str | None, str]:
        one = await router_for(FunctionBackend(answer)).acompletion(model="m", messages=USER)
        two = await router_for(FunctionBackend(pieces)).acompletion(model="m", messages=USER)
        s = await router_for(FunctionBackend(answer)).acompletion(model="m", messages=USER, stream=True)
        three = [c async for c in s]
        return one.choices[0].message.content, two.choices[0].message.content, text(three)

    assert asyncio.run(main()) == ("async 0", "abc", "async 0")


def test_calls_are_recorded() -> None:
    backend = FunctionBackend(lambda call: "ok")
    router = router_for(backend)
    router.completion(model="m", messages=USER, temperature=0.5)
    streamed(router)
    assert [(c.index, c.stream, dict(c.params)) for c in backend.calls] == [
        (0, False, {"temperature": 0.5}),
        (1, True, {}),
    ]
