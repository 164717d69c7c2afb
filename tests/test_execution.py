"""The sans-I/O :class:`Execution` on its own: a hand-built plan, a FakeClock, no engine, no socket.

Each test plays the engine's part by hand: ask ``next()``, then tell the execution how the
attempt ended (``succeeded`` / ``failed`` / ``abandoned`` / ``cancelled``).
"""

from __future__ import annotations

import logging
import random
from decimal import Decimal
from typing import Any

import pytest

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route, Usage
from polyroute.catalog._catalog import Catalog, Endpoint
from polyroute.catalog._config import load_catalog
from polyroute.errors import (
    AuthenticationError,
    BadRequest,
    BudgetExceeded,
    Cancelled,
    ContextLengthExceeded,
    DeadlineExceeded,
    NoEndpointAvailable,
    PolyrouteError,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from polyroute.execution._admission import Gate
from polyroute.execution._execution import Execution, Reserve, Send, Settle, Wait
from polyroute.health._breakers import HealthState
from polyroute.routing._planner import Candidate, Excluded, Plan
from polyroute.testing import FakeClock

USER = [{"role": "user", "content": "hello"}]
USAGE = Usage(prompt_tokens=1_000, completion_tokens=500)


def make_catalog(*endpoints: tuple[str, int | None], router: dict[str, Any] | None = None) -> Catalog:
    """Model ``m`` served by one endpoint per ``(provider, context_length)``, each at $1/M tokens."""
    eps = []
    for provider, context in endpoints:
        ep: dict[str, Any] = {
            "provider": provider,
            "model": f"{provider}-model",
            "pricing": {"prompt": "1e-6", "completion": "1e-6"},
        }
        if context is not None:
            ep["context_length"] = context
        eps.append(ep)
    providers = {p: {"base_url": f"http://{p}.invalid/v1", "api_key": "${KEY}"} for p, _ in endpoints}
    config = {"providers": providers, "models": {"m": {"endpoints": eps}}, "router": router or {}}
    return load_catalog(config, env={"KEY": "sk-test"})


def hand_plan(catalog: Catalog, *, excluded: tuple[Excluded, ...] = (), prompt_tokens: int | None = None) -> Plan:
    """Every endpoint of model ``m``, in configured order."""
    cands = tuple(Candidate("m", ep, "hand-built") for ep in catalog.models["m"].endpoints)
    return Plan(cands, excluded, prompt_tokens)


def request(**kw: Any) -> ChatRequest:
    return ChatRequest(models=("m",), messages=USER, params={}, **kw)


class Recorder:
    """An observer that keeps what it is told."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.calls: list[tuple[Route | None, PolyrouteError | None]] = []
        self.started: list[str] = []

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        self.attempts.append(attempt)

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        self.calls.append((route, error))

    def on_attempt_start(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        self.started.append(endpoint.key)


class Broken:
    """An observer that raises from every hook."""

    def on_attempt(self, *args: Any) -> None:
        raise RuntimeError("observer bug")

    def on_call(self, *args: Any) -> None:
        raise RuntimeError("observer bug")

    def on_attempt_start(self, *args: Any) -> None:
        raise RuntimeError("observer bug")


class FakeBudget:
    """A call budget refusing the endpoints named in ``refuse``; records reservations and settlements."""

    def __init__(self, refuse: set[str] = frozenset(), *, broken: bool = False) -> None:  # type: ignore[assignment]
        self.refuse = refuse
        self.broken = broken
        self.reserved: list[str] = []
        self.settled: list[tuple[str, Decimal | None]] = []

    def reserve(self, endpoint: Endpoint) -> Any:
        if self.broken:
            raise OSError("database is down")
        if endpoint.key in self.refuse:
            return BudgetExceeded(f"daily budget spent at {endpoint.key}", scope="user")
        self.reserved.append(endpoint.key)
        return endpoint.key  # the reservation handle

    def settle(self, reservation: Any, actual: Decimal | None) -> None:
        self.settled.append((reservation, actual))


class Harness:
    """An execution over a hand-built plan, with the health state and clock it shares."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        req: ChatRequest | None = None,
        plan: Plan | None = None,
        health: HealthState | None = None,
        clock: FakeClock | None = None,
        seed: int = 0,
        **kw: Any,
    ) -> None:
        self.catalog = catalog
        self.clock = clock or FakeClock()
        self.health = health or HealthState(catalog.settings.breaker)
        self.recorder = Recorder()
        observers = kw.pop("observers", (self.recorder,))
        budget = kw.pop("budget", None)
        if budget is not None:  # the engines' part: reservations and settlements through a gate
            kw["gate"] = Gate(budget, None, self.clock)
        self.ex = Execution(
            req or request(),
            plan or hand_plan(catalog),
            catalog=catalog,
            health=self.health,
            clock=self.clock,
            rng=random.Random(seed),
            request_id="req-1",
            observers=observers,
            **kw,
        )

    def next(self) -> Any:
        """The execution's next action, performing budget reservations and settlements on the way."""
        while True:
            action = self.ex.next()
            if isinstance(action, Reserve):
                self.ex.reserved(action, action.gate.reserve(action.candidate.endpoint))
            elif isinstance(action, Settle):
                action.gate.settle(action.holds)
            else:
                return action

    def settle(self) -> None:
        """Settle what the execution still holds (the engines do this when a call ends)."""
        found = self.ex.settlements()
        if found is not None:
            found.gate.settle(found.holds)

    def send(self) -> Send:
        action = self.next()
        assert isinstance(action, Send), action
        return action

    def outcomes(self) -> list[tuple[str, str, str | None]]:
        return [(a.provider, a.outcome, a.error) for a in self.ex.attempts]


