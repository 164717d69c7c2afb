"""The OpenAI Chat Completions wire API, spoken by OpenAI and by most others (Groq, Together,
Mistral, DeepSeek, Fireworks, xAI, OpenRouter, vLLM, Ollama...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from polyroute._clock import Clock, SystemClock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.adapters._classify import classify, retry_after
from polyroute.adapters._frames import Frames, SSEFrameDecoder
from polyroute.adapters._jsonbody import body_text, encode_body, json_object, maybe_json
from polyroute.adapters._sanity import DECODE_ERRORS, check_raw_usage, wrong_shape
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import IncompleteStream, MalformedResponse, ProviderError, ServerError
from polyroute.transports._base import HttpRequest

__all__ = ["OpenAIAdapter", "OpenAIStreamDecoder", "error_from_object"]


def error_from_object(
    status: int, obj: Any, headers: Mapping[str, str], raw: bytes, *, now: float | None = None
) -> ProviderError:
    """The error for an OpenAI-style error object (also OpenRouter's numeric codes, Mistral's ``detail``)."""
    err = obj.get("error") if isinstance(obj, Mapping) else None
    message: str | None = None
    code: str | int | None = None
    etype: str | None = None
    if isinstance(err, Mapping):
        message = err.get("message") if isinstance(err.get("message"), str) else None
        code = err.get("code")
        etype = err.get("type") if isinstance(err.get("type"), str) else None
        meta = err.get("metadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("raw"), str):
            message = f"{message}: {meta['raw'][:500]}" if message else meta["raw"][:500]
    elif isinstance(err, str):
        message = err
    elif isinstance(obj, Mapping):
        detail = obj.get("detail") or obj.get("message")
        message = detail if isinstance(detail, str) else (orjson.dumps(detail).decode() if detail else None)
    if isinstance(err, Mapping) and status == 200 and isinstance(err.get("status_code"), int):
        status = err["status_code"]  # Groq: an ``event: error`` frame names the status it stands for
    if isinstance(code, int) and not isinstance(code, bool) and status == 200:
        status = code  # OpenRouter: an error inside a 200 stream carries the real status as its code
    if isinstance(code, str) and code.isdigit() and status == 200:
        status = int(code)
    message = message or f"HTTP {status}"
    return classify(
        status,
        message,
        code=code,
        error_type=etype,
        retry_after_s=retry_after(headers, now=now),
        body=body_text(raw),
    )


def _flatten_content(message: dict[str, Any]) -> None:
    """Content given as a list of parts (Mistral's magistral models) -> text, thinking -> reasoning."""
    text: list[str] = []
    thinking: list[str] = []
    for part in message["content"]:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, str):
                thinking.append(inner)
            elif isinstance(inner, list):
                thinking += [p["text"] for p in inner if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        elif isinstance(part.get("text"), str):
            text.append(part["text"])
    message["content"] = "".join(text)
    if thinking:
        message["reasoning_content"] = (message.get("reasoning_content") or "") + "".join(thinking)


def _normalise(data: dict[str, Any], field: str) -> None:
    """Bring list-valued ``content`` in ``choices[i].<field>`` back to OpenAI's string shape."""
    for choice in data.get("choices") or ():
        message = choice.get(field) if isinstance(choice, dict) else None
        if isinstance(message, dict) and type(message.get("content")) is list:
            _flatten_content(message)


class OpenAIAdapter:
    """Encodes and decodes OpenAI Chat Completions requests and responses. ``clock`` dates a
    Retry-After given as an HTTP date (default: the system clock)."""

    name = "openai"

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: ChatRequest) -> HttpRequest:
        encoded = request.messages_json
        messages = request.messages if encoded is None else orjson.Fragment(encoded)
        body: dict[str, Any] = {"model": endpoint.model, "messages": messages}
        if request.params:
            body.update(request.params)
        if endpoint.extra_body:
            body.update(endpoint.extra_body)
        if request.stream:
            body["stream"] = True
            if request.include_usage or provider.stream_usage:
                options = dict(body.get("stream_options") or {})
                options["include_usage"] = True
                body["stream_options"] = options
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if request.stream else "application/json",
        }
        if provider.api_key is not None:
            headers["Authorization"] = "Bearer " + provider.api_key.reveal()
        if provider.headers:
            headers.update(provider.headers)
        return HttpRequest("POST", provider.base_url.rstrip("/") + "/chat/completions", headers, encode_body(body))

    def parse_response(self, endpoint: Endpoint, body: bytes) -> ChatCompletion:
        data = json_object(body)
        if "error" in data and not data.get("choices"):
            raise error_from_object(200, data, {}, body)
        if not isinstance(data.get("choices"), list) or not data["choices"]:
            raise MalformedResponse("response has no choices", status=200, body=body_text(body))
        for choice in data["choices"]:
            if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                raise MalformedResponse("a choice has no message object", status=200, body=body_text(body))
        usage = data.get("usage")
        if usage is not None:
            check_raw_usage(usage)
        try:
            _normalise(data, "message")
            return ChatCompletion.from_dict(data)
        except DECODE_ERRORS as exc:
            raise wrong_shape(exc) from exc

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        obj = maybe_json(body)
        if obj is None:
            text = body_text(body).strip()
            now = self._clock.time()
            return classify(status, text or f"HTTP {status}", retry_after_s=retry_after(headers, now=now), body=text)
        return error_from_object(status, obj, headers, body, now=self._clock.time())

    def stream_decoder(self, endpoint: Endpoint, request: ChatRequest) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()


class OpenAIStreamDecoder(SSEFrameDecoder):
    """Decodes an OpenAI-style SSE stream. Errors inside it (an ``error`` object, an
    ``event: error`` frame, ``finish_reason: "error"``) are raised as :class:`ProviderError`."""

    __slots__ = ("_finished",)

    def __init__(self) -> None:
        super().__init__()
        self._finished = False

    def _decode_into(self, out: list[ChatCompletionChunk], frames: Frames) -> None:
        # the whole loop inline: the hot path of most streams (no call per frame)
        for event, data in frames:
            if data == b"[DONE]":
                self._done = True
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise MalformedResponse(f"stream frame is not JSON: {exc}", status=200, body=body_text(data)) from exc
            if not isinstance(obj, dict):
                raise MalformedResponse("stream frame is not a JSON object", status=200, body=body_text(data))
            if event == "error" or "error" in obj:
                raise error_from_object(200, obj if "error" in obj else {"error": obj}, {}, data)
            usage = obj.get("usage")
            if usage is not None:
                check_raw_usage(usage)
            try:
                _normalise(obj, "delta")
                chunk = ChatCompletionChunk.from_dict(obj)
            except DECODE_ERRORS as exc:
                raise wrong_shape(exc, "stream frame") from exc
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    if choice.finish_reason == "error":
                        raise ServerError("provider ended the stream with finish_reason 'error'", status=200)
                    self._finished = True
            out.append(chunk)

    def finish(self) -> list[ChatCompletionChunk]:
        out = self._rest()
        if not self._done and not self._finished:
            raise IncompleteStream("stream ended without a finish reason or [DONE]", status=200)
        return out
