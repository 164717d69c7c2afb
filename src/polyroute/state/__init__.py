"""Shared state: where a router keeps breakers, statistics, sticky sessions, rate limits and
budget counters.

In-process by default (:class:`LocalState`); shared by many processes and machines through Redis
with ``router: {state: {backend: redis, url: ${REDIS_URL}}}`` (:class:`RedisState`, needing
``pip install 'polyroute[redis]'``; imported only when used). See ``docs/many-instances.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyroute.state._settings import RateLimit, StateSettings

if TYPE_CHECKING:
    from polyroute.state._backend import LocalState, StateBackend, StateStatus, StatsReport
    from polyroute.state._limits import RateLimits
    from polyroute.state._redis import RedisState
    from polyroute.state._redis_budget import RedisBudgetStore

__all__ = [
    "LocalState",
    "RateLimit",
    "RateLimits",
    "RedisBudgetStore",
    "RedisState",
    "StateBackend",
    "StateSettings",
    "StateStatus",
    "StatsReport",
]


#: the catalog imports this package's settings: the rest is imported on first use
_LAZY = {
    "LocalState": "_backend",
    "StateBackend": "_backend",
    "StateStatus": "_backend",
    "StatsReport": "_backend",
    "RateLimits": "_limits",
    "RedisState": "_redis",
    "RedisBudgetStore": "_redis_budget",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(f"polyroute.state.{module}"), name)
    raise AttributeError(f"module 'polyroute.state' has no attribute {name!r}")
