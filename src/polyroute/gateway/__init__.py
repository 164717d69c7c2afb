"""``polyroute serve``: an OpenAI- and OpenRouter-compatible HTTP gateway over a :class:`~polyroute.Router`.

::

    from aiohttp import web
    from polyroute import Router
    from polyroute.gateway import create_app

    app = create_app(Router.from_config("polyroute.yaml"))
    web.run_app(app, host="127.0.0.1", port=8000)

The application is an :class:`aiohttp.web.Application`; mount it in yours with
``parent.add_subapp("/llm", app)``.

Contract with the dashboard (``polyroute.gateway.dashboard``, optional): if that module imports,
:func:`create_app` calls ``dashboard.install(app, context)`` once, before the application starts,
with a :class:`GatewayContext` (also at ``request.app[CONTEXT]``): ``context.router`` (the
Router: ``stats()``, ``catalog``, ``health``), ``context.ledger`` (the router's ledger or
``None``; read rows off the event loop), ``context.keys`` (the :class:`KeyStore`:
``list()``, ``by_fingerprint()`` to name a ledger row's ``caller_key``),
``context.check_admin(request) -> bool`` (the admin key as a Bearer token, or the cookie set by
the one-time ``/login?token=...`` link ``serve`` prints) and ``context.settings``. The dashboard
owns ``/`` (route name ``polyroute-home``, where ``/login`` redirects) and its own paths; the
gateway owns ``/v1/...``, ``/api/v1/...``, ``/metrics``, ``/healthz``, ``/readyz`` and ``/login``.
"""

from __future__ import annotations

from polyroute.gateway._admin import AdminAuth
from polyroute.gateway._app import create_app
from polyroute.gateway._context import CONTEXT, GatewayContext
from polyroute.gateway._keys import KeyRecord, KeyStore
from polyroute.gateway._runner import GatewayThread
from polyroute.gateway._settings import GatewaySettings

__all__ = [
    "CONTEXT",
    "AdminAuth",
    "GatewayContext",
    "GatewaySettings",
    "GatewayThread",
    "KeyRecord",
    "KeyStore",
    "create_app",
]
