"""polyroute's own work per call: the benchmark's calls over an in-memory transport.

The transport hands back the loopback server's canned bytes (the same JSON answer, the same SSE
stream) without a socket or an event-loop turn, so what is timed is polyroute alone: request
validation, planning, the execution state machine, encoding, decoding, statistics and accounting.
Set beside the loopback figures it separates polyroute's code from the cost of running it next to
aiohttp's I/O in one process.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL, polyroute_config
from benchmarks._control import ServerHandle
from benchmarks._server import _completion_body, _sse_frames

__all__ = ["own_cost"]

_PIECE = 65536  # bytes per read of a streamed body, about what loopback reads return


class _CannedStream:
    __slots__ = ("_pieces", "headers", "status")

    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.headers: dict[str, str] = {"Content-Type": "text/event-stream"}
        self._pieces = [body[i : i + _PIECE] for i in range(0, len(body), _PIECE)][::-1]

    async def read(self) -> bytes:
        return b""

    async def read_chunk(self) -> bytes:
        return self._pieces.pop() if self._pieces else b""

    async def close(self) -> None:
        return None


class _InMemoryTransport:
    """An ``AsyncTransport`` that answers every request with canned bytes at once."""

    def __init__(self, chunks: int) -> None:
        from polyroute.transports import HttpResponse

        head, tail = _sse_frames("alpha", chunks)
        self._stream = head + tail
        self._response = HttpResponse(200, {"Content-Type": "application/json"}, _completion_body("alpha"))

    async def send(self, request: Any, timeouts: Any) -> Any:
        return self._response

    async def stream(self, request: Any, timeouts: Any) -> _CannedStream:
        return _CannedStream(self._stream)

    async def aclose(self) -> None:
        return None


async def _drain(router: Any) -> None:
    stream = await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True)
    async for _ in stream:
        pass


async def own_cost(server: ServerHandle, *, n: int, streams: int, chunks: int) -> dict[str, Any]:
    """CPU microseconds per non-streamed call and per streamed chunk, polyroute alone."""
    import polyroute

    with polyroute.Router.from_config(polyroute_config(server), env={"BENCH_API_KEY": "sk-bench"}) as scratch:
        catalog = scratch.catalog
    router = polyroute.Router(catalog, async_transport=lambda provider: _InMemoryTransport(chunks))
    try:
        for _ in range(max(n // 10, 10)):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        cpu0 = time.process_time()
        for _ in range(n):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        per_call = (time.process_time() - cpu0) / n
        await _drain(router)
        received = 0
        cpu0 = time.process_time()
        for _ in range(streams):
            stream = await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True)
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received += 1
        per_chunk = (time.process_time() - cpu0) / max(received, 1)
    finally:
        await router.aclose()
    return {"n": n, "cpu_us": per_call * 1e6, "chunks": received, "cpu_us_per_chunk": per_chunk * 1e6}
