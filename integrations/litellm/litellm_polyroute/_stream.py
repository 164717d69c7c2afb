"""polyroute stream chunks as LiteLLM ``GenericStreamingChunk`` dicts.

LiteLLM's ``CustomLLM.streaming``/``astreaming`` yield ``GenericStreamingChunk`` dicts: text, at
most one tool-call fragment, and on the last one ``is_finished``, the finish reason and the usage.
:class:`ChunkTranslator` is I/O-free: the handler's sync and async streams both feed it.
"""

from __future__ import annotations

from typing import cast

from litellm.types.llms.openai import ChatCompletionToolCallChunk, ChatCompletionUsageBlock
from litellm.types.utils import GenericStreamingChunk

from litellm_polyroute._response import ROUTE_FIELD, litellm_usage_fields
from polyroute import ChatCompletionChunk, Route, ToolCall

__all__ = ["ChunkTranslator"]


def _tool_use(call: ToolCall, position: int) -> ChatCompletionToolCallChunk:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.function.name, "arguments": call.function.arguments or ""},
        "index": call.index if call.index is not None else position,
    }


def _chunk(text: str, index: int, tool_use: ChatCompletionToolCallChunk | None) -> GenericStreamingChunk:
    return {
        "text": text,
        "tool_use": tool_use,
        "is_finished": False,
        "finish_reason": "",
        "usage": None,
        "index": index,
    }


class ChunkTranslator:
    """Translates one stream. The finish is held back until the stream has ended, so that the
    last chunk LiteLLM sees carries the finish reason, the usage with polyroute's cost, and the
    route (as ``provider_specific_fields``, which LiteLLM copies onto a streamed chunk)."""

    __slots__ = ("_finish_reason",)

    def __init__(self) -> None:
        self._finish_reason: str | None = None

    def feed(self, chunk: ChatCompletionChunk) -> list[GenericStreamingChunk]:
        """The LiteLLM chunks for one polyroute chunk (none for a role-only or empty delta)."""
        out: list[GenericStreamingChunk] = []
        for choice in chunk.choices:
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
            text = choice.delta.content or ""
            calls = choice.delta.tool_calls or []
            if text and not calls:
                out.append(_chunk(text, choice.index, None))
            for position, call in enumerate(calls):
                out.append(_chunk(text if position == 0 else "", choice.index, _tool_use(call, position)))
        return out

    def finish(self, route: Route | None) -> GenericStreamingChunk:
        """The final chunk: finish reason, usage (always, with ``cost``) and the route."""
        usage = route.usage if route is not None else None
        block = (
            cast(ChatCompletionUsageBlock, litellm_usage_fields(usage, route.cost if route else None))
            if usage is not None
            else None
        )
        final: GenericStreamingChunk = {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": self._finish_reason or "stop",
            "usage": block,
            "index": 0,
        }
        if route is not None:
            final["provider_specific_fields"] = {ROUTE_FIELD: route.model_dump(mode="json")}
        return final
