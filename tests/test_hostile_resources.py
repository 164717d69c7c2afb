"""Resources: bodies and stream lines are bounded while read, the deadline holds against a
provider dripping bytes in all four modes, and SSE parsing is linear."""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

import polyroute
from polyroute import errors

USER = [{"role": "user", "content": "hi"}]
_MIB = 2**20


def _gzip_bomb(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * _MIB
    out = [z.compress(block) for _ in range(size // _MIB)]
    return b"".join(out) + z.flush()


_BOMB = _gzip_bomb(256 * _MIB)  # ~250 KB on the wire, 256 MiB decompressed


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                return
            data += piece
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
        )
        while len(rest) < length:
            rest += sock.recv(65536)
        mode = head.split(b" ")[1].decode().split("/")[1]
        stream = b'"stream":true' in rest
        try:
            if mode == "bomb":
                ctype = b"text/event-stream" if stream else b"application/json"
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: " + str(len(_BOMB)).encode() + b"\r\n\r\n" + _BOMB
                )
            elif mode == "longline":
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                piece = b"data: " + b"x" * 65530
                for _ in range(200):  # 12.8 MiB, never a newline
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    piece = b"x" * 65536
                sock.sendall(b"0\r\n\r\n")
            elif mode == "drip":
                ctype = b"text/event-stream" if stream else b"application/json"
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: 100000\r\n\r\n")
                body = b": keep waiting\n" if stream else b" "
                for _ in range(100):  # at most 5 s
                    sock.sendall(body)
                    time.sleep(0.05)
            elif mode == "driphead":  # the status line and headers, one byte at a time, for up to 5 s
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 200
                for byte in head[:100]:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.05)
        except OSError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def raw_server() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _router(url: str, mode: str, **router: Any) -> polyroute.Router:
    cfg = {
        "providers": {"p": {"base_url": f"{url}/{mode}/v1"}},
        "models": {"m": {"endpoints": [{"provider": "p", "model": "x"}]}},
        "router": {"retry": {"max_retries": 0}, **router},
    }
    return polyroute.Router.from_config(cfg)


def _call_within_0_6_s(router: polyroute.Router, *, stream: bool, asynchronous: bool) -> None:
    """One call with a 0.6 s deadline, in the mode asked for, read to its end; the router is closed."""

    async def acall() -> None:
        try:
            resp = await router.acompletion("m", USER, stream=stream, timeout=0.6)
            if stream:
                async for _ in resp:  # type: ignore[union-attr]
                    pass
        finally:
            await router.aclose()

    if asynchronous:
        asyncio.run(acall())
    else:
        with router:
            resp = router.completion("m", USER, stream=stream, timeout=0.6)
            if stream:
                list(resp)  # type: ignore[arg-type]


def _attempt_error(exc: BaseException) -> str | None:
    attempts = getattr(exc, "attempts", ())
    return attempts[0].error if attempts else None


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_gzip_bomb_ends_the_attempt_within_bounded_memory(raw_server: str, stream: bool, asynchronous: bool) -> None:
    router = _router(raw_server, "bomb", limits={"max_body_bytes": 4 * _MIB})

    async def acall() -> None:
        try:
            resp = await router.acompletion("m", USER, stream=stream)
            if stream:
                async for _ in resp:  # type: ignore[union-attr]
                    pass
        finally:
            await router.aclose()

    tracemalloc.start()
    try:
        with pytest.raises(errors.NoEndpointAvailable) as info:
            if asynchronous:
                asyncio.run(acall())
            else:
                with router:
                    resp = router.completion("m", USER, stream=stream)
                    if stream:
                        list(resp)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _attempt_error(info.value) == "ResponseTooLarge"
    assert peak < 128 * _MIB  # the body is 256 MiB decompressed


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_stream_line_past_the_limit_ends_the_attempt(raw_server: str, asynchronous: bool) -> None:
    router = _router(raw_server, "longline", limits={"max_line_bytes": _MIB})

    async def acall() -> None:
        try:
            async for _ in await router.acompletion("m", USER, stream=True):
                pass
        finally:
            await router.aclose()

    with pytest.raises(errors.NoEndpointAvailable) as info:
        if asynchronous:
            asyncio.run(acall())
        else:
            with router:
                list(router.completion("m", USER, stream=True))
    assert _attempt_error(info.value) == "ResponseTooLarge"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_deadline_holds_against_a_provider_dripping_bytes(
    raw_server: str, stream: bool, asynchronous: bool
) -> None:
    router = _router(raw_server, "drip", timeout={"read": 2.0})
    started = time.monotonic()
    with pytest.raises(errors.PolyrouteError):
        _call_within_0_6_s(router, stream=stream, asynchronous=asynchronous)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, elapsed  # the provider would drip for 5 s


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_deadline_holds_while_the_response_headers_drip(raw_server: str, stream: bool, asynchronous: bool) -> None:
    """From the moment the request is sent: a provider sending its status line and headers a byte
    at a time (each well within the read timeout) is cut off at the call's deadline."""
    router = _router(raw_server, "driphead", timeout={"read": 2.0})
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded) as info:
        _call_within_0_6_s(router, stream=stream, asynchronous=asynchronous)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, elapsed  # the headers would drip for 5 s
    assert _attempt_error(info.value) == "ReadTimeout"


def test_sse_parsing_is_linear_in_a_line_without_newlines() -> None:
    from polyroute.adapters._sse import SSEParser

    def cost(mib: int) -> float:
        parser = SSEParser()
        piece = b"x" * 65536
        started = time.process_time()
        parser.feed(b"data: ")
        for _ in range(mib * 16):
            parser.feed(piece)
        events = parser.feed(b"\n\n")
        assert len(events[0][1]) == mib * _MIB
        return time.process_time() - started

    cost(1)
    small, large = cost(4), cost(32)
    assert large < small * 8 * 4 + 0.5  # linear (quadratic would be 64x)
