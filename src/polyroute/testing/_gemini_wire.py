"""The Google Gemini ``generateContent`` wire format, as generativelanguage.googleapis.com speaks it.

``POST /v1beta/models/{model}:generateContent`` answers with a ``GenerateContentResponse``
(``candidates`` with ``content.parts``, ``finishReason``, ``usageMetadata``, ``modelVersion``,
``responseId``); ``:streamGenerateContent?alt=sse`` streams one such object per ``data:`` line,
with no ``event:`` lines and no ``[DONE]`` (without ``alt=sse``: one JSON array, written an element
at a time). Reasoning is ``thought: true`` text parts; function calls come whole, without ids, the
first with a ``thoughtSignature``. Errors are Google RPC statuses
(``{"error": {"code", "message", "status", "details"}}``): a wrong key is HTTP 400
``API_KEY_INVALID``, and a 429 ``RESOURCE_EXHAUSTED`` carries the wait in a ``RetryInfo``
detail (``"retryDelay": "7s"``), not in a ``Retry-After`` header. The key goes in
``x-goog-api-key`` (the simulator does not accept ``?key=``).

Behaviours speak OpenAI's vocabulary; here finish reasons ``stop`` and ``tool_calls`` become
``STOP``, ``length`` ``MAX_TOKENS``, ``content_filter`` ``SAFETY``, and usage becomes
``usageMetadata`` (reasoning tokens as ``thoughtsTokenCount``; a ``usage`` given with
``promptTokenCount`` is sent verbatim).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from polyroute.testing._behaviors import ErrorReply, StreamErrorReply
from polyroute.testing._completion import Completion
from polyroute.testing._wire import (
    Endpoint,
    Exchange,
    HttpReply,
    RequestFacts,
    StreamPlan,
    WireBase,
    json_body,
    pieces,
    reply_headers,
)

__all__ = ["GeminiWire"]

_JSON = "application/json; charset=UTF-8"
_SSE = "text/event-stream"
_PATH = re.compile(r"^/v1beta/models/(?P<model>[^:]+):(?P<method>generateContent|streamGenerateContent)$")
#: ``embedContent`` and ``batchEmbedContents``
EMBED_PATH = re.compile(r"^/v1beta/models/(?P<model>[^:]+):(?P<method>embedContent|batchEmbedContents)$")
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "UNAUTHENTICATED": "Request had invalid authentication credentials.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "INTERNAL": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
}
_RATE_LIMIT = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def _rpc_status(status: int) -> str:
    return _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def _text_chars(parts: Any) -> int:
    total = 0
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, Mapping):
            continue
        if isinstance(part.get("text"), str):
            total += len(part["text"])
        for key in ("functionCall", "functionResponse"):
            if isinstance(part.get(key), Mapping):
                total += len(json.dumps(part[key]))
    return total


def gemini_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped usage mapping as ``usageMetadata`` (verbatim if it already is one)."""
    if "promptTokenCount" in usage:
        return dict(usage)
    prompt = int(usage.get("prompt_tokens") or 0)
    thoughts = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": int(usage.get("completion_tokens") or 0) - thoughts,
        "totalTokenCount": int(usage.get("total_tokens") or 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def _call_part(name: str, arguments: str, signature: str | None) -> dict[str, Any]:
    try:
        args: Any = json.loads(arguments)
    except ValueError:
        args = arguments
    part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


class GeminiWire(WireBase):
    """:class:`~polyroute.testing._wire.WireFormat` for ``api="gemini"``."""

    __slots__ = ()

    api = "gemini"
    base_path = "/v1beta"
    routes = {("GET", "/v1beta/models"): "models"}
    key_header = "x-goog-api-key"
    json_type = _JSON

    # -- requests ------------------------------------------------------------------------------

    def route(self, method: str, subpath: str) -> Endpoint | None:
        if method == "POST" and _PATH.match(subpath):
            return "chat"
        if method == "POST" and EMBED_PATH.match(subpath):
            return "embedding"
        return super().route(method, subpath)

    def facts(self, subpath: str, body: Mapping[str, Any] | None) -> RequestFacts:
        match = _PATH.match(subpath) or EMBED_PATH.match(subpath)
        if match is None:
            return RequestFacts(stream=False, model=None)
        return RequestFacts(stream=match["method"] == "streamGenerateContent", model=unquote(match["model"]))

    def prompt_chars(self, body: Mapping[str, Any]) -> int:
        system = body.get("systemInstruction")
        total = _text_chars(system.get("parts")) if isinstance(system, Mapping) else 0
        for content in body.get("contents") or ():
            if isinstance(content, Mapping):
                total += _text_chars(content.get("parts"))
        return total

    # -- successes -----------------------------------------------------------------------------

    def completion(self, completion: Completion, exchange: Exchange) -> HttpReply:
        parts: list[dict[str, Any]] = []
        if completion.reasoning is not None:
            parts.append({"text": completion.reasoning, "thought": True})
        if completion.text is not None:
            parts.append({"text": completion.text})
        for n, call in enumerate(completion.tool_calls):
            parts.append(_call_part(call.name, call.arguments, _signature(exchange) if n == 0 else None))
        body = _response(completion, exchange, parts, finish=True, usage=gemini_usage(completion.usage))
        return HttpReply(200, json_body(body), reply_headers(exchange, _JSON))

    def stream(self, completion: Completion, exchange: Exchange, *, comments: bool) -> StreamPlan:
        return _Frames(completion, exchange).plan(comments=comments)

    def models(self, provider: str, names: list[str], exchange: Exchange) -> HttpReply:
        models = [
            {
                "name": f"models/{name}",
                "displayName": name,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for name in names
        ]
        return HttpReply(200, json_body({"models": models}), reply_headers(exchange, _JSON))

    # -- failures ------------------------------------------------------------------------------

    def wait_headers(self, error: ErrorReply) -> dict[str, str]:
        # the wait of a 429 is in its RetryInfo detail; Google sends no Retry-After
        return {"retry-after-ms": str(error.retry_after_ms)} if error.retry_after_ms is not None else {}

    def error_body(self, error: ErrorReply, exchange: Exchange) -> bytes:
        status = error.type or _rpc_status(error.status)
        message = error.message if error.message is not None else _default_message(status, exchange)
        details: list[dict[str, Any]] = []
        if isinstance(error.code, str):
            details.append(
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": error.code, "domain": "googleapis.com"}
            )
        if status == "RESOURCE_EXHAUSTED":
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        }
                    ],
                }
            )
            if error.retry_after is not None:
                details.append(
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{error.retry_after:g}s"}
                )
        return _error_body(error.status, message, status, details)

    def unauthorized(self, exchange: Exchange) -> HttpReply:
        if "x-goog-api-key" not in exchange.request.headers:
            return self.error(ErrorReply(403, message=_UNREGISTERED), exchange)
        message = "API key not valid. Please pass a valid API key."
        return self.error(ErrorReply(400, message=message, code="API_KEY_INVALID"), exchange)

    def invalid_body(self, exchange: Exchange) -> HttpReply:
        return self.error(ErrorReply(400, message="Invalid JSON payload received. Unexpected token."), exchange)

    def not_found(self, method: str, path: str) -> HttpReply:
        body = _error_body(404, f"Requested entity was not found: {method} {path}", "NOT_FOUND", [])
        return HttpReply(404, body, {"Content-Type": _JSON})

    def in_band_error(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> HttpReply:
        return HttpReply(200, _stream_error(error), reply_headers(exchange, _JSON))

    def in_band_error_stream(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> StreamPlan:
        return _Frames(partial, exchange).plan(comments=False, final=_stream_error(error))

    def malformed_stream(self, completion: Completion, exchange: Exchange) -> StreamPlan:
        frames = _Frames(completion, exchange)
        whole = json_body(_response(completion, exchange, [{"text": completion.text or ""}]), indent=None)
        broken = frames.frame_bytes(whole[: len(whole) // 2], first=True)
        return StreamPlan(
            head=frames.head(comments=False), body=(broken,), tail=frames.closing(), headers=frames.headers
        )


class _Frames:
    """The stream of one completion: SSE ``data:`` frames, or the elements of a JSON array."""

    __slots__ = ("_completion", "_exchange", "_sse", "headers")

    def __init__(self, completion: Completion, exchange: Exchange) -> None:
        self._completion = completion
        self._exchange = exchange
        self._sse = exchange.request.query.get("alt") == "sse"
        self.headers = reply_headers(exchange, _SSE if self._sse else _JSON)

    def frame_bytes(self, element: bytes, *, first: bool = False) -> bytes:
        if self._sse:
            return b"data: " + element + b"\r\n\r\n"
        return (b"" if first else b",\r\n") + element

    def head(self, *, comments: bool) -> tuple[bytes, ...]:
        if not self._sse:
            return (b"[",)
        return (b": keep-alive\r\n\r\n",) if comments else ()

    def closing(self) -> tuple[bytes, ...]:
        return () if self._sse else (b"]",)

    def _element(self, parts: list[dict[str, Any]], *, finish: bool = False) -> bytes:
        c = self._completion
        usage = gemini_usage(c.usage)
        if not finish:
            prompt = usage.get("promptTokenCount", 0)
            usage = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        return json_body(_response(c, self._exchange, parts, finish=finish, usage=usage), indent=None)

    def _content(self) -> list[bytes]:
        c = self._completion
        size = c.chunk_size
        elements = [self._element([{"text": p, "thought": True}]) for p in pieces(c.reasoning or "", size)]
        elements += [self._element([{"text": p}]) for p in pieces(c.text or "", size)]
        elements += [
            self._element([_call_part(call.name, call.arguments, _signature(self._exchange) if n == 0 else None)])
            for n, call in enumerate(c.tool_calls)
        ]
        return elements

    def plan(self, *, comments: bool, final: bytes | None = None) -> StreamPlan:
        """Content elements as the body; ``final`` (default: the finishing element) then the closing."""
        elements = self._content()
        body = tuple(self.frame_bytes(e, first=i == 0) for i, e in enumerate(elements))
        if final is None:
            final = self._element([{"text": ""}], finish=True)
        tail = (self.frame_bytes(final, first=not elements), *self.closing())
        return StreamPlan(head=self.head(comments=comments), body=body, tail=tail, headers=self.headers)


def _response(
    completion: Completion,
    exchange: Exchange,
    parts: list[dict[str, Any]],
    *,
    finish: bool = False,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = _FINISH.get(completion.finish_reason, completion.finish_reason)
    candidate["index"] = 0
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = dict(usage)
    body["modelVersion"] = completion.model
    body["responseId"] = _response_id(exchange)
    return body


def _stream_error(error: StreamErrorReply) -> bytes:
    code = error.code if isinstance(error.code, int) else 500
    status = error.code if isinstance(error.code, str) else _rpc_status(code)
    return json_body({"error": {"code": code, "message": error.message, "status": status}}, indent=None)


def _error_body(code: int, message: str, status: str, details: list[dict[str, Any]]) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_body({"error": error})


def _default_message(status: str, exchange: Exchange) -> str:
    if status == "NOT_FOUND":
        return (
            f"models/{exchange.request.model or 'unknown'} is not found for API version v1beta, or is not "
            "supported for generateContent. Call ListModels to see the list of available models and their "
            "supported methods."
        )
    if status == "RESOURCE_EXHAUSTED":
        return _RATE_LIMIT
    return _MESSAGES.get(status, "Precondition check failed.")


def _response_id(exchange: Exchange) -> str:
    return f"sim-{exchange.seq}"


def _signature(exchange: Exchange) -> str:
    return f"sig-sim-{exchange.seq}"
