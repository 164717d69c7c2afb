"""Fallback, retries and error classification, through the public API against the simulator."""

from __future__ import annotations

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import Disconnect, ErrorReply, FakeClock, MalformedJSON, ProviderSimulator, Reply


def test_serves_from_first_endpoint(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    resp = router.completion(model="m", messages=USER)
    assert resp.choices[0].message.content == "Hello from a"
    assert resp.route is not None
    assert resp.route.provider == "a"
    assert resp.route.endpoint_model == "a-model"
    assert [a.outcome for a in resp.route.attempts] == ["success"]
    assert sim.provider("a").requests[0].json["model"] == "a-model"
    assert len(sim.provider("b").requests) == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529, 408])
def test_retryable_status_retried_then_next_endpoint(
    status: int, sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 2}})
    sim.provider("a").set_default(ErrorReply(status))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None
    assert resp.route.provider == "b"
    assert len(sim.provider("a").requests) == 3  # first try + 2 retries
    errs = [(a.provider, a.error, a.status, a.retry) for a in resp.route.attempts if a.outcome == "error"]
    assert errs == [("a", "ServerError", status, 0), ("a", "ServerError", status, 1), ("a", "ServerError", status, 2)]
    assert resp.route.fallbacks == 3


def test_backoff_is_exponential_with_full_jitter(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router(
        {"m": [endpoint("a"), endpoint("b")]},
        router={
            "retry": {"max_retries": 3, "base_delay": 1.0, "max_delay": 3.0},
            "breaker": {"failure_threshold": 10},  # the breaker would stop the retries at 3 failures
        },
    )
    sim.provider("a").set_default(ErrorReply(503))
    router.completion(model="m", messages=USER)
    assert len(clock.sleeps) == 3
    for i, slept in enumerate(clock.sleeps):
        assert 0.0 <= slept <= min(3.0, 1.0 * 2**i)


def test_retry_after_is_honoured(sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router({"m": [endpoint("a")]}, router={"retry": {"base_delay": 0.01}})
    sim.provider("a").enqueue(ErrorReply(429, retry_after=7))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "a"
    assert clock.sleeps == [7.0]
    assert [a.error for a in resp.route.attempts] == ["RateLimited", None]


def test_retry_after_ms_is_honoured(sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router({"m": [endpoint("a")]}, router={"retry": {"base_delay": 0.0}})
    sim.provider("a").enqueue(ErrorReply(429, retry_after_ms=1500))
    router.completion(model="m", messages=USER)
    assert clock.sleeps == [1.5]


def test_retry_after_beyond_cap_moves_on_without_waiting(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retry_after": 10}})
    sim.provider("a").set_default(ErrorReply(429, retry_after=3600))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert clock.sleeps == []
    assert len(sim.provider("a").requests) == 1
    # the provider asked for an hour: the next call does not even try it
    resp2 = router.completion(model="m", messages=USER)
    assert resp2.route is not None
    assert [(a.provider, a.outcome) for a in resp2.route.attempts] == [("b", "success")]
    assert len(sim.provider("a").requests) == 1


@pytest.mark.parametrize(("status", "error"), [(401, "AuthenticationError"), (403, "AuthenticationError")])
def test_auth_errors_move_on_without_retry_and_mark_endpoint(
    status: int, error: str, sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 3}})
    sim.provider("a").set_default(ErrorReply(status))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert len(sim.provider("a").requests) == 1
    assert resp.route.attempts[0].error == error
    assert clock.sleeps == []
    # misconfigured: later calls skip it until the auth cooldown passes
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 1
    clock.advance(301)
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 2


def test_insufficient_quota_is_not_retried(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 3}})
    sim.provider("a").set_default(ErrorReply.insufficient_quota())
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert resp.route.attempts[0].error == "QuotaExceeded"
    assert len(sim.provider("a").requests) == 1


def test_model_not_found_moves_on(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    sim.provider("a").set_default(ErrorReply(404))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert resp.route.attempts[0].error == "ModelNotFound"
    assert len(sim.provider("a").requests) == 1


def test_other_400_fails_fast_with_provider_message(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]})
    sim.provider("a").set_default(ErrorReply(400, message="'temperature' is invalid for this model"))
    with pytest.raises(errors.BadRequest) as info:
        router.completion(model="m", messages=USER)
    assert "'temperature' is invalid for this model" in str(info.value)
    assert info.value.status == 400
    assert info.value.provider == "a"
    assert [a.provider for a in info.value.attempts] == ["a"]
    assert len(sim.provider("b").requests) == 0


