"""Conformance against real provider traffic: every recording in ``<shared>/real-traffic`` is replayed.

Each recorded interaction is answered by vcrpy (pydantic-ai's format through a small serializer)
while one of our backends makes the call for real: the provider's base URL from the zero-config
table, its wire adapter, and the httpx (sync) or aiohttp (async) transport. A success must parse to
what the recording holds (text, reasoning, tool calls, finish reason, usage; streams reassembled);
an error must map to the error class and retry/failover decision listed in :data:`EXPECTED_ERRORS`.
Skipped, with the reason, when the recordings are not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import vcr
from tests.conformance import _oracles
from tests.conformance._recordings import (
    PYDANTIC_AI,
    Exchange,
    PydanticAISerializer,
    Recording,
    recordings,
    skip_reason,
)

from polyroute import ChatCompletionChunk, ProviderSpec, RetrySettings, Secret
from polyroute._request import ChatRequest
from polyroute.adapters import adapter_for
from polyroute.backends._http import HttpBackend
from polyroute.catalog._catalog import Endpoint, Timeouts
from polyroute.catalog._known_providers import known_provider
from polyroute.errors import ProviderError
from polyroute.execution._policy import Action, decide
from polyroute.transports import AiohttpTransport, HttpxTransport

RECORDINGS = recordings()

#: error class and the engine's decision (first failure, default retry settings) per error recording
EXPECTED_ERRORS: dict[str, tuple[str, Action]] = {
    "cassettes/openai/mirascope/test_authentication_error/openai_gpt_4o_completions.yaml": (
        "AuthenticationError",
        Action.NEXT_MISCONFIGURED,
    ),
    "cassettes/openai/mirascope/test_authentication_error_stream/openai_gpt_4o_completions.yaml": (
        "AuthenticationError",
        Action.NEXT_MISCONFIGURED,
    ),
    "cassettes/openai/mirascope/test_model_not_found/openai_gpt_4o_completions.yaml": ("ModelNotFound", Action.NEXT),
    "cassettes/openai/pydantic-ai/test_openai/test_openai_o1_mini_system_role[system].yaml": (
        "BadRequest",
        Action.FAIL,
    ),
    "cassettes/anthropic/mirascope/test_authentication_error/anthropic_claude_sonnet_4_0.yaml": (
        "AuthenticationError",
        Action.NEXT_MISCONFIGURED,
    ),
    "cassettes/anthropic/mirascope/test_authentication_error_stream/anthropic_claude_sonnet_4_0.yaml": (
        "AuthenticationError",
        Action.NEXT_MISCONFIGURED,
    ),
    "cassettes/anthropic/mirascope/test_model_not_found/anthropic_claude_sonnet_4_0.yaml": (
        "ModelNotFound",
        Action.NEXT,
    ),
    "cassettes/anthropic/pydantic-ai/test_anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml": (
        "BadRequest",
        Action.FAIL,
    ),
    # Gemini reports a bad key as HTTP 400 INVALID_ARGUMENT with reason API_KEY_INVALID
    "cassettes/gemini/mirascope/test_authentication_error/google_gemini_2_5_flash.yaml": (
        "AuthenticationError",
        Action.NEXT_MISCONFIGURED,
    ),
    "cassettes/gemini/mirascope/test_model_not_found/google_gemini_2_5_flash.yaml": ("ModelNotFound", Action.NEXT),
    # upstream rate limit relayed by OpenRouter as 429 without Retry-After: retry after a backoff
    "cassettes/openrouter/pydantic-ai/test_openrouter/test_openrouter_errors_raised.yaml": (
        "RateLimited",
        Action.RETRY,
    ),
    # an error object {code: 400, "Token limit reached"} inside an HTTP 200 stream
    "cassettes/openrouter/pydantic-ai/test_openrouter/test_openrouter_stream_error.yaml": ("BadRequest", Action.FAIL),
    # the model generated an invalid tool call: the request was fine, sampling again may succeed
    "cassettes/groq/pydantic-ai/test_groq/test_tool_use_failed_error.yaml": ("MalformedResponse", Action.RETRY),
    "cassettes/groq/pydantic-ai/test_groq/test_tool_use_failed_error_streaming.yaml": (
        "MalformedResponse",
        Action.RETRY,
    ),
    "cassettes/groq/pydantic-ai/test_groq/test_tool_regular_error.yaml": ("ModelNotFound", Action.NEXT),
}

#: recordings of wire APIs polyroute does not speak, with the reason
UNSUPPORTED = {
    "/v1/responses": "OpenAI Responses API: polyroute speaks Chat Completions to OpenAI (no Responses adapter)",
}

#: values read off a few recordings by hand, so the oracles themselves are checked too
PINNED: dict[str, dict[str, Any]] = {
    "cassettes/anthropic/mirascope/test_call/anthropic_claude_sonnet_4_0/sync.yaml": {
        "text": "4200 + 42 = 4242",
        "finish_reason": "stop",
        "usage": (17, 15, 32),
    },
    "cassettes/anthropic/mirascope/test_max_tokens/anthropic_claude_sonnet_4_0/sync.yaml": {
        "finish_reason": "length",
        "usage": (15, 50, 65),
    },
    "cassettes/anthropic/llm-anthropic/test_anthropic/test_stream_events_tool_calls.yaml": {
        "tool_calls": [("pelican_name_generator", {})],
        "finish_reason": "tool_calls",
    },
    "cassettes/gemini/mirascope/test_call/google_gemini_2_5_flash/sync.yaml": {
        "finish_reason": "stop",
        "usage": (13, 102, 115),
        "reasoning_tokens": 25,
    },
    "cassettes/gemini/mirascope/test_max_tokens/google_gemini_2_5_flash/sync.yaml": {
        "text": "Here is a list of all 50 U",
        "finish_reason": "length",
    },
    "cassettes/deepseek/pydantic-ai/test_deepseek/test_deepseek_model_thinking_stream.yaml": {
        "usage": (6, 212, 218),
        "reasoning_tokens": 198,
    },
}

_TIMEOUTS = Timeouts(connect=5.0, read=5.0)
_MATCH_ON = ("method", "scheme", "host", "port", "path")


def _api(recording: Recording) -> str:
    return recording.provider if recording.provider in ("anthropic", "gemini") else "openai"


def _provider(recording: Recording) -> ProviderSpec:
    known = known_provider(recording.provider)
    assert known is not None, f"no zero-config entry for provider {recording.provider!r}"
    return ProviderSpec(
        name=known.name, api=known.api, base_url=known.base_url, api_key=Secret("sk-replay", source="test")
    )


def _endpoint_model(recording: Recording, exchange: Exchange) -> str:
    if _api(recording) == "gemini":
        path = unquote(urlsplit(exchange.uri).path)
        return path.rsplit("/models/", 1)[1].split(":", 1)[0]
    body = exchange.request_body
    return str(body.get("model")) if isinstance(body, dict) and body.get("model") else "recorded-model"


def _request(exchange: Exchange) -> ChatRequest:
    return ChatRequest(
        models=("replayed",), messages=[{"role": "user", "content": "replay"}], params={}, stream=exchange.stream
    )


def _vcr(recording: Recording, *, decode: bool) -> Any:
    recorder = vcr.VCR(record_mode="none", match_on=_MATCH_ON, decode_compressed_response=decode)
    recorder.register_serializer(PYDANTIC_AI, PydanticAISerializer)
    serializer = PYDANTIC_AI if recording.pydantic_ai else "yaml"
    return recorder.use_cassette(str(recording.path), serializer=serializer, allow_playback_repeats=False)


def _check_unsupported(recording: Recording) -> None:
    for fragment, reason in UNSUPPORTED.items():
        if any(fragment in urlsplit(e.uri).path for e in recording.exchanges()):
            pytest.skip(reason)


def _check(recording: Recording, exchange: Exchange, outcome: list[ChatCompletionChunk] | Any) -> None:
    api = _api(recording)
    expected = _oracles.expected_message(api, exchange.body, exchange.stream) if exchange.status < 300 else None
    if isinstance(outcome, ProviderError):
        assert exchange.status >= 300 or (expected is not None and expected.error), (
            f"{type(outcome).__name__} raised for a response the recording holds as a success: {outcome}"
        )
        assert recording.file in EXPECTED_ERRORS, f"no expectation for the error in {recording.file}: {outcome!r}"
        name, action = EXPECTED_ERRORS[recording.file]
        assert type(outcome).__name__ == name, f"{outcome!r}"
        assert decide(outcome, 0, RetrySettings()) is action
        assert outcome.message, "an error must say what went wrong"
        assert "sk-replay" not in str(outcome) and "sk-replay" not in (outcome.body or "")
        return
    assert expected is not None and not expected.error, f"expected an error, got {outcome!r}"
    actual = _oracles.from_chunks(outcome) if isinstance(outcome, list) else _oracles.from_completion(outcome)
    assert actual.text == expected.text
    assert actual.reasoning == expected.reasoning
    assert actual.tool_calls == expected.tool_calls
    assert actual.finish_reason == expected.finish_reason
    if expected.usage is not None:
        assert actual.usage == expected.usage
        assert actual.cached_tokens == expected.cached_tokens
        assert actual.reasoning_tokens == expected.reasoning_tokens
    pins = PINNED.get(recording.file)
    if pins and len(recording.streams) == 1:
        for key, value in pins.items():
            assert getattr(actual, key) == value, key


def _sync_outcomes(recording: Recording) -> Iterator[tuple[Exchange, Any]]:
    provider = _provider(recording)
    backend = HttpBackend(
        provider,
        adapter_for(provider.api),
        sync_transport=lambda p: HttpxTransport(),
        async_transport=lambda p: AiohttpTransport(),
    )
    try:
        with _vcr(recording, decode=False):
            for exchange in recording.exchanges():
                endpoint = Endpoint(provider=provider.name, model=_endpoint_model(recording, exchange))
                request = _request(exchange)
                try:
                    if exchange.stream:
                        outcome: Any = list(backend.stream(endpoint, request, _TIMEOUTS))
                    else:
                        outcome = backend.complete(endpoint, request, _TIMEOUTS)
                except ProviderError as err:
                    outcome = err
                yield exchange, outcome
    finally:
        backend.close()


async def _async_outcomes(recording: Recording) -> list[tuple[Exchange, Any]]:
    provider = _provider(recording)
    backend = HttpBackend(
        provider,
        adapter_for(provider.api),
        sync_transport=lambda p: HttpxTransport(),
        async_transport=lambda p: AiohttpTransport(),
    )
    out: list[tuple[Exchange, Any]] = []
    try:
        with _vcr(recording, decode=True):
            for exchange in recording.exchanges():
                endpoint = Endpoint(provider=provider.name, model=_endpoint_model(recording, exchange))
                request = _request(exchange)
                try:
                    if exchange.stream:
                        outcome: Any = [c async for c in backend.astream(endpoint, request, _TIMEOUTS)]
                    else:
                        outcome = await backend.acomplete(endpoint, request, _TIMEOUTS)
                except ProviderError as err:
                    outcome = err
                out.append((exchange, outcome))
    finally:
        await backend.aclose()
    return out


_PARAMS = [pytest.param(r, id=r.file) for r in RECORDINGS] or [
    pytest.param(None, id="real-traffic-absent", marks=pytest.mark.skip(reason=skip_reason()))
]


@pytest.mark.parametrize("recording", _PARAMS)
def test_replay_sync(recording: Recording) -> None:
    _check_unsupported(recording)
    for exchange, outcome in _sync_outcomes(recording):
        _check(recording, exchange, outcome)


@pytest.mark.asyncio
@pytest.mark.parametrize("recording", _PARAMS)
async def test_replay_async(recording: Recording) -> None:
    _check_unsupported(recording)
    for exchange, outcome in await _async_outcomes(recording):
        _check(recording, exchange, outcome)


@pytest.mark.skipif(not RECORDINGS, reason=skip_reason())
def test_every_error_recording_has_an_expectation() -> None:
    errors = {r.file for r in RECORDINGS if r.is_error_case}
    assert errors == set(EXPECTED_ERRORS)
