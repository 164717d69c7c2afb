"""The minimal loopback "provider" server: a raw asyncio Protocol speaking HTTP/1.1 keep-alive.

As cheap as a server can be in Python: canned OpenAI JSON and SSE bodies are built once per
weather change, requests are parsed with a few ``bytes.find`` calls, responses are one
``transport.write``. Each provider is its own port on 127.0.0.1, so "down" can really refuse
connections. A control port takes JSON lines (``weather``, ``stats``, ``reset``, ``shutdown``).

Run as ``python -m benchmarks._server --providers alpha,beta --cpu 1 --ttl 1200``: it pins itself
to the CPU, prints one JSON line ``{"control": port, "providers": {name: port}}`` when ready, and
stops by itself after ``--ttl`` seconds, when its parent exits, or on ``shutdown``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
from typing import Any

from benchmarks._weather import Weather

__all__ = ["main"]

_CREATED = 1700000000
_REPLY = "Hello! This is the benchmark server answering."
_USAGE = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
_PROMPT_TOKENS = 20
_COMPLETION_TOKENS = 10


def _http(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"Connection: keep-alive\r\n{extra}\r\n"
    )
    return head.encode() + body


def _completion_body(name: str) -> bytes:
    obj = {
        "id": f"chatcmpl-{name}",
        "object": "chat.completion",
        "created": _CREATED,
        "model": f"{name}-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": _REPLY}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": _USAGE,
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse_frames(name: str, chunks: int) -> tuple[bytes, bytes]:
    """The SSE body split in two: up to the first content chunk, and the rest."""

    def frame(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": f"chatcmpl-{name}",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": f"{name}-model",
            "choices": choices,
        }
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    def token(i: int) -> bytes:
        # distinct texts: LiteLLM aborts a stream that repeats one chunk too often
        return frame([{"index": 0, "delta": {"content": f" w{i % 1000:03d}"}, "finish_reason": None}])

    role = frame([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    finish = frame([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    usage = frame([], {"prompt_tokens": _PROMPT_TOKENS, "completion_tokens": chunks, "total_tokens": 20 + chunks})
    head = role + token(0)
    tail = b"".join(token(i) for i in range(1, chunks)) + finish + usage + b"data: [DONE]\n\n"
    return head, tail


class Provider:
    """One simulated provider: a port, its weather, its canned responses and its counters."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.Transport] = set()
        self.counts: dict[str, int] = {}
        self.weather = Weather()
        self.rng = random.Random(0)
        self.ok = _http("200 OK", "application/json", _completion_body(name))
        self.sse_head = b""
        self.sse_tail = b""
        self.set_weather(Weather())

    def set_weather(self, weather: Weather) -> None:
        """Obey ``weather`` from now on (the error-rate draw restarts from its seed)."""
        if weather.stream_chunks != self.weather.stream_chunks or not self.sse_head:
            head, tail = _sse_frames(self.name, weather.stream_chunks)
            headers = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                f"Content-Length: {len(head) + len(tail)}\r\nConnection: keep-alive\r\n\r\n"
            )
            self.sse_head = headers.encode() + head
            self.sse_tail = tail
        self.weather = weather
        self.rng = random.Random(weather.seed)
        self.error_429 = _http(
            "429 Too Many Requests",
            "application/json",
            b'{"error":{"message":"rate limited (simulated)","type":"rate_limit_error"}}',
            f"Retry-After: {weather.retry_after_s:g}\r\n",
        )

    def count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


