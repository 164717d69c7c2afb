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
  ``await context.fresh_keys()`` re-reads its table first when it is older than
  ``settings.keys_refresh_seconds`` (the gateway does before it authenticates a key), and
  ``await context.find_key(hash)`` looks a key up by id, re-reading the table once if it is not there;
- ``check_admin(request)``: whether the request is the administrator's (the admin key as
  ``Authorization: Bearer ...``, or the cookie set by the one-time login link ``serve`` prints);
- ``settings``: the :class:`GatewaySettings` the app was built with;
- ``open_streams`` and ``draining``: live figures of this process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from polyroute.gateway._admin import AdminAuth
from polyroute.gateway._policy import KeyBudgetGuard, RateLimiter
from polyroute.gateway._settings import GatewaySettings

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.gateway._keys import KeyRecord, KeyStore
    from polyroute.ledger import Ledger

__all__ = ["CONTEXT", "GatewayContext"]

log = logging.getLogger("polyroute.gateway")


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
    #: one re-read of the key table at a time (:meth:`fresh_keys`)
    _keys_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def ledger(self) -> Ledger | None:
        """The router's ledger (``None`` when the configuration names none)."""
        return self.router.ledger

    async def fresh_keys(self) -> None:
        """Re-read the key table (in a thread) if this process last read it
        ``settings.keys_refresh_seconds`` ago or more, so that a key deleted, disabled or changed
        by another worker or by ``polyroute keys`` is never honoured longer than that. One
        re-read at a time; if the database cannot be read, the keys in memory stay (logged) and
        the next try is an interval later."""
        max_age = self.settings.keys_refresh_seconds
        if not self.keys.due(max_age):
            return
        async with self._keys_lock:
            if not self.keys.due(max_age):  # another request re-read it while this one waited
                return
            try:
                await asyncio.to_thread(self.keys.refresh)
            except Exception:  # the database may be briefly unavailable: keep the keys we have
                log.warning("could not re-read the gateway keys", exc_info=True)

    async def find_key(self, hash: str) -> KeyRecord | None:
        """The key with id ``hash``: from the table in memory, or else after re-reading it (in a
        thread) once, so that a key created by another worker or by ``polyroute keys`` since this
        process last read the table is found (``None``: there is no such key). Concurrent misses
        share one re-read; an error reading the database is raised, not taken for a missing key."""
        record = self.keys.get(hash)
        if record is not None:
            return record
        version = self.keys.version  # the table this miss was in
        async with self._keys_lock:
            if self.keys.version == version:  # no one re-read the table while this one waited
                await asyncio.to_thread(self.keys.refresh)
        return self.keys.get(hash)

    def check_admin(self, request: web.Request) -> bool:
        """Whether ``request`` carries the admin key or the admin session cookie (constant-time)."""
        return self.admin.check(request)


#: where the context lives in the application: ``request.app[CONTEXT]``
CONTEXT: web.AppKey[GatewayContext] = web.AppKey("polyroute.gateway.context", GatewayContext)
