"""Observability: OpenTelemetry spans, Prometheus metrics and structured logs of every call.

Turn them on by passing observers to the router (or with ``router: {observability: ...}`` in
the configuration)::

    from polyroute.observability import OpenTelemetryObserver, PrometheusObserver

    router = Router.from_config("polyroute.yaml", observers=[OpenTelemetryObserver(), PrometheusObserver()])

:class:`OpenTelemetryObserver` needs the ``otel`` extra and :class:`PrometheusObserver` the
``prometheus`` extra; each is imported only when asked for, so ``import polyroute`` imports
neither library. Log records (:class:`LogObserver`, standard :mod:`logging`) are always on.
See ``docs/observability.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyroute.observability._logs import LogObserver

if TYPE_CHECKING:
    from polyroute.observability.otel import OpenTelemetryObserver
    from polyroute.observability.prometheus import PrometheusObserver, exposition

__all__ = ["LogObserver", "OpenTelemetryObserver", "PrometheusObserver", "exposition"]


def __getattr__(name: str) -> Any:
    if name == "OpenTelemetryObserver":
        from polyroute.observability.otel import OpenTelemetryObserver

        return OpenTelemetryObserver
    if name in ("PrometheusObserver", "exposition"):
        from polyroute.observability import prometheus

        return getattr(prometheus, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
