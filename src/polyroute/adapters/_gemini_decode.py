"""Gemini ``generateContent`` responses, usage, finish reasons and errors in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from polyroute._types import ChatMessage, FunctionCall, ToolCall, Usage
from polyroute.adapters._classify import classify, retry_after
from polyroute.adapters._jsonbody import body_text
from polyroute.adapters._sanity import token_count
from polyroute.errors import ContentFiltered, MalformedResponse, ProviderError

__all__ = [
    "CandidateParts",
    "blocked_prompt",
    "candidate_parts",
    "finish_reason",
    "gemini_error",
    "gemini_usage",
    "retry_delay",
]

_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"})
# google.rpc status -> the error_type classify() understands
_TYPE_OF_STATUS = {
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    # "billing not enabled" / "not available in your country": this endpoint will not work for us
    "FAILED_PRECONDITION": "permission_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "NOT_FOUND": "not_found_error",
    "INTERNAL": "server_error",
    "UNAVAILABLE": "server_error",
    "DEADLINE_EXCEEDED": "server_error",
}
# ErrorInfo reasons for a bad key, which Gemini reports as HTTP 400 INVALID_ARGUMENT
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def finish_reason(reason: Any, *, tool_calls: bool) -> str | None:
    """Gemini's ``finishReason`` as an OpenAI finish reason."""
    if reason is None:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if tool_calls else "stop"


def gemini_usage(meta: Mapping[str, Any]) -> Usage:
    """``usageMetadata`` in OpenAI's shape: thinking tokens count as (reasoning) completion tokens."""
    prompt = token_count(meta.get("promptTokenCount"), "promptTokenCount") + token_count(
        meta.get("toolUsePromptTokenCount"), "toolUsePromptTokenCount"
    )
    thoughts = token_count(meta.get("thoughtsTokenCount"), "thoughtsTokenCount")
    completion = token_count(meta.get("candidatesTokenCount"), "candidatesTokenCount") + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={
            "cached_tokens": token_count(meta.get("cachedContentTokenCount"), "cachedContentTokenCount")
        },
        completion_tokens_details={"reasoning_tokens": thoughts},
    )


class CandidateParts:
    """A candidate's parts, sorted into text, reasoning and tool calls."""

    __slots__ = ("reasoning", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[ToolCall] = []

    def message(self) -> ChatMessage:
        """The assistant message these parts make."""
        extra: dict[str, Any] = {}
        if self.reasoning:
            extra["reasoning_content"] = "".join(self.reasoning)
        content = "".join(self.text) if self.text or not self.tool_calls else None
        return ChatMessage(content=content, tool_calls=self.tool_calls or None, extra=extra)


def candidate_parts(candidate: Mapping[str, Any], call_id: str, first_call: int = 0) -> CandidateParts:
    """Sort ``candidate``'s parts. Tool calls without an ``id`` get ``{call_id}_{n}`` (n from ``first_call``)."""
    out = CandidateParts()
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    for part in parts or ():
        if not isinstance(part, Mapping):
            continue
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            n = first_call + len(out.tool_calls)
            arguments = orjson.dumps(call.get("args") or {}).decode()
            extra: dict[str, Any] = {}
            if isinstance(part.get("thoughtSignature"), str):
                extra["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
            out.tool_calls.append(
                ToolCall(
                    id=str(call.get("id") or f"{call_id}_{n}"),
                    function=FunctionCall(call.get("name"), arguments),
                    extra=extra,
                )
            )
        elif isinstance(part.get("text"), str):
            (out.reasoning if part.get("thought") is True else out.text).append(part["text"])
    if candidate.get("finishReason") == "MALFORMED_FUNCTION_CALL" and not out.tool_calls and not out.text:
        message = candidate.get("finishMessage") or "the model produced a malformed function call"
        raise MalformedResponse(f"MALFORMED_FUNCTION_CALL: {message}", status=200, code="MALFORMED_FUNCTION_CALL")
    return out


def blocked_prompt(data: Mapping[str, Any], raw: bytes) -> ProviderError:
    """The error for a response without candidates: a blocked prompt, or a malformed response."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    if isinstance(reason, str):
        return ContentFiltered(f"Gemini blocked the prompt: {reason}", status=200, code=reason, body=body_text(raw))
    return MalformedResponse("response has no candidates", status=200, body=body_text(raw))


def retry_delay(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "7s"``), if there is one."""
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and detail.get("@type") == _RETRY_INFO:
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                try:
                    return max(float(delay.removesuffix("s")), 0.0)
                except ValueError:
                    return None
            if isinstance(delay, Mapping):  # {"seconds": 7, "nanos": 0}
                return float(_int(delay.get("seconds"))) + _int(delay.get("nanos")) / 1e9
    return None


def _reason(details: Any) -> str | None:
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and detail.get("@type") == _ERROR_INFO and isinstance(detail.get("reason"), str):
            return str(detail["reason"])
    return None


def gemini_error(
    status: int, obj: Any, headers: Mapping[str, str], raw: bytes, *, now: float | None = None
) -> ProviderError:
    """The error for a Gemini error body (``{"error": {"code", "message", "status", "details"}}``)."""
    err = obj.get("error") if isinstance(obj, Mapping) else None
    if isinstance(obj, list) and obj and isinstance(obj[0], Mapping):  # a JSON-array stream's error
        err = obj[0].get("error")
    text = body_text(raw)
    if not isinstance(err, Mapping):
        return classify(
            status, text.strip() or f"HTTP {status}", retry_after_s=retry_after(headers, now=now), body=text
        )
    rpc_status = err.get("status") if isinstance(err.get("status"), str) else None
    details = err.get("details")
    reason = _reason(details)
    if status == 200 and isinstance(err.get("code"), int):
        status = err["code"]  # an error inside a 200 stream
    etype = "authentication_error" if reason in _KEY_REASONS else _TYPE_OF_STATUS.get(rpc_status or "")
    delay = retry_delay(details)
    return classify(
        status,
        str(err.get("message") or f"HTTP {status}"),
        code=reason or rpc_status,
        error_type=etype,
        retry_after_s=delay if delay is not None else retry_after(headers, now=now),
        body=text,
    )
