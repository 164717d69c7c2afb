"""The seam between the simulator's HTTP machinery and one provider API's wire format.

The request handler is wire-agnostic: it records requests, picks behaviours, waits and decides when
to stop or abort a stream. A :class:`WireFormat` (one per ``api``, e.g. ``_openai_wire``) only
turns resolved outcomes into bytes: JSON bodies (:class:`HttpReply`), SSE frames
(:class:`StreamPlan`) and error bodies. Adding Anthropic or Gemini means writing one more
:class:`WireFormat` and registering it in ``_server._WIRES``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeAlias

from polyroute.testing._behaviors import ErrorReply, StreamErrorReply
from polyroute.testing._completion import Completion
from polyroute.testing._recorded import Headers, RecordedRequest

__all__ = [
    "Endpoint",
    "Exchange",
    "HttpReply",
    "RequestFacts",
    "StreamPlan",
    "WireBase",
    "WireFormat",
    "body_facts",
    "json_body",
    "merge_headers",
    "pieces",
    "reply_headers",
    "retry_headers",
    "verbatim",
]

Endpoint: TypeAlias = Literal["chat", "models", "embedding"]
"""What a request path asks for: a completion, the model list, or embeddings."""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the wire format reads from a request before any behaviour runs."""

    stream: bool
    model: str | None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request in flight: who got it, and the identifiers its response will carry."""

    provider: str
    request: RecordedRequest
    seq: int
    """Simulator-wide request number (1, 2, ...): the base of response and request ids."""
    created: int
    """Unix seconds from the simulator clock, for ``created`` fields."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete, non-streaming HTTP response."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """An SSE response as frames, split so the handler can pace, cut or abort it.

    ``head`` goes out right after the headers (comments, the role chunk); ``body`` holds the
    content chunks, the unit ``after_chunks`` counts and ``ttft``/``chunk_delay`` pace; ``tail``
    closes the stream properly (finish reason, usage, ``[DONE]``, or an in-band error).
    """

    head: tuple[bytes, ...]
    body: tuple[bytes, ...]
    tail: tuple[bytes, ...]
    headers: Mapping[str, str] = field(default_factory=dict)


