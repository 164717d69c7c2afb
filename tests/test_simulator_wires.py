"""The simulator's Anthropic and Gemini wire formats, read raw over HTTP (httpx), as a client would."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from polyroute.testing import ErrorReply, ProviderSimulator, Reply, SimulatedProvider, StreamErrorReply, ToolCallSpec

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]  # 30 chars -> 7 tokens


def events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# -- Anthropic ---------------------------------------------------------------------------------


@pytest.fixture
def claude(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("claude", api="anthropic", api_key="sk-ant")


def messages(provider: SimulatedProvider, key: str | None = "sk-ant", **body: Any) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01", **({"x-api-key": key} if key else {})}
    payload = {"model": "claude-sonnet-4-0", "max_tokens": 100, "messages": MESSAGES, **body}
    return httpx.post(provider.base_url + "/messages", json=payload, headers=headers, timeout=5)


def test_anthropic_message(claude: SimulatedProvider) -> None:
    claude.set_default(Reply(text="Paris.", tool_calls=[ToolCallSpec("f", {"a": 1}, id="toolu_1")]))
    body = messages(claude).json()
    assert body["type"] == "message" and body["role"] == "assistant" and body["id"].startswith("msg_")
    assert body["content"] == [
        {"type": "text", "text": "Paris."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    ]
    assert body["stop_reason"] == "tool_use"
    assert body["usage"]["input_tokens"] == 7
    assert claude.base_url.endswith("/claude/v1")


def test_anthropic_stream_events(claude: SimulatedProvider) -> None:
    claude.set_default(Reply(text="Paris is lovely", reasoning="hmm", chunk_size=8))
    response = messages(claude, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    seen = events(response.text)
    names = [name for name, _ in seen]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [data["delta"] for name, data in seen if name == "content_block_delta"]
    assert [d["type"] for d in deltas] == ["thinking_delta", "signature_delta", "text_delta", "text_delta"]
    assert seen[-2][1]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("status", "etype"),
    [
        (400, "invalid_request_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_anthropic_error_bodies(claude: SimulatedProvider, status: int, etype: str) -> None:
    claude.enqueue(ErrorReply(status, retry_after=5 if status == 429 else None))
    response = messages(claude)
    body = response.json()
    assert response.status_code == status
    assert body["type"] == "error" and body["error"]["type"] == etype and body["error"]["message"]
    assert body["request_id"].startswith("req_")
    if status == 429:
        assert response.headers["retry-after"] == "5"


def test_anthropic_rejects_a_missing_or_wrong_key(claude: SimulatedProvider) -> None:
    missing = messages(claude, key=None)
    wrong = messages(claude, key="nope")
    assert (missing.status_code, missing.json()["error"]["message"]) == (401, "x-api-key header is required")
    assert (wrong.status_code, wrong.json()["error"]["message"]) == (401, "invalid x-api-key")


def test_anthropic_in_stream_error_event(claude: SimulatedProvider) -> None:
    claude.enqueue(StreamErrorReply(after_chunks=1, code=529, message="Overloaded"))
    seen = events(messages(claude, stream=True).text)
    assert seen[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def test_anthropic_models(claude: SimulatedProvider) -> None:
    messages(claude)
    listed = httpx.get(claude.base_url + "/models", headers={"x-api-key": "sk-ant"}, timeout=5).json()
    assert [m["id"] for m in listed["data"]] == ["claude-sonnet-4-0"]


# -- Gemini ------------------------------------------------------------------------------------


@pytest.fixture
def gem(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("gem", api="gemini", api_key="AIza")


def generate(
    provider: SimulatedProvider, method: str = "generateContent", key: str | None = "AIza", **params: str
) -> httpx.Response:
    url = f"{provider.base_url}/models/gemini-2.5-flash:{method}"
    headers = {"x-goog-api-key": key} if key else {}
    body = {"contents": [{"role": "user", "parts": [{"text": MESSAGES[0]["content"]}]}]}
    return httpx.post(url, params=params, json=body, headers=headers, timeout=5)


def test_gemini_response(gem: SimulatedProvider) -> None:
    gem.set_default(
        Reply(
            text="Paris.",
            reasoning="easy",
            usage={
                "prompt_tokens": 7,
                "completion_tokens": 9,
                "total_tokens": 16,
                "completion_tokens_details": {"reasoning_tokens": 4},
            },
        )
    )
    body = generate(gem).json()
    candidate = body["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "easy", "thought": True}, {"text": "Paris."}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"]["promptTokenCount"] == 7
    assert (body["usageMetadata"]["candidatesTokenCount"], body["usageMetadata"]["thoughtsTokenCount"]) == (5, 4)
    assert body["modelVersion"] == "gemini-2.5-flash" and body["responseId"]
    assert gem.requests[-1].model == "gemini-2.5-flash"


def test_gemini_sse_has_data_lines_only(gem: SimulatedProvider) -> None:
    gem.set_default(Reply(text="Paris is lovely", chunk_size=8))
    raw = generate(gem, "streamGenerateContent", alt="sse").text
    frames = [f for f in raw.split("\r\n\r\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert "event:" not in raw and "[DONE]" not in raw
    objects = [json.loads(f[6:]) for f in frames]
    assert [o["candidates"][0].get("finishReason") for o in objects] == [None, None, "STOP"]


def test_gemini_stream_without_alt_sse_is_a_json_array(gem: SimulatedProvider) -> None:
    gem.set_default(Reply(text="Paris is lovely", chunk_size=8))
    raw = generate(gem, "streamGenerateContent").text
    objects = json.loads(raw)
    assert "".join(p["text"] for o in objects for p in o["candidates"][0]["content"]["parts"]) == "Paris is lovely"


def test_gemini_rate_limit_carries_retry_info_not_a_header(gem: SimulatedProvider) -> None:
    gem.enqueue(ErrorReply(429, retry_after=7))
    response = generate(gem)
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["status"]) == (429, 429, "RESOURCE_EXHAUSTED")
    retry = [d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    assert "retry-after" not in response.headers


def test_gemini_key_errors(gem: SimulatedProvider) -> None:
    wrong = generate(gem, key="bad")
    missing = generate(gem, key=None)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")


def test_gemini_not_found_and_models(gem: SimulatedProvider) -> None:
    gem.enqueue(ErrorReply(404))
    error = generate(gem).json()["error"]
    assert error["status"] == "NOT_FOUND" and error["message"].startswith("models/gemini-2.5-flash is not found")
    listed = httpx.get(gem.base_url + "/models", headers={"x-goog-api-key": "AIza"}, timeout=5).json()
    assert [m["name"] for m in listed["models"]] == ["models/gemini-2.5-flash"]
