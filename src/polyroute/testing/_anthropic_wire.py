"""The Anthropic Messages wire format, as api.anthropic.com speaks it.

``POST /v1/messages`` answers with a ``message`` object (``msg_`` id, content blocks, a
``stop_reason``, ``usage`` with ``input_tokens`` excluding cache reads and writes) or, when the
request says ``"stream": true``, with typed SSE events: ``message_start``, ``content_block_start``
/ ``_delta`` / ``_stop`` (``text_delta``, ``thinking_delta`` + ``signature_delta``,
``input_json_delta``), ``message_delta`` (stop reason, output usage), ``message_stop``. Errors are
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with Anthropic's own types and
messages; errors inside a stream are an ``event: error`` frame. The key goes in ``x-api-key``.

Behaviours are wire-independent, so their OpenAI vocabulary is translated here: finish reason
``stop`` -> ``end_turn``, ``length`` -> ``max_tokens``, ``tool_calls`` -> ``tool_use``,
``content_filter`` -> ``refusal``; OpenAI-shaped usage -> Anthropic's (a ``usage`` given with
``input_tokens`` is sent verbatim); reasoning -> a thinking block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from polyroute.testing._behaviors import ErrorReply, StreamErrorReply
from polyroute.testing._completion import Completion
from polyroute.testing._wire import (
    Exchange,
    HttpReply,
    StreamPlan,
    WireBase,
    json_body,
    pieces,
    reply_headers,
)

__all__ = ["AnthropicWire"]

_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_MESSAGES = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def _error_type(status: int) -> str:
    if status in _TYPE_OF_STATUS:
        return _TYPE_OF_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: ".encode() + json_body(data, indent=None) + b"\n\n"


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    total = 0
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            total += len(block["text"])
        elif block.get("type") == "tool_use":
            total += len(json.dumps(block.get("input") or {}))
        elif block.get("type") == "tool_result":
            total += _text_chars(block.get("content"))
    return total


def anthropic_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped usage mapping in Anthropic's shape (verbatim if it already is)."""
    if "input_tokens" in usage:
        return dict(usage)
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return {
        "input_tokens": int(usage.get("prompt_tokens") or 0) - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "service_tier": "standard",
    }


def _blocks(completion: Completion, exchange: Exchange) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if completion.reasoning is not None:
        blocks.append({"type": "thinking", "thinking": completion.reasoning, "signature": _signature(exchange)})
    if completion.text is not None:
        blocks.append({"type": "text", "text": completion.text})
    for call in completion.tool_calls:
        try:
            arguments: Any = json.loads(call.arguments)
        except ValueError:
            arguments = call.arguments
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


