"""LlamaIndex chat messages to the OpenAI Chat Completions messages polyroute sends.

Text, images, audio and documents become content parts; :class:`ToolCallBlock` blocks (or, for
messages built by older code, ``additional_kwargs["tool_calls"]``) become the assistant's
``tool_calls``; a ``tool`` message carries the ``tool_call_id`` it answers. Reasoning
(:class:`ThinkingBlock`) and cache hints (:class:`CachePoint`) are not sent. A block polyroute
cannot send raises :class:`ValueError` naming it, rather than being dropped silently.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import filetype  # type: ignore[import-untyped]
from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

__all__ = ["to_wire_messages"]

#: LlamaIndex roles that other vendors use for the model's own turns
_ASSISTANT_ALIASES = frozenset({MessageRole.CHATBOT, MessageRole.MODEL})


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The OpenAI-shaped ``messages`` list for ``messages``."""
    return [to_wire_message(m) for m in messages]


def to_wire_message(message: ChatMessage) -> dict[str, Any]:
    """One OpenAI-shaped message."""
    role = MessageRole.ASSISTANT.value if message.role in _ASSISTANT_ALIASES else message.role.value
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call(block))
        elif isinstance(block, (ThinkingBlock, CachePoint)):
            continue
        else:
            parts.append(_content_part(block))
    if not tool_calls:
        tool_calls = _legacy_tool_calls(message.additional_kwargs.get("tool_calls"))
    out: dict[str, Any] = {"role": role, "content": _content(parts, has_tool_calls=bool(tool_calls))}
    if tool_calls and role == MessageRole.ASSISTANT.value:
        out["tool_calls"] = tool_calls
    if role == MessageRole.TOOL.value:
        out["tool_call_id"] = message.additional_kwargs.get("tool_call_id")
    name = message.additional_kwargs.get("name")
    if isinstance(name, str) and role != MessageRole.TOOL.value:  # OpenAI's tool messages take no name
        out["name"] = name
    return out


def _content(parts: list[dict[str, Any]], *, has_tool_calls: bool) -> str | list[dict[str, Any]] | None:
    if has_tool_calls:  # a streamed tool-call turn holds an empty text block: send no content, not ""
        parts = [p for p in parts if p["type"] != "text" or p["text"]]
    if not parts:
        return None if has_tool_calls else ""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _content_part(block: Any) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        return _image_part(block)
    if isinstance(block, AudioBlock):
        return _audio_part(block)
    if isinstance(block, DocumentBlock):
        return _document_part(block)
    raise ValueError(f"polyroute cannot send a {type(block).__name__} in a chat message")


def _image_part(block: ImageBlock) -> dict[str, Any]:
    image: dict[str, Any]
    if block.image is None and block.path is None and block.url is not None:
        image = {"url": str(block.url)}  # a remote image: the provider fetches it, we do not
    else:
        raw = block.resolve_image().read()
        mime = block.image_mimetype or filetype.guess_mime(raw)
        if not mime:
            raise ValueError("cannot tell this image's type: set ImageBlock.image_mimetype")
        image = {"url": f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"}
    if block.detail:
        image["detail"] = block.detail
    return {"type": "image_url", "image_url": image}


def _audio_part(block: AudioBlock) -> dict[str, Any]:
    raw = block.resolve_audio().read()
    fmt = block.format or filetype.guess_extension(raw)
    if not fmt:
        raise ValueError("cannot tell this audio's format: set AudioBlock.format (e.g. 'wav' or 'mp3')")
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(raw).decode("ascii"), "format": fmt}}


def _document_part(block: DocumentBlock) -> dict[str, Any]:
    raw = block.resolve_document().read()
    mime = block.document_mimetype or filetype.guess_mime(raw) or "application/octet-stream"
    data = f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
    return {"type": "file", "file": {"filename": block.title or "document", "file_data": data}}


def _tool_call(block: ToolCallBlock) -> dict[str, Any]:
    args = block.tool_kwargs
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    call: dict[str, Any] = {"type": "function", "function": {"name": block.tool_name, "arguments": arguments}}
    if block.tool_call_id is not None:
        call["id"] = block.tool_call_id
    return call


def _legacy_tool_calls(raw: Any) -> list[dict[str, Any]]:
    """``additional_kwargs["tool_calls"]``: OpenAI-shaped dicts, or objects with ``model_dump()``."""
    if not raw:
        return []
    calls: list[dict[str, Any]] = []
    for item in raw:
        data = item.model_dump() if hasattr(item, "model_dump") else item
        if not isinstance(data, Mapping):
            raise ValueError(f"cannot read a tool call from {type(item).__name__}")
        fn = data.get("function") or {}
        call: dict[str, Any] = {
            "type": "function",
            "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or "{}"},
        }
        if data.get("id") is not None:
            call["id"] = data["id"]
        calls.append(call)
    return calls
