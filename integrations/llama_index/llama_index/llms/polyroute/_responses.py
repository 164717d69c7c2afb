"""polyroute responses to LlamaIndex responses, whole or streamed.

Every response keeps the OpenAI-shaped JSON in ``raw`` (``model_dump()``: ``usage`` and
``route`` included, cost as a ``Decimal``), so LlamaIndex's token counting reads the provider's
exact usage. ``additional_kwargs`` carries the token counts, ``cost``, the ``provider`` that
served the call and the whole ``route`` (every attempt), once the call has finished.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ContentBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from polyroute import ChatCompletion, ChatCompletionChunk, Route, StreamAccumulator, Usage
from polyroute import ChatMessage as WireMessage

__all__ = ["ChatStreamAssembler", "chat_response", "completion_response", "route_kwargs"]


def route_kwargs(usage: Usage | None, route: Route | None) -> dict[str, Any]:
    """What a finished call reports in ``additional_kwargs``: tokens, cost, provider, route."""
    out: dict[str, Any] = {}
    usage = route.usage if route is not None and route.usage is not None else usage
    if usage is not None:
        out["prompt_tokens"] = usage.prompt_tokens
        out["completion_tokens"] = usage.completion_tokens
        out["total_tokens"] = usage.total_tokens
    if route is not None:
        out["cost"] = route.cost
        out["provider"] = route.provider
        out["route"] = route.model_dump()
    return out


def chat_response(resp: ChatCompletion) -> ChatResponse:
    """A whole ``ChatCompletion`` as a :class:`ChatResponse`: its first choice (log-probs stay in ``raw``)."""
    message = _message(resp.choices[0].message) if resp.choices else ChatMessage(role=MessageRole.ASSISTANT, content="")
    return ChatResponse(message=message, raw=resp.model_dump(), additional_kwargs=route_kwargs(resp.usage, resp.route))


def completion_response(chat: ChatResponse) -> CompletionResponse:
    """The completion view of a chat response (text, delta, raw and kwargs carried over)."""
    return CompletionResponse(
        text=chat.message.content or "",
        delta=chat.delta,
        raw=chat.raw,
        additional_kwargs=chat.additional_kwargs,
    )


def _message(wire: WireMessage) -> ChatMessage:
    blocks: list[ContentBlock] = []
    if wire.reasoning:
        blocks.append(ThinkingBlock(content=wire.reasoning))
    calls = wire.tool_calls or []
    if wire.content is not None or not calls:
        blocks.append(TextBlock(text=wire.content or ""))
    blocks.extend(_tool_call_block(c.id, c.function.name, c.function.arguments) for c in calls)
    kwargs: dict[str, Any] = {}
    if calls:
        kwargs["tool_calls"] = [_tool_call_dict(c.id, c.function.name, c.function.arguments) for c in calls]
    return ChatMessage(role=_role(wire.role), blocks=blocks, additional_kwargs=kwargs)


def _role(role: str | None) -> MessageRole:
    try:
        return MessageRole(role or "assistant")
    except ValueError:
        return MessageRole.ASSISTANT


def _tool_call_block(call_id: str | None, name: str | None, arguments: str | None) -> ToolCallBlock:
    return ToolCallBlock(tool_call_id=call_id, tool_name=name or "", tool_kwargs=arguments or "{}")


def _tool_call_dict(call_id: str | None, name: str | None, arguments: str | None) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name or "", "arguments": arguments or "{}"}}


class ChatStreamAssembler:
    """Builds the running :class:`ChatResponse` of a stream, one chunk at a time.

    Each response carries the whole message so far (text, reasoning, tool calls with their
    arguments as received, assembled by :class:`polyroute.StreamAccumulator`) and the chunk's
    text ``delta``; the last chunk's response also carries :func:`route_kwargs`.
    """

    __slots__ = ("_acc",)

    def __init__(self) -> None:
        self._acc = StreamAccumulator()

    def add(self, chunk: ChatCompletionChunk) -> ChatResponse:
        """The response after ``chunk``."""
        self._acc.add(chunk)
        delta_text = ""
        kwargs: dict[str, Any] = {}
        for choice in chunk.choices[:1]:
            delta_text = choice.delta.content or ""
            if choice.delta.reasoning:
                kwargs["thinking_delta"] = choice.delta.reasoning
        if chunk.route is not None:
            kwargs.update(route_kwargs(chunk.usage, chunk.route))
        message = _message(self._acc.message())
        return ChatResponse(message=message, delta=delta_text, raw=chunk.model_dump(), additional_kwargs=kwargs)
