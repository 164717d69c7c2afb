"""The Anthropic Messages adapter: what goes on the wire, and Anthropic's own response features.

Behaviours shared by every wire API (errors, failover, streams) are in test_wire_apis.py; here:
the request translation (read back from what the simulator received), thinking blocks, cache
usage, and Anthropic's errors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import USER

import polyroute
from polyroute import errors
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply, SimulatedProvider, ToolCallSpec

IMAGE = "data:image/png;base64,iVBORw0KGgo="


@pytest.fixture
def claude(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("claude", api="anthropic", api_key="sk-ant-test")


@pytest.fixture
def router(claude: SimulatedProvider, clock: FakeClock) -> Iterator[polyroute.Router]:
    config = {
        "providers": {"claude": {"api": "anthropic", "base_url": claude.base_url, "api_key": "${ANTHROPIC_API_KEY}"}},
        "models": {
            "sonnet": {"endpoints": [{"provider": "claude", "model": "claude-sonnet-4-0"}]},
            "capped": {"endpoints": [{"provider": "claude", "model": "claude-sonnet-4-0", "max_output_tokens": 1000}]},
        },
    }
    r = polyroute.Router.from_config(
        config, env={"ANTHROPIC_API_KEY": "sk-ant-test"}, clock=clock, rng=random.Random(0)
    )
    yield r
    r.close()


def sent(provider: SimulatedProvider) -> dict[str, Any]:
    body = provider.requests[-1].json
    assert body is not None
    return body


def test_headers_and_required_max_tokens(router: polyroute.Router, claude: SimulatedProvider) -> None:
    router.completion(model="sonnet", messages=USER)
    request = claude.requests[-1]
    assert request.path == "/claude/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert sent(claude) == {"model": "claude-sonnet-4-0", "max_tokens": 4096, "messages": USER}
    router.completion(model="sonnet", messages=USER, max_completion_tokens=77)
    assert sent(claude)["max_tokens"] == 77
    router.completion(model="capped", messages=USER)
    assert sent(claude)["max_tokens"] == 1000


def test_system_and_developer_messages_become_the_system_prompt(
    router: polyroute.Router, claude: SimulatedProvider
) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "hello"},
    ]
    router.completion(model="sonnet", messages=messages)
    body = sent(claude)
    assert body["system"] == "Be terse.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": "hello"}]


def test_images_and_cache_control_pass_through(router: polyroute.Router, claude: SimulatedProvider) -> None:
    ephemeral = {"type": "ephemeral"}
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Long policy...", "cache_control": ephemeral}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": IMAGE}},
                {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}},
            ],
            "cache_control": ephemeral,
        },
    ]
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}, "cache_control": ephemeral}
    ]
    router.completion(model="sonnet", messages=messages, tools=tools)
    body = sent(claude)
    assert body["system"] == [{"type": "text", "text": "Long policy...", "cache_control": ephemeral}]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}, "cache_control": ephemeral},
    ]
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}, "cache_control": ephemeral}]


def test_tools_and_tool_choice(router: polyroute.Router, claude: SimulatedProvider) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    expectations = [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ]
    for choice, wire in expectations:
        router.completion(model="sonnet", messages=USER, tools=tools, tool_choice=choice)
        body = sent(claude)
        assert body["tool_choice"] == wire
        assert body["tools"] == [
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
    router.completion(model="sonnet", messages=USER, tools=tools, parallel_tool_calls=False)
    assert sent(claude)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_tool_use_round_trip(router: polyroute.Router, claude: SimulatedProvider) -> None:
    claude.enqueue(
        Reply(
            text="Checking both.",
            tool_calls=[
                ToolCallSpec("weather", {"city": "Paris"}, id="toolu_1"),
                ToolCallSpec("weather", {"city": "Oslo"}, id="toolu_2"),
            ],
        ),
        Reply(text="Paris 21C, Oslo 9C."),
    )
    first = router.completion(model="sonnet", messages=USER)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content == "Checking both."
    history = [
        *USER,
        message.model_dump(),
        {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "9C"},
    ]
    second = router.completion(model="sonnet", messages=history)
    assert second.choices[0].message.content == "Paris 21C, Oslo 9C."
    assert sent(claude)["messages"] == [
        USER[0],
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "9C"},
            ],
        },
    ]


def test_thinking_blocks_come_back_and_go_back_with_their_signature(
    router: polyroute.Router, claude: SimulatedProvider
) -> None:
    claude.enqueue(Reply(reasoning="Need the weather tool.", tool_calls=[ToolCallSpec("weather", {}, id="toolu_9")]))
    first = router.completion(model="sonnet", messages=USER, reasoning_effort="low")
    body = sent(claude)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["max_tokens"] > 1024
    message = first.choices[0].message
    assert message.reasoning == "Need the weather tool."
    blocks = message.extra["thinking_blocks"]
    assert blocks == [{"type": "thinking", "thinking": "Need the weather tool.", "signature": blocks[0]["signature"]}]
    assert blocks[0]["signature"]
    history = [*USER, message.model_dump(), {"role": "tool", "tool_call_id": "toolu_9", "content": "sunny"}]
    router.completion(model="sonnet", messages=history)
    assert sent(claude)["messages"][1]["content"][0] == blocks[0]


def test_streamed_thinking_carries_its_signature(router: polyroute.Router, claude: SimulatedProvider) -> None:
    claude.set_default(Reply(reasoning="Let me think about it.", text="Done.", chunk_size=6))
    chunks = list(router.completion(model="sonnet", messages=USER, stream=True))
    reasoning = "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices)
    assert reasoning == "Let me think about it."
    blocks = [b for c in chunks if c.choices for b in c.choices[0].delta.extra.get("thinking_blocks", [])]
    assert [b["thinking"] for b in blocks] == ["Let me think about it."]
    assert blocks[0]["signature"]


def test_sampling_parameters(router: polyroute.Router, claude: SimulatedProvider) -> None:
    router.completion(
        model="sonnet",
        messages=USER,
        temperature=1.6,
        top_p=0.9,
        stop=["\n\n"],
        user="user-42",
        seed=7,
        presence_penalty=0.5,
        logit_bias={"1": 2},
        extra_body={"top_k": 40},
    )
    body = sent(claude)
    assert body["temperature"] == 1.0  # OpenAI's 0-2 range onto Anthropic's 0-1
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["\n\n"]
    assert body["metadata"] == {"user_id": "user-42"}
    assert body["top_k"] == 40
    assert not {"seed", "presence_penalty", "logit_bias", "stop", "user"} & set(body)


def test_stop_reasons(router: polyroute.Router, claude: SimulatedProvider) -> None:
    for native, expected in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ]:
        claude.set_default(Reply(text="x", finish_reason=native))
        assert router.completion(model="sonnet", messages=USER).choices[0].finish_reason == expected


def test_usage_counts_cache_reads_and_writes_in_prompt_tokens(
    router: polyroute.Router, claude: SimulatedProvider
) -> None:
    native = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
        "output_tokens": 30,
    }
    claude.set_default(Reply(text="cached", usage=native))
    usage = router.completion(model="sonnet", messages=USER).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1210, 30, 1240)
    assert (usage.cached_tokens, usage.cache_write_tokens) == (1000, 200)
    stream = router.completion(model="sonnet", messages=USER, stream=True, stream_options={"include_usage": True})
    final = list(stream)[-1].usage
    assert final is not None and (final.prompt_tokens, final.cached_tokens, final.cache_write_tokens) == (
        1210,
        1000,
        200,
    )


def test_overloaded_529_is_retried(router: polyroute.Router, claude: SimulatedProvider) -> None:
    claude.enqueue(ErrorReply(529))
    resp = router.completion(model="sonnet", messages=USER)
    assert resp.route is not None
    assert [(a.error, a.status) for a in resp.route.attempts] == [("ServerError", 529), (None, 200)]


def test_rate_limit_error_with_retry_after(
    router: polyroute.Router, claude: SimulatedProvider, clock: FakeClock
) -> None:
    claude.enqueue(ErrorReply(429, retry_after=3))
    resp = router.completion(model="sonnet", messages=USER)
    assert resp.route is not None and resp.route.attempts[0].error == "RateLimited"
    assert clock.sleeps == [3.0]


def test_prompt_too_long_is_context_length_exceeded(router: polyroute.Router, claude: SimulatedProvider) -> None:
    claude.set_default(ErrorReply(400, message="prompt is too long: 215000 tokens > 200000 maximum"))
    with pytest.raises(errors.NoEndpointAvailable) as info:
        router.completion(model="sonnet", messages=USER)
    assert [a.error for a in info.value.attempts] == ["ContextLengthExceeded"]


def test_a_wrong_key_is_an_authentication_error(sim: ProviderSimulator, claude: SimulatedProvider) -> None:
    config = {
        "providers": {"claude": {"api": "anthropic", "base_url": claude.base_url, "api_key": "${KEY}"}},
        "models": {"m": {"endpoints": [{"provider": "claude", "model": "claude-sonnet-4-0"}]}},
    }
    with polyroute.Router.from_config(config, env={"KEY": "sk-ant-wrong"}) as router:
        with pytest.raises(errors.NoEndpointAvailable) as info:
            router.completion(model="m", messages=USER)
    attempt = info.value.attempts[0]
    assert (attempt.error, attempt.status, attempt.message) == ("AuthenticationError", 401, "invalid x-api-key")
    assert "sk-ant-wrong" not in str(info.value)
