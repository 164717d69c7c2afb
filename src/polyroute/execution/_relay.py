"""Relaying a stream to the caller, sans I/O: what to hold, what to release, what was delivered.

Chunks before the first content (the role chunk, keep-alives) are held so that a failover
before any content is invisible. After that, content chunks pass straight through; chunks
that may be the last one (with a finish reason, or usage only) are held back so the final
chunk can carry the route.

A relay that *continues* a broken answer (:class:`Resume`) drops what comes before the
continuation's first content (the caller already has a role chunk), gives every chunk the
broken stream's id, and trims the whitespace the continuation repeats, so the caller reads one
uninterrupted answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polyroute._types import ChatCompletionChunk, Route, Usage
from polyroute.errors import ProviderError

__all__ = ["Relay", "Resume"]


@dataclass(slots=True)
class Resume:
    """A streamed answer that broke after content, being continued elsewhere."""

    #: the error that broke the first attempt (what the caller gets if nothing can continue)
    cause: ProviderError
    #: the stream id the caller has seen
    chunk_id: str
    #: the text delivered so far, across every attempt
    text: str
    delivered_chunks: int
    #: text the continuation should not repeat at its start (trailing whitespace cut from a prefill)
    trim: str = ""
    #: errors of the attempts that tried to continue
    errors: list[ProviderError] = field(default_factory=list)
    #: ``False`` once a tool call was delivered: only text is continued
    continuable: bool = True
    #: the model (name routed to) whose stream broke
    model: str | None = None


class Relay:
    """One stream attempt's relay state."""

    __slots__ = (
        "_id",
        "_include_usage",
        "_pending",
        "_resume",
        "_tail",
        "_text",
        "chunk_id",
        "committed",
        "delivered_chunks",
        "tool_calls",
        "usage",
    )

    def __init__(self, include_usage: bool, resume: Resume | None = None) -> None:
        self._include_usage = include_usage
        self._pending: list[ChatCompletionChunk] = []
        self._tail: list[ChatCompletionChunk] = []
        self._text: list[str] = []
        self._resume = resume
        self._id = resume.chunk_id if resume is not None else None
        self.committed = False
        self.delivered_chunks = 0
        self.usage: Usage | None = None
        #: whether any delivered chunk carried a tool call (such an answer is never continued)
        self.tool_calls = False
        #: the id of the first delivered chunk
        self.chunk_id: str | None = self._id

    def push(self, chunk: ChatCompletionChunk) -> list[ChatCompletionChunk]:
        """Take a chunk from the provider; return the chunks to hand to the caller now."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if self._id is not None:
            chunk.id = self._id
        choices = chunk.choices
        if self.committed and len(choices) == 1 and choices[0].finish_reason is None and not self._tail:
            # the bulk of a stream: one content delta, passed straight through
            delta = choices[0].delta
            content = delta.content
            if content:
                self._text.append(content)
            elif delta.tool_calls:
                self.tool_calls = True
            self.delivered_chunks += 1
            return [chunk]
        if not self.committed:
            if not chunk.has_content():
                if self._resume is None or not choices or choices[0].finish_reason is not None:
                    self._pending.append(chunk)
                return []
            self.committed = True
            if self._resume is not None:
                self._trim(chunk)
            out, self._pending = [*self._pending, chunk], []
            if self.chunk_id is None:
                self.chunk_id = chunk.id
            return self._deliver(out)
        if not chunk.choices or chunk.choices[0].finish_reason is not None:
            self._tail.append(chunk)
            return []
        if self._tail:
            out, self._tail = [*self._tail, chunk], []
            return self._deliver(out)
        return self._deliver([chunk])

    def _trim(self, chunk: ChatCompletionChunk) -> None:
        """Drop the start of the continuation that repeats whitespace the caller already has."""
        assert self._resume is not None
        trim = self._resume.trim
        if not trim or not chunk.choices:
            return
        delta = chunk.choices[0].delta
        if delta.content and delta.content[: len(trim)] == trim:
            delta.content = delta.content[len(trim) :]

    def _deliver(self, chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
        text = self._text
        for c in chunks:
            for choice in c.choices:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                if delta.tool_calls:
                    self.tool_calls = True
        self.delivered_chunks += len(chunks)
        return chunks

    @property
    def delivered_text(self) -> str:
        """The text this attempt handed to the caller."""
        return "".join(self._text)

    def finish(self, route: Route, request_id: str, created: int) -> list[ChatCompletionChunk]:
        """The stream ended well: the chunks still held, the last one carrying ``route``."""
        held = self._pending + self._tail
        self._pending, self._tail = [], []
        if not self._include_usage:
            held = [c for c in held if c.choices]
        if not held:
            model = route.endpoint_model
            held = [ChatCompletionChunk(id=self._id or request_id, created=created, model=model, choices=[])]
        held[-1].route = route
        return self._deliver(held)
