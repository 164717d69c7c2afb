"""The Gemini generateContent adapter: what goes on the wire, and Gemini's own response features.

Behaviours shared by every wire API are in test_wire_apis.py; here: URL and key placement, the
request translation (read back from what the simulator received), function calling with thought
signatures, usage metadata, safety, both stream framings, and Gemini's errors (a bad key is HTTP
400; a 429's RetryInfo delay is honoured).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import USER

import polyroute
from polyroute import errors
from polyroute._request import ChatRequest
from polyroute.adapters import GeminiAdapter
from polyroute.catalog._catalog import Endpoint
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply, SimulatedProvider, ToolCallSpec

KEY = "AIza-test-key"


@pytest.fixture
def gem(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("gem", api="gemini", api_key=KEY)


def make(gem: SimulatedProvider, clock: FakeClock, *, key: str = KEY, backup: str | None = None) -> polyroute.Router:
    providers: dict[str, Any] = {"gem": {"api": "gemini", "base_url": gem.base_url, "api_key": "${GEMINI_API_KEY}"}}
    endpoints = [{"provider": "gem", "model": "gemini-2.5-flash"}]
    if backup is not None:
        providers["backup"] = {"base_url": backup}
        endpoints.append({"provider": "backup", "model": "backup-model"})
    config = {"providers": providers, "models": {"flash": {"endpoints": endpoints}}}
    return polyroute.Router.from_config(config, env={"GEMINI_API_KEY": key}, clock=clock, rng=random.Random(0))


@pytest.fixture
def router(gem: SimulatedProvider, clock: FakeClock) -> Iterator[polyroute.Router]:
    r = make(gem, clock)
    yield r
    r.close()


def sent(provider: SimulatedProvider) -> dict[str, Any]:
    body = provider.requests[-1].json
    assert body is not None
    return body


def test_model_in_the_path_key_in_a_header(router: polyroute.Router, gem: SimulatedProvider) -> None:
    router.completion(model="flash", messages=USER)
    request = gem.requests[-1]
    assert request.path == "/gem/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.query == {}
    assert request.headers["x-goog-api-key"] == KEY
    list(router.completion(model="flash", messages=USER, stream=True))
    request = gem.requests[-1]
    assert request.path == "/gem/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == {"alt": "sse"}
    assert KEY not in request.path and KEY not in str(request.query)


def test_the_key_never_appears_in_the_request_url_or_its_repr(gem: SimulatedProvider) -> None:
    provider = polyroute.ProviderSpec("gem", api="gemini", base_url=gem.base_url, api_key=polyroute.Secret(KEY))
    request = ChatRequest(models=("m",), messages=USER, params={}, stream=True)
    http = GeminiAdapter().build_request(provider, Endpoint("gem", "gemini-2.5-flash"), request)
    assert KEY not in http.url and KEY not in repr(http)


def test_request_translation(router: polyroute.Router, gem: SimulatedProvider) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {"role": "assistant", "content": "A square."},
        {"role": "user", "content": "Sure?"},
    ]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    router.completion(
        model="flash",
        messages=messages,
        temperature=0.3,
        top_p=0.8,
        max_tokens=256,
        stop="END",
        seed=11,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        reasoning_effort="low",
        extra_body={"safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
    )
    body = sent(gem)
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}],
        },
        {"role": "model", "parts": [{"text": "A square."}]},
        {"role": "user", "parts": [{"text": "Sure?"}]},
    ]
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.8,
        "seed": 11,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"


def test_function_calling_round_trip_keeps_thought_signatures(router: polyroute.Router, gem: SimulatedProvider) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    gem.enqueue(
        Reply(tool_calls=[ToolCallSpec("weather", {"city": "Paris"}), ToolCallSpec("weather", {"city": "Rome"})]),
        Reply(text="Sunny in both."),
    )
    first = router.completion(model="flash", messages=USER, tools=tools, tool_choice="required")
    body = sent(gem)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "weather",
                    "description": "Weather",
                    "parametersJsonSchema": tools[0]["function"]["parameters"],
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    calls = message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("weather", '{"city":"Paris"}'),
        ("weather", '{"city":"Rome"}'),
    ]
    signature = calls[0].extra["extra_content"]["google"]["thought_signature"]
    assert signature and "extra_content" not in calls[1].extra
    history = [
        *USER,
        message.model_dump(),
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "18C"},
    ]
    second = router.completion(model="flash", messages=history, tools=tools)
    assert second.choices[0].message.content == "Sunny in both."
    assert sent(gem)["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": signature},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "weather", "response": {"content": "18C"}}},
            ],
        },
    ]


def test_usage_metadata_with_thinking_and_cached_tokens(router: polyroute.Router, gem: SimulatedProvider) -> None:
    meta = {
        "promptTokenCount": 120,
        "cachedContentTokenCount": 100,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 55,
        "totalTokenCount": 195,
    }
    gem.set_default(Reply(text="ok", reasoning="thinking...", usage=meta))
    resp = router.completion(model="flash", messages=USER)
    usage = resp.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 75, 195)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (100, 55)
    assert resp.choices[0].message.reasoning == "thinking..."
    stream = router.completion(model="flash", messages=USER, stream=True, stream_options={"include_usage": True})
    final = list(stream)[-1].usage
    assert final is not None and (final.completion_tokens, final.reasoning_tokens, final.cached_tokens) == (75, 55, 100)


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST"])
def test_safety_finish_reasons_are_content_filter(
    router: polyroute.Router, gem: SimulatedProvider, reason: str
) -> None:
    gem.set_default(Reply(text="", finish_reason=reason))
    assert router.completion(model="flash", messages=USER).choices[0].finish_reason == "content_filter"


def test_a_blocked_prompt_is_content_filtered() -> None:
    body = (
        b'{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "usageMetadata": {"promptTokenCount": 9}}'
    )
    with pytest.raises(errors.ContentFiltered) as info:
        GeminiAdapter().parse_response(Endpoint("gem", "gemini-2.5-flash"), body)
    assert info.value.code == "SAFETY"


def test_a_wrong_key_is_http_400_but_an_authentication_error(
    gem: SimulatedProvider, sim: ProviderSimulator, clock: FakeClock
) -> None:
    backup = sim.add_provider("backup")
    with make(gem, clock, key="AIza-wrong", backup=backup.base_url) as router:
        resp = router.completion(model="flash", messages=USER)
    assert resp.route is not None
    failed = resp.route.attempts[0]
    assert (failed.error, failed.status, failed.message) == (
        "AuthenticationError",
        400,
        "API key not valid. Please pass a valid API key.",
    )
    assert resp.route.provider == "backup"
    assert len(gem.requests) == 1  # not retried


def test_retry_info_delay_is_honoured(router: polyroute.Router, gem: SimulatedProvider, clock: FakeClock) -> None:
    gem.enqueue(ErrorReply(429, retry_after=7))
    resp = router.completion(model="flash", messages=USER)
    assert resp.route is not None and [a.error for a in resp.route.attempts] == ["RateLimited", None]
    assert clock.sleeps == [7.0]


def test_a_retry_delay_beyond_the_cap_moves_on(
    gem: SimulatedProvider, sim: ProviderSimulator, clock: FakeClock
) -> None:
    backup = sim.add_provider("backup")
    gem.set_default(ErrorReply(429, retry_after=3600))
    with make(gem, clock, backup=backup.base_url) as router:
        resp = router.completion(model="flash", messages=USER)
    assert resp.route is not None and resp.route.provider == "backup"
    assert clock.sleeps == []


def test_json_array_stream_decodes_like_sse(gem: SimulatedProvider) -> None:
    gem.set_default(
        Reply(
            text="Pelicans are large water birds.",
            reasoning="Recall birds.",
            tool_calls=[ToolCallSpec("f", {"x": [1, "]"]})],
            chunk_size=4,
        )
    )
    adapter = GeminiAdapter()
    endpoint = Endpoint("gem", "gemini-2.5-flash")
    request = ChatRequest(models=("m",), messages=USER, params={}, stream=True)
    url = f"{gem.base_url}/models/gemini-2.5-flash:streamGenerateContent"
    texts = []
    for query in ({"alt": "sse"}, {}):
        raw = httpx.post(url, params=query, headers={"x-goog-api-key": KEY}, json={"contents": []}, timeout=5).content
        assert raw.lstrip().startswith(b"data:" if query else b"[")
        decoder = adapter.stream_decoder(endpoint, request)
        chunks = [c for i in range(0, len(raw), 7) for c in decoder.feed(raw[i : i + 7])] + decoder.finish()
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reasoning = "".join(c.choices[0].delta.reasoning or "" for c in chunks if c.choices)
        calls = [t.function.arguments for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or ()]
        texts.append((text, reasoning, calls, chunks[-1].usage is not None))
    assert texts[0] == texts[1] == ("Pelicans are large water birds.", "Recall birds.", ['{"x":[1,"]"]}'], True)


def test_a_stream_cut_before_its_finish_reason_is_incomplete(gem: SimulatedProvider) -> None:
    adapter = GeminiAdapter()
    decoder = adapter.stream_decoder(
        Endpoint("gem", "m"), ChatRequest(models=("m",), messages=USER, params={}, stream=True)
    )
    decoder.feed(
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}]}\r\n\r\n'
    )
    with pytest.raises(errors.IncompleteStream):
        decoder.finish()