def test_context_length_goes_to_a_larger_context(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router(
        {
            "m": [
                endpoint("small", context_length=8192),
                endpoint("same", context_length=8192),
                endpoint("big", context_length=131072),
            ]
        }
    )
    sim.provider("small").set_default(ErrorReply.context_length_exceeded())
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "big"
    assert [(a.provider, a.outcome, a.error) for a in resp.route.attempts] == [
        ("small", "error", "ContextLengthExceeded"),
        ("same", "skipped", "ContextLengthExceeded"),
        ("big", "success", None),
    ]
    assert len(sim.provider("same").requests) == 0


def test_models_list_falls_back_to_next_model(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m1": [endpoint("a"), endpoint("b")], "m2": [endpoint("c", "c-large")]})
    sim.provider("a").set_default(ErrorReply(503))
    sim.provider("b").set_default(ErrorReply(500))
    resp = router.completion(model="m1", models=["m2"], messages=USER)
    assert resp.route is not None
    assert (resp.route.model, resp.route.provider, resp.route.endpoint_model) == ("m2", "c", "c-large")
    assert [a.model for a in resp.route.attempts if a.outcome == "error"] == ["m1"] * 4


def test_models_list_alone_names_the_primary(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m1": [endpoint("a")], "m2": [endpoint("c")]})
    resp = router.completion(models=["m2", "m1"], messages=USER)
    assert resp.route is not None and resp.route.model == "m2"


def test_configured_fallbacks(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m1": [endpoint("a")], "m2": [endpoint("c")]}, fallbacks={"m1": ["m2"]})
    sim.provider("a").set_default(ErrorReply(401))
    resp = router.completion(model="m1", messages=USER)
    assert resp.route is not None and resp.route.model == "m2"


def test_every_endpoint_failing_raises_no_endpoint_available(
    sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(ErrorReply(503))
    sim.provider("b").set_default(ErrorReply(429))
    with pytest.raises(errors.NoEndpointAvailable) as info:
        router.completion(model="m", messages=USER)
    err = info.value
    assert [type(e).__name__ for e in err.errors] == ["ServerError", "RateLimited"]
    assert [(a.provider, a.status) for a in err.attempts] == [("a", 503), ("b", 429)]
    assert "a/a-model" in str(err) and "b/b-model" in str(err)
    assert isinstance(err, errors.PolyrouteError)


def test_connection_refused_fails_over(sim: ProviderSimulator, clock: FakeClock) -> None:
    import random

    import polyroute

    good = sim.add_provider("good")
    cfg = {
        "providers": {"dead": {"base_url": "http://127.0.0.1:9/v1"}, "good": {"base_url": good.base_url}},
        "models": {"m": {"endpoints": [endpoint("dead"), endpoint("good")]}},
        "router": {"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}},
    }
    with polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(0)) as router:
        resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "good"
    assert resp.route.attempts[0].error == "ConnectError"


@pytest.mark.parametrize("behavior", [MalformedJSON(), Disconnect()])
def test_broken_responses_fail_over(behavior: object, sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(behavior)  # type: ignore[arg-type]
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert resp.route.attempts[0].error in {"MalformedResponse", "ConnectionLost"}


def test_cost_per_attempt_and_total(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Reply(text="x", usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None
    from decimal import Decimal

    assert resp.route.cost == Decimal("0.002")  # 1000 * 1e-6 + 500 * 2e-6
    assert resp.route.attempts[0].cost == Decimal("0.002")
    assert resp.usage is not None and resp.usage.total_tokens == 1500


def test_long_retry_after_fails_over_at_once_when_another_candidate_is_left(
    sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"failover_after": 1}})
    sim.provider("a").set_default(ErrorReply(429, retry_after=5))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "b"
    assert clock.sleeps == []  # no waiting while b was available
    assert len(sim.provider("a").requests) == 1
    # a is held out for its Retry-After, then comes back
    router.completion(model="m", messages=USER)
    assert len(sim.provider("a").requests) == 1
    clock.advance(6)
    sim.provider("a").set_default(Reply(text="back"))
    assert router.completion(model="m", messages=USER).route.provider == "a"  # type: ignore[union-attr]


def test_short_retry_after_is_waited_for(sim: ProviderSimulator, make_router: RouterFactory, clock: FakeClock) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"failover_after": 1}})
    sim.provider("a").enqueue(ErrorReply(429, retry_after=0.5))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "a"
    assert clock.sleeps == [0.5]
