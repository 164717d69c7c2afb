"""Sticky routing for prompt caching: a conversation prefers the endpoint that served it."""

from __future__ import annotations

from tests.routing_support import USER, ep, order, routed

from polyroute.testing import ErrorReply

PLAIN = {"m": [ep("a", 1.0), ep("b", 2.0), ep("c", 3.0)]}


def _cached(provider: str, price: float) -> dict:
    e = ep(provider, price)
    e["pricing"]["cache_read"] = f"{price / 10}e-6"
    return e


CACHED = {"m": [_cached("a", 1.0), _cached("b", 2.0), _cached("c", 3.0)]}
SYSTEM = [{"role": "system", "content": "You are a patient tutor. " * 20}, {"role": "user", "content": "What is 2+2?"}]


def test_a_session_keeps_its_endpoint() -> None:
    with routed(PLAIN) as (router, _, _):
        resp = router.completion(model="m", messages=USER, session_id="s-1", provider={"only": ["c"]})
        assert resp.route.provider == "c"
        for _ in range(20):
            plan = router.plan("m", USER, session_id="s-1")
            assert order(plan)[0] == "c"
            assert plan.candidates[0].reason.startswith("sticky: served this conversation 0 s ago")
        assert router.completion(model="m", messages=USER, session_id="s-1").route.provider == "c"
        others = {router.plan("m", USER, session_id="s-2").candidates[0].endpoint.provider for _ in range(50)}
    assert others >= {"a", "b"}


def test_the_same_opening_is_sticky_where_the_provider_has_a_prompt_cache() -> None:
    with routed(CACHED) as (router, _, _):
        router.completion(model="m", messages=SYSTEM, provider={"only": ["c"]})
        follow_up = [*SYSTEM, {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]
        assert all(order(router.plan("m", follow_up))[0] == "c" for _ in range(20))
        other = [{"role": "system", "content": "Another prompt"}, {"role": "user", "content": "What is 2+2?"}]
        assert {router.plan("m", other).candidates[0].endpoint.provider for _ in range(50)} >= {"a", "b"}


def test_no_stickiness_by_opening_without_a_cache_discount() -> None:
    with routed(PLAIN) as (router, _, _):
        router.completion(model="m", messages=SYSTEM, provider={"only": ["c"]})
        firsts = {router.plan("m", SYSTEM).candidates[0].endpoint.provider for _ in range(50)}
    assert firsts >= {"a", "b"}


def test_stickiness_expires_after_the_window() -> None:
    with routed(PLAIN, router={"routing": {"sticky_window": 120}}) as (router, _, clock):
        router.completion(model="m", messages=USER, session_id="s", provider={"only": ["c"]})
        clock.advance(100)
        assert router.plan("m", USER, session_id="s").candidates[0].reason.startswith("sticky")
        router.completion(model="m", messages=USER, session_id="s")  # use renews the window
        clock.advance(100)
        assert router.plan("m", USER, session_id="s").candidates[0].reason.startswith("sticky")
        clock.advance(121)
        assert not router.plan("m", USER, session_id="s").candidates[0].reason.startswith("sticky")


def test_an_unhealthy_endpoint_is_not_sticky() -> None:
    with routed(PLAIN) as (router, sim, _):
        router.completion(model="m", messages=USER, session_id="s", provider={"only": ["c"]})
        sim.provider("c").enqueue(ErrorReply(503))
        router.completion(model="m", messages=USER, provider={"only": ["c", "a"], "order": ["c"]})
        plan = router.plan("m", USER, session_id="s")
    assert order(plan)[-1] == "c"
    assert plan.candidates[-1].reason.startswith("recent outage")


def test_explicit_order_wins_and_a_zero_window_turns_it_off() -> None:
    with routed(PLAIN) as (router, _, _):
        router.completion(model="m", messages=USER, session_id="s", provider={"only": ["c"]})
        assert order(router.plan("m", USER, session_id="s", provider={"order": ["a"]}))[0] == "a"
    with routed(PLAIN, router={"routing": {"sticky_window": 0}}) as (router, _, _):
        router.completion(model="m", messages=USER, session_id="s", provider={"only": ["c"]})
        firsts = {router.plan("m", USER, session_id="s").candidates[0].endpoint.provider for _ in range(50)}
    assert firsts >= {"a", "b"}
