"""Sync transport over httpx: one pooled ``httpx.Client`` per provider.

Bodies are read in pieces, so that a decompressed body past ``max_body_bytes`` ends the attempt
(:class:`~polyroute.errors.ResponseTooLarge`) while memory stays bounded, and so that an
attempt's deadline (``Timeouts.deadline`` on a Send: the seconds it may take in all) holds
against a provider dripping bytes: httpx's read timeout restarts with every byte, so a watchdog
shuts the socket when the deadline passes and the read in progress ends at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from polyroute.catalog._catalog import Timeouts
from polyroute.errors import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    ReadTimeout,
    ResponseTooLarge,
    TransportError,
)
from polyroute.transports._base import HttpRequest, HttpResponse

__all__ = ["HttpxTransport", "map_httpx_error"]

#: distinct timeouts remembered per transport
_MAX_TIMEOUTS = 64
_DEFAULT_MAX_BODY = 32 * 2**20


def map_httpx_error(exc: BaseException) -> TransportError:
    """The most specific polyroute error for an httpx exception."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimeout(f"connect timed out: {exc}")
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return ReadTimeout(f"read timed out: {exc or type(exc).__name__}")
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(f"could not connect: {exc}")
    return ConnectionLost(f"connection lost: {type(exc).__name__}: {exc}")


class _Deadline:
    """The end of one attempt: checked between reads, and enforced during one by shutting the socket."""

    __slots__ = ("_timer", "at", "fired")

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + max(seconds, 0.0)
        self.fired = False
        self._timer: threading.Timer | None = None

    def watch(self, resp: httpx.Response) -> None:
        """Shut ``resp``'s socket when the deadline passes (the blocked read then ends)."""
        if self.at is None:
            return
        stream: Any = resp.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return

        def fire() -> None:
            self.fired = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        self._timer = threading.Timer(max(self.at - time.monotonic(), 0.0), fire)
        self._timer.daemon = True
        self._timer.start()

    def check(self) -> None:
        if self.at is not None and (self.fired or time.monotonic() >= self.at):
            raise ReadTimeout("the call's deadline passed while the response was being read")

    def error(self, exc: BaseException) -> TransportError:
        """The error for ``exc`` raised while reading: the deadline's if the watchdog fired."""
        if self.fired or (self.at is not None and time.monotonic() >= self.at):
            return ReadTimeout("the call's deadline passed while the response was being read")
        return map_httpx_error(exc)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_PIECE = 65536
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def _pieces(resp: httpx.Response, limit: int) -> Iterator[bytes]:
    """The decoded body in pieces of at most 64 KiB: gzip and deflate are inflated here with a bound
    on each output (a bomb never expands in memory); other encodings are httpx's to decode."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    wbits = _WBITS.get(encoding)
    if wbits is None:
        yield from resp.iter_bytes()
        return
    inflate = zlib.decompressobj(wbits)
    try:
        for raw in resp.iter_raw():
            data = raw
            while data:
                out = inflate.decompress(data, _PIECE)
                if out:
                    yield out
                data = inflate.unconsumed_tail
        tail = inflate.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise ConnectionLost(f"the response body could not be decoded ({encoding}): {exc}") from exc


def _read_body(resp: httpx.Response, deadline: _Deadline, limit: int) -> bytes:
    length = resp.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit and "content-encoding" not in resp.headers:
        raise ResponseTooLarge(f"the response body is larger than {limit} bytes", status=resp.status_code)
    pieces: list[bytes] = []
    size = 0
    try:
        for piece in _pieces(resp, limit):
            size += len(piece)
            if size > limit:
                raise ResponseTooLarge(f"the response body is larger than {limit} bytes", status=resp.status_code)
            pieces.append(piece)
            deadline.check()
    except httpx.HTTPError as exc:
        raise deadline.error(exc) from exc
    return b"".join(pieces)


class _HttpxStream:
    __slots__ = ("_deadline", "_limit", "_resp", "headers", "status")

    def __init__(self, resp: httpx.Response, deadline: _Deadline, limit: int) -> None:
        self._resp = resp
        self._deadline = deadline
        self._limit = limit
        self.status = resp.status_code
        self.headers: Mapping[str, str] = resp.headers

    def read(self) -> bytes:
        return _read_body(self._resp, self._deadline, self._limit)

    def iter_bytes(self) -> Iterator[bytes]:
        deadline = self._deadline
        try:
            for piece in _pieces(self._resp, self._limit):
                deadline.check()
                yield piece
        except httpx.HTTPError as exc:
            raise deadline.error(exc) from exc

    def close(self) -> None:
        self._deadline.cancel()
        self._resp.close()


class HttpxTransport:
    """Sends requests for one provider over a pooled ``httpx.Client``. ``max_body_bytes`` bounds a
    whole (decompressed) response body."""

    def __init__(self, *, max_connections: int = 100, max_body_bytes: int = _DEFAULT_MAX_BODY) -> None:
        self._client = httpx.Client(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )
        self._max_body = max_body_bytes
        self._timeouts: dict[tuple[float, float], httpx.Timeout] = {}

    def _timeout(self, timeouts: Timeouts) -> httpx.Timeout:
        key = (timeouts.connect, timeouts.read)
        t = self._timeouts.get(key)
        if t is None:
            t = httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect)
            if len(self._timeouts) >= _MAX_TIMEOUTS:
                self._timeouts.clear()  # a call's deadline shortens its timeouts, so they vary without bound
            self._timeouts[key] = t
        return t

    def _open(self, request: HttpRequest, timeouts: Timeouts) -> tuple[httpx.Response, _Deadline]:
        deadline = _Deadline(timeouts.deadline)
        built = self._client.build_request(
            request.method, request.url, content=request.body, headers=request.headers, timeout=self._timeout(timeouts)
        )
        try:
            resp = self._client.send(built, stream=True)
        except httpx.HTTPError as exc:
            raise deadline.error(exc) from exc
        deadline.watch(resp)
        return resp, deadline

    def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        resp, deadline = self._open(request, timeouts)
        try:
            return HttpResponse(resp.status_code, resp.headers, _read_body(resp, deadline, self._max_body))
        finally:
            deadline.cancel()
            resp.close()

    def stream(self, request: HttpRequest, timeouts: Timeouts) -> _HttpxStream:
        resp, deadline = self._open(request, timeouts)
        return _HttpxStream(resp, deadline, self._max_body)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return "HttpxTransport()"
