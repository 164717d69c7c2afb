"""The same behaviours through every wire API: OpenAI, Anthropic Messages and Gemini.

Each test runs once per API, over real loopback HTTP against the simulator speaking that API's
wire format, through the public Router. The caller must not be able to tell which API served it:
the same response shape, the same stream shape, the same errors and the same failover.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import ChatCompletion, ChatCompletionChunk, errors
from polyroute.testing import (
    Disconnect,
    ErrorReply,
    FakeClock,
    Hang,
    MalformedJSON,
    ProviderSimulator,
    Reply,
    StreamErrorReply,
    ToolCallSpec,
    Truncate,
)

APIS = ["openai", "anthropic", "gemini"]


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def add(sim: ProviderSimulator, name: str, api: str) -> None:
    sim.add_provider(name, api=api)


def shape(resp: ChatCompletion) -> dict[str, Any]:
    """What the caller reads, with the provider-specific ids and extras taken out."""
    msg = resp.choices[0].message
    return {
        "object": resp.object,
        "role": msg.role,
        "content": msg.content,
        "reasoning": msg.reasoning,
        "tool_calls": [
            (c.type, c.function.name, json.loads(c.function.arguments or "{}")) for c in msg.tool_calls or ()
        ],
        "finish_reason": resp.choices[0].finish_reason,
        "usage": (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens)
        if resp.usage
        else None,
    }


def reassemble(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    text, reasoning, finish, usage = "", "", None, None
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += choice.delta.reasoning or ""
            for c in choice.delta.tool_calls or ():
                assert c.index is not None
                slot = calls.setdefault(c.index, ["", ""])
                slot[0] += c.function.name or ""
                slot[1] += c.function.arguments or ""
            finish = choice.finish_reason or finish
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
    return {
        "content": text,
        "reasoning": reasoning or None,
        "tool_calls": [(n, json.loads(a)) for n, a in (calls[i] for i in sorted(calls))],
        "finish_reason": finish,
        "usage": usage,
    }


# -- successes ---------------------------------------------------------------------------------


def test_text_reply(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p", "served-model")]})
    sim.provider("p").set_default(
        Reply(text="The capital is Paris.", usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
    )
    resp = router.completion(model="m", messages=USER)
    assert shape(resp) == {
        "object": "chat.completion",
        "role": "assistant",
        "content": "The capital is Paris.",
        "reasoning": None,
        "tool_calls": [],
        "finish_reason": "stop",
        "usage": (12, 5, 17),
    }
    assert resp.route is not None and resp.route.provider == "p" and resp.route.endpoint_model == "served-model"
    assert sim.provider("p").requests[0].model == "served-model"
    assert resp.route.cost is not None and resp.route.cost > 0


def test_tool_calls(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    calls = [ToolCallSpec(name="get_weather", arguments={"city": "Paris"}), ToolCallSpec(name="get_time", arguments={})]
    sim.provider("p").set_default(Reply(tool_calls=calls))
    resp = router.completion(model="m", messages=USER, tools=[_tool("get_weather"), _tool("get_time")])
    got = shape(resp)
    assert got["tool_calls"] == [("function", "get_weather", {"city": "Paris"}), ("function", "get_time", {})]
    assert got["finish_reason"] == "tool_calls"
    assert got["content"] is None
    ids = [c.id for c in resp.choices[0].message.tool_calls or ()]
    assert all(ids) and len(set(ids)) == 2


def test_reasoning(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    sim.provider("p").set_default(Reply(text="4", reasoning="2 + 2 is 4."))
    resp = router.completion(model="m", messages=USER)
    assert resp.choices[0].message.content == "4"
    assert resp.choices[0].message.reasoning == "2 + 2 is 4."
    assert resp.choices[0].message.model_dump()["reasoning_content"] == "2 + 2 is 4."


@pytest.mark.parametrize("finish", ["stop", "length", "tool_calls", "content_filter"])
def test_finish_reasons_map_to_openai(
    api: str, finish: str, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    tools = [ToolCallSpec(name="f")] if finish == "tool_calls" else []
    sim.provider("p").set_default(Reply(text="x" if not tools else None, tool_calls=tools, finish_reason=finish))
    assert router.completion(model="m", messages=USER).choices[0].finish_reason == finish


def test_cached_tokens_count_in_prompt_tokens(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    sim.provider("p").set_default(Reply(text="ok", usage=usage))
    resp = router.completion(model="m", messages=USER)
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.cached_tokens, resp.usage.total_tokens) == (100, 60, 107)


def test_stream_reassembles_to_the_whole_response(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    reply = Reply(
        text="Streaming across three wire formats.",
        reasoning="Think first.",
        tool_calls=[ToolCallSpec(name="lookup", arguments={"q": "wire formats", "n": 3})],
        usage={"prompt_tokens": 9, "completion_tokens": 30, "total_tokens": 39},
        chunk_size=5,
    )
    sim.provider("p").set_default(reply)
    whole = router.completion(model="m", messages=USER)
    with router.completion(model="m", messages=USER, stream=True, stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
    got = reassemble(chunks)
    expected = shape(whole)
    assert got["content"] == expected["content"] == "Streaming across three wire formats."
    assert got["reasoning"] == expected["reasoning"] == "Think first."
    assert got["tool_calls"] == [(name, args) for _, name, args in expected["tool_calls"]]
    assert got["finish_reason"] == expected["finish_reason"] == "tool_calls"
    assert got["usage"] == expected["usage"] == (9, 30, 39)
    assert chunks[-1].route is not None and chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1


def test_stream_without_include_usage_keeps_usage_on_the_route(
    api: str, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    sim.provider("p").set_default(
        Reply(text="hi", usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
    )
    stream = router.completion(model="m", messages=USER, stream=True)
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert stream.route is not None and stream.route.usage is not None
    assert stream.route.usage.total_tokens == 4


@pytest.mark.asyncio
async def test_async_completion_and_stream(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]})
    sim.provider("p").set_default(Reply(text="async hello", tool_calls=[ToolCallSpec(name="f", arguments={"a": 1})]))
    resp = await router.acompletion(model="m", messages=USER)
    assert shape(resp)["tool_calls"] == [("function", "f", {"a": 1})]
    stream = await router.acompletion(model="m", messages=USER, stream=True)
    chunks = [c async for c in stream]
    got = reassemble(chunks)
    assert (got["content"], got["tool_calls"], got["finish_reason"]) == ("async hello", [("f", {"a": 1})], "tool_calls")
    await router.aclose()


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "requests"),
    [
        (401, "AuthenticationError", 1),
        (403, "AuthenticationError", 1),
        (404, "ModelNotFound", 1),
        (500, "ServerError", 2),
        (503, "ServerError", 2),
        (529, "ServerError", 2),
        (429, "RateLimited", 2),
    ],
)
def test_errors_classify_and_fail_over(
    api: str, status: int, error: str, requests: int, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p"), endpoint("backup")]})
    sim.provider("p").set_default(ErrorReply(status))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "backup"
    failed = [a for a in resp.route.attempts if a.outcome == "error"]
    assert {a.error for a in failed} == {error}
    assert {a.status for a in failed} == {status}
    assert len(sim.provider("p").requests) == requests  # retryable ones are retried once first


def test_bad_request_fails_without_failover(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p"), endpoint("backup")]})
    sim.provider("p").set_default(ErrorReply(400, message="messages: roles must alternate"))
    with pytest.raises(errors.BadRequest) as info:
        router.completion(model="m", messages=USER)
    assert "roles must alternate" in str(info.value)
    assert len(sim.provider("backup").requests) == 0


def test_context_length_moves_to_a_larger_context(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router(
        {
            "m": [
                endpoint("p", context_length=8192),
                endpoint("same", context_length=8192),
                endpoint("big", context_length=200000),
            ]
        }
    )
    message = {
        "openai": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        "anthropic": "prompt is too long: 9000 tokens > 8192 maximum",
        "gemini": "The input token count (9000) exceeds the maximum number of tokens allowed (8192).",
    }[api]
    sim.provider("p").set_default(ErrorReply(400, message=message))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "big"
    assert [(a.provider, a.outcome, a.error) for a in resp.route.attempts][:2] == [
        ("p", "error", "ContextLengthExceeded"),
        ("same", "skipped", "ContextLengthExceeded"),
    ]


def test_rate_limit_wait_is_honoured(
    api: str, sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p")]}, router={"retry": {"base_delay": 0.01}})
    sim.provider("p").enqueue(ErrorReply(429, retry_after=7))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and [a.error for a in resp.route.attempts] == ["RateLimited", None]
    assert clock.sleeps == [7.0]


@pytest.mark.parametrize(
    "behaviour",
    [Truncate(after_chunks=0), Disconnect(after_chunks=0), MalformedJSON(), StreamErrorReply(after_chunks=0)],
    ids=["truncate", "disconnect", "malformed", "in-band-error"],
)
def test_broken_streams_fail_over_invisibly_before_content(
    api: str, behaviour: Any, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p"), endpoint("backup")]}, router={"retry": {"max_retries": 0}})
    sim.provider("p").set_default(behaviour)
    stream = router.completion(model="m", messages=USER, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from backup"
    assert stream.route is not None and stream.route.provider == "backup"


@pytest.mark.parametrize(
    "behaviour", [Truncate(after_chunks=2), StreamErrorReply(after_chunks=2), Disconnect(after_chunks=2)]
)
def test_failure_after_content_interrupts_the_stream(
    api: str, behaviour: Any, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p"), endpoint("backup")]})
    sim.provider("p").set_default(behaviour)
    received = ""
    with pytest.raises(errors.StreamInterrupted) as info:
        for chunk in router.completion(model="m", messages=USER, stream=True):
            received += "".join(c.delta.content or "" for c in chunk.choices)
    assert info.value.delivered_text == received == "Hello from p. He"
    assert isinstance(info.value.error, errors.ProviderError)
    assert len(sim.provider("backup").requests) == 0


def test_truncated_whole_response_is_malformed(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router({"m": [endpoint("p"), endpoint("backup")]}, router={"retry": {"max_retries": 0}})
    sim.provider("p").set_default(Truncate())
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.attempts[0].error == "MalformedResponse"


def test_first_token_timeout_fails_over(api: str, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    add(sim, "p", api)
    router = make_router(
        {"m": [endpoint("p"), endpoint("backup")]},
        router={"retry": {"max_retries": 0}, "timeout": {"first_token": 0.2}},
    )
    sim.provider("p").set_default(Hang())
    stream = router.completion(model="m", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from backup"
    assert stream.route is not None and stream.route.attempts[0].error == "FirstTokenTimeout"


def test_failover_across_protocols_is_invisible(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    for name, api in (("claude", "anthropic"), ("gem", "gemini"), ("gpt", "openai")):
        add(sim, name, api)
    router = make_router(
        {"m": [endpoint("claude"), endpoint("gem"), endpoint("gpt")]}, router={"retry": {"max_retries": 0}}
    )
    reply = Reply(text="same answer", usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    for name in ("claude", "gem", "gpt"):
        sim.provider(name).set_default(reply)
    responses = [router.completion(model="m", messages=USER)]
    sim.provider("claude").set_default(ErrorReply(529))
    responses.append(router.completion(model="m", messages=USER))
    sim.provider("gem").set_default(ErrorReply(503))
    responses.append(router.completion(model="m", messages=USER))
    assert [r.route.provider for r in responses if r.route] == ["claude", "gem", "gpt"]
    assert shape(responses[0]) == shape(responses[1]) == shape(responses[2])
    for resp in responses:
        dump = resp.model_dump(exclude_route=True)
        assert set(dump) >= {"id", "object", "created", "model", "choices", "usage"}
        assert set(dump["choices"][0]) == {"index", "message", "logprobs", "finish_reason"}
        assert {"role", "content"} <= set(dump["choices"][0]["message"])
        assert set(dump["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
