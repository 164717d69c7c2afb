"""Requests: bad input is a typed error before anything is sent; good input reaches the provider intact."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import ProviderSimulator, Reply, ToolCallSpec

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}, "messages[0].content[0].type"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0].image_url.url",
        ),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "assistant", "content": None}]}, "messages[0]"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": "100"}, "max_completion_tokens"),
        ({"seed": 1.5}, "seed"),
        ({"stop": [1, 2]}, "stop"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "tool_choice.function.name",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"model": "unknown-model"}, "model"),
        ({"models": ["unknown-model"]}, "models[0]"),
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
        ({"provider": "groq"}, "provider"),
    ],
)
def test_bad_requests_raise_before_sending(
    kwargs: dict[str, Any], param: str, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a")]})
    call: dict[str, Any] = {"model": "m", "messages": USER, **kwargs}
    with pytest.raises(errors.InvalidRequest) as info:
        router.completion(**call)
    assert info.value.param == param
    assert str(info.value).startswith(param)
    assert sim.provider("a").requests == []


def test_parameters_reach_the_provider(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    router.completion(
        model="m",
        messages=messages,
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["\n"],
        seed=7,
        tools=TOOLS,
        tool_choice="auto",
        response_format={"type": "json_object"},
        user="user-42",
        metadata={"team": "search"},
        tags=["beta"],
        caller_key="key-1",
        project="proj",
        logit_bias={"50256": -100},
        top_k=40,  # type: ignore[call-arg]  # unknown extras pass through
        extra_body={"repetition_penalty": 1.1},
    )
    body = sim.provider("a").requests[0].json
    assert body["model"] == "a-model"
    assert body["messages"] == messages
    for key, value in {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["\n"],
        "seed": 7,
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "user": "user-42",
        "top_k": 40,
        "repetition_penalty": 1.1,
        "logit_bias": {"50256": -100},
    }.items():
        assert body[key] == value, key
    for ours in ("metadata", "tags", "caller_key", "project", "extra_body", "models", "provider", "stream"):
        assert ours not in body


def test_response_model_dump_is_openai_json(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Reply(tool_calls=[ToolCallSpec("lookup", {"q": "x"}, id="call_9")]))
    resp = router.completion(model="m", messages=USER, tools=TOOLS)
    data = resp.model_dump(exclude_route=True)
    assert data["object"] == "chat.completion"
    assert data["choices"][0] == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
            ],
            "refusal": None,
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    full = resp.model_dump(mode="json")
    assert full["route"]["provider"] == "a"
    assert isinstance(full["route"]["cost"], str)
    import json

    json.dumps(full)  # serialisable as is


def test_assistant_tool_round_trip_messages_are_valid(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    messages = [
        {"role": "user", "content": "look it up"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    resp = router.completion(model="m", messages=messages, tools=TOOLS)
    assert resp.choices[0].message.content == "Hello from a"
