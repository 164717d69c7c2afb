"""The dashboard's routes on an ``aiohttp.web`` application."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from aiohttp import web

from polyroute.gateway.dashboard._data import endpoint_table, summarize_aggregate, summary, window_start

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.ledger import Ledger

__all__ = ["DashboardContext", "install"]

log = logging.getLogger("polyroute.gateway.dashboard")

#: the files the page loads, and their content types
_ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_MAX_DAYS = 366
_DEFAULT_DAYS = 7
#: how long a computed summary is served again (seconds of the router's monotonic clock), at
#: least: a summary that took ``t`` seconds of wall time to compute is kept ``TTL_FACTOR * t``
SUMMARY_TTL = 5.0
TTL_FACTOR = 10.0
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class DashboardContext(Protocol):
    """What the dashboard needs from the gateway (``polyroute.gateway.GatewayContext`` has it)."""

    @property
    def router(self) -> Router:
        """The router serving the calls: its ``stats()`` and ``clock``."""
        ...

    @property
    def ledger(self) -> Ledger | None:
        """Where the rows come from (``None``: no ledger configured)."""
        ...

    def check_admin(self, request: web.Request) -> bool:
        """Whether ``request`` is the administrator's."""
        ...


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _load_assets() -> tuple[bytes, dict[str, _Asset]]:
    static = resources.files(__package__).joinpath("static")
    assets = {}
    digest = hashlib.sha256()
    for name, content_type in _ASSETS.items():
        body = static.joinpath(name).read_bytes()
        digest.update(body)
        assets[name] = _Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    version = digest.hexdigest()[:12]
    page = static.joinpath("index.html").read_bytes().replace(b"{{version}}", version.encode("ascii"))
    return page, assets


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", **_SECURITY_HEADERS},
    )


def _error(status: int, message: str, kind: str) -> web.Response:
    return _json({"error": {"message": message, "type": kind, "code": status}}, status)


def _key_names(context: DashboardContext) -> dict[str, str]:
    """Key fingerprints to key names, from the gateway's key store when it has one."""
    keys = getattr(context, "keys", None)
    lookup = getattr(keys, "by_fingerprint", None)
    if lookup is None:
        return {}
    found = lookup()
    names: dict[str, str] = {}
    if isinstance(found, Mapping):
        for fingerprint, record in found.items():
            name = getattr(record, "name", record)
            if isinstance(name, str):
                names[str(fingerprint)] = name
    return names


class _Dashboard:
    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        self.page, self.assets = _load_assets()
        self._cache: dict[int, tuple[float, dict[str, Any]]] = {}  # days -> (expires, summary)
        self._lock = asyncio.Lock()

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store", **_SECURITY_HEADERS},
        )

    async def static(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        # revalidated every time (a 304 costs nothing): chart.js is imported without a version tag
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache", **_SECURITY_HEADERS}
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, headers={"Content-Type": asset.content_type, **headers})

    def _compute(self, days: int) -> dict[str, Any]:
        router = self.context.router
        now = router.clock.time()
        ledger = self.context.ledger
        if ledger is None:
            data = summary((), now=now, days=days)
        else:
            from polyroute.gateway.dashboard._queries import aggregate

            agg = aggregate(ledger, since=window_start(now, days))
            data = summarize_aggregate(agg, now=now, days=days, key_names=_key_names(self.context))
        data["ledger"] = ledger is not None
        data["generated_at"] = now
        return data

    async def summary(self, request: web.Request) -> web.StreamResponse:
        if not self.context.check_admin(request):
            return _error(401, "the dashboard needs the admin key", "authentication_error")
        raw = request.query.get("days", str(_DEFAULT_DAYS))
        try:
            days = int(raw)
        except ValueError:
            days = 0
        if not 1 <= days <= _MAX_DAYS:
            return _error(400, f"days must be a whole number from 1 to {_MAX_DAYS}", "invalid_request_error")
        clock = self.context.router.clock
        async with self._lock:  # one read of the ledger at a time; the others reuse it
            cached = self._cache.get(days)
            if cached is not None and clock.monotonic() < cached[0]:
                return _json(cached[1])
            started = time.perf_counter()  # real time: what the reads cost the machine
            try:
                data = await asyncio.to_thread(self._compute, days)
            except Exception:  # a database that is down or locked: say so, and try again next time
                log.warning("the dashboard could not read the ledger", exc_info=True)
                return _error(503, "the ledger could not be read; try again shortly", "service_unavailable")
            took = time.perf_counter() - started
            # a slow ledger is read less often: the dashboard never keeps it busy more than 1/TTL_FACTOR
            self._cache[days] = (clock.monotonic() + max(SUMMARY_TTL, TTL_FACTOR * took), data)
        return _json(data)

    async def endpoints(self, request: web.Request) -> web.StreamResponse:
        if not self.context.check_admin(request):
            return _error(401, "the dashboard needs the admin key", "authentication_error")
        router = self.context.router
        stats = await asyncio.to_thread(router.stats)
        return _json({"endpoints": endpoint_table(stats), "generated_at": router.clock.time()})


def install(app: web.Application, context: DashboardContext) -> None:
    """Add the dashboard's page, assets and JSON endpoints to ``app`` (see the module docs)."""
    dashboard = _Dashboard(context)
    app.router.add_get("/", dashboard.index, name="polyroute-home")  # where /login redirects
    app.router.add_get("/dashboard/static/{name}", dashboard.static)
    app.router.add_get("/api/v1/dashboard/summary", dashboard.summary)
    app.router.add_get("/api/v1/dashboard/endpoints", dashboard.endpoints)
