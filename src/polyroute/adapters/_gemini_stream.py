"""Gemini ``streamGenerateContent`` -> OpenAI ``chat.completion.chunk`` objects.

With ``alt=sse`` (what we ask for) every ``data:`` line is a whole ``GenerateContentResponse``;
there are no ``event:`` lines and no ``[DONE]``: the stream is complete when it ends after a
``finishReason``. Without ``alt=sse`` the same objects come as one streamed JSON array; the
decoder accepts both, telling them apart by the first byte. Function calls arrive whole, each as
one tool-call delta. The usage chunk (``choices: []``) is sent when the stream ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute._types import ChatCompletionChunk, ChunkChoice, Delta, ToolCall, Usage
from polyroute.adapters._frames import FrameDecoder, Frames
from polyroute.adapters._gemini_decode import blocked_prompt, candidate_parts, finish_reason, gemini_error, gemini_usage
from polyroute.adapters._json_array import JsonArraySplitter
from polyroute.adapters._sse import SSEParser
from polyroute.errors import IncompleteStream

__all__ = ["GeminiStreamDecoder"]


class GeminiStreamDecoder(FrameDecoder):
    """Decodes one Gemini stream (SSE or JSON array)."""

    __slots__ = ("_array", "_calls", "_created", "_finished", "_id", "_model", "_role_sent", "_sse", "_usage")

    def __init__(self, model: str, created: int) -> None:
        super().__init__()
        self._sse: SSEParser | None = None
        self._array: JsonArraySplitter | None = None
        self._model = model
        self._created = created
        self._id = ""
        self._role_sent: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finished: dict[int, str] = {}
        self._usage: Mapping[str, Any] | None = None

    @property
    def done(self) -> bool:
        return False  # Gemini streams have no end marker: read to the end of the body

    def _frames(self, data: bytes) -> Frames:
        if self._sse is None and self._array is None:
            head = data.lstrip()
            if not head:
                return []
            if head[:1] == b"[":
                self._array = JsonArraySplitter()
            else:
                self._sse = SSEParser()
        if self._array is not None:
            return [(None, element) for element in self._array.feed(data)]
        assert self._sse is not None
        return self._sse.feed(data)

    def _choice(self, candidate: Mapping[str, Any]) -> ChunkChoice:
        raw_index = candidate.get("index")
        index = raw_index if isinstance(raw_index, int) else 0
        first = self._calls.get(index, 0)
        parts = candidate_parts(candidate, f"call_{self._id or 'gemini'}_{index}", first)
        delta = Delta(content="".join(parts.text) if parts.text else None)
        if index not in self._role_sent:
            self._role_sent.add(index)
            delta.role = "assistant"
            delta.content = delta.content or ""
        if parts.reasoning:
            delta.extra["reasoning_content"] = "".join(parts.reasoning)
        if parts.tool_calls:
            delta.tool_calls = [
                ToolCall(id=c.id, type="function", function=c.function, index=first + n, extra=c.extra)
                for n, c in enumerate(parts.tool_calls)
            ]
            self._calls[index] = first + len(parts.tool_calls)
        finish = finish_reason(candidate.get("finishReason"), tool_calls=self._calls.get(index, 0) > 0)
        if finish is not None:
            self._finished[index] = finish
        return ChunkChoice(index=index, delta=delta, finish_reason=finish)

    def _frame(self, name: str | None, data: dict[str, Any], raw: bytes) -> ChatCompletionChunk | None:
        if "error" in data:
            raise gemini_error(200, data, {}, raw)
        self._id = self._id or str(data.get("responseId") or "")
        self._model = str(data.get("modelVersion") or self._model)
        if isinstance(data.get("usageMetadata"), Mapping):
            self._usage = data["usageMetadata"]
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            if isinstance(data.get("promptFeedback"), Mapping) and data["promptFeedback"].get("blockReason"):
                raise blocked_prompt(data, raw)
            return None  # a usage-only object
        choices = [self._choice(c) for c in candidates if isinstance(c, Mapping)]
        return ChatCompletionChunk(id=self._id, created=self._created, model=self._model, choices=choices)

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        if self._error is not None:
            raise self._error
        return self._decode(self._frames(data))

    def finish(self) -> list[ChatCompletionChunk]:
        if self._error is not None:
            raise self._error
        frames = self._sse.flush() if self._sse is not None else []
        out: list[ChatCompletionChunk] = []
        self._decode_into(out, frames)
        if not self._finished or (self._array is not None and self._array.pending):
            raise IncompleteStream("stream ended without a finishReason", status=200)
        usage = gemini_usage(self._usage) if self._usage is not None else Usage()
        out.append(ChatCompletionChunk(id=self._id, created=self._created, model=self._model, choices=[], usage=usage))
        return out
