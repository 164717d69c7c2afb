"""Async transport over aiohttp: one pooled ``ClientSession`` per provider and event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import aiohttp

from polyroute.catalog._catalog import Timeouts
from polyroute.errors import ConnectError, ConnectionLost, ConnectTimeout, ReadTimeout, ResponseTooLarge, TransportError
from polyroute.transports._base import HttpRequest, HttpResponse

__all__ = ["AiohttpTransport", "map_aiohttp_error"]


def map_aiohttp_error(exc: BaseException) -> TransportError:
    """The most specific polyroute error for an aiohttp or asyncio exception."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout(f"connect timed out: {exc}")
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return ReadTimeout(f"read timed out: {exc or type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"could not connect: {exc}")
    return ConnectionLost(f"connection lost: {type(exc).__name__}: {exc}")


def _drop(session: aiohttp.ClientSession) -> None:
    """Forget a session whose event loop has closed: its sockets died with the loop.

    aiohttp offers no public way to close a connector without its loop, so the synchronous
    ``_close()`` is used; without it every dropped connector warns ``Unclosed connector``.
    """
    connector = session.connector
    session.detach()
    if connector is not None and not connector.closed:
        # the loop is closed, so closing its transports may raise; they are unusable anyway
        with contextlib.suppress(RuntimeError):
            connector._close()


_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError, OSError)
#: distinct timeouts remembered per transport
_MAX_TIMEOUTS = 64


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole (decompressed) body, read in pieces: past ``limit`` bytes, :class:`ResponseTooLarge`."""
    pieces: list[bytes] = []
    size = 0
    read = resp.content.readany
    try:
        while True:
            piece = await read()
            if not piece:
                break
            size += len(piece)
            if size > limit:
                raise ResponseTooLarge(f"the response body is larger than {limit} bytes", status=resp.status)
            pieces.append(piece)
    except _ERRORS as exc:
        raise map_aiohttp_error(exc) from exc
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class _AiohttpStream:
    __slots__ = ("_limit", "_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, limit: int) -> None:
        self._resp = resp
        self._limit = limit
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        return await _read_body(self._resp, self._limit)

    async def read_chunk(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except _ERRORS as exc:
            raise map_aiohttp_error(exc) from exc

    async def close(self) -> None:
        self._resp.release()


class AiohttpTransport:
    """Sends requests for one provider over a pooled aiohttp session. ``max_body_bytes`` bounds a
    whole (decompressed) response body, enforced while it is read.

    Sessions belong to an event loop; a call from another loop (``asyncio.run`` twice, or a
    test framework's per-test loop) gets a session of its own.
    """

    def __init__(self, *, max_connections: int = 100, max_body_bytes: int = 32 * 2**20) -> None:
        self._max_connections = max_connections
        self._max_body = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        #: the last timeouts seen and their aiohttp form (almost every call passes the provider's own)
        self._last: tuple[Timeouts | None, aiohttp.ClientTimeout | None] = (None, None)

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._loop is loop and not session.closed:
            return session
        if session is not None and self._loop is not None and self._loop.is_closed():
            _drop(session)
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )
        self._loop = loop
        return self._session

    def _timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        last, t = self._last
        if timeouts is last and t is not None:
            return t
        t = self._timeouts.get(timeouts)
        if t is None:
            t = aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_read=timeouts.read)
            if len(self._timeouts) >= _MAX_TIMEOUTS:
                # a call's deadline shortens its timeouts, so they vary without bound: start over
                self._timeouts.clear()
            self._timeouts[timeouts] = t
        self._last = (timeouts, t)
        return t

    async def _open(self, request: HttpRequest, timeouts: Timeouts) -> aiohttp.ClientResponse:
        session = self._get_session()
        try:
            return await session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout(timeouts),
            )
        except _ERRORS as exc:
            raise map_aiohttp_error(exc) from exc

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        resp = await self._open(request, timeouts)
        try:
            body = await _read_body(resp, self._max_body)
        finally:
            resp.release()
        return HttpResponse(resp.status, resp.headers, body)

    async def stream(self, request: HttpRequest, timeouts: Timeouts) -> _AiohttpStream:
        return _AiohttpStream(await self._open(request, timeouts), self._max_body)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            loop = self._loop
            if loop is None or loop is asyncio.get_running_loop():
                await session.close()
            elif loop.is_closed():
                _drop(session)

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections})"
