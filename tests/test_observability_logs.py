"""Structured log records: one per attempt (DEBUG), one per fail-over (INFO), the span's fields in ``extra``."""

from __future__ import annotations

import logging

import pytest
from tests.routing_support import USER, ep, routed

from polyroute.testing import ErrorReply

ORDERED = {"provider": {"sort": "ordered"}}


def test_attempts_and_failovers_are_logged_with_the_spans_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="polyroute")
    with routed({"m": [ep("a"), ep("b")]}, router=ORDERED) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(429, message="slow down"))
        route = router.completion(model="m", messages=[{"role": "user", "content": "my secret prompt"}]).route
    attempts = [r for r in caplog.records if r.name == "polyroute.attempt"]
    assert [r.levelno for r in attempts] == [logging.DEBUG, logging.DEBUG]
    first, second = attempts
    assert getattr(first, "polyroute.endpoint") == "a/a-model"
    assert getattr(first, "error.type") == "RateLimited"
    assert getattr(first, "polyroute.attempt.outcome") == "error"
    assert getattr(first, "polyroute.request_id") == route.request_id
    assert getattr(second, "gen_ai.usage.output_tokens") == route.usage.completion_tokens
    assert getattr(second, "polyroute.cost_usd") == float(route.attempts[1].cost)
    (failover,) = [r for r in caplog.records if r.name == "polyroute.failover"]
    assert failover.levelno == logging.INFO
    assert failover.getMessage() == "polyroute failed over from a/a-model (RateLimited) to b/b-model"
    assert getattr(failover, "polyroute.failover.to") == "b/b-model"
    assert getattr(failover, "http.response.status_code") == 429
    everything = repr([r.__dict__ for r in caplog.records if r.name.startswith("polyroute")])
    assert "my secret prompt" not in everything
    assert "test-key" not in everything and "Bearer" not in everything


def test_quiet_loggers_follow_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="polyroute")
    with routed({"m": [ep("a")]}) as (router, _, _):
        router.completion(model="m", messages=USER)
    assert not [r for r in caplog.records if r.name.startswith("polyroute.")]


def test_at_info_only_failovers_are_logged_with_the_failed_attempts_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="polyroute")
    settings = {**ORDERED, "retry": {"max_retries": 1}}
    with routed({"m": [ep("a"), ep("b")]}, router=settings) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(503))
        route = router.completion(model="m", messages=USER).route
    assert [a.provider for a in route.attempts] == ["a", "a", "b"]
    records = [r for r in caplog.records if r.name.startswith("polyroute.")]
    (failover,) = records  # the retry at the same endpoint is not a fail-over
    assert failover.getMessage() == "polyroute failed over from a/a-model (ServerError) to b/b-model"
    assert getattr(failover, "polyroute.attempt.number") == 2
    assert getattr(failover, "polyroute.attempt.retry") == 1
    assert getattr(failover, "polyroute.request_id") == route.request_id
    assert getattr(failover, "polyroute.route.reason") == router.plan("m", USER).candidates[0].reason
    assert getattr(failover, "polyroute.breaker.state") == "closed"
