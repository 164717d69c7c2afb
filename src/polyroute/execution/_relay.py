"""Relaying a stream to the caller, sans I/O: what to hold, what to release, what was delivered.

Chunks before the first content (the role chunk, keep-alives) are held so that a failover
before any content is invisible. After that, content chunks pass straight through; chunks
that may be the last one (with a finish reason, or usage only) are held back so the final
chunk can carry the route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polyroute._types import ChatCompletionChunk, Route, Usage

__all__ = ["Relay", "finish_reasons"]


def finish_reasons(choices: Sequence[Any]) -> tuple[str, ...]:
    """The finish reasons of ``choices`` (message choices or stream deltas), in order."""
    if len(choices) == 1:
        reason = choices[0].finish_reason
        return (reason,) if reason is not None else ()
    return tuple(c.finish_reason for c in choices if c.finish_reason is not None)


class Relay:
    """One stream attempt's relay state."""

    __slots__ = ("_include_usage", "_pending", "_tail", "_text", "committed", "delivered_chunks", "usage")

    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._pending: list[ChatCompletionChunk] = []
        self._tail: list[ChatCompletionChunk] = []
        self._text: list[str] = []
        self.committed = False
        self.delivered_chunks = 0
        self.usage: Usage | None = None

    def push(self, chunk: ChatCompletionChunk) -> list[ChatCompletionChunk]:
        """Take a chunk from the provider; return the chunks to hand to the caller now."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        choices = chunk.choices
        if self.committed and len(choices) == 1 and choices[0].finish_reason is None and not self._tail:
            # the bulk of a stream: one content delta, passed straight through
            content = choices[0].delta.content
            if content:
                self._text.append(content)
            self.delivered_chunks += 1
            return [chunk]
        if not self.committed:
            self._pending.append(chunk)
            if not chunk.has_content():
                return []
            self.committed = True
            out, self._pending = self._pending, []
            return self._deliver(out)
        if not chunk.choices or chunk.choices[0].finish_reason is not None:
            self._tail.append(chunk)
            return []
        if self._tail:
            out, self._tail = [*self._tail, chunk], []
            return self._deliver(out)
        return self._deliver([chunk])

    def _deliver(self, chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
        text = self._text
        for c in chunks:
            for choice in c.choices:
                if choice.delta.content:
                    text.append(choice.delta.content)
        self.delivered_chunks += len(chunks)
        return chunks

    @property
    def finish_reasons(self) -> tuple[str, ...]:
        """The finish reasons of the chunks held back for the end (read before :meth:`finish`)."""
        out: tuple[str, ...] = ()
        for c in self._tail or self._pending:
            if c.choices:
                out += finish_reasons(c.choices)
        return out

    @property
    def text(self) -> str:
        """The whole text so far: delivered, and held back for the end."""
        held = [d.content for c in self._pending + self._tail for ch in c.choices if (d := ch.delta).content]
        return "".join(self._text + held)

    @property
    def delivered_text(self) -> str:
        """The text already handed to the caller."""
        return "".join(self._text)

    def finish(self, route: Route, request_id: str, created: int) -> list[ChatCompletionChunk]:
        """The stream ended well: the chunks still held, the last one carrying ``route``."""
        held = self._pending + self._tail
        self._pending, self._tail = [], []
        if not self._include_usage:
            held = [c for c in held if c.choices]
        if not held:
            model = route.endpoint_model
            held = [ChatCompletionChunk(id=request_id, created=created, model=model, choices=[])]
        held[-1].route = route
        return self._deliver(held)
