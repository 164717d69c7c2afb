"""The simulator's aiohttp request handler: record, pick a behaviour, perform it.

Everything here is independent of the wire format: the provider's :class:`WireFormat` renders the
bytes, this module decides when they are written, paced, cut short, or the connection dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from aiohttp import web

from polyroute.testing._behaviors import (
    Behavior,
    Continue,
    Disconnect,
    EmbeddingReply,
    ErrorReply,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    RejectContinuation,
    Reply,
    Stall,
    StreamErrorReply,
    Truncate,
)
from polyroute.testing._completion import Completion, filler_reply, resolve
from polyroute.testing._pacing import Closing, Pacer
from polyroute.testing._provider import SimulatedProvider
from polyroute.testing._recorded import Headers, RecordedRequest
from polyroute.testing._wire import Exchange, HttpReply, StreamPlan, WireFormat, merge_headers

__all__ = ["RequestHandler"]

_Ending = Literal["complete", "eof", "abort", "hang"]
_BEHAVIOR_TYPES: tuple[type, ...] = get_args(Behavior)
_MAX_FUNCTION_DEPTH = 16
_FLUSH_WAIT = 2.0
"""Real seconds an abort waits for already-written bytes to leave the socket buffer."""


class RequestHandler:
    """Serves every path of one simulator; create it inside the server's event loop."""

    __slots__ = ("_fallback", "_pacer", "_providers", "_seq")

    def __init__(
        self,
        *,
        providers: Callable[[str], SimulatedProvider | None],
        pacer: Pacer,
        fallback: WireFormat,
    ) -> None:
        self._providers = providers
        self._pacer = pacer
        self._fallback = fallback
        self._seq = itertools.count(1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request; the aiohttp route handler."""
        try:
            return await self._handle(request)
        except (Closing, ConnectionError):
            _drop(request)
            return web.Response()  # never reaches the client: the connection is gone

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name, subpath = _split_path(request.path)
        provider = self._providers(name)
        if provider is None:
            return _response(self._fallback.not_found(request.method, request.path))
        wire = provider.wire
        raw = await request.read()
        body = _parse_object(raw)
        facts = wire.facts(subpath, body)
        recorded = RecordedRequest(
            provider=name,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=Headers(request.headers.items()),
            body=raw,
            json=body,
            stream=facts.stream,
            model=facts.model,
            received_at=self._pacer.time(),
        )
        provider.record(recorded)
        exchange = Exchange(provider=name, request=recorded, seq=next(self._seq), created=int(recorded.received_at))
        endpoint = wire.route(request.method, subpath)
        if endpoint is None:
            return _response(wire.not_found(request.method, request.path))
        if provider.api_key is not None and not wire.authorized(recorded.headers, provider.api_key):
            return _response(wire.unauthorized(exchange))
        if endpoint == "models":
            return _response(wire.models(name, provider.models, exchange))
        if body is None:
            return _response(wire.invalid_body(exchange))
        behavior = _choose(provider, recorded)
        if endpoint == "embedding":
            from polyroute.testing._embeddings import perform_embedding, read_ask

            ask = read_ask(wire, subpath, body, recorded.model or "sim-embedding")
            dims = provider.embedding_dimensions
            return await perform_embedding(
                request, self._pacer, wire, exchange, ask=ask, behavior=behavior, default_dims=dims
            )
        return await _Performance(request, self._pacer, wire, exchange, body).run(behavior)


@dataclass(slots=True)
class _Performance:
    """Carries out one behaviour for one request."""

    request: web.Request
    pacer: Pacer
    wire: WireFormat
    exchange: Exchange
    body: dict[str, Any]

    @property
    def _streaming(self) -> bool:
        return self.exchange.request.stream

    def _resolve(self, reply: Reply) -> Completion:
        return resolve(
            reply,
            provider=self.exchange.provider,
            model=self.exchange.request.model or "sim-model",
            prompt_chars=self.wire.prompt_chars(self.body),
        )

    async def run(self, behavior: Behavior) -> web.StreamResponse:
        wire, exchange = self.wire, self.exchange
        match behavior:
            case Reply() | EmbeddingReply():
                if isinstance(behavior, EmbeddingReply):
                    behavior = Reply(latency=behavior.latency, headers=behavior.headers)
                completion = self._resolve(behavior)
                if self._streaming:
                    plan = wire.stream(completion, exchange, comments=behavior.sse_comments)
                    return await self._stream(plan, behavior, None, "complete")
                return await self._respond(wire.completion(completion, exchange), behavior)
            case ErrorReply():
                await self.pacer.pause(behavior.latency)
                return _response(wire.error(behavior, exchange))
            case Disconnect():
                reply = filler_reply(exchange.provider, behavior.after_chunks, behavior.reply)
                if not self._streaming:
                    await self.pacer.pause(reply.latency)
                    await _abort(self.request)
                    return web.Response()
                plan = wire.stream(self._resolve(reply), exchange, comments=reply.sse_comments)
                return await self._stream(plan, reply, behavior.after_chunks, "abort")
            case Truncate():
                reply = filler_reply(exchange.provider, behavior.after_chunks, behavior.reply)
                completion = self._resolve(reply)
                if not self._streaming:
                    return await self._respond(_halved(wire.completion(completion, exchange)), reply)
                plan = wire.stream(completion, exchange, comments=reply.sse_comments)
                return await self._stream(plan, reply, behavior.after_chunks, "eof")
            case StreamErrorReply():
                reply = filler_reply(exchange.provider, behavior.after_chunks, behavior.reply)
                completion = self._resolve(reply)
                if not self._streaming:
                    text = completion.text
                    shown = text[: behavior.after_chunks * completion.chunk_size] if text else text
                    http = wire.in_band_error(replace(completion, text=shown), behavior, exchange)
                    return await self._respond(http, reply)
                plan = wire.in_band_error_stream(completion, behavior, exchange)
                return await self._stream(plan, reply, behavior.after_chunks, "complete")
            case MalformedJSON():
                streaming = self._streaming if behavior.stream is None else behavior.stream
                if streaming and behavior.frame is not None:
                    reply = filler_reply(exchange.provider, behavior.frame + 5, behavior.reply)
                    plan = wire.stream(self._resolve(reply), exchange, comments=reply.sse_comments)
                    return await self._stream(_break_frame(plan, behavior.frame), reply, None, "complete")
                reply = Reply()
                completion = self._resolve(reply)
                if streaming:
                    return await self._stream(wire.malformed_stream(completion, exchange), reply, None, "complete")
                return await self._respond(_halved(wire.completion(completion, exchange)), reply)
            case Stall():
                reply = filler_reply(exchange.provider, behavior.after_chunks, behavior.reply)
                completion = self._resolve(reply)
                if not self._streaming:
                    await self.pacer.pause(behavior.seconds)
                    return await self._respond(_halved(wire.completion(completion, exchange)), reply)
                plan = wire.stream(completion, exchange, comments=reply.sse_comments)
                return await self._stream(plan, reply, behavior.after_chunks, "eof", stall=behavior.seconds)
            case Hang():
                if behavior.after_chunks is None or not self._streaming:
                    await self.pacer.forever()
                reply = filler_reply(exchange.provider, behavior.after_chunks or 0, behavior.reply)
                plan = wire.stream(self._resolve(reply), exchange, comments=reply.sse_comments)
                return await self._stream(plan, reply, behavior.after_chunks, "hang")
            case FunctionBehavior() | Continue() | RejectContinuation():  # _choose resolved these already
                raise AssertionError(f"unresolved {type(behavior).__name__}")

    async def _respond(self, http: HttpReply, reply: Reply) -> web.StreamResponse:
        await self.pacer.pause(reply.latency)
        return _response(http, reply.headers)

    async def _stream(
        self, plan: StreamPlan, reply: Reply, limit: int | None, ending: _Ending, *, stall: float = 0.0
    ) -> web.StreamResponse:
        pacer = self.pacer
        if not reply.done:
            plan = replace(plan, tail=tuple(f for f in plan.tail if f.strip() != b"data: [DONE]"))
        await pacer.pause(reply.latency)
        response = web.StreamResponse(status=200, headers=merge_headers(plan.headers, reply.headers))
        await response.prepare(self.request)
        for frame in plan.head:
            await response.write(frame)
        body = plan.body if limit is None else plan.body[:limit]
        rest = plan.tail if ending == "complete" else ()
        for index, frame in enumerate((*body, *rest)):
            if index == 0:
                await pacer.pause(reply.ttft)
            elif index < len(body):
                await pacer.pause(reply.chunk_delay)
            await response.write(frame)
        await pacer.pause(stall)
        if ending == "abort":
            await _abort(self.request)
        elif ending == "hang":
            await pacer.forever()
        else:
            await response.write_eof()
        return response


def _continuation(behavior: Continue, request: RecordedRequest) -> Reply:
    """The reply a :class:`Continue` makes to ``request``: the rest of its text after the prefill."""
    text = behavior.text
    prefill = request.prefill
    if prefill and text.startswith(prefill):
        text = text[len(prefill) :]
    elif prefill and text.startswith(prefill.rstrip()):  # a prefill cut at whitespace: its rest follows
        text = text[len(prefill.rstrip()) :]
    return replace(behavior.reply or Reply(), text=text)


_REJECTED = ErrorReply(
    400,
    message="Invalid request: the final message must have role 'user' (assistant prefill is not supported)",
    type="invalid_request_error",
    param="messages",
)


def _choose(provider: SimulatedProvider, request: RecordedRequest) -> Behavior:
    """The provider's next behaviour, with :class:`FunctionBehavior` callables (and the
    request-dependent behaviours) applied."""
    behavior = provider.next_behavior()
    for _ in range(_MAX_FUNCTION_DEPTH):
        if isinstance(behavior, RejectContinuation):
            if request.prefill is not None:
                return behavior.error or _REJECTED
            behavior = behavior.then or Reply()
            continue
        if isinstance(behavior, Continue):
            return _continuation(behavior, request)
        if not isinstance(behavior, FunctionBehavior):
            return behavior
        try:
            behavior = behavior.fn(request)
            if not isinstance(behavior, _BEHAVIOR_TYPES):
                raise TypeError(f"FunctionBehavior returned {behavior!r}, not a behaviour")
        except Exception as exc:  # the test's own code: report it, don't crash the server
            provider.record_error(exc)
            return ErrorReply(500, message=f"FunctionBehavior raised {exc!r}", type="simulator_error")
    error = RecursionError(f"FunctionBehavior nested more than {_MAX_FUNCTION_DEPTH} deep")
    provider.record_error(error)
    return ErrorReply(500, message=str(error), type="simulator_error")


def _split_path(path: str) -> tuple[str, str]:
    """``/groq/v1/chat/completions`` -> ``("groq", "/v1/chat/completions")``."""
    name, slash, rest = path.lstrip("/").partition("/")
    return name, slash + rest


def _parse_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _response(http: HttpReply, extra_headers: Mapping[str, str] | None = None) -> web.Response:
    headers = merge_headers(http.headers, extra_headers or {})
    return web.Response(status=http.status, body=http.body, headers=headers)


def _break_frame(plan: StreamPlan, n: int) -> StreamPlan:
    """``plan`` with its ``n``-th ``data:`` frame (1-based) replaced by broken JSON."""
    parts = [list(plan.head), list(plan.body), list(plan.tail)]
    seen = 0
    for part in parts:
        for i, frame in enumerate(part):
            if frame.startswith(b"data:"):
                seen += 1
                if seen == n:
                    part[i] = b'data: {"id": "broken", "choices": [{"delta": {"content": "x\n\n'
                    return replace(plan, head=tuple(parts[0]), body=tuple(parts[1]), tail=tuple(parts[2]))
    return plan


def _halved(http: HttpReply) -> HttpReply:
    return replace(http, body=http.body[: len(http.body) // 2])


async def abort_connection(request: web.BaseRequest) -> None:
    """Drop the connection without a proper HTTP end (shared with the embeddings performer)."""
    await _abort(request)


async def _abort(request: web.BaseRequest) -> None:
    """Drop the connection without a proper HTTP end, once the bytes written so far have left."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _FLUSH_WAIT
    while transport.get_write_buffer_size() and loop.time() < deadline:
        await asyncio.sleep(0.001)
    transport.abort()


def _drop(request: web.BaseRequest) -> None:
    """Drop the connection now (the simulator is stopping, or the client already left)."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.abort()