class AnthropicWire(WireBase):
    """:class:`~polyroute.testing._wire.WireFormat` for ``api="anthropic"``."""

    __slots__ = ()

    api = "anthropic"
    routes = {("POST", "/v1/messages"): "chat", ("GET", "/v1/models"): "models"}
    key_header = "x-api-key"
    id_header = "request-id"

    # -- requests ------------------------------------------------------------------------------

    def prompt_chars(self, body: Mapping[str, Any]) -> int:
        total = _text_chars(body.get("system"))
        for message in body.get("messages") or ():
            if isinstance(message, Mapping):
                total += _text_chars(message.get("content"))
        return total

    # -- successes -----------------------------------------------------------------------------

    def completion(self, completion: Completion, exchange: Exchange) -> HttpReply:
        body = {
            "model": completion.model,
            "id": _message_id(exchange),
            "type": "message",
            "role": "assistant",
            "content": _blocks(completion, exchange),
            "stop_reason": _stop_reason(completion.finish_reason),
            "stop_sequence": None,
            "usage": anthropic_usage(completion.usage),
        }
        return HttpReply(200, json_body(body, indent=None), _headers(exchange, _JSON))

    def stream(self, completion: Completion, exchange: Exchange, *, comments: bool) -> StreamPlan:
        events = _Events(completion, exchange)
        return StreamPlan(
            head=(events.start(), *((_event("ping", {"type": "ping"}),) if comments else ())),
            body=events.content(),
            tail=events.end(),
            headers=_headers(exchange, _SSE),
        )

    def models(self, provider: str, names: list[str], exchange: Exchange) -> HttpReply:
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2025-05-14T00:00:00Z"} for name in names
        ]
        body = {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
        return HttpReply(200, json_body(body), _headers(exchange, _JSON))

    # -- failures ------------------------------------------------------------------------------

    def error_body(self, error: ErrorReply, exchange: Exchange) -> bytes:
        etype = error.type or _error_type(error.status)
        message = error.message if error.message is not None else _default_message(etype, exchange)
        return _error_body(etype, message, exchange)

    def unauthorized(self, exchange: Exchange) -> HttpReply:
        message = "invalid x-api-key" if "x-api-key" in exchange.request.headers else "x-api-key header is required"
        return self.error(ErrorReply(401, message=message), exchange)

    def invalid_body(self, exchange: Exchange) -> HttpReply:
        return self.error(ErrorReply(400, message="There was an issue with the JSON body of your request."), exchange)

    def not_found(self, method: str, path: str) -> HttpReply:
        body = {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}}
        return HttpReply(404, json_body(body, indent=None), {"Content-Type": _JSON})

    def in_band_error(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> HttpReply:
        etype, message = _stream_error(error)
        return HttpReply(200, _error_body(etype, message, exchange), _headers(exchange, _JSON))

    def in_band_error_stream(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> StreamPlan:
        events = _Events(partial, exchange)
        etype, message = _stream_error(error)
        frame = _event("error", {"type": "error", "error": {"type": etype, "message": message}})
        return StreamPlan(
            head=(events.start(),), body=events.content(), tail=(frame,), headers=_headers(exchange, _SSE)
        )

    def malformed_stream(self, completion: Completion, exchange: Exchange) -> StreamPlan:
        events = _Events(completion, exchange)
        whole = json_body({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}, indent=None)
        broken = b"event: content_block_delta\ndata: " + whole[: len(whole) // 2] + b"\n\n"
        stop = _event("message_stop", {"type": "message_stop"})
        return StreamPlan(head=(events.start(),), body=(broken,), tail=(stop,), headers=_headers(exchange, _SSE))


class _Events:
    """The SSE events of one streamed message."""

    __slots__ = ("_completion", "_exchange", "_usage")

    def __init__(self, completion: Completion, exchange: Exchange) -> None:
        self._completion = completion
        self._exchange = exchange
        self._usage = anthropic_usage(completion.usage)

    def start(self) -> bytes:
        c = self._completion
        usage = {**self._usage, "output_tokens": 1}
        message: dict[str, Any] = {
            "model": c.model,
            "id": _message_id(self._exchange),
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _block_frames(self, index: int, block: Mapping[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
        opening = (
            b"" if index == 0 else _event("content_block_stop", {"type": "content_block_stop", "index": index - 1})
        )
        opening += _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        frames = [
            _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
        ]
        if not frames:
            return [opening]
        return [opening + frames[0], *frames[1:]]

    def content(self) -> tuple[bytes, ...]:
        c = self._completion
        size = c.chunk_size
        frames: list[bytes] = []
        index = 0
        if c.reasoning is not None:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(c.reasoning, size)]
            deltas.append({"type": "signature_delta", "signature": _signature(self._exchange)})
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            frames += self._block_frames(index, block, deltas)
            index += 1
        if c.text is not None:
            deltas = [{"type": "text_delta", "text": p} for p in pieces(c.text, size)]
            frames += self._block_frames(index, {"type": "text", "text": ""}, deltas)
            index += 1
        for call in c.tool_calls:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(call.arguments, size)]
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            frames += self._block_frames(index, block, deltas)
            index += 1
        return tuple(frames)

    def _blocks(self) -> int:
        c = self._completion
        return (c.reasoning is not None) + (c.text is not None) + len(c.tool_calls)

    def end(self) -> tuple[bytes, ...]:
        frames: list[bytes] = []
        if self._blocks():
            frames.append(_stop_event(self._blocks() - 1))
        delta = {"stop_reason": _stop_reason(self._completion.finish_reason), "stop_sequence": None}
        usage = {k: v for k, v in self._usage.items() if k != "service_tier"}
        frames.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        frames.append(_event("message_stop", {"type": "message_stop"}))
        return tuple(frames)


def _stop_event(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _stop_reason(finish_reason: str) -> str:
    return _STOP_REASONS.get(finish_reason, finish_reason)


def _stream_error(error: StreamErrorReply) -> tuple[str, str]:
    etype = error.code if isinstance(error.code, str) else _error_type(error.code)
    return etype, error.message


def _error_body(etype: str, message: str, exchange: Exchange) -> bytes:
    body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": _request_id(exchange)}
    return json_body(body, indent=None)


def _default_message(etype: str, exchange: Exchange) -> str:
    if etype == "not_found_error":
        return f"model: {exchange.request.model or 'unknown'}"
    if etype == "rate_limit_error":
        return (
            "This request would exceed the rate limit for your organization (org-sim) of 50 requests per minute. "
            "For details, refer to: https://docs.claude.com/en/api/rate-limits."
        )
    return _MESSAGES.get(etype, "Invalid request.")


def _message_id(exchange: Exchange) -> str:
    return f"msg_sim_{exchange.seq}"


def _request_id(exchange: Exchange) -> str:
    return f"req_sim_{exchange.seq}"


def _signature(exchange: Exchange) -> str:
    return f"sig_sim_{exchange.seq}"


def _headers(exchange: Exchange, content_type: str) -> dict[str, str]:
    return reply_headers(exchange, content_type, id_header="request-id")