# -- success and plain failover -------------------------------------------------------------------


def test_success_at_the_first_candidate_gives_the_route_with_its_cost() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))
    send = h.send()
    assert (send.candidate.endpoint.key, send.retry, send.remaining, send.hold) == ("a/a-model", 0, None, None)
    h.clock.advance(0.25)
    route = h.ex.succeeded(send, 0.0, USAGE, ttft=0.1)
    assert (route.provider, route.endpoint_model, route.model) == ("a", "a-model", "m")
    assert route.cost == Decimal("0.0015")  # 1,500 tokens at $1 per million
    assert route.latency_s == 0.25
    [attempt] = route.attempts
    assert (attempt.outcome, attempt.status, attempt.ttft_s, attempt.latency_s) == ("success", 200, 0.1, 0.25)
    assert h.recorder.calls == [(route, None)]
    assert h.recorder.started == ["a/a-model"]


def test_a_server_error_is_retried_after_a_seeded_backoff_then_fails_over() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)), seed=5)
    first = h.send()
    h.ex.failed(first, ServerError("boom", status=500), 0.0)
    wait = h.ex.next()
    assert wait == Wait(random.Random(5).uniform(0.0, 0.25))  # full jitter under base_delay
    h.clock.advance(wait.seconds)  # type: ignore[union-attr]
    again = h.send()
    assert (again.candidate.endpoint.key, again.retry) == ("a/a-model", 1)
    h.ex.failed(again, ServerError("boom", status=502), h.clock.monotonic())
    other = h.send()  # retries spent: the next candidate, at once
    assert (other.candidate.endpoint.key, other.retry) == ("b/b-model", 0)
    route = h.ex.succeeded(other, h.clock.monotonic(), USAGE)
    assert h.outcomes() == [("a", "error", "ServerError"), ("a", "error", "ServerError"), ("b", "success", None)]
    assert [a.retry for a in route.attempts] == [0, 1, 0]
    # failed attempts that reported no usage cost nothing
    assert route.cost == Decimal("0.0015")


def test_every_candidate_failing_is_no_endpoint_available_with_each_error() -> None:
    h = Harness(make_catalog(("a", None), ("b", None), router={"retry": {"max_retries": 0}}))
    h.ex.failed(h.send(), ServerError("a is down", status=503), 0.0)
    h.ex.failed(h.send(), ServerError("b is down", status=500), 0.0)
    err = h.ex.next()
    assert isinstance(err, NoEndpointAvailable)
    assert "a/a-model: ServerError (a is down)" in str(err)
    assert "b/b-model: ServerError (b is down)" in str(err)
    assert [e.provider for e in err.errors] == ["a", "b"]
    assert err.__cause__ is err.errors[-1]
    assert list(err.attempts) == h.ex.attempts
    assert h.recorder.calls == [(None, err)]


