"""In-process providers that answer with exactly the bytes a test gives: for replies no real
server would send (wrong types, absurd numbers, bombs). No socket, no event-loop turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

import polyroute
from polyroute.catalog._config import load_catalog
from polyroute.testing import FakeClock
from polyroute.transports import HttpRequest, HttpResponse

ENV = {"BAD_KEY": "sk-" + "bad-0123456789abcdefghij", "GOOD_KEY": "sk-" + "good-0123456789abcdefghij"}


@dataclass
class Answer:
    """One canned answer: a status, headers and the body (in pieces, for streams)."""

    body: bytes | Sequence[bytes]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    def pieces(self) -> list[bytes]:
        return [self.body] if isinstance(self.body, bytes) else list(self.body)


Script = Callable[[HttpRequest], Answer]


class _Stream:
    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers = answer.headers
        self._pieces = answer.pieces()

    def read(self) -> bytes:
        out, self._pieces = b"".join(self._pieces), []
        return out

    def iter_bytes(self) -> Iterator[bytes]:
        while self._pieces:
            yield self._pieces.pop(0)

    def close(self) -> None:
        self._pieces = []


class _AsyncStream(_Stream):
    async def read(self) -> bytes:  # type: ignore[override]
        return _Stream.read(self)

    async def read_chunk(self) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""

    async def close(self) -> None:  # type: ignore[override]
        self._pieces = []


class Canned:
    """A transport (sync and async) whose answers come from ``script``; requests are kept."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[HttpRequest] = []

    def _answer(self, request: HttpRequest) -> Answer:
        self.requests.append(request)
        return self.script(request)

    def send(self, request: HttpRequest, timeouts: Any) -> HttpResponse:
        a = self._answer(request)
        return HttpResponse(a.status, a.headers, b"".join(a.pieces()))

    def stream(self, request: HttpRequest, timeouts: Any) -> _Stream:
        return _Stream(self._answer(request))

    def close(self) -> None:
        return None


class AsyncCanned(Canned):
    async def send(self, request: HttpRequest, timeouts: Any) -> HttpResponse:  # type: ignore[override]
        return Canned.send(self, request, timeouts)

    async def stream(self, request: HttpRequest, timeouts: Any) -> _AsyncStream:  # type: ignore[override]
        return _AsyncStream(self._answer(request))

    async def aclose(self) -> None:
        return None


def two_providers(api: str, bad: Script, good: Script, **router: Any) -> polyroute.Router:
    """A router over model ``m``: provider ``bad`` first, then ``good``, both speaking ``api``."""
    cfg = {
        "providers": {
            "bad": {"api": api, "base_url": "http://bad.test/v1", "api_key": "${BAD_KEY}"},
            "good": {"api": api, "base_url": "http://good.test/v1", "api_key": "${GOOD_KEY}"},
        },
        "models": {
            "m": {
                "endpoints": [
                    {"provider": "bad", "model": "bad-m", "pricing": {"prompt": "1e-6", "completion": "2e-6"}},
                    {"provider": "good", "model": "good-m", "pricing": {"prompt": "1e-6", "completion": "2e-6"}},
                ]
            }
        },
        "router": {"provider": {"sort": "ordered"}, "retry": {"max_retries": 0}, **router},
    }
    catalog = load_catalog(cfg, env=ENV)
    scripts = {"bad": bad, "good": good}
    return polyroute.Router(
        catalog,
        clock=FakeClock(),
        sync_transport=lambda p: Canned(scripts[p.name]),
        async_transport=lambda p: AsyncCanned(scripts[p.name]),
    )


# -- well-formed answers per wire API -----------------------------------------------------------


def openai_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(over)
    return body


def openai_sse(frames: Sequence[Any], *, done: bool = True) -> bytes:
    out = b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in frames)
    return out + (b"data: [DONE]\n\n" if done else b"")


def openai_stream_frames() -> list[dict[str, Any]]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x"}
    return [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]


def good_answer(api: str, stream: bool) -> Answer:
    if api == "openai":
        if stream:
            return Answer(openai_sse(openai_stream_frames()), headers={"content-type": "text/event-stream"})
        return Answer(orjson.dumps(openai_body()))
    if api == "anthropic":
        if stream:
            events = [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {"id": "m", "model": "x", "usage": {"input_tokens": 3, "output_tokens": 0}},
                    },
                ),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "message_delta",
                    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
            body = b"".join(b"event: " + e.encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n" for e, d in events)
            return Answer(body, headers={"content-type": "text/event-stream"})
        return Answer(
            orjson.dumps(
                {
                    "id": "m",
                    "type": "message",
                    "model": "x",
                    "content": [{"type": "text", "text": "hi"}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "output_tokens": 2},
                }
            )
        )
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
    }
    if stream:
        return Answer(b"data: " + orjson.dumps(body) + b"\n\n", headers={"content-type": "text/event-stream"})
    return Answer(orjson.dumps(body))


def is_stream(request: HttpRequest) -> bool:
    """Whether ``request`` asks for a stream (in its body, or Gemini's ``:streamGenerateContent``)."""
    return b'"stream":true' in request.body or "streamGenerateContent" in request.url


def good(api: str) -> Script:
    """A script answering every request well, streamed or not, in ``api``'s wire format."""
    return lambda request: good_answer(api, is_stream(request))
