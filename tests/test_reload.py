"""``Router.reload()``: new calls route over the new catalog, while endpoint health, statistics,
sticky sessions and the connection pools of unchanged providers carry over, and calls already
running finish on the catalog (and pools) they started with."""

from __future__ import annotations

import asyncio
import random
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import USER

import polyroute
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply
from polyroute.transports import AiohttpTransport, HttpxTransport


def config(
    sim: ProviderSimulator,
    prices: dict[str, float],
    *,
    sort: str = "price",
    headers: dict[str, dict[str, str]] | None = None,
    **router: Any,
) -> dict[str, Any]:
    """Model ``m`` on the providers named in ``prices`` (USD per million tokens, prompt and completion)."""
    providers = {}
    for name in prices:
        p = sim.ensure_provider(name)
        providers[name] = {"base_url": p.base_url, "headers": (headers or {}).get(name, {})}
    endpoints = [
        {"provider": name, "model": f"{name}-model", "pricing": {"prompt": f"{price}e-6", "completion": f"{price}e-6"}}
        for name, price in prices.items()
    ]
    settings = {"provider": {"sort": sort}, "retry": {"max_retries": 0, "base_delay": 0}, **router}
    return {"providers": providers, "models": {"m": {"endpoints": endpoints}}, "router": settings}


def build(cfg: dict[str, Any], **kwargs: Any) -> polyroute.Router:
    return polyroute.Router.from_config(cfg, clock=FakeClock(), rng=random.Random(7), **kwargs)


def served(router: polyroute.Router, **params: Any) -> str:
    resp = router.completion(model="m", messages=USER, **params)
    assert resp.route is not None
    return resp.route.provider


class Pools:
    """Transport factories that remember every pool they built and which were closed."""

    def __init__(self) -> None:
        self.built: list[tuple[str, Any]] = []
        self.closed: list[str] = []

    def sync(self, spec: polyroute.ProviderSpec) -> HttpxTransport:
        pools = self

        class Recorded(HttpxTransport):
            def close(self) -> None:
                pools.closed.append(spec.name)
                super().close()

        transport = Recorded()
        self.built.append((spec.name, transport))
        return transport

    def asynchronous(self, spec: polyroute.ProviderSpec) -> AiohttpTransport:
        pools = self

        class Recorded(AiohttpTransport):
            async def aclose(self) -> None:
                pools.closed.append(spec.name)
                await super().aclose()

        transport = Recorded()
        self.built.append((spec.name, transport))
        return transport

    def names(self) -> list[str]:
        return [name for name, _ in self.built]


def with_pools(cfg: dict[str, Any], pools: Pools) -> polyroute.Router:
    with build(cfg) as scratch:
        catalog = scratch.catalog
    return polyroute.Router(
        catalog, clock=FakeClock(), rng=random.Random(7), sync_transport=pools.sync, async_transport=pools.asynchronous
    )


def test_new_prices_take_effect_on_the_next_call(sim: ProviderSimulator) -> None:
    with build(config(sim, {"a": 1.0, "b": 2.0})) as router:
        assert served(router) == "a"
        router.reload(config(sim, {"a": 4.0, "b": 2.0}))
        assert served(router) == "b"
        assert router.catalog.models["m"].endpoints[0].pricing.prompt == Decimal("4.0e-6")
        assert served(router, provider={"sort": "price"}) == "b"


def test_breakers_stay_open_across_a_reload(sim: ProviderSimulator) -> None:
    a = sim.add_provider("a")
    a.set_default(ErrorReply(503))
    breaker = {"breaker": {"failure_threshold": 2, "cooldown": 60}}
    with build(config(sim, {"a": 1.0, "b": 2.0}, **breaker)) as router:
        assert [served(router), served(router)] == ["b", "b"]
        router.reload(config(sim, {"a": 0.5, "b": 2.0}, **breaker))
        plan = router.plan("m", USER)
        assert [c.endpoint.provider for c in plan.candidates] == ["b", "a"]
        assert plan.candidates[-1].reason == "circuit open: moved to the end"
        sent_to_a = len(a.requests)
        assert served(router) == "b"
        assert len(a.requests) == sent_to_a