def test_a_bad_request_stops_the_call_with_that_error() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))
    error = BadRequest("temperature out of range", status=400)
    h.ex.failed(h.send(), error, 0.0)
    assert h.ex.next() is error
    assert list(error.attempts) == h.ex.attempts
    assert (error.provider, error.model) == ("a", "a-model")  # located
    # the endpoint answered: nothing counts against it
    assert h.health.breaker("a/a-model").snapshot(0.0).consecutive_failures == 0


def test_an_authentication_error_takes_the_endpoint_out_for_the_auth_cooldown() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))
    h.ex.failed(h.send(), AuthenticationError("bad key", status=401), 0.0)
    assert h.send().candidate.endpoint.key == "b/b-model"  # no retry on a
    state = h.health.breaker("a/a-model").snapshot(0.0)
    assert (state.state, state.open_until, state.reason) == ("open", 300.0, "AuthenticationError")


def test_an_empty_plan_and_an_all_excluded_plan_say_why() -> None:
    catalog = make_catalog(("a", None))
    empty = Harness(catalog, plan=Plan(()))
    err = empty.ex.next()
    assert isinstance(err, NoEndpointAvailable) and str(err) == "no endpoint to try"
    ep = catalog.models["m"].endpoints[0]
    excluded = Harness(catalog, plan=Plan((), (Excluded("m", ep, "no tool support"),)))
    err = excluded.ex.next()
    assert isinstance(err, NoEndpointAvailable)
    assert "every one was excluded: a/a-model (m): no tool support" in str(err)


# -- Retry-After against failover_after --------------------------------------------------------


def test_a_retry_after_of_failover_after_or_more_fails_over_at_once_and_holds_the_endpoint() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))  # failover_after: 1 s (the default)
    h.ex.failed(h.send(), RateLimited("slow down", status=429, retry_after=1.0), 0.0)
    nxt = h.send()
    assert nxt.candidate.endpoint.key == "b/b-model"
    assert h.clock.sleeps == []
    breaker = h.health.breaker("a/a-model")
    assert not breaker.available(0.5) and breaker.available(1.0)
    # a 429 is not the endpoint's fault: no failure counted
    assert breaker.snapshot(0.0).consecutive_failures == 0


def test_a_short_retry_after_is_waited_for_on_the_same_endpoint() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))
    h.ex.failed(h.send(), RateLimited("slow down", status=429, retry_after=0.75), 0.0)
    wait = h.ex.next()
    assert isinstance(wait, Wait) and wait.seconds >= 0.75
    h.clock.advance(wait.seconds)
    assert h.send().candidate.endpoint.key == "a/a-model"


def test_a_long_retry_after_at_the_last_candidate_is_waited_for() -> None:
    h = Harness(make_catalog(("a", None)))
    h.ex.failed(h.send(), RateLimited("slow down", status=429, retry_after=3.0), 0.0)
    assert h.ex.next() == Wait(3.0)
    h.clock.advance(3.0)
    again = h.send()
    assert (again.candidate.endpoint.key, again.retry) == ("a/a-model", 1)


def test_a_failover_after_raised_above_the_retry_after_keeps_the_retry() -> None:
    h = Harness(make_catalog(("a", None), ("b", None), router={"retry": {"failover_after": 5}}))
    h.ex.failed(h.send(), RateLimited("slow down", status=429, retry_after=3.0), 0.0)
    assert h.ex.next() == Wait(3.0)


def test_a_retry_after_above_max_retry_after_moves_on() -> None:
    h = Harness(make_catalog(("a", None)))
    h.ex.failed(h.send(), RateLimited("slow down", status=429, retry_after=60.0), 0.0)
    err = h.ex.next()
    assert isinstance(err, NoEndpointAvailable)
    assert h.clock.sleeps == []


