"""Sync transport over httpx: one pooled ``httpx.Client`` per provider.

Bodies are read in pieces, so that a decompressed body past ``max_body_bytes`` ends the attempt
(:class:`~polyroute.errors.ResponseTooLarge`) while memory stays bounded.

An attempt's deadline (``Timeouts.deadline`` on a Send: the seconds it may take in all) holds from
the moment the request is sent, against a provider dripping bytes (httpx's read timeout restarts
with every byte): every socket operation of the client goes through :class:`_DeadlineStream`,
which gives it at most what is left of the deadline (connecting, sending the request, waiting for
and reading the response headers, then the body), and fails it once nothing is left. No thread,
no timer: a blocked read ends by its own socket timeout when the deadline passes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpcore
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


#: the deadline (``time.monotonic()``) of the request this thread is sending, until its headers
#: are in: which pooled connection will carry it is not known before
_sending = threading.local()


def _left(at: float | None, timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left before ``at``; ``error`` once nothing is."""
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None or left < timeout else timeout


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes end by the deadline of the request it carries: the
    sending thread's while the request is sent and its headers read, then :attr:`at`, set for
    the body by :meth:`_Deadline.watch`."""

    __slots__ = ("_inner", "at")

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self.at: float | None = None

    def _at(self) -> float | None:
        at: float | None = getattr(_sending, "at", None)
        return self.at if at is None else at

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        at: float | None = getattr(_sending, "at", None) or self.at  # inline: per read, on every call
        if at is None:
            return self._inner.read(max_bytes, timeout)
        return self._inner.read(max_bytes, _left(at, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        at: float | None = getattr(_sending, "at", None) or self.at
        if at is None:
            self._inner.write(buffer, timeout)
        else:
            self._inner.write(buffer, _left(at, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _left(self._at(), timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own network backend, its connections wrapped in :class:`_DeadlineStream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(getattr(_sending, "at", None), timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _left(getattr(_sending, "at", None), timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadlines(client: httpx.Client) -> bool:
    """Route every connection ``client`` makes through :class:`_DeadlineBackend`; ``False`` if
    this httpx/httpcore keeps its connection pool elsewhere (then a watchdog thread is used)."""
    installed = False
    for transport in (getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()):
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if isinstance(inner, httpcore.NetworkBackend):
            if not isinstance(inner, _DeadlineBackend):
                pool._network_backend = _DeadlineBackend(inner)  # type: ignore[union-attr]
            installed = True
    return installed


class _Deadline:
    """The end of one attempt: checked between reads, and enforced during one by the connection
    (:class:`_DeadlineStream`), else by a watchdog shutting the socket."""

    __slots__ = ("_stream", "_timer", "at", "fired")

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + max(seconds, 0.0)
        self.fired = False
        self._timer: threading.Timer | None = None
        self._stream: _DeadlineStream | None = None

    def watch(self, resp: httpx.Response) -> None:
        """Hold the deadline while ``resp``'s body is read."""
        if self.at is None:
            return
        stream: Any = resp.extensions.get("network_stream")
        if isinstance(stream, _DeadlineStream):
            stream.at = self.at
            self._stream = stream
            return
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
        """The error for ``exc`` raised while sending or reading: the deadline's if it has passed."""
        if self.fired or (self.at is not None and time.monotonic() >= self.at):
            return ReadTimeout("the call's deadline passed while the response was awaited or read")
        return map_httpx_error(exc)

    def cancel(self) -> None:
        if self._stream is not None:
            self._stream.at = None  # the connection goes back to the pool, for other requests
            self._stream = None
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
        _install_deadlines(self._client)

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
        if deadline.at is None:
            try:
                resp = self._client.send(built, stream=True)
            except httpx.HTTPError as exc:
                raise map_httpx_error(exc) from exc
            return resp, deadline
        _sending.at = deadline.at  # from the first byte sent to the last header read
        try:
            resp = self._client.send(built, stream=True)
        except httpx.HTTPError as exc:
            raise deadline.error(exc) from exc
        finally:
            _sending.at = None
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
