"""The Anthropic Messages wire API (``api: anthropic``).

Requests are translated from OpenAI's shape by :mod:`._anthropic_encode`; responses come back in
OpenAI's shape: text blocks joined into ``content``, ``tool_use`` blocks as ``tool_calls``,
thinking blocks as ``reasoning_content`` (plus ``thinking_blocks`` with their signatures, to send
back on the next turn), stop reasons as OpenAI finish reasons, and usage with
``prompt_tokens`` counting cache reads and writes (Anthropic's ``input_tokens`` excludes them).
"""

from __future__ import annotations

from collections.abc import Mapping

from polyroute._clock import Clock, SystemClock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, Choice
from polyroute.adapters._anthropic_decode import anthropic_error, anthropic_message, anthropic_usage, finish_reason
from polyroute.adapters._anthropic_encode import encode_request
from polyroute.adapters._anthropic_stream import AnthropicStreamDecoder
from polyroute.adapters._jsonbody import body_text, encode_body, json_object, maybe_json
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import MalformedResponse, ProviderError
from polyroute.transports._base import HttpRequest

__all__ = ["ANTHROPIC_VERSION", "AnthropicAdapter"]

#: the ``anthropic-version`` header sent unless the provider's ``headers`` set another
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicAdapter:
    """Encodes requests for, and decodes responses from, the Anthropic Messages API."""

    name = "anthropic"

    def __init__(self, *, clock: Clock | None = None) -> None:
        #: dates a Retry-After given as an HTTP date, and ``created`` (default: the system clock)
        self._clock: Clock = clock or SystemClock()

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: ChatRequest) -> HttpRequest:
        body = encode_request(endpoint, request)
        if request.stream:
            body["stream"] = True
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if request.stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if provider.api_key is not None:
            headers["x-api-key"] = provider.api_key.reveal()
        if provider.headers:
            headers.update(provider.headers)
        return HttpRequest("POST", provider.base_url.rstrip("/") + "/messages", headers, encode_body(body))

    def parse_response(self, endpoint: Endpoint, body: bytes) -> ChatCompletion:
        data = json_object(body)
        if data.get("type") == "error":
            raise anthropic_error(200, data, {}, body)
        content = data.get("content")
        if not isinstance(content, list):
            raise MalformedResponse("response has no content blocks", status=200, body=body_text(body))
        usage = data.get("usage")
        if usage is not None and not isinstance(usage, Mapping):
            raise MalformedResponse("usage is not an object", status=200, body=body_text(body))
        choice = Choice(
            index=0, message=anthropic_message(content), finish_reason=finish_reason(data.get("stop_reason"))
        )
        return ChatCompletion(
            id=str(data.get("id") or ""),
            created=int(self._clock.time()),
            model=str(data.get("model") or endpoint.model),
            choices=[choice],
            usage=anthropic_usage(usage) if isinstance(usage, Mapping) else None,
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return anthropic_error(status, maybe_json(body), headers, body, now=self._clock.time())

    def stream_decoder(self, endpoint: Endpoint, request: ChatRequest) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(endpoint.model, int(self._clock.time()))