def test_a_backoff_that_would_pass_the_deadline_is_not_waited() -> None:
    within = Harness(make_catalog(("a", None)), req=request(timeout=2.0))
    within.clock.advance(1.0)
    within.ex.failed(within.send(), RateLimited("slow down", status=429, retry_after=0.9), 1.0)
    assert within.ex.next() == Wait(0.9)  # 1.0 + 0.9 is before the deadline
    past = Harness(make_catalog(("a", None)), req=request(timeout=2.0))
    past.clock.advance(1.5)
    past.ex.failed(past.send(), RateLimited("slow down", status=429, retry_after=0.9), 1.5)
    err = past.ex.next()  # 1.5 + 0.9 is not: no retry, and nothing else to try
    assert isinstance(err, NoEndpointAvailable)
    assert past.clock.sleeps == []


# -- context length ------------------------------------------------------------------------------


def test_a_context_error_skips_candidates_no_larger_and_goes_to_a_larger_one() -> None:
    h = Harness(make_catalog(("small", 8_000), ("same", 8_000), ("tiny", 4_000), ("unknown", None), ("big", 32_000)))
    h.ex.failed(h.send(), ContextLengthExceeded("prompt too long", status=400), 0.0)
    nxt = h.send()
    assert nxt.candidate.endpoint.key == "unknown/unknown-model"  # an unknown context is tried
    h.ex.failed(nxt, ContextLengthExceeded("prompt too long", status=400), 0.0)
    assert h.send().candidate.endpoint.key == "big/big-model"
    assert h.outcomes()[:4] == [
        ("small", "error", "ContextLengthExceeded"),
        ("same", "skipped", "ContextLengthExceeded"),
        ("tiny", "skipped", "ContextLengthExceeded"),
        ("unknown", "error", "ContextLengthExceeded"),
    ]
    assert h.ex.attempts[1].message == "context 8000 is not larger than 8000"
    # the request was the problem, not the endpoint
    assert h.health.breaker("small/small-model").snapshot(0.0).consecutive_failures == 0


# -- budgets -------------------------------------------------------------------------------------


def test_a_budget_refusal_skips_the_endpoint_and_the_next_one_holds_a_reservation() -> None:
    budget = FakeBudget({"a/a-model"})
    h = Harness(make_catalog(("a", None), ("b", None)), budget=budget)
    send = h.send()
    assert (send.candidate.endpoint.key, send.hold) == ("b/b-model", "b/b-model")
    route = h.ex.succeeded(send, 0.0, USAGE)
    h.settle()
    assert h.outcomes() == [("a", "skipped", "BudgetExceeded"), ("b", "success", None)]
    assert budget.settled == [("b/b-model", route.cost)]


def test_a_budget_refusing_everything_is_the_budget_error_itself() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)), budget=FakeBudget({"a/a-model", "b/b-model"}))
    err = h.next()
    assert isinstance(err, BudgetExceeded)
    assert str(err) == "daily budget spent at a/a-model"  # the first refusal
    assert h.outcomes() == [("a", "skipped", "BudgetExceeded"), ("b", "skipped", "BudgetExceeded")]
    assert list(err.attempts) == h.ex.attempts


def test_an_unreachable_budget_store_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(make_catalog(("a", None)), budget=FakeBudget(broken=True))
    with caplog.at_level(logging.ERROR, logger="polyroute"):
        err = h.next()
    assert isinstance(err, BudgetExceeded)
    assert "could not be reached (OSError); nothing was sent" in str(err)
    assert "budget store failed" in caplog.text


def test_a_failed_attempt_settles_its_reservation_at_what_it_reported() -> None:
    budget = FakeBudget()
    h = Harness(make_catalog(("a", None), ("b", None), router={"retry": {"max_retries": 0}}), budget=budget)
    h.ex.failed(h.send(), ServerError("boom", status=500), 0.0)  # no usage: charged nothing
    h.ex.failed(h.send(), ServerError("cut", status=500), 0.0, usage=Usage(prompt_tokens=100, completion_tokens=0))
    h.settle()
    assert budget.settled == [("a/a-model", Decimal(0)), ("b/b-model", Decimal("0.0001"))]


