"""Clients for the shared-state section: polyroute with its state on Redis, with and without a
budget, and LiteLLM Router with Redis. The Redis URL comes from ``BENCH_REDIS_URL``; each client
uses a key prefix of its own."""

from __future__ import annotations

import os
import secrets
from typing import Any
from urllib.parse import urlparse

from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL, TARGET, Polyroute, litellm_deployment, polyroute_config
from benchmarks._control import ServerHandle

__all__ = ["SHARED_KINDS", "make_shared_client"]

#: kind -> (state on Redis, budget on)
_POLYROUTE = {
    "polyroute-redis": (True, False),
    "polyroute-budget": (False, True),
    "polyroute-redis-budget": (True, True),
}
SHARED_KINDS = (*_POLYROUTE, "litellm-redis")


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class PolyrouteShared(Polyroute):
    """``await router.acompletion(...)`` with ``router.state`` on Redis and/or a budget."""

    def __init__(self, server: ServerHandle, *, redis: bool, budget: bool) -> None:
        import polyroute

        cfg = polyroute_config(server)
        if redis:
            # a generous per-operation timeout: this machine's two cores are shared with the server
            state = {
                "backend": "redis",
                "url": "${BENCH_REDIS_URL}",
                "prefix": f"bench-{secrets.token_hex(4)}",
                "timeout": 0.5,
            }
            cfg["router"] = {"state": state}
        self.params: dict[str, Any] = {}
        if budget:
            cfg["budgets"] = [{"scope": "user", "match": "*", "limit_usd": "1000000", "period": "day"}]
            self.params = {"user": "bench"}
        env = {"BENCH_API_KEY": "sk-bench", "BENCH_REDIS_URL": redis_url()}
        self.router = polyroute.Router.from_config(cfg, env=env)

    async def complete(self) -> None:
        resp = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, **self.params)
        if not resp.choices:
            raise RuntimeError("no choices")


class LiteLLMRedis:
    """``await litellm.Router(..., redis_host=..., redis_port=...).acompletion(...)``."""

    name = "LiteLLM Router + Redis"

    def __init__(self, server: ServerHandle) -> None:
        from benchmarks._clients import quiet_litellm

        litellm = quiet_litellm()
        u = urlparse(redis_url())
        self.router = litellm.Router(
            model_list=[litellm_deployment(server, TARGET, MODEL)],
            num_retries=0,
            redis_host=u.hostname or "127.0.0.1",
            redis_port=u.port or 6379,
        )

    async def complete(self) -> None:
        resp = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        if not resp.choices:
            raise RuntimeError("no choices")

    async def stream(self) -> tuple[int, float]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def make_shared_client(kind: str, server: ServerHandle) -> Any:
    """The client of a shared-state kind (see :data:`SHARED_KINDS`)."""
    if kind in _POLYROUTE:
        redis, budget = _POLYROUTE[kind]
        return PolyrouteShared(server, redis=redis, budget=budget)
    if kind == "litellm-redis":
        return LiteLLMRedis(server)
    raise ValueError(f"unknown client kind {kind!r}")
