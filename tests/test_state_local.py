"""The in-process state backend, rate limits, and budget I/O kept off the event loop."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, config_for, endpoint

import polyroute
from polyroute import errors
from polyroute.state import LocalState, RateLimits, StateStatus
from polyroute.state._limits import parse_reset
from polyroute.testing import FakeClock, ProviderSimulator, Reply

FLAT = {"prompt": "0", "completion": "0.001"}
TEN_TOKENS = Reply(text="ten tokens", usage={"prompt_tokens": 5, "completion_tokens": 10})


def test_the_default_state_is_in_process_and_reported(sim: ProviderSimulator, make_router: Any) -> None:
    router = make_router({"m": [endpoint("a")]})
    assert isinstance(router.state, LocalState)
    router.completion(model="m", messages=USER)
    report = router.stats()
    assert report.state == StateStatus(backend="memory")
    assert report["a/a-model"].windows["5m"].successes == 1


# -- budget I/O off the event loop ---------------------------------------------------------------


def _hold_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")  # the database's one writer lock, held until COMMIT
    return conn


def _hold_postgres(url: str, schema: str) -> Any:
    import psycopg

    from polyroute.ledger._schema import SPEND_TABLE

    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f'SET search_path TO "{schema}"')
    conn.execute("BEGIN")
    conn.execute(f"LOCK TABLE {SPEND_TABLE} IN ACCESS EXCLUSIVE MODE")
    return conn


@pytest.fixture(params=["sqlite", "postgres"])
def slow_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """A ledger config, and a function that locks its budget counters from another connection."""
    if request.param == "sqlite":
        path = tmp_path / "usage.db"
        yield {"ledger": {"url": str(path)}}, lambda: _hold_sqlite(path)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        yield {"ledger": {"url": url, "schema": schema}}, lambda: _hold_postgres(url, schema)


@pytest.mark.asyncio
async def test_a_slow_budget_store_does_not_stall_other_calls(
    sim: ProviderSimulator, clock: FakeClock, slow_store: tuple[dict[str, Any], Any]
) -> None:
    ledger, lock = slow_store
    cfg = config_for(sim, {"m": [endpoint("a", pricing=FLAT)]}, router={"retry": {"max_retries": 0}})
    cfg.update(ledger, budgets=[{"scope": "user", "match": "alice", "limit_usd": "10", "period": "day"}])
    sim.provider("a").set_default(TEN_TOKENS)
    router = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(1))
    blocker = lock()
    try:
        slow = asyncio.ensure_future(router.acompletion(model="m", messages=USER, user="alice", max_tokens=10))
        for _ in range(5):
            await asyncio.sleep(0)  # let it reach the store and wait on the lock
        # bob has no budget: his calls need no store, and must not wait behind alice's
        served = await asyncio.gather(*(router.acompletion(model="m", messages=USER, user="bob") for _ in range(5)))
        assert len(served) == 5
        assert not slow.done()  # still waiting for the lock, off the event loop
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    resp = await slow
    assert resp.route.provider == "a"
    guard = router.budgets
    assert guard is not None
    spent, held = guard.spent(guard.rules[0], "alice")
    assert spent == resp.route.cost and held == 0
    await router.aclose()


# -- rate limits ---------------------------------------------------------------------------------


def test_reset_durations_are_read() -> None:
    assert parse_reset("1s") == 1.0
    assert parse_reset("6m0s") == 360.0
    assert parse_reset("20ms") == pytest.approx(0.02)
    assert parse_reset("2.5") == 2.5
    assert parse_reset("soon") is None
    assert parse_reset(None) is None


def test_an_rpm_limit_holds_and_the_window_slides(sim: ProviderSimulator, make_router: Any, clock: FakeClock) -> None:
    router = make_router(
        {"m": [endpoint("a", rate_limit={"rpm": 3}), endpoint("b")]},
        router={"provider": {"sort": "ordered"}},
    )
    served = [router.completion(model="m", messages=USER).route.provider for _ in range(5)]
    assert served == ["a", "a", "a", "b", "b"]  # at its limit, a is moved behind b: no 429 needed
    assert len(sim.provider("a").requests) == 3
    plan = router.plan("m", USER)
    assert plan.candidates[0].endpoint.provider == "b"
    clock.advance(61)
    assert router.completion(model="m", messages=USER).route.provider == "a"


def test_an_account_limit_covers_every_endpoint_of_the_provider(sim: ProviderSimulator, make_router: Any) -> None:
    cfg_router = {"provider": {"sort": "ordered"}}
    router = make_router(
        {"m": [endpoint("a", "one"), endpoint("a", "two"), endpoint("b")], "n": [endpoint("a", "three")]},
        router=cfg_router,
    )
    # give provider a an account-wide limit of 2 requests per minute by reloading with it
    cfg = config_for(sim, {"m": [endpoint("a", "one"), endpoint("a", "two"), endpoint("b")]}, router=cfg_router)
    cfg["providers"]["a"]["rate_limit"] = {"rpm": 2}
    router.reload(cfg)
    served = [router.completion(model="m", messages=USER).route.endpoint_model for _ in range(4)]
    assert served == ["one", "one", "b-model", "b-model"]


def test_an_endpoint_at_its_limit_is_skipped_when_nothing_else_is_left(
    sim: ProviderSimulator, make_router: Any
) -> None:
    router = make_router({"m": [endpoint("a", rate_limit={"rpm": 1})]})
    router.completion(model="m", messages=USER)
    with pytest.raises(errors.NoEndpointAvailable) as info:
        router.completion(model="m", messages=USER)
    assert [a.error for a in info.value.attempts] == ["RateLimited"]
    assert len(sim.provider("a").requests) == 1


@pytest.mark.asyncio
async def test_a_token_limit_counts_reported_usage(sim: ProviderSimulator, make_router: Any) -> None:
    router = make_router(
        {"m": [endpoint("a", rate_limit={"tpm": 20}), endpoint("b")]}, router={"provider": {"sort": "ordered"}}
    )
    sim.provider("a").set_default(TEN_TOKENS)  # 15 tokens per call
    first = await router.acompletion(model="m", messages=USER)
    second = await router.acompletion(model="m", messages=USER)
    third = await router.acompletion(model="m", messages=USER)
    assert [first.route.provider, second.route.provider, third.route.provider] == ["a", "a", "b"]


def test_learned_limits_hold_the_account() -> None:
    from polyroute.catalog._catalog import Endpoint

    now = 100.0
    limits = RateLimits(lambda: now)
    ep = Endpoint(provider="p", model="x")
    limits.configure([ep], {})
    assert limits.available(ep.key, now)
    held = limits.learn(ep, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"}, now)
    assert held == 1.5
    assert not limits.available(ep.key, now + 1)
    assert limits.take(ep.key, now + 1) == pytest.approx(0.5)
    assert limits.available(ep.key, now + 1.6)
    assert limits.learn(ep, {"x-ratelimit-remaining-requests": "7"}, now) is None


def test_rate_limit_config_is_validated() -> None:
    bad = {"providers": {"a": {"base_url": "http://x", "rate_limit": {"rpm": 0}}}}
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config(bad)
    assert info.value.path == "providers.a.rate_limit.rpm"


@pytest.mark.parametrize(
    ("state", "path"),
    [
        ({"backend": "redis"}, "router.state"),
        ({"backend": "redis", "url": "http://localhost"}, "router.state"),
        ({"backend": "memory", "url": "redis://x"}, "router.state"),
        ({"backend": "etcd"}, "router.state.backend"),
        ({"timeout": 0}, "router.state.timeout"),
        ({"budgets_on_error": "maybe"}, "router.state.budgets_on_error"),
        ({"prefix": "has space"}, "router.state.prefix"),
    ],
)
def test_state_config_is_validated(state: dict[str, Any], path: str) -> None:
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config({"router": {"state": state}})
    assert info.value.path == path


def test_a_redis_password_must_come_from_the_environment() -> None:
    with pytest.raises(polyroute.ConfigError, match="environment") as info:
        polyroute.Router.from_config(
            {"router": {"state": {"backend": "redis", "url": "redis://user:hunter2@127.0.0.1:6379/0"}}}
        )
    assert "hunter2" not in str(info.value)


class _HeaderTransport:
    """A sync transport answering every request with a canned completion and rate-limit headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.sent = 0

    def send(self, request: Any, timeouts: Any) -> Any:
        import json

        from polyroute.transports._base import HttpResponse

        self.sent += 1
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return HttpResponse(200, self.headers, json.dumps(body).encode())

    def close(self) -> None:
        return None


