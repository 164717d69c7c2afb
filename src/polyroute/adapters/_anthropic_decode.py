"""Anthropic Messages responses, usage, stop reasons and errors in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from polyroute._types import ChatMessage, FunctionCall, ToolCall, Usage
from polyroute.adapters._classify import classify, retry_after
from polyroute.adapters._jsonbody import body_text
from polyroute.adapters._sanity import token_count
from polyroute.errors import ProviderError

__all__ = ["anthropic_error", "anthropic_message", "anthropic_usage", "finish_reason"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# the HTTP status each error type comes with, for errors inside a 200 stream
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def finish_reason(stop_reason: Any) -> str | None:
    """Anthropic's ``stop_reason`` as an OpenAI finish reason (unknown ones kept as they are)."""
    if stop_reason is None:
        return None
    return _FINISH.get(stop_reason, str(stop_reason))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def anthropic_usage(usage: Mapping[str, Any]) -> Usage:
    """Anthropic ``usage`` in OpenAI's shape: prompt tokens include cache reads and writes.
    Counts that cannot be real are a :class:`~polyroute.errors.MalformedResponse`."""
    read = token_count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens")
    written = token_count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    prompt = token_count(usage.get("input_tokens"), "input_tokens") + read + written
    completion = token_count(usage.get("output_tokens"), "output_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={"cached_tokens": read, "cache_write_tokens": written},
    )


def anthropic_error(
    status: int, obj: Any, headers: Mapping[str, str], raw: bytes, *, now: float | None = None
) -> ProviderError:
    """The error for an Anthropic error body (``{"type": "error", "error": {"type", "message"}}``)."""
    err = obj.get("error") if isinstance(obj, Mapping) else None
    etype: str | None = None
    message: str | None = None
    if isinstance(err, Mapping):
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
    if status == 200 and etype is not None:
        status = _STATUS_OF_TYPE.get(etype, 500)
    text = body_text(raw)
    return classify(
        status,
        message or text.strip() or f"HTTP {status}",
        code=etype,
        error_type=etype,
        retry_after_s=retry_after(headers, now=now),
        body=text,
    )


def anthropic_message(content: list[Any]) -> ChatMessage:
    """The assistant message for a response's content blocks."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[str] = []
    blocks: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        btype = block.get("type")
        if btype == "text":
            texts.append(str(block.get("text") or ""))
        elif btype == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(ToolCall(id=block.get("id"), function=FunctionCall(block.get("name"), arguments)))
        elif btype == "thinking":
            thinking.append(str(block.get("thinking") or ""))
            blocks.append(dict(block))
        elif btype == "redacted_thinking":
            blocks.append(dict(block))
    extra: dict[str, Any] = {}
    if thinking:
        extra["reasoning_content"] = "".join(thinking)
    if blocks:
        extra["thinking_blocks"] = blocks
    text = "".join(texts)
    return ChatMessage(content=text if texts or not calls else None, tool_calls=calls or None, extra=extra)
