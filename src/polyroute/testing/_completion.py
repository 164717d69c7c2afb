"""A :class:`Reply` with every default filled in: what the wire formats render.

Resolution is wire-independent: default text, default finish reason, tool-call ids and JSON
arguments, the echoed model and the deterministic usage estimate all live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polyroute.testing._behaviors import Reply

__all__ = ["Completion", "ResolvedToolCall", "estimate_tokens", "filler_reply", "resolve"]


@dataclass(frozen=True, slots=True)
class ResolvedToolCall:
    """A tool call ready for the wire: ``arguments`` is the JSON string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer with defaults applied. ``text`` is ``None`` only for tool-call-only answers."""

    text: str | None
    reasoning: str | None
    tool_calls: tuple[ResolvedToolCall, ...]
    finish_reason: str
    usage: dict[str, Any]
    model: str
    chunk_size: int


def estimate_tokens(chars: int) -> int:
    """The simulator's deterministic token estimate: ``max(1, chars // 4)``."""
    return max(1, chars // 4)


def resolve(reply: Reply, *, provider: str, model: str, prompt_chars: int) -> Completion:
    """Fill in ``reply``'s defaults for one request to ``provider`` that asked for ``model``."""
    text = reply.text
    if text is None and not reply.tool_calls:
        text = f"Hello from {provider}"
    calls = tuple(
        ResolvedToolCall(id=spec.id or f"call_{index}", name=spec.name, arguments=spec.arguments_json)
        for index, spec in enumerate(reply.tool_calls)
    )
    finish_reason = reply.finish_reason or ("tool_calls" if calls else "stop")
    return Completion(
        text=text,
        reasoning=reply.reasoning,
        tool_calls=calls,
        finish_reason=finish_reason,
        usage=_usage(reply, text, calls, prompt_chars),
        model=reply.model or model,
        chunk_size=reply.chunk_size,
    )


def filler_reply(provider: str, chunks: int, base: Reply | None) -> Reply:
    """The reply a partial behaviour (Disconnect, Truncate...) streams from.

    ``base`` when the behaviour names one; otherwise a deterministic text of exactly ``chunks``
    chunks of the default size, cycling ``"Hello from <provider>. "``.
    """
    if base is not None:
        return base
    size = Reply().chunk_size
    unit = f"Hello from {provider}. "
    wanted = chunks * size
    return Reply(text=(unit * (wanted // len(unit) + 1))[:wanted])


def _usage(reply: Reply, text: str | None, calls: tuple[ResolvedToolCall, ...], prompt_chars: int) -> dict[str, Any]:
    if reply.usage is not None:
        usage = dict(reply.usage)
    else:
        completion_chars = len(text or "") + len(reply.reasoning or "")
        completion_chars += sum(len(call.arguments) for call in calls)
        prompt_tokens = estimate_tokens(prompt_chars)
        completion_tokens = estimate_tokens(completion_chars)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    extra: Mapping[str, Any] = reply.extra_usage or {}
    usage.update(extra)
    return usage
