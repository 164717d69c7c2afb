"""The Google Gemini ``generateContent`` wire API (``api: gemini``).

``POST {base_url}/models/{model}:generateContent``, or ``:streamGenerateContent?alt=sse`` for
streams. The key goes in the ``x-goog-api-key`` header, never in the URL (URLs get logged).
Requests are translated by :mod:`._gemini_encode`; responses come back in OpenAI's shape
(candidates as choices, ``thought`` parts as ``reasoning_content``, ``functionCall`` parts as tool
calls, ``usageMetadata`` as usage). Errors are Google RPC statuses: a bad key is HTTP 400
``API_KEY_INVALID`` (an :class:`~polyroute.errors.AuthenticationError` here), and a 429's
``RetryInfo.retryDelay`` becomes ``retry_after``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from polyroute._clock import Clock, SystemClock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, Choice
from polyroute.adapters._gemini_decode import blocked_prompt, candidate_parts, finish_reason, gemini_error, gemini_usage
from polyroute.adapters._gemini_encode import encode_request
from polyroute.adapters._gemini_stream import GeminiStreamDecoder
from polyroute.adapters._jsonbody import body_text, encode_body, json_object, maybe_json
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import MalformedResponse, ProviderError
from polyroute.transports._base import HttpRequest

__all__ = ["GeminiAdapter"]


def _model_path(model: str) -> str:
    return quote(model.removeprefix("models/"), safe="-._~/")


class GeminiAdapter:
    """Encodes requests for, and decodes responses from, the Gemini ``generateContent`` API."""

    name = "gemini"

    def __init__(self, *, clock: Clock | None = None) -> None:
        #: dates a Retry-After given as an HTTP date, and ``created`` (default: the system clock)
        self._clock: Clock = clock or SystemClock()

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: ChatRequest) -> HttpRequest:
        method = ":streamGenerateContent?alt=sse" if request.stream else ":generateContent"
        url = f"{provider.base_url.rstrip('/')}/models/{_model_path(endpoint.model)}{method}"
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if request.stream else "application/json",
        }
        if provider.api_key is not None:
            headers["x-goog-api-key"] = provider.api_key.reveal()
        if provider.headers:
            headers.update(provider.headers)
        return HttpRequest("POST", url, headers, encode_body(encode_request(endpoint, request)))

    def parse_response(self, endpoint: Endpoint, body: bytes) -> ChatCompletion:
        data = json_object(body)
        if "error" in data:
            raise gemini_error(200, data, {}, body)
        candidates = [c for c in data.get("candidates") or () if isinstance(c, Mapping)]
        if not candidates:
            raise blocked_prompt(data, body)
        response_id = str(data.get("responseId") or "")
        choices = []
        for position, candidate in enumerate(candidates):
            raw_index = candidate.get("index")
            index = raw_index if isinstance(raw_index, int) else position
            parts = candidate_parts(candidate, f"call_{response_id or 'gemini'}_{index}")
            finish = finish_reason(candidate.get("finishReason"), tool_calls=bool(parts.tool_calls))
            choices.append(Choice(index=index, message=parts.message(), finish_reason=finish))
        usage = data.get("usageMetadata")
        if usage is not None and not isinstance(usage, Mapping):
            raise MalformedResponse("usageMetadata is not an object", status=200, body=body_text(body))
        return ChatCompletion(
            id=response_id,
            created=int(self._clock.time()),
            model=str(data.get("modelVersion") or endpoint.model),
            choices=choices,
            usage=gemini_usage(usage) if isinstance(usage, Mapping) else None,
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return gemini_error(status, maybe_json(body), headers, body, now=self._clock.time())

    def stream_decoder(self, endpoint: Endpoint, request: ChatRequest) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(endpoint.model, int(self._clock.time()))
