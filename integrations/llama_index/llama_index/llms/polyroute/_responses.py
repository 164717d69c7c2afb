"""polyroute responses to LlamaIndex responses, whole or streamed.

Every response keeps the OpenAI-shaped JSON in ``raw`` (``model_dump()``: ``usage`` and
``route`` included, cost as a ``Decimal``), so LlamaIndex's token counting reads the provider's
exact usage. ``additional_kwargs`` carries the token counts, ``cost``, the ``provider`` that
served the call and the whole ``route`` (every attempt), once the call has finished.
"""

from __future__ import annotations

from dataclasses import dataclass
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

from polyroute import ChatCompletion, ChatCompletionChunk, Route, ToolCall, Usage
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


@dataclass(slots=True)
class _PartialCall:
    id: str | None = None
    name: str = ""
    arguments: str = ""


class ChatStreamAssembler:
    """Builds the running :class:`ChatResponse` of a stream, one chunk at a time.

    Each response carries the whole message so far (text, reasoning, tool calls with their
    arguments as received) and the chunk's text ``delta``; the last chunk's response also
    carries :func:`route_kwargs`.
    """

    __slots__ = ("_calls", "_reasoning", "_role", "_text")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._role = MessageRole.ASSISTANT

    def add(self, chunk: ChatCompletionChunk) -> ChatResponse:
        """The response after ``chunk``."""
        delta_text = ""
        kwargs: dict[str, Any] = {}
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if delta.role:
                self._role = _role(delta.role)
            if delta.content:
                delta_text = delta.content
                self._text.append(delta_text)
            if delta.reasoning:
                self._reasoning.append(delta.reasoning)
                kwargs["thinking_delta"] = delta.reasoning
            for call in delta.tool_calls or ():
                self._add_call(call)
        if chunk.route is not None:
            kwargs.update(route_kwargs(chunk.usage, chunk.route))
        return ChatResponse(message=self._message(), delta=delta_text, raw=chunk.model_dump(), additional_kwargs=kwargs)

    def _add_call(self, call: ToolCall) -> None:
        index = call.index
        if index is None:  # without an index, a new id starts a call and anything else continues the last
            if call.id and all(c.id != call.id for c in self._calls.values()):
                index = len(self._calls)
            else:
                index = max(self._calls, default=0)
        partial = self._calls.setdefault(index, _PartialCall())
        if call.id:
            partial.id = call.id
        if call.function.name:
            partial.name += call.function.name
        if call.function.arguments:
            partial.arguments += call.function.arguments

    def _message(self) -> ChatMessage:
        blocks: list[ContentBlock] = []
        if self._reasoning:
            blocks.append(ThinkingBlock(content="".join(self._reasoning)))
        calls = [self._calls[i] for i in sorted(self._calls)]
        if self._text or not calls:
            blocks.append(TextBlock(text="".join(self._text)))
        blocks.extend(_tool_call_block(c.id, c.name, c.arguments) for c in calls)
        kwargs: dict[str, Any] = {}
        if calls:
            kwargs["tool_calls"] = [_tool_call_dict(c.id, c.name, c.arguments) for c in calls]
        return ChatMessage(role=self._role, blocks=blocks, additional_kwargs=kwargs)
