"""The gateway's dashboard: spend over time, the model leaderboard, live endpoints, recent calls.

:func:`install` adds to an ``aiohttp.web`` application:

- ``GET /``: the page (HTML; its data comes from the JSON below, so the page itself holds none);
- ``GET /dashboard/static/{name}``: its script, chart module and style sheet, shipped in the
  package (no CDN, no build step: hand-written SVG charts in plain JavaScript);
- ``GET /api/v1/dashboard/summary?days=N``: totals, spend per UTC day stacked by provider,
  model, key and user, the model leaderboard by tokens and the latest calls with their route,
  from the ledger's rows of the last ``N`` days (1 to 366, default 7);
- ``GET /api/v1/dashboard/endpoints``: every endpoint's breaker, requests in flight, success
  ratio, time to first token, latency and throughput over the last 5 and 30 minutes
  (:meth:`Router.stats() <polyroute.Router.stats>`).

The JSON endpoints answer only the administrator (``context.check_admin(request)``: the admin
key as ``Authorization: Bearer ...``, or the cookie the one-time login link sets); the page asks
for the admin key when they answer 401 and keeps it for the browser tab only. Ledger reads run
in a worker thread, never on the event loop, and a summary is reused for a few seconds.
See ``docs/gateway/dashboard.md``.
"""

from __future__ import annotations

from polyroute.gateway.dashboard._app import DashboardContext, install

__all__ = ["DashboardContext", "install"]
