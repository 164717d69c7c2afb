"""What a simulated provider does with one request: the scriptable behaviours.

Each behaviour is a frozen dataclass describing an outcome independently of any wire format; the
wire modules (``_openai_wire``) turn it into bytes. Delays are in seconds and go through the
simulator's clock (real sleeps by default, instant advances with a
:class:`~polyroute.testing.FakeClock`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from polyroute.testing._recorded import RecordedRequest

__all__ = [
    "Behavior",
    "Continue",
    "Disconnect",
    "EmbeddingReply",
    "ErrorReply",
    "FunctionBehavior",
    "Hang",
    "MalformedJSON",
    "RejectContinuation",
    "Reply",
    "Stall",
    "StreamErrorReply",
    "ToolCallSpec",
    "Truncate",
]


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


def _check_delay(owner: str, name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{owner}.{name} must be >= 0 seconds, got {value!r}")


def _check_count(owner: str, name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    """One function call the simulated model makes.

    ``arguments`` may be a JSON string (sent verbatim, even if invalid, to test parsers) or a
    mapping (serialised with ``json.dumps``). ``id`` defaults to ``call_<index>``.
    """

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arguments, str):
            object.__setattr__(self, "arguments", MappingProxyType(dict(self.arguments)))

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON string that goes on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A successful completion, as a JSON body or (when the request asks) an SSE stream.

    Defaults: ``text`` is ``"Hello from <provider name>"`` unless ``tool_calls`` are given;
    ``finish_reason`` is ``"tool_calls"`` with tool calls, else ``"stop"``; ``model`` echoes the
    request's model; ``usage`` is estimated deterministically (``max(1, chars // 4)`` for the
    request messages and for the reply text + reasoning + tool arguments), then ``extra_usage`` is
    merged over it (shallowly).

    Timing: ``latency`` before the status line and headers; for streams, ``ttft`` more before the
    first content chunk and ``chunk_delay`` between the following content chunks. ``chunk_size``
    is the number of characters of text (and of tool arguments) per stream chunk.
    ``sse_comments`` sends one ``: keep-alive`` comment before the first chunk. ``reasoning`` is
    emitted as ``reasoning_content`` (message field, or stream deltas before the content).
    ``done=False`` leaves out the final ``data: [DONE]`` of an OpenAI stream (the rest is complete).
    """

    text: str | None = None
    tool_calls: Sequence[ToolCallSpec] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    model: str | None = None
    latency: float = 0.0
    ttft: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 8
    reasoning: str | None = None
    extra_usage: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    sse_comments: bool = False
    done: bool = True

    def __post_init__(self) -> None:
        for name in ("latency", "ttft", "chunk_delay"):
            _check_delay("Reply", name, getattr(self, name))
        if self.chunk_size < 1:
            raise ValueError(f"Reply.chunk_size must be >= 1, got {self.chunk_size!r}")
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        object.__setattr__(self, "usage", _frozen_mapping(self.usage))
        object.__setattr__(self, "extra_usage", _frozen_mapping(self.extra_usage))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error response, always a JSON body (also when the request asked for a stream).

    Unset ``message``/``type``/``code`` take the wire format's realistic default for ``status``
    (e.g. OpenAI's 429 ``rate_limit_exceeded``); ``param`` defaults to ``null``. ``body`` replaces
    the whole body verbatim (a mapping is JSON-encoded). ``retry_after`` sets ``Retry-After``
    (seconds), ``retry_after_ms`` sets ``retry-after-ms``; ``headers`` adds or overrides headers.
    ``latency`` is waited before responding.
    """

    status: int
    message: str | None = field(default=None, kw_only=True)
    type: str | None = field(default=None, kw_only=True)
    code: str | int | None = field(default=None, kw_only=True)
    param: str | None = field(default=None, kw_only=True)
    retry_after: float | None = field(default=None, kw_only=True)
    retry_after_ms: int | None = field(default=None, kw_only=True)
    body: bytes | str | Mapping[str, Any] | None = field(default=None, kw_only=True)
    headers: Mapping[str, str] = field(default_factory=dict, kw_only=True)
    latency: float = field(default=0.0, kw_only=True)

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"ErrorReply.status must be a 4xx or 5xx code, got {self.status!r}")
        _check_delay("ErrorReply", "latency", self.latency)
        if self.retry_after is not None:
            _check_delay("ErrorReply", "retry_after", self.retry_after)
        if self.retry_after_ms is not None:
            _check_count("ErrorReply", "retry_after_ms", self.retry_after_ms)
        if isinstance(self.body, Mapping):
            object.__setattr__(self, "body", MappingProxyType(dict(self.body)))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @classmethod
    def context_length_exceeded(
        cls, *, max_tokens: int = 8192, requested: int = 9000, latency: float = 0.0
    ) -> ErrorReply:
        """OpenAI's real 400 for a prompt that does not fit (``code: context_length_exceeded``)."""
        return cls(
            400,
            message=(
                f"This model's maximum context length is {max_tokens} tokens. However, your "
                f"messages resulted in {requested} tokens. Please reduce the length of the messages."
            ),
            type="invalid_request_error",
            code="context_length_exceeded",
            param="messages",
            latency=latency,
        )

    @classmethod
    def insufficient_quota(cls, *, latency: float = 0.0) -> ErrorReply:
        """OpenAI's real 429 for an account out of credit (not a rate limit: retrying won't help)."""
        return cls(
            429,
            message=(
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."
            ),
            type="insufficient_quota",
            code="insufficient_quota",
            latency=latency,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _CutShort:
    """A response that stops after ``after_chunks`` content chunks of ``reply``."""

    after_chunks: int = 0
    reply: Reply | None = None

    def __post_init__(self) -> None:
        _check_count(type(self).__name__, "after_chunks", self.after_chunks)


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(_CutShort):
    """Drop the connection abruptly (no terminating chunk, no clean HTTP end).

    Stream: status, headers and the role chunk, then ``after_chunks`` content chunks, then the
    transport is aborted. Non-stream: the connection is aborted before any response byte. The
    streamed content and its timing come from ``reply`` (default: a deterministic filler text of
    exactly ``after_chunks`` chunks, ``"Hello fr"``, ``"om groq."``, ...). Chunks counted by
    ``after_chunks`` are the content-bearing ones: reasoning, text and tool-call deltas.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Truncate(_CutShort):
    """End the response cleanly at the HTTP level but incomplete at the wire level.

    Stream: role chunk and ``after_chunks`` content chunks, then a proper end of the HTTP body,
    with no ``finish_reason`` chunk, no usage chunk and no ``data: [DONE]``. Non-stream: the first
    half of the JSON body, with a matching ``Content-Length``. Content and timing as for
    :class:`Disconnect`.
    """

    after_chunks: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamErrorReply:
    """An error reported inside an HTTP 200 response, the way OpenRouter does.

    Stream: role chunk, ``after_chunks`` content chunks, then a chunk carrying
    ``"error": {"code", "message"}`` with ``finish_reason: "error"``, then ``data: [DONE]``.
    Non-stream: a 200 completion body with the same ``error`` object, the partial text and
    ``finish_reason: "error"``. Content and timing as for :class:`Disconnect`.
    """

    after_chunks: int = 0
    message: str = "Provider returned error"
    code: int | str = 502
    reply: Reply | None = None

    def __post_init__(self) -> None:
        _check_count("StreamErrorReply", "after_chunks", self.after_chunks)


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedJSON:
    """A 200 response that does not parse.

    ``stream=None`` follows the request: a JSON body cut in half, or an SSE stream whose second
    ``data:`` line holds broken JSON (followed by ``data: [DONE]``). ``True``/``False`` force the
    stream/non-stream shape whatever the request asked for.

    With ``frame`` set, a streamed request gets the whole of ``reply`` (default: a filler text of
    ``frame + 5`` chunks) as a well-formed stream, except that its ``frame``-th ``data:`` line
    (1-based, the role chunk being the first) holds broken JSON instead.
    """

    stream: bool | None = None
    frame: int | None = None
    reply: Reply | None = None

    def __post_init__(self) -> None:
        if self.frame is not None and self.frame < 1:
            raise ValueError(f"MalformedJSON.frame must be >= 1, got {self.frame!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Stall:
    """A stream that stops sending after ``after_chunks`` content chunks, waits ``seconds`` (the
    simulator's clock), then ends the HTTP body without a finish reason or ``[DONE]``.
    Non-stream: waits ``seconds``, then sends half of the JSON body. Content and timing as for
    :class:`Disconnect`."""

    after_chunks: int = 1
    seconds: float = 30.0
    reply: Reply | None = None

    def __post_init__(self) -> None:
        _check_count("Stall", "after_chunks", self.after_chunks)
        _check_delay("Stall", "seconds", self.seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Continue:
    """Answer with the continuation of ``text``: when the request ends with an assistant message
    (a prefill, see :attr:`RecordedRequest.prefill <polyroute.testing.RecordedRequest.prefill>`)
    that ``text`` starts with (ignoring trailing whitespace), only the rest of ``text`` is sent;
    otherwise all of it. Other fields (timing, usage, ...) come from ``reply``."""

    text: str
    reply: Reply | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectContinuation:
    """Reject any request that ends with an assistant message (as providers without prefill
    support do) with ``error`` (default: a 400 saying the last message must come from the user);
    answer other requests with ``then``."""

    then: Behavior | None = None
    error: ErrorReply | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hang:
    """Accept the request and never finish answering.

    By default nothing at all is sent. With ``after_chunks`` set, a stream request gets its
    status, headers, role chunk and that many content chunks, then stalls (an idle stream; content
    and timing as for :class:`Disconnect`). The handler ends when the client goes away or the
    simulator stops.
    """

    after_chunks: int | None = None
    reply: Reply | None = None

    def __post_init__(self) -> None:
        if self.after_chunks is not None:
            _check_count("Hang", "after_chunks", self.after_chunks)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddingReply:
    """A successful embeddings response, adjustable to be subtly wrong.

    A plain :class:`Reply` answers an embeddings request with the simulator's deterministic
    vectors (:func:`~polyroute.testing.embedding_vector`), one per input, of the size the request
    asks for (``dimensions`` / ``outputDimensionality``) or else the provider's
    ``embedding_dimensions``. Here ``dimensions`` forces another size, ``count`` another number
    of vectors, and ``usage=False`` leaves usage out (as Gemini's embedding models do). Timing and
    headers as for :class:`Reply`. On a chat request it acts as ``Reply()``.
    """

    dimensions: int | None = None
    count: int | None = None
    usage: bool = True
    latency: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_delay("EmbeddingReply", "latency", self.latency)
        if self.dimensions is not None and self.dimensions < 1:
            raise ValueError(f"EmbeddingReply.dimensions must be >= 1, got {self.dimensions!r}")
        if self.count is not None:
            _check_count("EmbeddingReply", "count", self.count)
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass(frozen=True, slots=True)
class FunctionBehavior:
    """Decide per request: ``fn`` receives the :class:`RecordedRequest` and returns a behaviour.

    ``fn`` runs on the simulator's thread. If it raises, the client gets a 500 and the exception
    is kept in :attr:`SimulatedProvider.errors <polyroute.testing.SimulatedProvider.errors>`.
    """

    fn: Callable[[RecordedRequest], Behavior]


Behavior: TypeAlias = (
    Reply
    | ErrorReply
    | Disconnect
    | Truncate
    | StreamErrorReply
    | MalformedJSON
    | Hang
    | Stall
    | Continue
    | RejectContinuation
    | EmbeddingReply
    | FunctionBehavior
)
"""Anything a :class:`~polyroute.testing.SimulatedProvider` can be scripted with."""
