"""LangChain messages to OpenAI Chat Completions message dicts, the shape polyroute takes.

Content blocks are translated as providers expect them: LangChain's standard data blocks
(``{"type": "image", "base64": ...}``, files, audio) and Anthropic-style image sources become
OpenAI parts (``image_url``, ``file``, ``input_audio``). An assistant turn is sent back as its
text plus ``tool_calls``: reasoning, thinking and ``tool_use``/``tool_call`` blocks in its content
are provider output that the Chat Completions API does not take as input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
    convert_to_openai_data_block,
    is_data_content_block,
)

__all__ = ["to_openai_messages"]

JSON = dict[str, Any]

#: blocks that carry model output (or tool requests) and are never valid *input* parts
_OUTPUT_ONLY_BLOCKS = frozenset(
    {"tool_use", "tool_call", "tool_call_chunk", "thinking", "redacted_thinking", "reasoning", "reasoning_content"}
)


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[JSON]:
    """The OpenAI Chat Completions ``messages`` list for LangChain ``messages``."""
    return [_message(m) for m in messages]


def _message(message: BaseMessage) -> JSON:
    if isinstance(message, AIMessage):
        return _assistant(message)
    if isinstance(message, ToolMessage):
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": _content(message.content)}
    out: JSON
    if isinstance(message, HumanMessage):
        out = {"role": "user", "content": _content(message.content)}
    elif isinstance(message, SystemMessage):
        role = message.additional_kwargs.get("__openai_role__", "system")
        out = {"role": role, "content": _content(message.content)}
    elif isinstance(message, FunctionMessage):
        out = {"role": "function", "content": _content(message.content)}
    elif isinstance(message, ChatMessage):
        out = {"role": message.role, "content": _content(message.content)}
    else:
        raise TypeError(f"cannot send a {type(message).__name__} to a chat model")
    name = message.name or message.additional_kwargs.get("name")
    if name is not None:
        out["name"] = name
    return out


def _assistant(message: AIMessage) -> JSON:
    out: JSON = {"role": "assistant", "content": _assistant_text(message.content)}
    calls = [_tool_call(tc) for tc in message.tool_calls]
    calls += [_invalid_tool_call(tc) for tc in message.invalid_tool_calls if tc.get("name")]
    if calls:
        out["tool_calls"] = calls
        out["content"] = out["content"] or None
    if message.name is not None:
        out["name"] = message.name
    return out


def _assistant_text(content: str | list[str | dict[Any, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _tool_call(call: ToolCall) -> JSON:
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(call["args"], ensure_ascii=False)},
    }


def _invalid_tool_call(call: InvalidToolCall) -> JSON:
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": call.get("args") or ""},
    }


def _content(content: str | list[str | dict[Any, Any]]) -> str | list[JSON]:
    if isinstance(content, str):
        return content
    parts: list[JSON] = []
    for block in content:
        part = _part(block)
        if part is not None:
            parts.append(part)
    return parts


def _part(block: str | dict[Any, Any]) -> JSON | None:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    btype = block.get("type")
    if btype in _OUTPUT_ONLY_BLOCKS:
        return None
    if is_data_content_block(block):
        return convert_to_openai_data_block(block)
    if btype == "text" and isinstance(block.get("text"), str):
        # v1 text blocks carry ``id``/``index``/``annotations``: send what the API takes
        text: JSON = {"type": "text", "text": block["text"]}
        if "cache_control" in block:
            text["cache_control"] = block["cache_control"]
        return text
    source = block.get("source")
    if btype == "image" and isinstance(source, dict):
        return _anthropic_image(source)
    return dict(block)


def _anthropic_image(source: dict[str, Any]) -> JSON | None:
    """An Anthropic ``{"type": "image", "source": {...}}`` block as an OpenAI ``image_url`` part."""
    if source.get("type") == "base64" and source.get("media_type") and source.get("data"):
        url = f"data:{source['media_type']};base64,{source['data']}"
    elif source.get("type") == "url" and source.get("url"):
        url = source["url"]
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}
