"""Response objects in the OpenAI Chat Completions shape, plus the route.

They are plain slotted classes rather than pydantic models: one is built per response and per
stream chunk, on the hot path. ``model_dump()`` gives exactly the OpenAI JSON (fields a provider
sent that we do not model are kept in ``extra`` and written back), plus ``route`` when set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

__all__ = [
    "Attempt",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "Choice",
    "ChunkChoice",
    "CostBreakdown",
    "Delta",
    "DumpMode",
    "FunctionCall",
    "Outcome",
    "Route",
    "ToolCall",
    "Usage",
]

Outcome = Literal["success", "error", "skipped"]
#: ``model_dump(mode=...)``: ``"python"`` keeps Decimals, ``"json"`` renders them as strings
DumpMode = Literal["python", "json"]
JSON = dict[str, Any]


def _pop_extra(data: Mapping[str, Any], known: frozenset[str]) -> JSON:
    if data.keys() <= known:
        return {}
    return {k: v for k, v in data.items() if k not in known}


@dataclass(slots=True)
class FunctionCall:
    """``tool_calls[i].function``: a name and JSON-encoded arguments (fragments in deltas)."""

    name: str | None = None
    arguments: str | None = None

    def model_dump(self) -> JSON:
        out: JSON = {}
        if self.name is not None:
            out["name"] = self.name
        if self.arguments is not None:
            out["arguments"] = self.arguments
        return out


@dataclass(slots=True)
class ToolCall:
    """A tool call in a message, or a fragment of one in a stream delta (``index`` set)."""

    id: str | None = None
    type: str | None = "function"
    function: FunctionCall = field(default_factory=FunctionCall)
    index: int | None = None
    extra: JSON = field(default_factory=dict)

    _KNOWN = frozenset({"id", "type", "function", "index"})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        fn = data.get("function") or {}
        return cls(
            id=data.get("id"),
            type=data.get("type"),
            function=FunctionCall(fn.get("name"), fn.get("arguments")),
            index=data.get("index"),
            extra=_pop_extra(data, cls._KNOWN),
        )

    def model_dump(self) -> JSON:
        out: JSON = {}
        if self.index is not None:
            out["index"] = self.index
        if self.id is not None:
            out["id"] = self.id
        if self.type is not None:
            out["type"] = self.type
        out["function"] = self.function.model_dump()
        out.update(self.extra)
        return out


def _tool_calls(raw: Any) -> list[ToolCall] | None:
    if not raw:
        return None
    return [ToolCall.from_dict(tc) for tc in raw]


class _Reasoning:
    """``reasoning``, read from ``extra`` (a message's or a delta's)."""

    __slots__ = ()
    extra: JSON

    @property
    def reasoning(self) -> str | None:
        """Reasoning text, whichever field the provider used (``reasoning`` or ``reasoning_content``)."""
        value = self.extra.get("reasoning") or self.extra.get("reasoning_content")
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class ChatMessage(_Reasoning):
    """``choices[i].message``. Provider extras (``refusal``, ``reasoning_content``...) are in ``extra``."""

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    extra: JSON = field(default_factory=dict)

    _KNOWN = frozenset({"role", "content", "tool_calls"})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatMessage:
        get = data.get
        extra = {} if data.keys() <= cls._KNOWN else _pop_extra(data, cls._KNOWN)
        return cls(get("role") or "assistant", get("content"), _tool_calls(get("tool_calls")), extra)

    def model_dump(self) -> JSON:
        out: JSON = {"role": self.role, "content": self.content}
        if self.tool_calls is not None:
            out["tool_calls"] = [tc.model_dump() for tc in self.tool_calls]
        out.update(self.extra)
        return out


class _ChoiceReader:
    """``from_dict`` for a choice: ``index``, its message or delta (``_PART``: the key and the
    reader), ``finish_reason``, ``logprobs``; other fields are kept in ``extra``."""

    __slots__ = ()
    _KNOWN: ClassVar[frozenset[str]]
    _PART: ClassVar[tuple[str, Callable[[Mapping[str, Any]], Any]]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        get = data.get
        known = cls._KNOWN
        extra = {} if data.keys() <= known else _pop_extra(data, known)
        key, read = cls._PART
        return cls(get("index", 0), read(get(key) or {}), get("finish_reason"), get("logprobs"), extra)  # type: ignore[call-arg]


@dataclass(slots=True)
class Choice(_ChoiceReader):
    """``choices[i]`` of a whole response."""

    index: int = 0
    message: ChatMessage = field(default_factory=ChatMessage)
    finish_reason: str | None = None
    logprobs: Any = None
    extra: JSON = field(default_factory=dict)

    _KNOWN = frozenset({"index", "message", "finish_reason", "logprobs"})
    _PART = ("message", ChatMessage.from_dict)

    def model_dump(self) -> JSON:
        out: JSON = {
            "index": self.index,
            "message": self.message.model_dump(),
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }
        out.update(self.extra)
        return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


@dataclass(slots=True)
class Usage:
    """Token counts as the provider reported them (OpenAI's shape).

    ``prompt_tokens`` includes cached and cache-write tokens; ``completion_tokens`` includes
    reasoning tokens. The details dicts and any provider extras (``cost``...) are kept verbatim.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: JSON | None = None
    completion_tokens_details: JSON | None = None
    extra: JSON = field(default_factory=dict)
    #: the provider reported no usage: the counts are polyroute's estimate (embeddings)
    estimated: bool = False

    _KNOWN = frozenset(
        {
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
        }
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        total = data.get("total_tokens")
        extra = {} if data.keys() <= cls._KNOWN else _pop_extra(data, cls._KNOWN)
        return cls(
            prompt,
            completion,
            total if isinstance(total, int) else prompt + completion,
            data.get("prompt_tokens_details"),
            data.get("completion_tokens_details"),
            extra,
        )

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens read from the provider's prompt cache."""
        details = self.prompt_tokens_details
        return _int(details.get("cached_tokens")) if details else 0

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens written to the provider's prompt cache."""
        details = self.prompt_tokens_details
        if not details:
            return 0
        return _int(details.get("cache_write_tokens") or details.get("cache_creation_tokens"))

    @property
    def reasoning_tokens(self) -> int:
        """Completion tokens spent on reasoning (already part of ``completion_tokens``)."""
        details = self.completion_tokens_details
        return _int(details.get("reasoning_tokens")) if details else 0

    @property
    def provider_cost(self) -> Decimal | None:
        """The cost the provider itself reported (OpenRouter's ``usage.cost``), if any."""
        cost = self.extra.get("cost")
        if isinstance(cost, (int, float, str)) and not isinstance(cost, bool):
            return Decimal(str(cost))
        return None

    def model_dump(self) -> JSON:
        out: JSON = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.prompt_tokens_details is not None:
            out["prompt_tokens_details"] = self.prompt_tokens_details
        if self.completion_tokens_details is not None:
            out["completion_tokens_details"] = self.completion_tokens_details
        out.update(self.extra)
        if self.estimated:
            out["estimated"] = True
        return out


def _decimal_out(value: Decimal | None, mode: DumpMode) -> Any:
    if value is None or mode == "python":
        return value
    return str(value)


_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """What one attempt cost, line by line, in USD (exact decimals).

    The token lines: ``prompt`` (uncached prompt tokens), ``cached`` (prompt tokens read from the
    provider's cache, at the cache-read price and not again at the prompt price), ``cache_write``,
    ``completion`` (output tokens, reasoning included unless reasoning has its own price) and
    ``reasoning`` (reasoning tokens when they have their own price); then ``request`` (per-request
    fee) and ``image`` (per input image). :attr:`cost` is their sum: what the provider charges.

    ``fee`` is the optional platform fee (a percentage of :attr:`cost`, for teams that re-bill),
    a separate line: :attr:`total` is ``cost + fee``. ``provider_reported`` is the cost the
    provider itself reported (OpenRouter's ``usage.cost``), and ``disagreement`` says whether it
    differs from ours by more than rounding.
    """

    prompt: Decimal = _ZERO
    cached: Decimal = _ZERO
    cache_write: Decimal = _ZERO
    completion: Decimal = _ZERO
    reasoning: Decimal = _ZERO
    request: Decimal = _ZERO
    image: Decimal = _ZERO
    fee: Decimal = _ZERO
    provider_reported: Decimal | None = None
    disagreement: bool = False

    @property
    def cost(self) -> Decimal:
        """The provider's charge: every line but the platform fee."""
        tokens = self.prompt + self.cached + self.cache_write + self.completion + self.reasoning
        return tokens + self.request + self.image

    @property
    def total(self) -> Decimal:
        """``cost`` plus the platform fee."""
        return self.cost + self.fee

    def model_dump(self, *, mode: DumpMode = "python") -> JSON:
        """The lines, ``cost`` and ``total``; ``mode="json"`` renders Decimals as strings."""
        out: JSON = {
            name: _decimal_out(getattr(self, name), mode)
            for name in ("prompt", "cached", "cache_write", "completion", "reasoning", "request", "image")
        }
        out["cost"] = _decimal_out(self.cost, mode)
        out["fee"] = _decimal_out(self.fee, mode)
        out["total"] = _decimal_out(self.total, mode)
        out["provider_reported"] = _decimal_out(self.provider_reported, mode)
        out["disagreement"] = self.disagreement
        return out


@dataclass(slots=True)
class Attempt:
    """One try at one endpoint: what was tried, how it ended, how long it took, what it cost.

    ``outcome`` is ``"success"``, ``"error"`` or ``"skipped"`` (not sent: circuit open, or a
    budget or context filter). ``error`` is the error class name, ``status`` the HTTP status.
    ``cost`` is what the provider charges for it (``None`` when unknown); ``cost_breakdown`` has
    the lines, the platform fee and the provider's own figure. ``finish_reasons`` are the
    choices' finish reasons of a successful attempt.
    """

    model: str
    provider: str
    endpoint_model: str
    outcome: Outcome
    error: str | None = None
    message: str | None = None
    status: int | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    retry: int = 0
    usage: Usage | None = None
    cost: Decimal | None = None
    started_at: float = 0.0
    cost_breakdown: CostBreakdown | None = None
    finish_reasons: tuple[str, ...] = ()

    @property
    def usage_estimated(self) -> bool:
        """Whether ``usage`` is polyroute's estimate (a stream that broke or was left before the
        provider reported usage), not the provider's figure."""
        return self.usage is not None and self.usage.estimated

    def model_dump(self, *, mode: DumpMode = "python") -> JSON:
        out = {
            "model": self.model,
            "provider": self.provider,
            "endpoint_model": self.endpoint_model,
            "outcome": self.outcome,
            "error": self.error,
            "message": self.message,
            "status": self.status,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "retry": self.retry,
            "usage": self.usage.model_dump() if self.usage is not None else None,
            "cost": _decimal_out(self.cost, mode),
            "cost_breakdown": self.cost_breakdown.model_dump(mode=mode) if self.cost_breakdown is not None else None,
            "started_at": self.started_at,
            "finish_reasons": list(self.finish_reasons),
        }
        if self.usage_estimated:
            out["usage_estimated"] = True
        return out


@dataclass(slots=True)
class Route:
    """How a call was routed: who served it, every attempt, and the cost.

    ``cost`` is the total over all attempts in USD (``Decimal``), ``None`` when the serving
    endpoint has no known price. ``fee`` is the platform fee over all attempts when one is
    configured (``None`` otherwise): bill ``cost + fee``.
    """

    request_id: str
    model: str
    provider: str
    endpoint_model: str
    attempts: list[Attempt]
    cost: Decimal | None = None
    usage: Usage | None = None
    latency_s: float = 0.0
    fee: Decimal | None = None

    @property
    def fallbacks(self) -> int:
        """How many attempts failed before the one that served the call."""
        return sum(1 for a in self.attempts if a.outcome == "error")

    def model_dump(self, *, mode: DumpMode = "python") -> JSON:
        return {
            "request_id": self.request_id,
            "model": self.model,
            "provider": self.provider,
            "endpoint_model": self.endpoint_model,
            "cost": _decimal_out(self.cost, mode),
            "fee": _decimal_out(self.fee, mode),
            "usage": self.usage.model_dump() if self.usage is not None else None,
            "latency_s": self.latency_s,
            "attempts": [a.model_dump(mode=mode) for a in self.attempts],
        }


@dataclass(slots=True)
class Delta(_Reasoning):
    """``choices[i].delta`` of a stream chunk."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    extra: JSON = field(default_factory=dict)

    _KNOWN = frozenset({"role", "content", "tool_calls"})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delta:
        if len(data) == 1 and "content" in data:  # the common case, kept fast
            return cls(None, data["content"], None, {})
        get = data.get
        extra = {} if data.keys() <= cls._KNOWN else _pop_extra(data, cls._KNOWN)
        return cls(get("role"), get("content"), _tool_calls(get("tool_calls")), extra)

    def has_content(self) -> bool:
        """Whether this delta carries anything a caller would see (text, tool calls, reasoning)."""
        return bool(self.content) or bool(self.tool_calls) or bool(self.reasoning)

    def model_dump(self) -> JSON:
        out: JSON = {}
        if self.role is not None:
            out["role"] = self.role
        if self.content is not None:
            out["content"] = self.content
        if self.tool_calls is not None:
            out["tool_calls"] = [tc.model_dump() for tc in self.tool_calls]
        out.update(self.extra)
        return out


@dataclass(slots=True)
class ChunkChoice(_ChoiceReader):
    """``choices[i]`` of a stream chunk."""

    index: int = 0
    delta: Delta = field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any = None
    extra: JSON = field(default_factory=dict)

    _KNOWN = frozenset({"index", "delta", "finish_reason", "logprobs"})
    _PART = ("delta", Delta.from_dict)

    def model_dump(self) -> JSON:
        out: JSON = {"index": self.index, "delta": self.delta.model_dump()}
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        out["finish_reason"] = self.finish_reason
        out.update(self.extra)
        return out


_C = TypeVar("_C", "Choice", "ChunkChoice")


@dataclass(slots=True)
class _Envelope(Generic[_C]):
    """What a whole response and a stream chunk share: the fields around ``choices``, read from
    and written to the OpenAI JSON the same way."""

    id: str
    created: int
    model: str
    choices: list[_C]
    usage: Usage | None = None
    object: str = ""
    system_fingerprint: str | None = None
    extra: JSON = field(default_factory=dict)
    route: Route | None = None

    #: the choice class (``Choice`` or ``ChunkChoice``) and the default ``object``
    _CHOICE: ClassVar[type[Any]]
    _OBJECT: ClassVar[str]
    _KNOWN: ClassVar[frozenset[str]] = frozenset(
        {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """From the provider's JSON (as parsed); fields we do not model are kept in ``extra``."""
        get = data.get
        usage = get("usage")
        extra = {} if data.keys() <= cls._KNOWN else _pop_extra(data, cls._KNOWN)
        choice = cls._CHOICE.from_dict
        return cls(
            get("id") or "",
            _int(get("created")),
            get("model") or "",
            [choice(c) for c in get("choices") or ()],
            Usage.from_dict(usage) if usage else None,
            get("object") or cls._OBJECT,
            get("system_fingerprint"),
            extra,
        )

    def model_dump(self, *, mode: DumpMode = "python", exclude_route: bool = False) -> JSON:
        """The OpenAI JSON object, plus ``route`` (when set) unless excluded. ``mode="json"``
        renders Decimals as strings."""
        out: JSON = {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [c.model_dump() for c in self.choices],
        }
        if self.usage is not None:
            out["usage"] = self.usage.model_dump()
        if self.system_fingerprint is not None:
            out["system_fingerprint"] = self.system_fingerprint
        out.update(self.extra)
        if self.route is not None and not exclude_route:
            out["route"] = self.route.model_dump(mode=mode)
        return out


@dataclass(slots=True)
class ChatCompletion(_Envelope[Choice]):
    """A whole response: OpenAI's ``chat.completion`` object plus ``route``."""

    object: str = "chat.completion"

    _CHOICE: ClassVar[type[Choice]] = Choice
    _OBJECT: ClassVar[str] = "chat.completion"


@dataclass(slots=True)
class ChatCompletionChunk(_Envelope[ChunkChoice]):
    """One stream chunk: OpenAI's ``chat.completion.chunk`` plus ``route`` on the final one."""

    object: str = "chat.completion.chunk"

    _CHOICE: ClassVar[type[ChunkChoice]] = ChunkChoice
    _OBJECT: ClassVar[str] = "chat.completion.chunk"

    def has_content(self) -> bool:
        """Whether any choice's delta carries content a caller would see."""
        return any(c.delta.has_content() for c in self.choices)

    @property
    def finish_reason(self) -> str | None:
        """The first choice's finish reason, if this chunk has one."""
        for c in self.choices:
            if c.finish_reason is not None:
                return c.finish_reason
        return None
