"""What a recorded response holds, read straight from its native format, independently of our adapters.

Each oracle reads one wire API's raw body (JSON, SSE or a JSON array) with plain ``json`` and
string handling and returns a :class:`Message`: the text, reasoning, tool calls, OpenAI finish
reason and usage the caller should see. The finish-reason tables here are written out again on
purpose (not imported), so a wrong mapping in an adapter cannot agree with itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from polyroute import ChatCompletion, ChatCompletionChunk

ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


@dataclass
class Message:
    """The caller-visible content of one response."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: tuple[int, int, int] | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    error: bool = False


# -- our side ----------------------------------------------------------------------------------


def _args(raw: str | None) -> Any:
    return json.loads(raw) if raw else {}


def from_completion(resp: ChatCompletion) -> Message:
    choice = resp.choices[0]
    msg = choice.message
    calls = [(c.function.name, _args(c.function.arguments)) for c in msg.tool_calls or ()]
    usage = resp.usage
    return Message(
        text=msg.content or "",
        reasoning=msg.reasoning or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None,
        cached_tokens=usage.cached_tokens if usage else 0,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
    )


def from_chunks(chunks: list[ChatCompletionChunk]) -> Message:
    """A stream reassembled the way an OpenAI client does it."""
    out = Message()
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            out.text += delta.content or ""
            out.reasoning += delta.reasoning or ""
            for call in delta.tool_calls or ():
                slot = calls.setdefault(call.index or 0, ["", ""])
                slot[0] += call.function.name or ""
                slot[1] += call.function.arguments or ""
            if choice.finish_reason is not None:
                out.finish_reason = choice.finish_reason
        if chunk.usage is not None:
            u = chunk.usage
            out.usage = (u.prompt_tokens, u.completion_tokens, u.total_tokens)
            out.cached_tokens = u.cached_tokens
            out.reasoning_tokens = u.reasoning_tokens
    out.tool_calls = [(name, _args(arguments)) for name, arguments in (calls[i] for i in sorted(calls))]
    return out


# -- SSE ---------------------------------------------------------------------------------------


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """``(event, data)`` per SSE event, comments skipped; tolerant of ``\\r\\n``."""
    events: list[tuple[str | None, str]] = []
    text = body.decode().replace("\r\n", "\n")
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


# -- OpenAI-compatible -------------------------------------------------------------------------


def _openai_text(content: Any) -> tuple[str, str]:
    """(text, thinking) of a content value: a string, or Mistral's list of parts."""
    if isinstance(content, str):
        return content, ""
    text, thinking = "", ""
    for part in content or ():
        if part.get("type") == "thinking":
            thinking += "".join(p.get("text", "") for p in part.get("thinking") or ())
        elif isinstance(part.get("text"), str):
            text += part["text"]
    return text, thinking