def test_a_provider_saying_nothing_is_left_holds_its_account(clock: FakeClock) -> None:
    transports = {
        "a": _HeaderTransport({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}),
        "b": _HeaderTransport({"x-ratelimit-remaining-requests": "99"}),
    }
    cfg = {
        "providers": {"a": {"base_url": "http://a.invalid"}, "b": {"base_url": "http://b.invalid"}},
        "models": {
            "m": {"endpoints": [{"provider": "a", "model": "one"}, {"provider": "b", "model": "two"}]},
            "n": {"endpoints": [{"provider": "a", "model": "three"}, {"provider": "b", "model": "four"}]},
        },
        "router": {"provider": {"sort": "ordered"}},
    }
    from polyroute.catalog._config import load_catalog

    router = polyroute.Router(load_catalog(cfg), clock=clock, sync_transport=lambda p: transports[p.name])
    assert router.completion(model="m", messages=USER).route.provider == "a"  # a: "0 left, resets in 20 s"
    # every endpoint of a's account waits for the reset: no request that would be answered 429
    assert router.completion(model="m", messages=USER).route.provider == "b"
    assert router.completion(model="n", messages=USER).route.provider == "b"
    assert transports["a"].sent == 1
    clock.advance(21)
    assert router.completion(model="n", messages=USER).route.provider == "a"
    router.close()
