"""``GET /metrics``: Prometheus exposition, from ``polyroute.observability`` when it is there,
else ``prometheus_client``'s default registry if installed, else 404 saying what to install."""

from __future__ import annotations

import importlib

from aiohttp import web

from polyroute.gateway._context import CONTEXT
from polyroute.gateway._errors import GatewayError, error_response

__all__ = ["metrics"]

_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def metrics(request: web.Request) -> web.Response:
    """The handler of ``/metrics``."""
    ctx = request.app[CONTEXT]
    exposition = getattr(ctx, "metrics_exposition", None)
    if exposition is not None:
        return web.Response(body=exposition(), headers={"Content-Type": _TEXT})
    try:
        client = importlib.import_module("prometheus_client")
    except ImportError:
        return error_response(
            GatewayError(404, "metrics need prometheus_client: pip install prometheus-client", type="not_found_error")
        )
    return web.Response(body=client.generate_latest(), headers={"Content-Type": client.CONTENT_TYPE_LATEST})