def _openai_usage(out: Message, usage: dict[str, Any]) -> None:
    out.usage = (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    out.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    out.reasoning_tokens = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0


def openai_message(body: bytes, stream: bool) -> Message:
    out = Message()
    if not stream or not body.lstrip().startswith((b"data:", b":")):
        data = json.loads(body)
        if "error" in data or "detail" in data:
            return Message(error=True)
        choice = data["choices"][0]
        msg = choice["message"]
        out.text, thinking = _openai_text(msg.get("content"))
        out.reasoning = msg.get("reasoning_content") or msg.get("reasoning") or thinking
        out.tool_calls = [
            (c["function"]["name"], _args(c["function"]["arguments"])) for c in msg.get("tool_calls") or ()
        ]
        out.finish_reason = choice["finish_reason"]
        if data.get("usage"):
            _openai_usage(out, data["usage"])
        return out
    calls: dict[int, list[str]] = {}
    for event, data in sse_events(body):
        if data == "[DONE]":
            continue
        obj = json.loads(data)
        if event == "error" or "error" in obj:
            out.error = True
            return out
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            text, thinking = _openai_text(delta.get("content"))
            out.text += text or ""
            out.reasoning += delta.get("reasoning_content") or delta.get("reasoning") or thinking or ""
            for call in delta.get("tool_calls") or ():
                slot = calls.setdefault(call.get("index", 0), ["", ""])
                slot[0] += (call.get("function") or {}).get("name") or ""
                slot[1] += (call.get("function") or {}).get("arguments") or ""
            if choice.get("finish_reason"):
                out.finish_reason = choice["finish_reason"]
        if obj.get("usage"):
            _openai_usage(out, obj["usage"])
    out.tool_calls = [(n, _args(a)) for n, a in (calls[i] for i in sorted(calls))]
    return out


# -- Anthropic ---------------------------------------------------------------------------------


def _anthropic_usage(out: Message, usage: dict[str, Any]) -> None:
    read = usage.get("cache_read_input_tokens") or 0
    prompt = usage["input_tokens"] + read + (usage.get("cache_creation_input_tokens") or 0)
    out.usage = (prompt, usage["output_tokens"], prompt + usage["output_tokens"])
    out.cached_tokens = read


def anthropic_message(body: bytes, stream: bool) -> Message:
    out = Message()
    if not stream or body.lstrip().startswith(b"{"):
        data = json.loads(body)
        if data.get("type") == "error":
            return Message(error=True)
        for block in data["content"]:
            if block["type"] == "text":
                out.text += block["text"]
            elif block["type"] == "thinking":
                out.reasoning += block["thinking"]
            elif block["type"] == "tool_use":
                out.tool_calls.append((block["name"], block["input"]))
        out.finish_reason = ANTHROPIC_FINISH[data["stop_reason"]]
        _anthropic_usage(out, data["usage"])
        return out
    usage: dict[str, Any] = {}
    tools: dict[int, list[str]] = {}
    for _, data in sse_events(body):
        event = json.loads(data)
        kind = event["type"]
        if kind == "error":
            return Message(error=True)
        if kind == "message_start":
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            tools[event["index"]] = [event["content_block"]["name"], ""]
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                out.text += delta["text"]
            elif delta["type"] == "thinking_delta":
                out.reasoning += delta["thinking"]
            elif delta["type"] == "input_json_delta":
                tools[event["index"]][1] += delta["partial_json"]
        elif kind == "message_delta":
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
            out.finish_reason = ANTHROPIC_FINISH[event["delta"]["stop_reason"]]
    out.tool_calls = [(name, _args(arguments)) for name, arguments in (tools[i] for i in sorted(tools))]
    _anthropic_usage(out, usage)
    return out


# -- Gemini ------------------------------------------------------------------------------------


def _gemini_objects(body: bytes, stream: bool) -> list[dict[str, Any]]:
    head = body.lstrip()
    if head.startswith(b"["):
        return list(json.loads(body))
    if stream and head.startswith(b"data:"):
        return [json.loads(data) for _, data in sse_events(body)]
    return [json.loads(body)]


def gemini_message(body: bytes, stream: bool) -> Message:
    out = Message()
    meta: dict[str, Any] = {}
    reason = None
    for obj in _gemini_objects(body, stream):
        if "error" in obj:
            return Message(error=True)
        for part in obj["candidates"][0].get("content", {}).get("parts", []):
            if "functionCall" in part:
                out.tool_calls.append((part["functionCall"]["name"], part["functionCall"].get("args", {})))
            elif part.get("thought"):
                out.reasoning += part["text"]
            elif "text" in part:
                out.text += part["text"]
        reason = obj["candidates"][0].get("finishReason") or reason
        meta = obj.get("usageMetadata") or meta
    out.finish_reason = "tool_calls" if reason == "STOP" and out.tool_calls else GEMINI_FINISH.get(reason or "")
    thoughts = meta.get("thoughtsTokenCount", 0)
    completion = meta.get("candidatesTokenCount", 0) + thoughts
    out.usage = (meta["promptTokenCount"], completion, meta["totalTokenCount"])
    out.cached_tokens = meta.get("cachedContentTokenCount", 0)
    out.reasoning_tokens = thoughts
    return out


def expected_message(api: str, body: bytes, stream: bool) -> Message:
    """What the caller should see for a 2xx ``body`` of wire API ``api``."""
    if api == "anthropic":
        return anthropic_message(body, stream)
    if api == "gemini":
        return gemini_message(body, stream)
    return openai_message(body, stream)