def test_a_budget_is_not_reserved_at_an_open_circuit() -> None:
    budget = FakeBudget()
    health = HealthState()
    health.breaker("a/a-model").hold(0.0, 10.0, "test")
    h = Harness(make_catalog(("a", None), ("b", None)), budget=budget, health=health)
    assert h.send().candidate.endpoint.key == "b/b-model"
    assert budget.reserved == ["b/b-model"]
    assert h.outcomes() == [("a", "skipped", "CircuitOpen")]


def test_a_reservation_made_for_a_probe_another_call_took_is_released() -> None:
    catalog = make_catalog(("a", None), ("b", None), router={"breaker": {"failure_threshold": 1, "cooldown": 5}})
    health = HealthState(catalog.settings.breaker)
    breaker = health.breaker("a/a-model")
    breaker.record_failure(0.0)
    clock = FakeClock()
    clock.advance(5.0)  # half-open: the probe is free when the budget is asked...
    budget = FakeBudget()

    class Racing(FakeBudget):
        def reserve(self, endpoint: Endpoint) -> Any:
            if endpoint.key == "a/a-model":
                assert breaker.admit(5.0)  # ...and another call takes it meanwhile
            return budget.reserve(endpoint)

        def settle(self, reservation: Any, actual: Decimal | None) -> None:
            budget.settle(reservation, actual)

    h = Harness(catalog, budget=Racing(), health=health, clock=clock)
    assert h.send().candidate.endpoint.key == "b/b-model"
    h.settle()
    assert budget.reserved == ["a/a-model", "b/b-model"]
    assert budget.settled == [("a/a-model", Decimal(0))]  # released unused
    assert h.outcomes() == [("a", "skipped", "CircuitOpen")]


# -- breakers: the half-open probe --------------------------------------------------------------


def test_a_failed_probe_reopens_the_breaker_and_is_not_retried() -> None:
    catalog = make_catalog(
        ("a", None),
        ("b", None),
        router={"breaker": {"failure_threshold": 1, "cooldown": 10}},
    )
    clock = FakeClock()
    health = HealthState(catalog.settings.breaker)
    first = Harness(catalog, health=health, clock=clock)
    first.ex.failed(first.send(), ServerError("down", status=503), 0.0)
    assert health.breaker("a/a-model").snapshot(0.0).state == "open"

    clock.advance(5.0)  # still open: skipped
    second = Harness(catalog, health=health, clock=clock)
    assert second.send().candidate.endpoint.key == "b/b-model"
    assert second.outcomes() == [("a", "skipped", "CircuitOpen")]
    assert second.ex.attempts[0].message == "circuit breaker open"

    clock.advance(5.0)  # the cooldown is over: one probe goes to a
    probe = Harness(catalog, health=health, clock=clock)
    probe_send = probe.send()
    assert probe_send.candidate.endpoint.key == "a/a-model"
    meanwhile = Harness(catalog, health=health, clock=clock)  # a call while the probe runs skips a
    assert meanwhile.send().candidate.endpoint.key == "b/b-model"
    probe.ex.failed(probe_send, ServerError("still down", status=503), 10.0)
    state = health.breaker("a/a-model").snapshot(10.0)
    assert (state.state, state.open_until, state.reason) == ("open", 20.0, "ServerError")  # 10 + the cooldown
    assert probe.send().candidate.endpoint.key == "b/b-model"  # a retryable error, but the probe is not retried
    assert probe.outcomes() == [("a", "error", "ServerError")]


def test_a_retry_rechecks_the_breaker_another_call_opened_meanwhile() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)))
    h.ex.failed(h.send(), ServerError("boom", status=500), 0.0)
    wait = h.ex.next()
    assert isinstance(wait, Wait)
    h.health.breaker("a/a-model").hold(0.0, 60.0, "opened by another call")
    h.clock.advance(wait.seconds)
    assert h.send().candidate.endpoint.key == "b/b-model"
    assert h.outcomes() == [("a", "error", "ServerError"), ("a", "skipped", "CircuitOpen")]
    assert h.ex.attempts[1].message == "circuit breaker open (not retried)"


