"""What the gateway shares with its parts (the dashboard first): :class:`GatewayContext`.

The dashboard (``polyroute.gateway.dashboard``) and any other add-on get one ``GatewayContext``
from :func:`polyroute.gateway.create_app` through ``install(app, context)``, and may also read it
from a request as ``request.app[CONTEXT]``. It is the whole contract between them:

- ``router``: the :class:`~polyroute.Router` serving the calls (``router.stats()`` for live
  endpoint figures, ``router.catalog`` for models and endpoints, ``router.health`` for breakers);
- ``ledger``: the router's :class:`~polyroute.ledger.Ledger` or ``None``; ``ledger.rows(since=,
  until=)`` yields :class:`~polyroute.ledger.LedgerRow` (``caller_key`` is a key's fingerprint:
  map it to a name with ``keys.by_fingerprint()``; the SQLite and PostgreSQL ledgers also filter
  by ``request_id=`` and ``caller_key=``, and ``ledger.connect_reader()`` opens a connection for
  SQL of your own); rows are stored by a background thread, so read them off the event loop
  (``await asyncio.to_thread(...)``);
- ``keys``: the :class:`~polyroute.gateway.KeyStore` (``list()`` gives :class:`KeyRecord` s, never a key);
- ``check_admin(request)``: whether the request is the administrator's (the admin key as
  ``Authorization: Bearer ...``, or the cookie set by the one-time login link ``serve`` prints);
- ``settings``: the :class:`GatewaySettings` the app was built with;
- ``open_streams`` and ``draining``: live figures of this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from polyroute.gateway._admin import AdminAuth
from polyroute.gateway._policy import KeyBudgetGuard, RateLimiter
from polyroute.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.gateway._keys import KeyStore
    from polyroute.ledger import Ledger

__all__ = ["CONTEXT", "GatewayContext"]


@dataclass(slots=True)
class GatewayContext:
    """The gateway's router, ledger, key store, admin check and settings (see the module docs)."""

    router: Router
    keys: KeyStore
    admin: AdminAuth
    settings: GatewaySettings = field(default_factory=GatewaySettings)
    #: each key's requests-per-minute buckets
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(lambda: 0.0))
    #: the router's budget guard, which also charges keys' credit limits
    key_guard: KeyBudgetGuard | None = None
    #: streams being relayed right now (shutdown waits for them)
    open_streams: int = 0
    #: set when shutdown has begun: ``/readyz`` answers 503, new calls are still served
    draining: bool = False

    @property
    def ledger(self) -> Ledger | None:
        """The router's ledger (``None`` when the configuration names none)."""
        return self.router.ledger

    def check_admin(self, request: web.Request) -> bool:
        """Whether ``request`` carries the admin key or the admin session cookie (constant-time)."""
        return self.admin.check(request)


#: where the context lives in the application: ``request.app[CONTEXT]``
CONTEXT: web.AppKey[GatewayContext] = web.AppKey("polyroute.gateway.context", GatewayContext)
