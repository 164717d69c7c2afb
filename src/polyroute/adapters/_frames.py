"""What the stream decoders share: frames that must each be a JSON object, and the rule that an
error met after good chunks of the same read waits until those are delivered.

A decoder subclasses :class:`FrameDecoder` (or :class:`SSEFrameDecoder` for an SSE stream) and
turns one parsed frame into a chunk in ``_frame``; the OpenAI decoder, the hot path of most
streams, keeps its own loop in ``_decode_into`` (no call per frame).
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from polyroute._types import ChatCompletionChunk
from polyroute.adapters._jsonbody import body_text
from polyroute.adapters._sse import SSEParser
from polyroute.errors import MalformedResponse, ProviderError

__all__ = ["FrameDecoder", "Frames", "SSEFrameDecoder"]

Frames = list[tuple[str | None, bytes]]
"""The frames of one read: ``(event name or None, data)``."""


class FrameDecoder:
    """Decodes a read's frames into chunks; a :class:`ProviderError` met after some of them is
    raised on the next call, once they are out."""

    __slots__ = ("_error",)

    #: what a frame is called in error messages
    frame_name: ClassVar[str] = "stream frame"

    def __init__(self) -> None:
        self._error: ProviderError | None = None

    def _decode(self, frames: Frames) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        try:
            self._decode_into(out, frames)
        except ProviderError as exc:
            if not out:
                raise
            self._error = exc  # deliver the good chunks before it first; raised on the next call
        return out

    def _decode_into(self, out: list[ChatCompletionChunk], frames: Frames) -> None:
        for name, raw in frames:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                what = f"{self.frame_name} is not JSON: {exc}"
                raise MalformedResponse(what, status=200, body=body_text(raw)) from exc
            if not isinstance(obj, dict):
                raise MalformedResponse(f"{self.frame_name} is not a JSON object", status=200, body=body_text(raw))
            chunk = self._frame(name, obj, raw)
            if chunk is not None:
                out.append(chunk)

    def _frame(self, name: str | None, obj: dict[str, Any], raw: bytes) -> ChatCompletionChunk | None:
        """The chunk one frame makes, if any."""
        raise NotImplementedError


class SSEFrameDecoder(FrameDecoder):
    """A :class:`FrameDecoder` over server-sent events, whose stream may say it is done."""

    __slots__ = ("_done", "_sse")

    def __init__(self) -> None:
        super().__init__()
        self._sse = SSEParser()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        if self._error is not None:
            raise self._error
        return self._decode(self._sse.feed(data))

    def _rest(self) -> list[ChatCompletionChunk]:
        """The chunks of what was left buffered when the stream ended (``finish`` then checks
        that it ended properly)."""
        if self._error is not None:
            raise self._error
        out: list[ChatCompletionChunk] = []
        self._decode_into(out, self._sse.flush())
        return out
