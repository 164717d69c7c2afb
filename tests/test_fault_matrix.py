"""The fault matrix (issue 13): every way a provider fails, through the public API.

Each scenario runs against a primary ``a`` and a fallback ``b`` over the simulator. Simulated
delays advance the :class:`FakeClock` shared by the simulator and the router (no real sleeping);
the few real-time limits (a provider that never answers) are a fraction of a second.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import USER, config_for, endpoint

import polyroute
from polyroute.testing import ErrorReply, FakeClock, FunctionBehavior, ProviderSimulator, RecordedRequest, Reply


@pytest.fixture
def fsim(clock: FakeClock) -> Iterator[ProviderSimulator]:
    """A simulator whose delays advance the test's fake clock."""
    with ProviderSimulator(clock=clock) as s:
        yield s


def build(
    sim: ProviderSimulator, clock: FakeClock, models: dict[str, list[dict[str, Any]]], **router: Any
) -> polyroute.Router:
    settings = {"provider": {"sort": "ordered"}, **router}
    return polyroute.Router.from_config(config_for(sim, models, router=settings), clock=clock, rng=random.Random(7))


# -- 15. an outage from t=0 to t=60 s, one request every 4 s -----------------------------------


def _outage(clock: FakeClock, until: float) -> FunctionBehavior:
    def fn(_req: RecordedRequest) -> Any:
        return ErrorReply(503) if clock.monotonic() < until else Reply(text="a is back")

    return FunctionBehavior(fn)


def _recovery_run(sim: ProviderSimulator, clock: FakeClock, is_async: bool) -> list[tuple[float, str]]:
    sim.add_provider("a").set_default(_outage(clock, 60.0))
    sim.add_provider("b").set_default(Reply(text="b"))
    router = build(sim, clock, {"m": [endpoint("a"), endpoint("b")]}, retry={"max_retries": 2})
    served: list[tuple[float, str]] = []

    async def arun() -> None:
        async with router:
            for i in range(30):
                t = i * 4.0
                clock.advance(max(0.0, t - clock.monotonic()))
                resp = await router.acompletion(model="m", messages=USER)
                assert resp.route is not None
                served.append((t, resp.route.provider))

    if is_async:
        asyncio.run(arun())
    else:
        with router:
            for i in range(30):
                t = i * 4.0
                clock.advance(max(0.0, t - clock.monotonic()))
                resp = router.completion(model="m", messages=USER)
                assert resp.route is not None
                served.append((t, resp.route.provider))
    return served


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_15_recovered_primary_gets_traffic_back_within_one_cooldown(
    fsim: ProviderSimulator, clock: FakeClock, is_async: bool
) -> None:
    served = _recovery_run(fsim, clock, is_async)
    assert all(p in ("a", "b") for _, p in served)  # every request answered
    back = min(t for t, p in served if p == "a")
    assert 60.0 <= back <= 60.0 + 30.0  # within one base cooldown of recovering
    assert all(p == "a" for t, p in served if t >= back)
    a_during_outage = [r for r in fsim.provider("a").requests if r.received_at - clock.time() + clock.monotonic() < 60]
    # the threshold's 3 failures (1 try + 2 retries), then one probe per 30 s cooldown, never retried
    assert len(a_during_outage) <= 3 + 2