def test_a_successful_probe_closes_the_breaker() -> None:
    catalog = make_catalog(("a", None), router={"breaker": {"failure_threshold": 1, "cooldown": 10}})
    health = HealthState(catalog.settings.breaker)
    health.breaker("a/a-model").record_failure(0.0)
    clock = FakeClock()
    clock.advance(10.0)
    h = Harness(catalog, health=health, clock=clock)
    h.ex.succeeded(h.send(), 10.0, USAGE)
    assert health.breaker("a/a-model").snapshot(10.0).state == "closed"


# -- streams -------------------------------------------------------------------------------------


def test_a_stream_break_after_content_is_final_and_reported_as_interrupted() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)), req=request(stream=True))
    send = h.send()
    h.clock.advance(0.5)
    cause = ServerError("connection reset mid-stream", status=200)
    partial = Usage(prompt_tokens=1_000, completion_tokens=20)
    h.ex.failed(send, cause, 0.0, ttft=0.1, usage=partial, final=True)
    err = h.ex.interrupted(StreamInterrupted(cause, delivered_text="Hello", delivered_chunks=2))
    assert isinstance(err, StreamInterrupted)
    assert list(err.attempts) == h.ex.attempts
    [attempt] = h.ex.attempts
    assert (attempt.outcome, attempt.ttft_s, attempt.usage) == ("error", 0.1, partial)
    assert attempt.cost == Decimal("0.00102")  # what was streamed is billed
    assert h.recorder.calls == [(None, err)]
    # final: nothing queued, no retry; the endpoint's failure counted
    assert h.health.breaker("a/a-model").snapshot(0.5).consecutive_failures == 1


def test_a_stream_the_caller_closed_is_a_cancelled_attempt() -> None:
    h = Harness(make_catalog(("a", None)), req=request(stream=True))
    send = h.send()
    h.ex.abandoned(send, 0.0, Usage(prompt_tokens=10, completion_tokens=3), ttft=0.05)
    [attempt] = h.ex.attempts
    assert (attempt.outcome, attempt.error, attempt.status) == ("error", "Cancelled", None)
    assert attempt.message == "the caller closed the stream before it ended"
    assert attempt.cost == Decimal("0.000013")
    [(route, error)] = h.recorder.calls
    assert route is None and isinstance(error, Cancelled)


def test_a_lost_hedge_is_cancelled_and_estimated_at_the_prompt_price() -> None:
    catalog = make_catalog(("a", None), ("b", None))
    h = Harness(catalog, plan=hand_plan(catalog, prompt_tokens=2_000), hedge_delay=lambda ep: 0.5)
    first = h.send()
    assert h.ex.hedge_delay(first) == 0.5
    second = h.ex.hedge()
    assert second is not None and second.candidate.endpoint.key == "b/b-model"
    assert h.ex.hedge_delay(second) is None  # only the first attempt is hedged
    h.ex.cancelled(first, 0.0, "lost the hedge race")
    h.ex.succeeded(second, 0.0, USAGE)
    lost = h.ex.attempts[0]
    assert (lost.error, lost.message, lost.cost) == ("Cancelled", "lost the hedge race", Decimal("0.002"))
    assert h.ex.hedge() is None  # nothing left to hedge with


def test_no_hedge_once_the_deadline_has_passed() -> None:
    h = Harness(make_catalog(("a", None), ("b", None)), req=request(timeout=1.0), hedge_delay=lambda ep: 0.5)
    h.send()
    h.clock.advance(1.0)
    assert h.ex.hedge() is None


# -- deadline and timeouts -------------------------------------------------------------------------


def test_the_deadline_caps_each_attempts_timeouts_and_then_ends_the_call() -> None:
    catalog = make_catalog(("a", None), ("b", None), router={"timeout": {"connect": 2, "read": 30, "first_token": 4}})
    h = Harness(catalog, req=request(timeout=10.0))
    first = h.send()
    assert (first.remaining, first.timeouts.connect, first.timeouts.read, first.timeouts.first_token) == (
        10.0,
        2.0,
        10.0,
        4.0,
    )
    h.clock.advance(9.0)
    h.ex.failed(first, ServerError("slow", status=504), 0.0, final=False)
    h.clock.advance(1.0)
    err = h.ex.next()
    assert isinstance(err, DeadlineExceeded)
    assert str(err) == "deadline passed after 1 attempts"
    assert list(err.attempts) == h.ex.attempts