def test_new_breaker_settings_apply_to_endpoints_already_known(sim: ProviderSimulator) -> None:
    a = sim.add_provider("a")
    a.set_default(ErrorReply(503))
    with build(config(sim, {"a": 1.0, "b": 2.0}, breaker={"failure_threshold": 3})) as router:
        assert served(router) == "b"  # a failed once: below the threshold of 3
        router.reload(config(sim, {"a": 1.0, "b": 2.0}, breaker={"failure_threshold": 2}))
        assert served(router) == "b"  # a failed twice: the new threshold opens its circuit
        assert router.health.breaker("a/a-model").snapshot(0.0).state == "open"


def test_statistics_carry_over(sim: ProviderSimulator) -> None:
    with build(config(sim, {"a": 1.0, "b": 2.0})) as router:
        for _ in range(3):
            served(router)
        router.reload(config(sim, {"a": 3.0, "b": 2.0}))
        served(router)
        stats = router.stats()
    assert stats["a/a-model"].windows["5m"].successes == 3
    assert stats["b/b-model"].windows["5m"].successes == 1


def test_sticky_sessions_carry_over(sim: ProviderSimulator) -> None:
    with build(config(sim, {"a": 1.0, "b": 2.0})) as router:
        assert served(router, session_id="chat-1", provider={"only": ["b"]}) == "b"
        router.reload(config(sim, {"a": 0.5, "b": 2.0}))
        plan = router.plan("m", USER, session_id="chat-1")
        assert plan.candidates[0].endpoint.provider == "b"
        assert plan.candidates[0].reason.startswith("sticky: served this conversation")
        assert served(router, session_id="chat-1") == "b"


def test_only_a_changed_provider_gets_a_new_pool_and_its_old_one_is_closed(sim: ProviderSimulator) -> None:
    pools = Pools()
    router = with_pools(config(sim, {"a": 1.0, "b": 2.0}, sort="ordered"), pools)
    with router:
        assert served(router) == "a"
        assert served(router, provider={"only": ["b"]}) == "b"
        assert pools.names() == ["a", "b"]
        router.reload(config(sim, {"a": 1.0, "b": 3.0}, sort="ordered", headers={"a": {"X-Team": "search"}}))
        assert pools.closed == ["a"]  # no call was running: closed at once
        assert served(router) == "a"
        assert served(router, provider={"only": ["b"]}) == "b"
        assert pools.names() == ["a", "b", "a"]  # b's pool (its spec is unchanged) is reused
    assert sim.provider("a").requests[-1].headers.get("X-Team") == "search"
    assert "X-Team" not in sim.provider("a").requests[0].headers


def test_a_stream_in_flight_finishes_on_the_catalog_it_started_with(sim: ProviderSimulator) -> None:
    pools = Pools()
    sim.add_provider("a").set_default(Reply(text="one two three four five six"))
    router = with_pools(config(sim, {"a": 1.0, "b": 2.0}), pools)
    with router:
        stream = router.completion(model="m", messages=USER, stream=True)
        chunks = [next(stream)]
        router.reload(config(sim, {"b": 2.0}))  # a is gone
        assert pools.closed == []  # the stream still reads from a's pool
        chunks.extend(stream)
        assert pools.closed == ["a"]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "one two three four five six"
        assert stream.route is not None and stream.route.provider == "a"
        assert served(router) == "b"
        assert [c.endpoint.provider for c in router.plan("m", USER).candidates] == ["b"]


def test_a_stream_never_read_to_its_end_does_not_keep_pools_open_after_close(sim: ProviderSimulator) -> None:
    pools = Pools()
    router = with_pools(config(sim, {"a": 1.0, "b": 2.0}), pools)
    stream = router.completion(model="m", messages=USER, stream=True)
    next(stream)
    router.reload(config(sim, {"b": 2.0}))
    assert pools.closed == []
    router.close()
    assert pools.closed == ["a"]
    stream.close()


