"""The state backend: where a router keeps what it learns while routing.

A backend holds the circuit breakers (:class:`~polyroute.health._breakers.HealthState`), the
live statistics (:class:`~polyroute.health._stats.Stats`, in-flight counts included, from which
hedging delays are read), sticky sessions (:class:`~polyroute.routing._sticky.StickySessions`),
rate limits (:class:`~polyroute.state.RateLimits`) and the budget counter store. Routing reads
all of them from memory on every request; a shared backend keeps that memory in step with
other processes in the background and does I/O on the request path only where correctness needs
it (a budget reservation, a rate-limit slot at a limited endpoint, a sticky session this process
has not seen).

:class:`LocalState` (the default) is this process alone, as fast as plain dicts.
:class:`~polyroute.state.RedisState` shares everything through Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from polyroute._clock import Clock
from polyroute._records import Record
from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Catalog, Endpoint
from polyroute.health._breakers import HealthState
from polyroute.health._stats import EndpointStats, Stats
from polyroute.routing._sticky import StickySessions
from polyroute.state._limits import RateLimits

if TYPE_CHECKING:
    from polyroute.budgets import BudgetStore

__all__ = ["LocalState", "StateBackend", "StateStatus", "StatsReport"]


class StateStatus(Record):
    """How the state backend is doing (``router.stats().state``).

    ``connected`` is ``True`` for the in-process backend; for Redis, whether the last operation
    reached it. ``errors`` counts failed Redis operations; ``fallbacks`` counts decisions routing
    made from this process's own state because Redis could not be reached (fail open);
    ``budget_refusals`` counts reservations refused because the budget store could not be reached
    (fail closed); ``processes`` is how many routers shared their statistics in the last
    minute (``None`` in-process); ``last_error`` names the last error's type.
    """

    __slots__ = ("backend", "budget_refusals", "connected", "errors", "fallbacks", "last_error", "processes")

    def __init__(
        self,
        *,
        backend: str,
        connected: bool = True,
        errors: int = 0,
        fallbacks: int = 0,
        budget_refusals: int = 0,
        processes: int | None = None,
        last_error: str | None = None,
    ) -> None:
        self.backend = backend
        self.connected = connected
        self.errors = errors
        self.fallbacks = fallbacks
        self.budget_refusals = budget_refusals
        self.processes = processes
        self.last_error = last_error

    def model_dump(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {name: getattr(self, name) for name in self.__slots__}


class StatsReport(dict[str, EndpointStats]):
    """What :meth:`Router.stats() <polyroute.Router.stats>` returns: endpoint statistics by key,
    plus ``state``, the state backend's :class:`StateStatus`."""

    state: StateStatus

    def __init__(self, items: dict[str, EndpointStats], state: StateStatus) -> None:
        super().__init__(items)
        self.state = state


class StateBackend(Protocol):
    """What a router keeps its learnt state in (see the module docstring)."""

    health: HealthState
    stats: Stats
    sticky: StickySessions
    limits: RateLimits

    def configure(self, catalog: Catalog) -> None:
        """Take a catalog's settings (at start and on every reload)."""
        ...

    def budget_store(self, default: Callable[[], BudgetStore]) -> BudgetStore:
        """The budget counter store: the backend's own, or ``default()``."""
        ...

    def prepare(self, request: ChatRequest) -> None:
        """Fetch what planning ``request`` needs and this process lacks (sync calls)."""
        ...

    async def aprepare(self, request: ChatRequest) -> None:
        """:meth:`prepare` without blocking the event loop."""
        ...

    def report(self, endpoints: Iterable[Endpoint], now: float) -> dict[str, EndpointStats]:
        """Endpoint statistics (the cluster's view for a shared backend)."""
        ...

    def status(self) -> StateStatus:
        """How the backend is doing."""
        ...

    def close(self) -> None:
        """Stop background work and release connections."""
        ...

    async def aclose(self) -> None:
        """:meth:`close`, releasing async connections too."""
        ...


class LocalState:
    """State in this process only: today's behaviour and speed (the default)."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        settings = catalog.settings
        self.clock = clock
        self.health = HealthState(settings.breaker)
        self.stats = Stats(clock)
        self.sticky = StickySessions(window=settings.routing.sticky_window, now=clock.monotonic)
        self.limits = RateLimits(clock.monotonic)
        self.configure(catalog)

    def configure(self, catalog: Catalog) -> None:
        from polyroute._generation import cached_endpoints

        settings = catalog.settings
        self.health.settings = settings.breaker  # for breakers created from now on
        for b in self.health.breakers():
            b.settings = settings.breaker
        self.sticky.configure(window=settings.routing.sticky_window, cached=cached_endpoints(catalog))
        self.limits.configure(
            (ep for spec in catalog.models.values() for ep in spec.endpoints),
            {p.name: p.rate_limit for p in catalog.providers.values()},
        )

    def budget_store(self, default: Callable[[], BudgetStore]) -> BudgetStore:
        return default()

    def prepare(self, request: ChatRequest) -> None:
        return None

    async def aprepare(self, request: ChatRequest) -> None:
        return None

    def report(self, endpoints: Iterable[Endpoint], now: float) -> dict[str, EndpointStats]:
        return self.stats.report(endpoints, self.health, now)

    def status(self) -> StateStatus:
        return StateStatus(backend="memory")

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "LocalState()"
