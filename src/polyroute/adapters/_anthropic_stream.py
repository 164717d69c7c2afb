"""Anthropic Messages streams (typed SSE events) -> OpenAI ``chat.completion.chunk`` objects.

``message_start`` gives the role chunk; ``text_delta`` content; ``thinking_delta``
``reasoning_content``; a ``tool_use`` block start opens a tool call and each ``input_json_delta``
appends to its arguments; ``message_delta`` carries the finish reason; ``message_stop`` ends the
stream, after a usage chunk (``choices: []``) as OpenAI sends with ``include_usage``. An
``error`` event raises the error it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute._types import ChatCompletionChunk, ChunkChoice, Delta, FunctionCall, ToolCall, Usage
from polyroute.adapters._anthropic_decode import anthropic_error, anthropic_usage, finish_reason
from polyroute.adapters._frames import SSEFrameDecoder
from polyroute.errors import IncompleteStream

__all__ = ["AnthropicStreamDecoder"]


class _Block:
    """One content block being streamed."""

    __slots__ = ("arguments", "kind", "signature", "text", "tool_index")

    def __init__(self, kind: str, tool_index: int | None = None) -> None:
        self.kind = kind
        self.tool_index = tool_index
        self.arguments = False
        self.text: list[str] = []
        self.signature: str | None = None


class AnthropicStreamDecoder(SSEFrameDecoder):
    """Decodes one Anthropic Messages SSE stream."""

    __slots__ = ("_blocks", "_created", "_finish", "_id", "_model", "_tools", "_usage")

    frame_name = "stream event"

    def __init__(self, model: str, created: int) -> None:
        super().__init__()
        self._id = ""
        self._model = model
        self._created = created
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._usage: dict[str, Any] = {}
        self._finish: str | None = None

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )

    def _tool_delta(self, index: int, arguments: str) -> Delta:
        return Delta(tool_calls=[ToolCall(id=None, type=None, function=FunctionCall(None, arguments), index=index)])

    def _start(self, event: Mapping[str, Any]) -> ChatCompletionChunk:
        message = event.get("message") or {}
        self._id = str(message.get("id") or "")
        self._model = str(message.get("model") or self._model)
        usage = message.get("usage")
        if isinstance(usage, Mapping):
            self._usage.update(usage)
        return self._chunk(Delta(role="assistant", content=""))

    def _block_start(self, event: Mapping[str, Any]) -> ChatCompletionChunk | None:
        block = event.get("content_block") or {}
        kind = str(block.get("type"))
        index = _int(event.get("index"))
        if kind == "tool_use":
            state = self._blocks[index] = _Block(kind, self._tools)
            self._tools += 1
            call = ToolCall(
                id=block.get("id"),
                type="function",
                function=FunctionCall(block.get("name"), ""),
                index=state.tool_index,
            )
            return self._chunk(Delta(tool_calls=[call]))
        state = self._blocks[index] = _Block(kind)
        if kind == "text" and block.get("text"):
            return self._chunk(Delta(content=str(block["text"])))
        if kind == "redacted_thinking":
            return self._chunk(Delta(extra={"thinking_blocks": [dict(block)]}))
        return None

    def _block_delta(self, event: Mapping[str, Any]) -> ChatCompletionChunk | None:
        delta = event.get("delta") or {}
        dtype = delta.get("type")
        state = self._blocks.get(_int(event.get("index")))
        if dtype == "text_delta":
            return self._chunk(Delta(content=str(delta.get("text") or "")))
        if dtype == "input_json_delta" and state is not None and state.tool_index is not None:
            partial = str(delta.get("partial_json") or "")
            if not partial:
                return None
            state.arguments = True
            return self._chunk(self._tool_delta(state.tool_index, partial))
        if dtype == "thinking_delta":
            text = str(delta.get("thinking") or "")
            if state is not None:
                state.text.append(text)
            return self._chunk(Delta(extra={"reasoning_content": text}))
        if dtype == "signature_delta" and state is not None:
            state.signature = str(delta.get("signature") or "")
        return None

    def _block_stop(self, event: Mapping[str, Any]) -> ChatCompletionChunk | None:
        state = self._blocks.get(_int(event.get("index")))
        if state is None:
            return None
        if state.tool_index is not None and not state.arguments:
            # a tool called without input streams no JSON at all: say "{}" as OpenAI would
            return self._chunk(self._tool_delta(state.tool_index, "{}"))
        if state.kind == "thinking" and state.signature is not None:
            block = {"type": "thinking", "thinking": "".join(state.text), "signature": state.signature}
            return self._chunk(Delta(extra={"thinking_blocks": [block]}))
        return None

    def _message_delta(self, event: Mapping[str, Any]) -> ChatCompletionChunk:
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            self._usage.update({k: v for k, v in usage.items() if v is not None})
        delta = event.get("delta") or {}
        self._finish = finish_reason(delta.get("stop_reason")) or "stop"
        return self._chunk(Delta(), self._finish)

    def _usage_chunk(self) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[],
            usage=anthropic_usage(self._usage) if self._usage else Usage(),
        )

    def _frame(self, name: str | None, event: dict[str, Any], raw: bytes) -> ChatCompletionChunk | None:
        etype = event.get("type") or name
        if etype == "content_block_delta":
            return self._block_delta(event)
        if etype == "message_start":
            return self._start(event)
        if etype == "content_block_start":
            return self._block_start(event)
        if etype == "content_block_stop":
            return self._block_stop(event)
        if etype == "message_delta":
            return self._message_delta(event)
        if etype == "message_stop":
            self._done = True
            return self._usage_chunk() if self._finish is not None else None
        if etype == "error":
            raise anthropic_error(200, event, {}, raw)
        return None  # ping, and event types added later

    def finish(self) -> list[ChatCompletionChunk]:
        out = self._rest()
        if not self._done:
            if self._finish is None:
                raise IncompleteStream("stream ended without message_delta / message_stop", status=200)
            out.append(self._usage_chunk())
        return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
