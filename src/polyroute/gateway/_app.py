"""The gateway's aiohttp application: :func:`create_app` wires the routes to a router."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator

from aiohttp import web

from polyroute._router import Router
from polyroute.gateway import _accounts_api as accounts
from polyroute.gateway._admin import COOKIE, AdminAuth
from polyroute.gateway._catalog_api import model_endpoints, models
from polyroute.gateway._chat import chat_completions
from polyroute.gateway._context import CONTEXT, GatewayContext
from polyroute.gateway._keys import KeyStore
from polyroute.gateway._metrics import metrics
from polyroute.gateway._policy import RateLimiter, attach_key_budgets
from polyroute.gateway._settings import GatewaySettings

__all__ = ["create_app"]


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    if ctx.draining:
        return web.json_response({"status": "draining", "open_streams": ctx.open_streams}, status=503)
    if not ctx.router.catalog.models:
        return web.json_response({"status": "not ready", "reason": "no models configured"}, status=503)
    return web.json_response({"status": "ready", "models": len(ctx.router.catalog.models)})


async def _login(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    session = ctx.admin.redeem(request.query.get("token", ""))
    if session is None:
        return web.json_response(
            {
                "error": {
                    "message": "this login link is invalid or was already used",
                    "type": "authentication_error",
                    "code": 401,
                }
            },
            status=401,
        )
    home = "/"
    with contextlib.suppress(KeyError):
        home = str(request.app.router["polyroute-home"].url_for())
    response = web.Response(status=302, headers={"Location": home})
    response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
    return response


async def _refresh_keys(app: web.Application) -> AsyncIterator[None]:
    """Re-read the key table now and then (keys changed by other processes or workers), also
    when no request comes to do it (:meth:`GatewayContext.fresh_keys`)."""
    ctx = app[CONTEXT]

    async def loop() -> None:
        while True:
            await asyncio.sleep(ctx.settings.keys_refresh_seconds / 2)
            await ctx.fresh_keys()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _draining(app: web.Application) -> None:
    app[CONTEXT].draining = True


def _install_dashboard(app: web.Application, context: GatewayContext) -> None:
    try:
        dashboard = importlib.import_module("polyroute.gateway.dashboard")
    except ImportError as exc:
        if exc.name not in ("polyroute.gateway.dashboard",):
            raise
        return
    dashboard.install(app, context)


def create_app(
    router: Router,
    *,
    keys: KeyStore | None = None,
    settings: GatewaySettings | None = None,
    admin: AdminAuth | None = None,
    dashboard: bool = True,
    close_router: bool = False,
) -> web.Application:
    """The gateway as an :class:`aiohttp.web.Application` serving ``router``.

    ``keys`` defaults to an in-memory :class:`KeyStore` (``polyroute serve`` opens the one in the
    ledger's database). The application is self-contained: run it with ``aiohttp.web.run_app``,
    or mount it in your own aiohttp application with ``parent.add_subapp("/llm", app)``. The
    caller owns ``router`` and ``keys`` and closes them, unless ``close_router`` (then the
    application closes both when it shuts down, on its own event loop).

    Run it with ``handler_cancellation=True`` (``web.run_app(app, handler_cancellation=True)``;
    ``polyroute serve`` does) so that a client that disconnects cancels its upstream call at once.
    """
    settings = settings or GatewaySettings()
    own_keys = keys is None
    keys = keys if keys is not None else KeyStore.memory()
    admin = admin if admin is not None else AdminAuth(settings.admin_key)
    guard, new_store = attach_key_budgets(router, keys)
    context = GatewayContext(
        router=router,
        keys=keys,
        admin=admin,
        settings=settings,
        limiter=RateLimiter(router.clock.monotonic, keys),
        key_guard=guard,
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[CONTEXT] = context
    add = app.router
    for prefix in ("/v1", "/api/v1"):
        add.add_post(f"{prefix}/chat/completions", chat_completions)
        add.add_get(f"{prefix}/models", models)
    add.add_get("/api/v1/models/{model:.+}/endpoints", model_endpoints)
    add.add_get("/api/v1/generation", accounts.generation)
    add.add_get("/api/v1/key", accounts.key_info)
    add.add_get("/api/v1/keys", accounts.keys_list)
    add.add_post("/api/v1/keys", accounts.keys_create)
    add.add_get("/api/v1/keys/{hash}", accounts.keys_get)
    add.add_patch("/api/v1/keys/{hash}", accounts.keys_update)
    add.add_delete("/api/v1/keys/{hash}", accounts.keys_delete)
    add.add_post("/api/v1/keys/{hash}/rotate", accounts.keys_rotate)
    add.add_get("/metrics", metrics)
    add.add_get("/healthz", _healthz)
    add.add_get("/readyz", _readyz)
    add.add_get("/login", _login)
    app.cleanup_ctx.append(_refresh_keys)
    app.on_shutdown.append(_draining)

    async def close(app: web.Application) -> None:
        if close_router:
            await router.aclose()
        if new_store:
            guard.store.close()
        if own_keys or close_router:
            keys.close()

    app.on_cleanup.append(close)
    if dashboard:
        _install_dashboard(app, context)
    return app
