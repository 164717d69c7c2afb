"""Hostile requests: every parameter polyroute reads is checked before anything is sent, and the
only error a bad request can raise is ``InvalidRequest`` naming the parameter."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import ProviderSimulator

_BAD: list[tuple[dict[str, Any], str]] = [
    ({"models": 5}, "models"),
    ({"models": "m"}, "models"),
    ({"models": [None]}, "models"),
    ({"stream_options": "x"}, "stream_options"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ({"session_id": [1]}, "session_id"),
    ({"session_id": ""}, "session_id"),
    ({"timeout": "5"}, "timeout"),
    ({"timeout": {}}, "timeout"),
    ({"timeout": float("nan")}, "timeout"),
    ({"timeout": float("inf")}, "timeout"),
    ({"timeout": -1}, "timeout"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": True}, "timeout"),
    ({"extra_body": ("a",)}, "extra_body"),
    ({"extra_body": {1: 2}}, "extra_body"),
    ({"extra_body": {"x": {1, 2}}}, "x"),
    ({"tags": "beta"}, "tags"),
    ({"tags": [1]}, "tags"),
    ({"tags": 5}, "tags"),
    ({"metadata": 5}, "metadata"),
    ({"metadata": [("a", 1)]}, "metadata"),
    ({"metadata": {"a": object()}}, "metadata"),
    ({"metadata": {"a": "x" * 20_000}}, "metadata"),
    ({"caller_key": 5}, "caller_key"),
    ({"project": [1]}, "project"),
    ({"user": 5}, "user"),
    ({"user": "\ud800"}, "user"),
    ({"hedge": "sometimes"}, "hedge"),
    ({"provider": {"sort": 5}}, "provider.sort"),
    ({"messages": [{"role": ["user"], "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": {"x": 1}, "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}]}, "messages[0].content[0].type"),
    ({"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0]"),
    ({"messages": [{"role": "user", "content": "ok", "name": 5}]}, "messages[0].name"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": ({"role": "user", "content": "hi"}, 5)}, "messages[1]"),
    ({"messages": {"role": "user", "content": "hi"}}, "messages"),
    ({"max_tokens": 2**64}, "max_tokens"),
    ({"max_tokens": True}, "max_tokens"),
    ({"max_completion_tokens": 2**31}, "max_completion_tokens"),
    ({"n": 10**30}, "n"),
    ({"seed": 2**64}, "seed"),
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
    ({"logprobs": "yes"}, "logprobs"),
    ({"parallel_tool_calls": 1}, "parallel_tool_calls"),
    ({"logit_bias": {"1": 1000}}, "logit_bias"),
    ({"stop": "\udfff"}, "stop"),
    ({"reasoning_effort": 3}, "reasoning_effort"),
    ({"top_k": 2**70}, "top_k"),
    ({"top_k": {1, 2}}, "top_k"),
    ({"stream": "yes"}, "stream"),
]

_PARTS: list[tuple[Any, str]] = [
    ({"type": "image_url", "image_url": "http://x/y.png"}, "image_url.url"),
    ({"type": "image_url", "image_url": {"url": 5}}, "image_url.url"),
    ({"type": "image_url", "image_url": {"url": "http://x", "detail": 1}}, "image_url.detail"),
    ({"type": "input_audio", "input_audio": "abc"}, "input_audio"),
    ({"type": "input_audio", "input_audio": {"data": "abc", "format": 5}}, "input_audio.format"),
    ({"type": "file", "file": "abc"}, "file"),
    ({"type": "file", "file": {}}, "file"),
    ({"type": "file", "file": {"file_data": 5}}, "file.file_data"),
    ({"type": "refusal", "refusal": 5}, "refusal"),
    ({"type": "text", "text": "x", "cache_control": "ephemeral"}, "cache_control"),
    ("just text", ""),
]


def _call(router: Any, **kwargs: Any) -> Any:
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    return router.completion(**call)


@pytest.mark.parametrize(("kwargs", "param"), _BAD)
def test_bad_parameters_are_invalid_requests_naming_them(
    kwargs: dict[str, Any], param: str, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a")]})
    with pytest.raises(errors.InvalidRequest) as info:
        _call(router, **kwargs)
    assert info.value.param == param
    assert sim.provider("a").requests == []


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize(("part", "where"), _PARTS)
def test_content_parts_of_the_wrong_shape_never_reach_an_encoder(
    api: str, part: Any, where: str, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    sim.add_provider(f"p-{api}", api=api)
    router = make_router({"m": [endpoint(f"p-{api}")]})
    messages = [{"role": "user", "content": [part]}]
    with pytest.raises(errors.InvalidRequest) as info:
        router.completion(model="m", messages=messages)
    assert info.value.param == f"messages[0].content[0]{'.' + where if where else ''}"
    assert sim.provider(f"p-{api}").requests == []


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": None, "tool_calls": [5]},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": 5}}]},
        {"role": "assistant", "content": None, "tool_calls": "x"},
        {"role": "assistant", "content": "x", "thinking_blocks": "x"},
        {"role": "tool", "content": "x", "tool_call_id": 5},
    ],
)
@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_bad_history_messages_are_invalid_requests(
    api: str, message: dict[str, Any], sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    sim.add_provider(f"p-{api}", api=api)
    router = make_router({"m": [endpoint(f"p-{api}")]})
    with pytest.raises(errors.InvalidRequest) as info:
        router.completion(model="m", messages=[*USER, message])
    assert (info.value.param or "").startswith("messages[1]")


@pytest.mark.asyncio
async def test_async_calls_validate_alike(make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    for kwargs, param in _BAD[:12]:
        with pytest.raises(errors.InvalidRequest) as info:
            await router.acompletion(model="m", messages=USER, **kwargs)
        assert info.value.param == param


def test_a_valid_call_with_every_option_still_works(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    resp = _call(
        router,
        timeout=30,
        session_id="s-1",
        tags=("t1", "t2"),
        metadata={"team": "search", "n": 3},
        caller_key="key-1",
        project="p",
        stream_options={"include_usage": True},
        extra_body={"top_k": 3},
        provider={"sort": "price"},
        models=["m"],
        max_tokens=2**31 - 1,
        seed=-(2**63),
    )
    assert resp.choices[0].message.content
    body = sim.provider("a").requests[0].json
    assert body["top_k"] == 3
    assert body["messages"] == USER


def test_sync_calls_still_refuse_hedging(make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    with pytest.raises(errors.InvalidRequest) as info:
        _call(router, hedge=0.5)
    assert info.value.param == "hedge"