class WireFormat(Protocol):
    """One provider API's request routing and response encoding."""

    @property
    def api(self) -> str:
        """The ``api`` name providers use to select this format (``"openai"``)."""
        ...

    @property
    def base_path(self) -> str:
        """Appended to ``/<provider>`` to form the provider's ``base_url`` (``"/v1"``)."""
        ...

    def route(self, method: str, subpath: str) -> Endpoint | None:
        """What ``method subpath`` (the path after ``/<provider>``) asks for; None if unknown."""
        ...

    def facts(self, subpath: str, body: Mapping[str, Any] | None) -> RequestFacts:
        """Stream flag and model of a request."""
        ...

    def authorized(self, headers: Headers, api_key: str) -> bool:
        """Whether ``headers`` carry ``api_key`` the way this API expects."""
        ...

    def prompt_chars(self, body: Mapping[str, Any]) -> int:
        """Characters of prompt text in a request, for the usage estimate."""
        ...

    def completion(self, completion: Completion, exchange: Exchange) -> HttpReply:
        """A successful non-streaming response."""
        ...

    def stream(self, completion: Completion, exchange: Exchange, *, comments: bool) -> StreamPlan:
        """A successful streaming response."""
        ...

    def error(self, error: ErrorReply, exchange: Exchange) -> HttpReply:
        """An HTTP error response with this API's error body."""
        ...

    def unauthorized(self, exchange: Exchange) -> HttpReply:
        """The response to a request without the provider's API key."""
        ...

    def invalid_body(self, exchange: Exchange) -> HttpReply:
        """The response to a completion request whose body is not a JSON object."""
        ...

    def not_found(self, method: str, path: str) -> HttpReply:
        """The response to an unknown path or method."""
        ...

    def in_band_error(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> HttpReply:
        """A 200 non-streaming response reporting ``error`` after ``partial``'s text."""
        ...

    def in_band_error_stream(self, partial: Completion, error: StreamErrorReply, exchange: Exchange) -> StreamPlan:
        """A 200 stream of ``partial``'s content whose tail reports ``error``."""
        ...

    def malformed_stream(self, completion: Completion, exchange: Exchange) -> StreamPlan:
        """A stream whose body holds one ``data:`` line of broken JSON."""
        ...

    def models(self, provider: str, names: list[str], exchange: Exchange) -> HttpReply:
        """The model list response."""
        ...


class WireBase:
    """What the wire formats share, as data: their name and base path, the paths they answer
    (``(method, subpath)`` -> what it asks for), and the header carrying the key. Stream flag and
    model are read from the JSON body (:func:`body_facts`) unless a format says otherwise."""

    __slots__ = ()

    api: ClassVar[str]
    base_path: ClassVar[str] = "/v1"
    routes: ClassVar[Mapping[tuple[str, str], Endpoint]] = {}
    #: the header the key goes in, and what stands before the key in it (``"Bearer "``)
    key_header: ClassVar[str]
    key_prefix: ClassVar[str] = ""
    #: the ``Content-Type`` of JSON bodies, and the header that carries the request id
    json_type: ClassVar[str] = "application/json"
    id_header: ClassVar[str] = "x-request-id"

    def route(self, method: str, subpath: str) -> Endpoint | None:
        return self.routes.get((method, subpath))

    def facts(self, subpath: str, body: Mapping[str, Any] | None) -> RequestFacts:
        return body_facts(body)

    def authorized(self, headers: Headers, api_key: str) -> bool:
        return headers.get(self.key_header, "").strip() == self.key_prefix + api_key

    def error(self, error: ErrorReply, exchange: Exchange) -> HttpReply:
        headers = merge_headers(
            reply_headers(exchange, self.json_type, id_header=self.id_header), self.wait_headers(error), error.headers
        )
        if error.body is not None:
            return HttpReply(error.status, verbatim(error.body), headers)
        return HttpReply(error.status, self.error_body(error, exchange), headers)

    def wait_headers(self, error: ErrorReply) -> dict[str, str]:
        """How the API says when to try again (default: :func:`retry_headers`)."""
        return retry_headers(error)

    def error_body(self, error: ErrorReply, exchange: Exchange) -> bytes:
        """The API's own error body for an ``error`` that gives none."""
        raise NotImplementedError


def json_body(value: Any, *, indent: int | None = 2) -> bytes:
    """UTF-8 JSON; pretty by default like real API bodies, compact with ``indent=None``."""
    separators = (",", ":") if indent is None else None
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators).encode()


def verbatim(body: bytes | str | Mapping[str, Any]) -> bytes:
    """An error body given by the behaviour, sent as it is (a mapping as JSON)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json_body(dict(body))


def pieces(text: str, size: int) -> list[str]:
    """``text`` cut into stream deltas of ``size`` characters (none for empty text)."""
    return [text[start : start + size] for start in range(0, len(text), size)]


def body_facts(body: Mapping[str, Any] | None) -> RequestFacts:
    """Stream flag and model of an API that carries both in the JSON body (``"stream": true``, ``"model"``)."""
    if body is None:
        return RequestFacts(stream=False, model=None)
    model = body.get("model")
    return RequestFacts(stream=body.get("stream") is True, model=model if isinstance(model, str) else None)


def reply_headers(exchange: Exchange, content_type: str, *, id_header: str = "x-request-id") -> dict[str, str]:
    """``Content-Type`` and the simulated request id (``req_sim_<seq>``) under ``id_header``."""
    return {"Content-Type": content_type, id_header: f"req_sim_{exchange.seq}"}


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """Combine header mappings, later ones winning, names compared case-insensitively."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def retry_headers(error: ErrorReply) -> dict[str, str]:
    """``Retry-After`` (HTTP delta-seconds; fractional values kept) and ``retry-after-ms``."""
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        seconds = error.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else repr(seconds)
    if error.retry_after_ms is not None:
        headers["retry-after-ms"] = str(error.retry_after_ms)
    return headers
