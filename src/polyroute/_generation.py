"""A catalog in service: what a router routes over between two reloads.

A :class:`Generation` holds one catalog, its routing index and the provider backends calls use,
and counts the calls still running on it. ``Router.reload()`` builds the next generation
(reusing the backends of providers whose spec did not change) and retires the current one:
calls already running finish on the catalog and backends they started with, and the backends
the new generation no longer uses are closed when the last of those calls ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from polyroute.backends._http import HttpBackend, ProviderBackend
from polyroute.backends.litellm._backend import LiteLLMBackend
from polyroute.catalog._catalog import Catalog
from polyroute.routing._index import CatalogIndex

__all__ = ["Generation", "ServedBackend", "cached_endpoints"]

#: a provider's backend: HTTP (adapter and transports), the LiteLLM bridge, or one the application gave
ServedBackend = HttpBackend | LiteLLMBackend | ProviderBackend


def cached_endpoints(catalog: Catalog) -> frozenset[str]:
    """Keys of the endpoints whose prompt-cache price is below their prompt price (sticky routing
    by conversation opening pays only there)."""
    return frozenset(
        ep.key
        for spec in catalog.models.values()
        for ep in spec.endpoints
        if ep.pricing.cache_read is not None and ep.pricing.prompt is not None
        and ep.pricing.cache_read < ep.pricing.prompt
    )  # fmt: skip


class Generation:
    """One catalog with its index and backends, and the number of calls running on it.

    ``backend`` is the lookup the engines call per attempt (the backends dict's own
    ``__getitem__``). :meth:`enter` and :meth:`leave` bracket every call; :meth:`retire` hands
    over the backends to close, which are released once no call is left.
    """

    __slots__ = (
        "_doomed",
        "_in_flight",
        "_lock",
        "_release",
        "_retired",
        "backend",
        "backends",
        "catalog",
        "hedging",
        "index",
    )

    def __init__(self, catalog: Catalog, backends: Mapping[str, ServedBackend]) -> None:
        self.catalog = catalog
        self.index = CatalogIndex(catalog)
        #: whether the configuration hedges async calls by default
        self.hedging = catalog.settings.routing.hedge.enabled
        self.backends = dict(backends)
        self.backend: Callable[[str], ServedBackend] = self.backends.__getitem__
        self._lock = threading.Lock()
        self._in_flight = 0
        self._retired = False
        self._doomed: list[ServedBackend] = []
        self._release: Callable[[Sequence[ServedBackend]], None] | None = None

    @property
    def in_flight(self) -> int:
        """Calls started on this generation that have not ended."""
        return self._in_flight

    def enter(self) -> bool:
        """A call starts on this generation; ``False`` (nothing counted) if it is retired."""
        with self._lock:
            if self._retired:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """A call on this generation ended (whatever the outcome)."""
        with self._lock:
            self._in_flight -= 1
            if not self._retired or self._in_flight or not self._doomed:
                return
            doomed, self._doomed = self._doomed, []
            release = self._release
        if release is not None:
            release(doomed)

    def retire(self, doomed: Sequence[ServedBackend], release: Callable[[Sequence[ServedBackend]], None]) -> None:
        """No call will start here any more. ``release(doomed)`` runs now if no call is running,
        else when the last one ends."""
        with self._lock:
            self._retired = True
            if self._in_flight:
                self._doomed.extend(doomed)
                self._release = release
                return
        if doomed:
            release(doomed)

    def abandon(self) -> list[ServedBackend]:
        """The backends still waiting for running calls to end, handed over (the router is
        closing: a stream nobody read to its end must not keep them open)."""
        with self._lock:
            doomed, self._doomed = self._doomed, []
        return doomed
