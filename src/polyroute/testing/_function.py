"""An in-process provider: a Python function answers every attempt. No socket, no wire format.

:class:`FunctionBackend` wraps ``answer(call) -> ...`` and is handed to the router for a provider
configured with ``api: custom``::

    router = polyroute.Router.from_config(config, backends={"alpha": FunctionBackend(answer)})

The function receives a :class:`ProviderCall` and returns (or, for an ``async def``, resolves to)
one of:

* a ``str``: the assistant's text;
* a :class:`~polyroute.testing.Reply`: text, tool calls, reasoning, finish reason, usage, with
  the simulator's defaults (``Reply.latency``, ``ttft`` and ``chunk_delay`` advance the
  backend's ``clock`` when one is given);
* a :class:`~polyroute.ChatCompletion`, used as it is;
* an iterable (or, on the async path, an async iterable) of pieces: each ``str`` is one content
  chunk of a stream and each :class:`~polyroute.ChatCompletionChunk` is passed through; a
  generator that raises part-way is a stream that breaks there. A non-streamed call joins the
  text pieces.

To fail an attempt, raise a :class:`~polyroute.errors.ProviderError` subclass
(``RateLimited("slow down", status=429, retry_after=2)``). Any other exception is not a
provider failure: it propagates to the caller unchanged, so a bug in the function is not
mistaken for a failover.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polyroute._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    ToolCall,
    Usage,
)
from polyroute.testing._behaviors import Reply
from polyroute.testing._completion import Completion, resolve

if TYPE_CHECKING:
    from polyroute._request import ChatRequest
    from polyroute.catalog._catalog import Endpoint, Timeouts
    from polyroute.testing._clock import FakeClock

__all__ = ["Answer", "FunctionBackend", "ProviderCall"]


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One attempt as the answering function sees it.

    ``provider`` is the provider's name in the configuration, ``model`` the upstream model id
    of the endpoint tried, ``requested`` the model the caller asked for; ``params`` are the
    request's body parameters (``max_tokens``, ``tools``, ``temperature``...); ``index`` counts
    the calls this backend has answered, from 0.
    """

    provider: str
    model: str
    requested: str
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any]
    stream: bool
    index: int


#: what an answering function may return
Answer = str | Reply | ChatCompletion | Iterable[str | ChatCompletionChunk]
#: an answering function: sync, or ``async def`` (async calls only), or an async generator of pieces
AnswerFunction = Callable[[ProviderCall], Answer | Awaitable[Answer] | AsyncIterable[str | ChatCompletionChunk]]


