"""Sync transport over httpx: one pooled ``httpx.Client`` per provider."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx

from polyroute.catalog._catalog import Timeouts
from polyroute.errors import ConnectError, ConnectionLost, ConnectTimeout, ReadTimeout, TransportError
from polyroute.transports._base import HttpRequest, HttpResponse

__all__ = ["HttpxTransport", "map_httpx_error"]


def map_httpx_error(exc: BaseException) -> TransportError:
    """The most specific polyroute error for an httpx exception."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimeout(f"connect timed out: {exc}")
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return ReadTimeout(f"read timed out: {exc or type(exc).__name__}")
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(f"could not connect: {exc}")
    return ConnectionLost(f"connection lost: {type(exc).__name__}: {exc}")


class _HttpxStream:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers: Mapping[str, str] = resp.headers

    def read(self) -> bytes:
        try:
            return self._resp.read()
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            yield from self._resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc

    def close(self) -> None:
        self._resp.close()


class HttpxTransport:
    """Sends requests for one provider over a pooled ``httpx.Client``."""

    def __init__(self, *, max_connections: int = 100) -> None:
        self._client = httpx.Client(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )
        self._timeouts: dict[Timeouts, httpx.Timeout] = {}

    def _timeout(self, timeouts: Timeouts) -> httpx.Timeout:
        t = self._timeouts.get(timeouts)
        if t is None:
            t = httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect)
            self._timeouts[timeouts] = t
        return t

    def _build(self, request: HttpRequest, timeouts: Timeouts) -> httpx.Request:
        return self._client.build_request(
            request.method, request.url, content=request.body, headers=request.headers, timeout=self._timeout(timeouts)
        )

    def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        try:
            resp = self._client.send(self._build(request, timeouts))
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc
        return HttpResponse(resp.status_code, resp.headers, resp.content)

    def stream(self, request: HttpRequest, timeouts: Timeouts) -> _HttpxStream:
        try:
            resp = self._client.send(self._build(request, timeouts), stream=True)
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc) from exc
        return _HttpxStream(resp)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return "HttpxTransport()"
