"""``GET /metrics``: Prometheus exposition.

From :func:`polyroute.observability.prometheus.exposition` when it is available (it handles
prometheus-client's multiprocess mode, for ``--workers N``), else prometheus-client's default
registry if that is installed, else 404 saying what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from aiohttp import web

from polyroute.gateway._errors import GatewayError, error_response

__all__ = ["metrics"]


def _exposition() -> Callable[[], tuple[bytes, str]] | None:
    try:
        module = importlib.import_module("polyroute.observability.prometheus")
    except ImportError:
        pass
    else:
        found: Callable[[], tuple[bytes, str]] = module.exposition
        return found
    try:
        client = importlib.import_module("prometheus_client")
    except ImportError:
        return None

    def latest() -> tuple[bytes, str]:
        return client.generate_latest(), str(client.CONTENT_TYPE_LATEST)

    return latest


async def metrics(request: web.Request) -> web.Response:
    """The handler of ``/metrics``."""
    exposition = _exposition()
    if exposition is None:
        return error_response(
            GatewayError(
                404, "metrics need prometheus-client: pip install 'polyroute[prometheus]'", type="not_found_error"
            )
        )
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})