class FunctionBackend:
    """A provider answered in process by ``answer(call)``; every call is kept in :attr:`calls`.

    ``clock`` (a :class:`~polyroute.testing.FakeClock`) is advanced by a
    :class:`~polyroute.testing.Reply`'s ``latency``, ``ttft`` and ``chunk_delay``, so timing
    rules (first-token limit, deadline) can be tested without sleeping.
    """

    def __init__(self, answer: AnswerFunction, *, clock: FakeClock | None = None) -> None:
        self._answer = answer
        self._clock = clock
        self._lock = threading.Lock()
        #: every call answered so far, in order
        self.calls: list[ProviderCall] = []

    def _call(self, endpoint: Endpoint, request: ChatRequest) -> ProviderCall:
        with self._lock:
            index = len(self.calls)
            call = ProviderCall(endpoint.provider, endpoint.model, request.model, request.messages, request.params,
                                request.stream, index)  # fmt: skip
            self.calls.append(call)
        return call

    def _advance(self, seconds: float) -> None:
        if self._clock is not None and seconds > 0:
            self._clock.advance(seconds)

    # -- sync ------------------------------------------------------------------------------------

    def _sync_answer(self, call: ProviderCall) -> Any:
        result = self._answer(call)
        if inspect.isawaitable(result) or isinstance(result, AsyncIterable):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError("this FunctionBackend's function is async: call the router's async methods")
        return result

    def complete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        """One non-streamed attempt."""
        call = self._call(endpoint, request)
        return self._completion(call, request, self._sync_answer(call))

    def stream(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> Iterator[ChatCompletionChunk]:
        """One streamed attempt."""
        call = self._call(endpoint, request)
        result = self._sync_answer(call)
        if _is_pieces(result):
            yield from self._piece_chunks(call, request, result)
        else:
            yield from self._chunks(call, request, result)

    def close(self) -> None:
        """Nothing to release."""

    # -- async -----------------------------------------------------------------------------------

    async def _async_answer(self, call: ProviderCall) -> Any:
        result = self._answer(call)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def acomplete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        """One non-streamed attempt (async)."""
        call = self._call(endpoint, request)
        result = await self._async_answer(call)
        if isinstance(result, AsyncIterable):
            result = [piece async for piece in result]
        return self._completion(call, request, result)

    async def astream(
        self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts
    ) -> AsyncIterator[ChatCompletionChunk]:
        """One streamed attempt (async)."""
        call = self._call(endpoint, request)
        result = await self._async_answer(call)
        if isinstance(result, AsyncIterable):
            pieces = _Pieces(call, request)
            async for piece in result:
                yield pieces.chunk(piece)
            yield pieces.finish()
            return
        chunks = (
            self._piece_chunks(call, request, result) if _is_pieces(result) else self._chunks(call, request, result)
        )
        for chunk in chunks:
            yield chunk

    async def aclose(self) -> None:
        """Nothing to release."""

    # -- answers to our types ------------------------------------------------------------------------

    def _completion(self, call: ProviderCall, request: ChatRequest, result: Any) -> ChatCompletion:
        if isinstance(result, ChatCompletion):
            return result
        if _is_pieces(result):
            result = "".join(p if isinstance(p, str) else _chunk_text(p) for p in result)
        done = self._resolved(call, request, result)
        self._advance(_reply(result).latency)
        calls = [ToolCall(tc.id, "function", FunctionCall(tc.name, tc.arguments)) for tc in done.tool_calls]
        extra = {"reasoning_content": done.reasoning} if done.reasoning else {}
        message = ChatMessage("assistant", done.text, calls or None, extra)
        return ChatCompletion(
            id=f"fn-{call.index}",
            created=self._created(),
            model=done.model,
            choices=[Choice(0, message, done.finish_reason)],
            usage=Usage.from_dict(done.usage),
        )

    def _chunks(self, call: ProviderCall, request: ChatRequest, result: Any) -> Iterator[ChatCompletionChunk]:
        if isinstance(result, ChatCompletion):
            yield from _completion_chunks(result)
            return
        reply = _reply(result)
        done = self._resolved(call, request, result)
        base = _ChunkMaker(f"fn-{call.index}", self._created(), done.model)
        self._advance(reply.latency)
        yield base.make(Delta(role="assistant"))
        self._advance(reply.ttft)
        first = True
        if done.reasoning:
            yield base.make(Delta(extra={"reasoning_content": done.reasoning}))
            first = False
        text = done.text or ""
        size = done.chunk_size
        for start in range(0, len(text), size):
            if not first:
                self._advance(reply.chunk_delay)
            first = False
            yield base.make(Delta(content=text[start : start + size]))
        for i, tc in enumerate(done.tool_calls):
            delta = Delta(tool_calls=[ToolCall(tc.id, "function", FunctionCall(tc.name, tc.arguments), index=i)])
            yield base.make(delta)
        yield base.make(Delta(), finish_reason=done.finish_reason)
        # a usage-only chunk, as OpenAI sends it (the router drops it unless the caller asked)
        yield ChatCompletionChunk(base.id, base.created, base.model, [], Usage.from_dict(done.usage))

    def _piece_chunks(
        self, call: ProviderCall, request: ChatRequest, result: Iterable[Any]
    ) -> Iterator[ChatCompletionChunk]:
        pieces = _Pieces(call, request)
        for piece in result:
            yield pieces.chunk(piece)
        yield pieces.finish()

    def _resolved(self, call: ProviderCall, request: ChatRequest, result: Any) -> Completion:
        return resolve(_reply(result), provider=call.provider, model=call.model, prompt_chars=_prompt_chars(request))

    def _created(self) -> int:
        import time

        return int(self._clock.time() if self._clock is not None else time.time())


def _is_pieces(result: Any) -> bool:
    return isinstance(result, Iterable) and not isinstance(result, (str, bytes, Mapping))


def _reply(result: Any) -> Reply:
    if isinstance(result, Reply):
        return result
    if isinstance(result, str):
        return Reply(text=result)
    raise TypeError(
        "a FunctionBackend function returns a str, a Reply, a ChatCompletion or an iterable of str pieces, "
        f"not {type(result).__name__}"
    )


def _chunk_text(chunk: Any) -> str:
    if not isinstance(chunk, ChatCompletionChunk):
        raise TypeError(f"a stream piece is a str or a ChatCompletionChunk, not {type(chunk).__name__}")
    return "".join(c.delta.content or "" for c in chunk.choices)


def _prompt_chars(request: ChatRequest) -> int:
    total = 0
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, str):
            total += len(content)
    return total


class _ChunkMaker:
    __slots__ = ("created", "id", "model")

    def __init__(self, id: str, created: int, model: str) -> None:
        self.id = id
        self.created = created
        self.model = model

    def make(self, delta: Delta, finish_reason: str | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(self.id, self.created, self.model, [ChunkChoice(0, delta, finish_reason)])


class _Pieces:
    """Chunks for a function's stream pieces, then a finish chunk with an estimated usage."""

    __slots__ = ("_maker", "_prompt", "_text")

    def __init__(self, call: ProviderCall, request: ChatRequest) -> None:
        self._maker = _ChunkMaker(f"fn-{call.index}", 0, call.model)
        self._prompt = _prompt_chars(request)
        self._text = 0

    def chunk(self, piece: Any) -> ChatCompletionChunk:
        if isinstance(piece, ChatCompletionChunk):
            self._text += len(_chunk_text(piece))
            return piece
        if not isinstance(piece, str):
            raise TypeError(f"a stream piece is a str or a ChatCompletionChunk, not {type(piece).__name__}")
        self._text += len(piece)
        return self._maker.make(Delta(content=piece))

    def finish(self) -> ChatCompletionChunk:
        chunk = self._maker.make(Delta(), finish_reason="stop")
        prompt, completion = max(1, self._prompt // 4), max(1, self._text // 4)
        chunk.usage = Usage(prompt, completion, prompt + completion)
        return chunk


def _completion_chunks(resp: ChatCompletion) -> Iterator[ChatCompletionChunk]:
    maker = _ChunkMaker(resp.id, resp.created, resp.model)
    for choice in resp.choices:
        message = choice.message
        calls = [
            ToolCall(tc.id, tc.type, FunctionCall(tc.function.name, tc.function.arguments), index=i)
            for i, tc in enumerate(message.tool_calls or ())
        ]
        delta = Delta(role=message.role, content=message.content, tool_calls=calls or None, extra=dict(message.extra))
        yield ChatCompletionChunk(maker.id, maker.created, maker.model, [ChunkChoice(choice.index, delta)])
        yield ChatCompletionChunk(
            maker.id, maker.created, maker.model, [ChunkChoice(choice.index, Delta(), choice.finish_reason or "stop")]
        )
    if resp.usage is not None:
        yield ChatCompletionChunk(maker.id, maker.created, maker.model, [], resp.usage)