def test_the_configured_deadline_applies_without_a_request_timeout() -> None:
    catalog = make_catalog(("a", None), router={"timeout": {"deadline": 3}})
    assert Harness(catalog).send().remaining == 3.0


# -- observers -----------------------------------------------------------------------------------


def test_a_raising_observer_is_logged_and_the_call_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    catalog = make_catalog(("a", None), ("b", None), router={"retry": {"max_retries": 0}})
    recorder = Recorder()
    h = Harness(catalog, observers=(Broken(), recorder))
    with caplog.at_level(logging.ERROR, logger="polyroute"):
        h.ex.failed(h.send(), ServerError("boom", status=500), 0.0)
        route = h.ex.succeeded(h.send(), 0.0, USAGE)
    assert route.provider == "b"
    assert [a.outcome for a in recorder.attempts] == ["error", "success"]
    assert recorder.started == ["a/a-model", "b/b-model"]
    assert caplog.text.count("polyroute observer failed") == 5  # 2 starts, 2 attempts, 1 call


def test_starters_given_explicitly_replace_the_observers_hooks() -> None:
    seen: list[str] = []
    h = Harness(make_catalog(("a", None)), starters=[lambda req, rid, model, ep: seen.append(f"{rid} {ep.key}")])
    h.send()
    assert seen == ["req-1 a/a-model"]
    assert h.recorder.started == []


def test_a_failed_call_is_still_reported_when_an_observer_raises(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    h = Harness(make_catalog(("a", None), router={"retry": {"max_retries": 0}}), observers=(Broken(), recorder))
    with caplog.at_level(logging.ERROR, logger="polyroute"):
        h.ex.failed(h.send(), ServerError("boom", status=500), 0.0)
        err = h.ex.next()
    assert isinstance(err, NoEndpointAvailable)
    assert recorder.calls == [(None, err)]
    assert "polyroute observer failed" in caplog.text


def test_a_budget_store_failing_to_settle_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Unsettled(FakeBudget):
        def settle(self, reservation: Any, actual: Decimal | None) -> None:
            raise OSError("database is down")

    h = Harness(make_catalog(("a", None)), req=request(stream=True), budget=Unsettled())
    with caplog.at_level(logging.ERROR, logger="polyroute"):
        h.ex.abandoned(h.send(), 0.0, None)  # a cancelled stream settles its reservation too
        h.settle()
    assert "failed to settle a reservation (it will expire)" in caplog.text
    assert h.outcomes() == [("a", "error", "Cancelled")]


def test_a_retry_under_a_budget_reserves_again_and_rechecks_the_breaker() -> None:
    budget = FakeBudget()
    h = Harness(make_catalog(("a", None), ("b", None)), budget=budget)
    h.ex.failed(h.send(), ServerError("boom", status=500), 0.0)
    wait = h.next()
    assert isinstance(wait, Wait)
    h.clock.advance(wait.seconds)
    again = h.send()
    assert (again.candidate.endpoint.key, again.retry) == ("a/a-model", 1)
    assert budget.reserved == ["a/a-model", "a/a-model"]
    # a second failure, and meanwhile another call opens the breaker: no third reservation at a
    h.ex.failed(again, ServerError("boom", status=500), h.clock.monotonic())
    h.health.breaker("a/a-model").hold(h.clock.monotonic(), 60.0, "opened by another call")
    assert h.send().candidate.endpoint.key == "b/b-model"
    assert budget.reserved == ["a/a-model", "a/a-model", "b/b-model"]


def test_a_context_error_under_a_budget_skips_smaller_candidates_unreserved() -> None:
    budget = FakeBudget()
    h = Harness(make_catalog(("small", 8_000), ("same", 8_000), ("big", 32_000)), budget=budget)
    h.ex.failed(h.send(), ContextLengthExceeded("prompt too long", status=400), 0.0)
    assert h.send().candidate.endpoint.key == "big/big-model"
    assert budget.reserved == ["small/small-model", "big/big-model"]
    assert h.outcomes()[1] == ("same", "skipped", "ContextLengthExceeded")