_ERROR_500 = _http(
    "500 Internal Server Error", "application/json", b'{"error":{"message":"simulated","type":"server_error"}}'
)
_ERROR_503 = _http(
    "503 Service Unavailable", "application/json", b'{"error":{"message":"down (simulated)","type":"server_error"}}'
)
_NOT_FOUND = _http("404 Not Found", "application/json", b'{"error":{"message":"not found","type":"invalid_request"}}')


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, Content-Length bodies only (what every client here sends)."""

    __slots__ = ("buf", "loop", "provider", "transport")

    def __init__(self, provider: Provider, loop: asyncio.AbstractEventLoop) -> None:
        self.provider = provider
        self.loop = loop
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.provider.transports.add(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.provider.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            i = head.find(b"ontent-Length:")
            if i < 0:
                i = head.find(b"ontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 14 : j if j >= 0 else None])
            total = end + 4 + length
            if len(buf) < total:
                break
            body = buf[end + 4 : total]
            buf = buf[total:]
            self._handle(head, body)
        self.buf = buf

    def _write(self, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(payload)

    def _handle(self, head: bytes, body: bytes) -> None:
        p = self.provider
        line_end = head.find(b"\r\n")
        if not head[:line_end].endswith(b"/chat/completions HTTP/1.1"):
            p.count("not_found")
            self._write(_NOT_FOUND)
            return
        w = p.weather
        if w.down == "503":
            p.count("503")
            payload = _ERROR_503
        elif w.rate_limited:
            p.count("429")
            payload = p.error_429
        elif w.error_rate and p.rng.random() < w.error_rate:
            p.count("500")
            payload = _ERROR_500
        elif b'"stream":true' in body or b'"stream": true' in body:
            p.count("stream")
            self._stream(w)
            return
        else:
            p.count("ok")
            payload = p.ok
        delay = w.delay_s
        if delay > 0:
            self.loop.call_later(delay, self._write, payload)
        else:
            self._write(payload)

    def _stream(self, w: Weather) -> None:
        p = self.provider
        delay = w.delay_s
        if w.first_token_ms <= 0:
            if delay > 0:
                self.loop.call_later(delay, self._write, p.sse_head + p.sse_tail)
            else:
                self._write(p.sse_head + p.sse_tail)
            return
        if delay > 0:
            self.loop.call_later(delay, self._write, p.sse_head)
        else:
            self._write(p.sse_head)
        self.loop.call_later(delay + w.first_token_ms / 1000.0, self._write, p.sse_tail)


class BenchServer:
    """Every provider port plus the control port."""

    def __init__(self, names: list[str], ports: list[int]) -> None:
        self.loop = asyncio.get_running_loop()
        self.providers = {n: Provider(n, port) for n, port in zip(names, ports, strict=True)}
        self.stopped = asyncio.Event()

    async def listen(self, provider: Provider) -> None:
        if provider.server is None:
            provider.server = await self.loop.create_server(
                lambda: HttpProtocol(provider, self.loop), "127.0.0.1", provider.port, reuse_address=True, backlog=1024
            )

    def refuse(self, provider: Provider) -> None:
        if provider.server is not None:
            provider.server.close()
            provider.server = None
        for t in list(provider.transports):
            t.abort()

    async def apply(self, name: str, weather: Weather) -> None:
        p = self.providers[name]
        p.set_weather(weather)
        if weather.down == "refuse":
            self.refuse(p)
        else:
            await self.listen(p)

    async def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "weather":
            for name, w in cmd["weather"].items():
                await self.apply(name, Weather.from_json(w))
            return {"ok": True}
        if op == "stats":
            return {"ok": True, "counts": {n: dict(p.counts) for n, p in self.providers.items()}}
        if op == "reset":
            for name in self.providers:
                await self.apply(name, Weather())
                self.providers[name].counts.clear()
            return {"ok": True}
        if op == "shutdown":
            self.stopped.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self.command(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


def _free_ports(count: int) -> list[int]:
    """Ports below the ephemeral range, so a closed provider port can be bound again."""
    rng = random.Random(os.getpid())
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(20000, 30000)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


async def _watch_parent(parent: int, server: BenchServer) -> None:
    while not server.stopped.is_set():
        if os.getppid() != parent:
            server.stopped.set()
        await asyncio.sleep(0.5)


async def serve(names: list[str], ttl: float, parent: int) -> None:
    """Serve until shutdown, ``ttl`` seconds, or the parent's exit."""
    ports = _free_ports(len(names))
    server = BenchServer(names, ports)
    for p in server.providers.values():
        await server.listen(p)
    control = await asyncio.start_server(server.control, "127.0.0.1", 0)
    control_port = control.sockets[0].getsockname()[1]
    print(json.dumps({"control": control_port, "providers": dict(zip(names, ports, strict=True))}), flush=True)
    watcher = asyncio.create_task(_watch_parent(parent, server))
    try:
        await asyncio.wait_for(server.stopped.wait(), ttl)
    except TimeoutError:
        print("benchmark server: ttl reached, stopping", file=sys.stderr)
    watcher.cancel()
    control.close()
    for p in server.providers.values():
        server.refuse(p)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--providers", default="alpha,beta,gamma")
    ap.add_argument("--cpu", type=int, default=1)
    ap.add_argument("--ttl", type=float, default=1200.0)
    args = ap.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.providers.split(","), args.ttl, os.getppid()))


if __name__ == "__main__":
    main()
