"""The OpenAI Chat Completions wire format, as api.openai.com speaks it.

Bodies, stream chunks and error objects mirror the real service field for field: ``chatcmpl``
ids, ``system_fingerprint``, ``logprobs: null``, ``refusal: null``, tool-call deltas that carry
``id``/``type``/``name`` only on their first fragment, ``usage: null`` on every chunk but the
final usage chunk when ``stream_options.include_usage`` is set, and
``{"error": {"message", "type", "param", "code"}}`` error bodies with OpenAI's own messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute.testing._behaviors import ErrorReply, StreamErrorReply
from polyroute.testing._completion import Completion
from polyroute.testing._recorded import Headers
from polyroute.testing._wire import (
    Exchange,
    HttpReply,
    StreamPlan,
    WireBase,
    json_body,
    pieces,
    reply_headers,
)

__all__ = ["OpenAIWire"]

_JSON = "application/json"
_SSE = "text/event-stream"
_FINGERPRINT = "fp_sim"
_DONE = b"data: [DONE]\n\n"
_KEEP_ALIVE = b": keep-alive\n\n"
_KEYS_URL = "https://platform.openai.com/account/api-keys"

_ErrorFields = tuple[str, str, str | None]
"""Default (message, type, code) for a status."""

_STATUS_DEFAULTS: dict[int, _ErrorFields] = {
    400: ("Invalid request.", "invalid_request_error", None),
    403: ("You are not allowed to sample from this model", "permission_error", None),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: (
        "Bad gateway: the upstream service is unavailable.",
        "server_error",
        "service_unavailable",
    ),
    503: ("The server is overloaded or not ready yet.", "server_error", "service_unavailable"),
    504: (
        "Gateway timeout: the upstream service did not answer in time.",
        "server_error",
        "service_unavailable",
    ),
    529: ("The server is overloaded. Please try again later.", "overloaded_error", "overloaded"),
}


class OpenAIWire(WireBase):
    """:class:`~polyroute.testing._wire.WireFormat` for ``api="openai"``."""

    __slots__ = ()

    api = "openai"
    routes = {
        ("POST", "/v1/chat/completions"): "chat",
        ("GET", "/v1/models"): "models",
        ("POST", "/v1/embeddings"): "embedding",
    }
    key_header = "authorization"
    key_prefix = "Bearer "

    # -- requests ------------------------------------------------------------------------------

    def prompt_chars(self, body: Mapping[str, Any]) -> int:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 0
        total = 0
        for message in messages:
            if isinstance(message, Mapping):
                total += _content_chars(message.get("content"))
                for call in message.get("tool_calls") or ():
                    if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                        arguments = call["function"].get("arguments")
                        total += len(arguments) if isinstance(arguments, str) else 0
        return total

    # -- successes -----------------------------------------------------------------------------

    def completion(self, completion: Completion, exchange: Exchange) -> HttpReply:
        message: dict[str, Any] = {"role": "assistant", "content": completion.text}
        if completion.reasoning is not None:
            message["reasoning_content"] = completion.reasoning
        if completion.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in completion.tool_calls
            ]
        message["refusal"] = None
        body = {
            "id": _completion_id(exchange),
            "object": "chat.completion",
            "created": exchange.created,
            "model": completion.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": completion.finish_reason,
                }
            ],
            "usage": completion.usage,
            "system_fingerprint": _FINGERPRINT,
        }
        return HttpReply(200, json_body(body), reply_headers(exchange, _JSON))

    def stream(self, completion: Completion, exchange: Exchange, *, comments: bool) -> StreamPlan:
        chunks = _Chunks(completion, exchange)
        tail = [chunks.delta({}, finish_reason=completion.finish_reason)]
        if chunks.include_usage:
            tail.append(chunks.usage_chunk())
        tail.append(_DONE)
        return StreamPlan(
            head=(*((_KEEP_ALIVE,) if comments else ()), chunks.role()),
            body=chunks.content(),
            tail=tuple(tail),
            headers=_stream_headers(exchange),
        )

    def models(self, provider: str, names: list[str], exchange: Exchange) -> HttpReply:
        data = [{"id": name, "object": "model", "created": 1_700_000_000, "owned_by": provider} for name in names]
        return HttpReply(200, json_body({"object": "list", "data": data}), reply_headers(exchange, _JSON))

    # -- failures ------------------------------------------------------------------------------

    def error_body(self, error: ErrorReply, exchange: Exchange) -> bytes:
        message, type_, code = _error_defaults(error, exchange)
        fields = {
            "message": error.message if error.message is not None else message,
            "type": error.type if error.type is not None else type_,
            "param": error.param,
            "code": error.code if error.code is not None else code,
        }
        return json_body({"error": fields})

    def unauthorized(self, exchange: Exchange) -> HttpReply:
        if "authorization" in exchange.request.headers:
            return self.error(ErrorReply(401), exchange)
        message = (
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
            "field (with blank username) if you're accessing the API from your browser and are "
            f"prompted for a username. You can obtain an API key from {_KEYS_URL}."
        )
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return HttpReply(401, json_body(body), reply_headers(exchange, _JSON))

    def invalid_body(self, exchange: Exchange) -> HttpReply:
        message = (
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
            "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what "
            "was sent was not valid JSON. If you have trouble figuring out how to fix this, please "
            "contact us through our help center at help.openai.com.)"
        )
        return self.error(ErrorReply(400, message=message), exchange)

    def not_found(self, method: str, path: str) -> HttpReply:
        error = {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return HttpReply(404, json_body({"error": error}), {"Content-Type": _JSON})

    def in_band_error(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> HttpReply:
        body = {
            "id": _completion_id(exchange),
            "object": "chat.completion",
            "created": exchange.created,
            "model": partial.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": partial.text or "",
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "error",
                }
            ],
            "error": {"code": error.code, "message": error.message},
            "system_fingerprint": _FINGERPRINT,
        }
        return HttpReply(200, json_body(body), reply_headers(exchange, _JSON))

    def in_band_error_stream(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> StreamPlan:
        chunks = _Chunks(partial, exchange)
        error_chunk = {
            **chunks.envelope(),
            "error": {"code": error.code, "message": error.message},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
        return StreamPlan(
            head=(chunks.role(),),
            body=chunks.content(),
            tail=(_frame(error_chunk), _DONE),
            headers=_stream_headers(exchange),
        )

    def malformed_stream(self, completion: Completion, exchange: Exchange) -> StreamPlan:
        chunks = _Chunks(completion, exchange)
        whole = json_body(chunks.delta_object({"content": completion.text or ""}), indent=None)
        broken = b"data: " + whole[: len(whole) // 2] + b"\n\n"
        return StreamPlan(head=(chunks.role(),), body=(broken,), tail=(_DONE,), headers=_stream_headers(exchange))


class _Chunks:
    """Builds the ``chat.completion.chunk`` frames of one streamed completion."""

    __slots__ = ("_completion", "_exchange", "include_usage")

    def __init__(self, completion: Completion, exchange: Exchange) -> None:
        self._completion = completion
        self._exchange = exchange
        body = exchange.request.json or {}
        options = body.get("stream_options")
        self.include_usage = isinstance(options, Mapping) and options.get("include_usage") is True

    def envelope(self) -> dict[str, Any]:
        return {
            "id": _completion_id(self._exchange),
            "object": "chat.completion.chunk",
            "created": self._exchange.created,
            "model": self._completion.model,
            "system_fingerprint": _FINGERPRINT,
        }

    def delta_object(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk = self.envelope()
        chunk["choices"] = [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}]
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def delta(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> bytes:
        return _frame(self.delta_object(delta, finish_reason))

    def role(self) -> bytes:
        c = self._completion
        content = None if c.text is None and c.tool_calls else ""
        return self.delta({"role": "assistant", "content": content})

    def content(self) -> tuple[bytes, ...]:
        c = self._completion
        size = c.chunk_size
        frames = [self.delta({"reasoning_content": piece}) for piece in pieces(c.reasoning or "", size)]
        frames += [self.delta({"content": piece}) for piece in pieces(c.text or "", size)]
        for index, call in enumerate(c.tool_calls):
            opening = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            frames.append(self.delta({"tool_calls": [opening]}))
            frames += [
                self.delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in pieces(call.arguments, size)
            ]
        return tuple(frames)

    def usage_chunk(self) -> bytes:
        return _frame({**self.envelope(), "choices": [], "usage": self._completion.usage})


def _frame(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + json_body(chunk, indent=None) + b"\n\n"


def _completion_id(exchange: Exchange) -> str:
    return f"chatcmpl-sim-{exchange.seq}"


def _stream_headers(exchange: Exchange) -> dict[str, str]:
    return {**reply_headers(exchange, _SSE), "Cache-Control": "no-cache"}


def _content_chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"]) for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return 0


def _error_defaults(error: ErrorReply, exchange: Exchange) -> _ErrorFields:
    status = error.status
    model = exchange.request.model or "unknown"
    if status == 401:
        key = _bearer(exchange.request.headers) or "sk-sim"
        return (
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at {_KEYS_URL}.",
            "invalid_request_error",
            "invalid_api_key",
        )
    if status == 404:
        return (
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    if status == 429:
        return (_rate_limit_message(model, error), "requests", "rate_limit_exceeded")
    if status in _STATUS_DEFAULTS:
        return _STATUS_DEFAULTS[status]
    if status < 500:
        return (f"Request failed with status {status}.", "invalid_request_error", None)
    return (
        f"The server had an error while processing your request (status {status}).",
        "server_error",
        None,
    )


def _rate_limit_message(model: str, error: ErrorReply) -> str:
    wait = ""
    if error.retry_after is not None:
        wait = f" Please try again in {error.retry_after:g}s."
    elif error.retry_after_ms is not None:
        wait = f" Please try again in {error.retry_after_ms}ms."
    return (
        f"Rate limit reached for {model} in organization org-sim on requests per min (RPM): "
        f"Limit 60, Used 60, Requested 1.{wait} "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _mask(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return f"{key[:4]}{'*' * (len(key) - 8)}{key[-4:]}"