def test_an_invalid_configuration_changes_nothing(sim: ProviderSimulator) -> None:
    with build(config(sim, {"a": 1.0, "b": 2.0})) as router:
        before = router.catalog
        broken = config(sim, {"a": 1.0})
        broken["models"]["m"]["endpoints"][0]["provider"] = "nope"
        with pytest.raises(polyroute.ConfigError) as exc:
            router.reload(broken)
        assert exc.value.path == "models.m.endpoints[0].provider"
        with pytest.raises(polyroute.ConfigError) as exc:
            router.reload(config(sim, {"a": 1.0}, sort="cheapest"))
        assert exc.value.path == "router.provider.sort"
        assert router.catalog is before
        assert served(router) == "a"


def test_the_ledger_and_budgets_are_fixed_for_a_routers_life(sim: ProviderSimulator, tmp_path: Path) -> None:
    with build(config(sim, {"a": 1.0})) as router:
        with pytest.raises(polyroute.ConfigError) as exc:
            router.reload({**config(sim, {"a": 1.0}), "ledger": {"url": str(tmp_path / "usage.db")}})
        assert exc.value.path == "ledger"
        budgets = [{"scope": "user", "match": "*", "limit_usd": 5, "period": "day"}]
        with pytest.raises(polyroute.ConfigError) as exc:
            router.reload({**config(sim, {"a": 1.0}), "budgets": budgets})
        assert exc.value.path == "budgets"
        assert served(router) == "a"


def test_reload_takes_a_yaml_file_or_a_catalog(sim: ProviderSimulator, tmp_path: Path) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(config(sim, {"a": 3.0, "b": 2.0})), encoding="utf-8")
    with build(config(sim, {"a": 1.0, "b": 2.0})) as router, build(config(sim, {"a": 1.0, "b": 5.0})) as other:
        router.reload(path)
        assert served(router) == "b"
        router.reload(other.catalog)
        assert router.catalog is other.catalog
        assert served(router) == "a"


def test_calls_racing_reloads_all_succeed(sim: ProviderSimulator) -> None:
    cheap_a, cheap_b = config(sim, {"a": 1.0, "b": 2.0}), config(sim, {"a": 2.0, "b": 1.0})
    with build(cheap_a) as router:
        results: list[str] = []
        failures: list[BaseException] = []

        def calls() -> None:
            try:
                for _ in range(15):
                    results.append(served(router))
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=calls) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(10):
            router.reload(cheap_b if i % 2 == 0 else cheap_a)
        for t in threads:
            t.join()
    assert failures == []
    assert len(results) == 60 and set(results) <= {"a", "b"}


@pytest.mark.asyncio
async def test_async_pools_of_a_changed_provider_are_closed_on_the_event_loop(sim: ProviderSimulator) -> None:
    pools = Pools()
    router = with_pools(config(sim, {"a": 1.0, "b": 2.0}), pools)
    async with router:
        resp = await router.acompletion(model="m", messages=USER)
        assert resp.route is not None and resp.route.provider == "a"
        router.reload(config(sim, {"a": 1.0, "b": 2.0}, headers={"a": {"X-Team": "search"}}))
        for _ in range(100):  # the close was handed to the loop: give it turns (no real sleep)
            if pools.closed:
                break
            await asyncio.sleep(0)
        assert pools.closed == ["a"]
        resp = await router.acompletion(model="m", messages=USER)
        assert resp.route is not None and resp.route.provider == "a"
        assert pools.names() == ["a", "a"]
    assert sim.provider("a").requests[-1].headers.get("X-Team") == "search"


@pytest.mark.asyncio
async def test_an_async_stream_in_flight_keeps_its_pool_until_it_ends(sim: ProviderSimulator) -> None:
    pools = Pools()
    sim.add_provider("a").set_default(Reply(text="one two three four"))
    router = with_pools(config(sim, {"a": 1.0, "b": 2.0}), pools)
    async with router:
        stream = await router.acompletion(model="m", messages=USER, stream=True)
        chunks = [await anext(stream)]
        router.reload(config(sim, {"b": 2.0}))
        await asyncio.sleep(0)
        assert pools.closed == []
        chunks.extend([c async for c in stream])
        for _ in range(100):  # the close was handed to the loop: give it turns (no real sleep)
            if pools.closed:
                break
            await asyncio.sleep(0)
        assert pools.closed == ["a"]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four"
        resp = await router.acompletion(model="m", messages=USER)
        assert resp.route is not None and resp.route.provider == "b"
