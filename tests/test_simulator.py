"""polyroute.testing: the provider simulator, exercised over real loopback HTTP.

Sync tests use httpx, async tests use aiohttp. Nothing sleeps for real: delays go through a
FakeClock, and the only real waits are the tiny client timeouts of the Hang tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from polyroute._clock import SystemClock
from polyroute.testing import (
    Disconnect,
    ErrorReply,
    FakeClock,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    ProviderSimulator,
    RecordedRequest,
    Reply,
    SimulatedProvider,
    StreamErrorReply,
    ToolCallSpec,
    Truncate,
)

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]  # 30 chars -> 7 tokens


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


@pytest.fixture
def groq(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("groq")


def chat(provider: SimulatedProvider, **body: Any) -> httpx.Response:
    payload = {"model": "llama-3.1-8b", "messages": MESSAGES, **body}
    return httpx.post(provider.base_url + "/chat/completions", json=payload, timeout=5)


def sse_events(raw: str) -> list[str]:
    """The ``data:`` payloads and ``:`` comments of an SSE body, in order."""
    assert raw.endswith("\n\n") or raw == "", raw[-50:]
    return [frame for frame in raw.split("\n\n") if frame]


def data_chunks(raw: str) -> list[Any]:
    """Parsed JSON of each ``data:`` frame (``"[DONE]"`` kept as a string)."""
    out: list[Any] = []
    for frame in sse_events(raw):
        if frame.startswith("data: "):
            payload = frame[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def deltas(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if isinstance(c, dict) and c["choices"]]


# -- plain replies -----------------------------------------------------------------------------


def test_default_reply_is_a_real_looking_completion(groq: SimulatedProvider) -> None:
    response = chat(groq)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == "chatcmpl-sim-1"
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "llama-3.1-8b"
    assert body["system_fingerprint"] == "fp_sim"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from groq", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_base_urls(sim: ProviderSimulator, groq: SimulatedProvider) -> None:
    assert sim.base_url == f"http://127.0.0.1:{sim.port}"
    assert groq.base_url == f"{sim.base_url}/groq/v1"
    assert sim.provider("groq") is groq


def test_ensure_provider_adds_once_then_returns_the_same(sim: ProviderSimulator) -> None:
    added = sim.ensure_provider("ensured", api="anthropic")
    assert added.api == "anthropic"
    assert sim.ensure_provider("ensured", api="openai") is added  # options only apply when adding
    assert sim.provider("ensured") is added


def test_queue_is_consumed_in_order_then_default(groq: SimulatedProvider) -> None:
    groq.set_default(Reply(text="default"))
    groq.enqueue(ErrorReply(503), Reply(text="first"))
    groq.enqueue(Reply(text="second"))
    assert groq.pending == 3

    statuses = []
    texts = []
    for _ in range(5):
        response = chat(groq)
        statuses.append(response.status_code)
        texts.append(response.json()["choices"][0]["message"]["content"] if response.status_code == 200 else None)

    assert statuses == [503, 200, 200, 200, 200]
    assert texts == [None, "first", "second", "default", "default"]
    assert groq.pending == 0


def test_reply_overrides(groq: SimulatedProvider) -> None:
    groq.enqueue(
        Reply(
            text="ok",
            model="llama-3.1-8b-instant-0613",
            finish_reason="length",
            reasoning="step by step",
            extra_usage={"prompt_tokens_details": {"cached_tokens": 10}, "cost": 0.001},
            headers={"x-ratelimit-remaining-requests": "9"},
        ),
        Reply(text="ok", usage={"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}),
    )

    first = chat(groq)
    body = first.json()
    assert first.headers["x-ratelimit-remaining-requests"] == "9"
    assert body["model"] == "llama-3.1-8b-instant-0613"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["message"]["reasoning_content"] == "step by step"
    # "ok" + "step by step" = 14 chars -> 3 completion tokens
    assert body["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 10},
        "cost": 0.001,
    }
    assert chat(groq).json()["usage"] == {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}


def test_tool_calls_non_stream(groq: SimulatedProvider) -> None:
    groq.enqueue(
        Reply(
            tool_calls=[
                ToolCallSpec("get_weather", {"city": "Paris"}),
                ToolCallSpec("get_time", '{"tz": "CET"}', id="call_custom"),
            ]
        )
    )

    message = chat(groq).json()["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] is None
    assert message["message"]["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_custom", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}},
    ]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "type_", "code", "message_part"),
    [
        (400, "invalid_request_error", None, "Invalid request"),
        (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
        (403, "permission_error", None, "not allowed"),
        (404, "invalid_request_error", "model_not_found", "The model `llama-3.1-8b` does not exist"),
        (429, "requests", "rate_limit_exceeded", "Rate limit reached for llama-3.1-8b"),
        (500, "server_error", None, "The server had an error"),
        (502, "server_error", "service_unavailable", "Bad gateway"),
        (503, "server_error", "service_unavailable", "overloaded or not ready"),
        (504, "server_error", "service_unavailable", "Gateway timeout"),
        (529, "overloaded_error", "overloaded", "overloaded"),
        (418, "invalid_request_error", None, "status 418"),
        (599, "server_error", None, "status 599"),
    ],
)
def test_error_bodies_look_like_openai(
    groq: SimulatedProvider, status: int, type_: str, code: str | None, message_part: str
) -> None:
    groq.enqueue(ErrorReply(status))

    response = chat(groq)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert message_part in error["message"]
    assert (error["type"], error["param"], error["code"]) == (type_, None, code)


def test_error_fields_override_defaults(groq: SimulatedProvider) -> None:
    groq.enqueue(ErrorReply(400, message="bad tools", type="custom_type", code=1234, param="tools"))

    assert chat(groq).json() == {
        "error": {"message": "bad tools", "type": "custom_type", "param": "tools", "code": 1234}
    }


def test_retry_headers(groq: SimulatedProvider) -> None:
    groq.enqueue(
        ErrorReply(429, retry_after=2),
        ErrorReply(429, retry_after=1.5),
        ErrorReply(429, retry_after_ms=250),
        ErrorReply(503, retry_after=7, retry_after_ms=7000, headers={"x-extra": "1"}),
        ErrorReply(429),
    )

    first, second, third, fourth, fifth = (chat(groq) for _ in range(5))

    assert first.headers["retry-after"] == "2"
    assert "Please try again in 2s." in first.json()["error"]["message"]
    assert second.headers["retry-after"] == "1.5"
    assert third.headers["retry-after-ms"] == "250"
    assert "retry-after" not in third.headers
    assert "Please try again in 250ms." in third.json()["error"]["message"]
    assert (fourth.headers["retry-after"], fourth.headers["retry-after-ms"], fourth.headers["x-extra"]) == (
        "7",
        "7000",
        "1",
    )
    assert "retry-after" not in fifth.headers and "retry-after-ms" not in fifth.headers
    assert "try again" not in fifth.json()["error"]["message"]


def test_error_body_override(groq: SimulatedProvider) -> None:
    groq.enqueue(
        ErrorReply(502, body=b"<html>502 Bad Gateway</html>", headers={"content-type": "text/html"}),
        ErrorReply(400, body={"error": {"message": "raw", "code": 400}}),
        ErrorReply(500, body="not json at all"),
    )

    html, mapping, text = (chat(groq) for _ in range(3))

    assert (html.status_code, html.headers["content-type"], html.text) == (
        502,
        "text/html",
        "<html>502 Bad Gateway</html>",
    )
    assert mapping.json() == {"error": {"message": "raw", "code": 400}}
    assert text.text == "not json at all"


def test_context_length_exceeded(groq: SimulatedProvider) -> None:
    groq.enqueue(ErrorReply.context_length_exceeded())

    response = chat(groq)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": (
                "This model's maximum context length is 8192 tokens. However, your messages resulted in "
                "9000 tokens. Please reduce the length of the messages."
            ),
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def test_insufficient_quota(groq: SimulatedProvider) -> None:
    groq.enqueue(ErrorReply.insufficient_quota())

    response = chat(groq)

    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")


def test_errors_are_json_even_for_stream_requests(groq: SimulatedProvider) -> None:
    groq.enqueue(ErrorReply(503))

    response = chat(groq, stream=True)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "server_error"


def test_api_key_check(sim: ProviderSimulator) -> None:
    openai = sim.add_provider("openai", api_key="sk-sim-secret-1234")
    url = openai.base_url + "/chat/completions"
    body = {"model": "gpt-4o", "messages": MESSAGES}
    openai.enqueue(Reply(text="authorised"))

    missing = httpx.post(url, json=body)
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-wrong-key-9876"})
    right = httpx.post(url, json=body, headers={"Authorization": "Bearer sk-sim-secret-1234"})

    assert missing.status_code == 401
    assert missing.json()["error"]["code"] is None
    assert "You didn't provide an API key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "Incorrect API key provided: sk-w" in wrong.json()["error"]["message"]
    assert "sk-wrong-key-9876" not in wrong.json()["error"]["message"]
    assert right.json()["choices"][0]["message"]["content"] == "authorised"  # rejected ones consumed nothing
    assert len(openai.requests) == 3


# -- streams -----------------------------------------------------------------------------------


def test_stream_frames(groq: SimulatedProvider) -> None:
    groq.enqueue(Reply(text="Paris is the capital."))  # 21 chars -> 8 + 8 + 5

    response = chat(groq, stream=True)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    chunks = data_chunks(response.text)
    assert chunks[-1] == "[DONE]"
    objects = chunks[:-1]
    for chunk in objects:
        assert chunk["id"] == "chatcmpl-sim-1"
        assert chunk["object"] == "chat.completion.chunk"
        assert isinstance(chunk["created"], int)
        assert chunk["model"] == "llama-3.1-8b"
        assert chunk["system_fingerprint"] == "fp_sim"
        assert "usage" not in chunk
    assert deltas(objects) == [
        {"role": "assistant", "content": ""},
        {"content": "Paris is"},
        {"content": " the cap"},
        {"content": "ital."},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in objects] == [None, None, None, None, "stop"]


def test_stream_usage_chunk_only_with_include_usage(groq: SimulatedProvider) -> None:
    groq.enqueue(Reply(text="Paris", chunk_size=2))

    chunks = data_chunks(chat(groq, stream=True, stream_options={"include_usage": True}).text)

    assert chunks[-1] == "[DONE]"
    *content, usage_chunk = chunks[:-1]
    assert all(chunk["usage"] is None for chunk in content)
    assert deltas(content) == [
        {"role": "assistant", "content": ""},
        {"content": "Pa"},
        {"content": "ri"},
        {"content": "s"},
        {},
    ]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}


def test_stream_tool_call_deltas(groq: SimulatedProvider) -> None:
    groq.enqueue(
        Reply(tool_calls=[ToolCallSpec("get_weather", '{"city":"Paris"}'), ToolCallSpec("noop", "{}")], chunk_size=10)
    )

    chunks = data_chunks(chat(groq, stream=True).text)

    assert deltas(chunks) == [
        {"role": "assistant", "content": None},
        {
            "tool_calls": [
                {"index": 0, "id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"P'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'aris"}'}}]},
        {
            "tool_calls": [
                {"index": 1, "id": "call_1", "type": "function", "function": {"name": "noop", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_reasoning_and_sse_comment(groq: SimulatedProvider) -> None:
    groq.enqueue(Reply(text="Hi", reasoning="hmm", sse_comments=True))

    raw = chat(groq, stream=True).text

    assert sse_events(raw)[0] == ": keep-alive"
    assert deltas(data_chunks(raw)) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "hmm"},
        {"content": "Hi"},
        {},
    ]


@pytest.mark.asyncio
async def test_stream_with_aiohttp_client(groq: SimulatedProvider) -> None:
    groq.enqueue(Reply(text="abcdefghij", chunk_size=4))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            groq.base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        ) as response:
            assert response.status == 200
            lines = [line.decode().rstrip("\n") async for line in response.content]

    payloads = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    texts = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads[:-1]]
    assert texts == ["", "abcd", "efgh", "ij", None]


# -- failures mid-flight -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_disconnect_mid_stream(groq: SimulatedProvider) -> None:
    groq.enqueue(Disconnect(after_chunks=2))
    received: list[str] = []

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.post(
                groq.base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
            ) as response:
                assert response.status == 200
                async for line in response.content:
                    if line.startswith(b"data: "):
                        received.append(line.decode().strip())

    chunks = [json.loads(line[len("data: ") :]) for line in received]
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello fr"}, {"content": "om groq."}]


def test_disconnect_with_custom_reply_and_sync_client(groq: SimulatedProvider) -> None:
    groq.enqueue(Disconnect(after_chunks=1, reply=Reply(text="The answer is 42", chunk_size=4)))
    lines: list[str] = []

    with pytest.raises(httpx.RemoteProtocolError):  # noqa: PT012
        with httpx.stream(
            "POST", groq.base_url + "/chat/completions", json={"model": "m", "messages": [], "stream": True}
        ) as response:
            lines.extend(line for line in response.iter_lines() if line)

    assert deltas([json.loads(line[len("data: ") :]) for line in lines]) == [
        {"role": "assistant", "content": ""},
        {"content": "The "},
    ]


def test_disconnect_non_stream_sends_nothing(groq: SimulatedProvider) -> None:
    groq.enqueue(Disconnect())

    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        chat(groq)
    assert chat(groq).status_code == 200  # the server is fine afterwards


def test_truncate_stream_ends_cleanly_without_done(groq: SimulatedProvider) -> None:
    groq.enqueue(Truncate(after_chunks=2))

    response = chat(groq, stream=True, stream_options={"include_usage": True})  # no transport error

    chunks = data_chunks(response.text)
    assert "[DONE]" not in chunks
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello fr"}, {"content": "om groq."}]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_truncate_non_stream_cuts_the_body(groq: SimulatedProvider) -> None:
    groq.enqueue(Truncate())

    response = chat(groq)

    assert response.status_code == 200
    assert response.text.startswith("{")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_stream_error_reply(groq: SimulatedProvider) -> None:
    groq.enqueue(StreamErrorReply(after_chunks=1, message="Upstream died", code=502))

    response = chat(groq, stream=True)

    assert response.status_code == 200
    chunks = data_chunks(response.text)
    assert chunks[-1] == "[DONE]"
    assert deltas(chunks[:2]) == [{"role": "assistant", "content": ""}, {"content": "Hello fr"}]
    error_chunk = chunks[2]
    assert error_chunk["object"] == "chat.completion.chunk"
    assert error_chunk["id"] == chunks[0]["id"]
    assert error_chunk["error"] == {"code": 502, "message": "Upstream died"}
    assert error_chunk["choices"] == [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
    assert len(chunks) == 4


def test_stream_error_reply_non_stream(groq: SimulatedProvider) -> None:
    groq.enqueue(StreamErrorReply(after_chunks=1))

    response = chat(groq)

    assert response.status_code == 200
    body = response.json()
    assert body["error"] == {"code": 502, "message": "Provider returned error"}
    assert body["choices"][0]["finish_reason"] == "error"
    assert body["choices"][0]["message"]["content"] == "Hello fr"


def test_malformed_json(groq: SimulatedProvider) -> None:
    groq.enqueue(MalformedJSON(), MalformedJSON(), MalformedJSON(stream=True))

    plain = chat(groq)
    streamed = chat(groq, stream=True)
    forced = chat(groq)

    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.text)
    for response in (streamed, forced):
        assert response.headers["content-type"] == "text/event-stream"
        frames = sse_events(response.text)
        assert frames[-1] == "data: [DONE]"
        json.loads(frames[0][len("data: ") :])  # the role chunk is fine
        with pytest.raises(json.JSONDecodeError):
            json.loads(frames[1][len("data: ") :])


def test_hang_until_the_client_gives_up(groq: SimulatedProvider) -> None:
    groq.enqueue(Hang())

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(groq.base_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=0.2)
    assert chat(groq).status_code == 200  # the next request is served normally


@pytest.mark.parametrize("behavior", [Hang(), Reply(latency=60.0), Reply(ttft=60.0)], ids=["hang", "latency", "ttft"])
def test_stop_is_prompt_with_requests_in_flight(behavior: Hang | Reply) -> None:
    sim = ProviderSimulator().start()
    groq = sim.add_provider("groq")
    arrived = threading.Event()

    def note_arrival(request: RecordedRequest) -> Hang | Reply:
        arrived.set()
        return behavior

    groq.set_default(FunctionBehavior(note_arrival))
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(chat(groq, stream=True).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    assert arrived.wait(5)

    started = time.perf_counter()
    sim.stop()
    client.join(5)

    assert time.perf_counter() - started < 1.0
    assert not sim.running
    [error] = outcome
    assert isinstance(error, httpx.RemoteProtocolError)


def test_stop_cuts_short_a_custom_clock_sleep() -> None:
    sim = ProviderSimulator(clock=SystemClock()).start()
    groq = sim.add_provider("groq")
    arrived = threading.Event()

    def note_arrival(request: RecordedRequest) -> Reply:
        arrived.set()
        return Reply(latency=60.0)

    groq.set_default(FunctionBehavior(note_arrival))
    client = threading.Thread(target=lambda: pytest.raises(httpx.RemoteProtocolError, chat, groq))
    client.start()
    assert arrived.wait(5)

    started = time.perf_counter()
    sim.stop()
    client.join(5)

    assert time.perf_counter() - started < 1.0


def test_start_failure_is_reported(sim: ProviderSimulator) -> None:
    clash = ProviderSimulator(port=sim.port)
    with pytest.raises(RuntimeError, match="failed to start") as caught:
        clash.start()
    assert isinstance(caught.value.__cause__, OSError)
    assert not clash.running
    clash.stop()  # nothing to stop


@pytest.mark.asyncio
async def test_hang_after_chunks_stalls_an_open_stream(groq: SimulatedProvider) -> None:
    groq.enqueue(Hang(after_chunks=1))
    lines: list[bytes] = []

    async with aiohttp.ClientSession() as session:
        async with session.post(
            groq.base_url + "/chat/completions", json={"model": "m", "messages": [], "stream": True}
        ) as response:
            assert response.status == 200
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    async for line in response.content:
                        if line.strip():
                            lines.append(line)

    assert len(lines) == 2  # role chunk + one content chunk, then silence


# -- dynamic behaviour -------------------------------------------------------------------------


def test_function_behavior(groq: SimulatedProvider) -> None:
    def by_model(request: RecordedRequest) -> ErrorReply | Reply:
        if request.model == "missing":
            return ErrorReply(404)
        return Reply(text=f"echo {request.messages[-1]['content']}")

    groq.set_default(FunctionBehavior(by_model))

    assert chat(groq).json()["choices"][0]["message"]["content"] == "echo What is the capital of France?"
    missing = chat(groq, model="missing")
    assert missing.status_code == 404
    assert "The model `missing` does not exist" in missing.json()["error"]["message"]


def test_function_behavior_errors_become_500_and_are_kept(groq: SimulatedProvider) -> None:
    def broken(request: RecordedRequest) -> Reply:
        raise ValueError("oops")

    groq.enqueue(FunctionBehavior(broken), FunctionBehavior(lambda request: "not a behaviour"))  # type: ignore[arg-type,return-value]

    first, second = chat(groq), chat(groq)

    assert (first.status_code, second.status_code) == (500, 500)
    assert "oops" in first.json()["error"]["message"]
    assert [type(e) for e in groq.errors] == [ValueError, TypeError]


# -- time --------------------------------------------------------------------------------------


def test_fake_clock_advances_instead_of_sleeping() -> None:
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        groq = sim.add_provider("groq")
        groq.enqueue(Reply(latency=30), Reply(text="abcdefghijkl", chunk_size=4, latency=1, ttft=2, chunk_delay=0.5))
        groq.enqueue(ErrorReply(503, latency=4))
        started = time.perf_counter()

        first = chat(groq)
        after_first = clock.monotonic()
        chat(groq, stream=True)  # 3 content chunks: 1 + 2 + 0.5 * 2
        after_second = clock.monotonic()
        chat(groq)
        after_third = clock.monotonic()

    assert time.perf_counter() - started < 5  # nothing waited 30 s
    assert (after_first, after_second, after_third) == (30.0, 34.0, 38.0)
    assert first.json()["created"] == 1_700_000_000  # created stamps come from the fake clock
    assert groq.requests[0].received_at == 1_700_000_000.0
    assert clock.sleeps == []  # the simulator advances; sleeps are the code under test's


def test_fake_clock_unit() -> None:
    clock = FakeClock(start=100.0)
    assert (clock.monotonic(), clock.time()) == (0.0, 100.0)

    clock.sleep(1.5)
    asyncio.run(clock.asleep(2.0))
    clock.advance(0.5)

    assert clock.sleeps == [1.5, 2.0]
    assert (clock.monotonic(), clock.time(), clock.elapsed) == (4.0, 104.0, 4.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_fake_clock_satisfies_the_clock_protocol() -> None:
    from polyroute._clock import Clock

    assert isinstance(FakeClock(), Clock)


# -- recording, routing, lifecycle -------------------------------------------------------------


def test_requests_are_recorded(groq: SimulatedProvider) -> None:
    httpx.post(
        groq.base_url + "/chat/completions?trace=1",
        json={"model": "llama", "messages": MESSAGES, "stream": True},
        headers={"X-Custom": "abc", "Authorization": "Bearer sk-1"},
    )

    [request] = groq.requests
    assert (request.provider, request.method, request.path) == ("groq", "POST", "/groq/v1/chat/completions")
    assert request.query == {"trace": "1"}
    assert request.headers["x-custom"] == request.headers["X-CUSTOM"] == "abc"
    assert "authorization" in dict(request.headers)
    assert request.json == {"model": "llama", "messages": MESSAGES, "stream": True}
    assert json.loads(request.body) == request.json
    assert (request.stream, request.model, request.messages) == (True, "llama", MESSAGES)
    assert request.received_at > 0


def test_unknown_paths_and_bad_bodies(sim: ProviderSimulator, groq: SimulatedProvider) -> None:
    unknown_provider = httpx.post(sim.base_url + "/nobody/v1/chat/completions", json={})
    unknown_path = httpx.post(groq.base_url + "/audio/speech", json={})
    wrong_method = httpx.get(groq.base_url + "/chat/completions")
    bad_json = httpx.post(groq.base_url + "/chat/completions", content=b"{not json")

    assert unknown_provider.status_code == 404
    assert unknown_path.status_code == 404
    assert unknown_path.json()["error"]["message"] == "Invalid URL (POST /groq/v1/audio/speech)"
    assert wrong_method.status_code == 404
    assert bad_json.status_code == 400
    assert "could not parse the JSON body" in bad_json.json()["error"]["message"]
    assert len(groq.requests) == 3
    assert groq.requests[2].json is None


def test_models_endpoint(sim: ProviderSimulator) -> None:
    provider = sim.add_provider("together", models=["meta-llama/Llama-3-70b"])
    chat(provider, model="qwen-2.5")

    listing = httpx.get(provider.base_url + "/models").json()

    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["meta-llama/Llama-3-70b", "qwen-2.5"]
    assert listing["data"][0]["owned_by"] == "together"


def test_reset(groq: SimulatedProvider) -> None:
    groq.set_default(ErrorReply(500))
    groq.enqueue(ErrorReply(503))
    chat(groq)

    groq.reset()

    assert (groq.pending, groq.requests) == (0, [])
    assert chat(groq).json()["choices"][0]["message"]["content"] == "Hello from groq"


def test_provider_registry_errors(sim: ProviderSimulator, groq: SimulatedProvider) -> None:
    with pytest.raises(KeyError, match="no simulated provider named 'nope'.*groq"):
        sim.provider("nope")
    with pytest.raises(ValueError, match="already"):
        sim.add_provider("groq")
    with pytest.raises(ValueError, match="unknown api"):
        sim.add_provider("claude", api="smoke-signals")
    with pytest.raises(ValueError, match="URL path segment"):
        sim.add_provider("a/b")
    assert sim.providers == [groq]


def test_behaviour_validation() -> None:
    with pytest.raises(ValueError, match="latency"):
        Reply(latency=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        Reply(chunk_size=0)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        ErrorReply(200)
    with pytest.raises(ValueError, match="after_chunks"):
        Disconnect(after_chunks=-1)


def test_not_running() -> None:
    sim = ProviderSimulator()
    provider = sim.add_provider("early")
    with pytest.raises(RuntimeError, match="not running"):
        _ = provider.base_url
    with sim:
        assert provider.base_url.endswith("/early/v1")
        with pytest.raises(RuntimeError, match="already running"):
            sim.start()
    sim.stop()  # idempotent


def test_many_simulators_side_by_side() -> None:
    sims = [ProviderSimulator().start() for _ in range(5)]
    try:
        assert len({s.port for s in sims}) == 5
        for index, s in enumerate(sims):
            provider = s.add_provider(f"p{index}")
            assert chat(provider).json()["choices"][0]["message"]["content"] == f"Hello from p{index}"
    finally:
        for s in sims:
            s.stop()


def test_restart_gets_a_working_server() -> None:
    sim = ProviderSimulator()
    provider = sim.add_provider("groq")
    for _ in range(3):
        with sim:
            assert chat(provider).status_code == 200
    assert len(provider.requests) == 3


@pytest.mark.asyncio
async def test_async_context_manager_and_50_concurrent_requests() -> None:
    async with ProviderSimulator() as sim:
        groq = sim.add_provider("groq")
        groq.set_default(FunctionBehavior(lambda r: Reply(text=f"n={r.json['n'] if r.json else '?'}", chunk_size=3)))

        async def one(session: aiohttp.ClientSession, n: int) -> str:
            body = {"model": "m", "messages": MESSAGES, "n": n, "stream": n % 2 == 0}
            async with session.post(groq.base_url + "/chat/completions", json=body) as response:
                raw = await response.text()
            if n % 2:
                return str(json.loads(raw)["choices"][0]["message"]["content"])
            return "".join(d.get("content") or "" for d in deltas(data_chunks(raw)))

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            results = await asyncio.gather(*(one(session, n) for n in range(50)))

    assert results == [f"n={n}" for n in range(50)]
    assert len(groq.requests) == 50
    assert len({r.json["n"] for r in groq.requests if r.json}) == 50


# -- the official client agrees ----------------------------------------------------------------


def test_openai_sdk_understands_the_simulator(sim: ProviderSimulator) -> None:
    openai = pytest.importorskip("openai")
    provider = sim.add_provider("oa", api_key="sk-sim")
    provider.enqueue(
        Reply(text="Bonjour"),
        Reply(text="abc", tool_calls=[ToolCallSpec("lookup", {"q": "x"})]),
        ErrorReply(429, retry_after=1),
        ErrorReply.context_length_exceeded(),
        StreamErrorReply(after_chunks=1),
    )
    client = openai.OpenAI(base_url=provider.base_url, api_key="sk-sim", max_retries=0)
    messages = [{"role": "user", "content": "hi"}]

    completion = client.chat.completions.create(model="gpt-4o", messages=messages)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    with pytest.raises(openai.APIError, match="Provider returned error"):
        list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=provider.base_url, api_key="sk-other", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=messages
        )

    assert completion.choices[0].message.content == "Bonjour"
    assert completion.usage is not None and completion.usage.total_tokens == 2  # 1 + 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "lookup"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"q": "x"}'
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert (rate_limited.value.code, rate_limited.value.response.headers["retry-after"]) == ("rate_limit_exceeded", "1")
    assert (too_long.value.code, too_long.value.param) == ("context_length_exceeded", "messages")
