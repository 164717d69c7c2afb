"""Driving a plan, sans I/O: the decisions shared by the sync and async engines.

An :class:`Execution` is asked :meth:`~Execution.next` what to do — :class:`Send` an attempt,
:class:`Wait` before a retry, :class:`Reserve` rate-limit and budget capacity before an attempt,
:class:`Settle` finished attempts' budget reservations, or stop with an error — and told how each
attempt ended. The sync and async engines only perform the sending, the waiting and the budget
I/O (the async engine without blocking its event loop), through the call's
:class:`~polyroute.execution._admission.Gate`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute._types import Attempt, ChatCompletion, Route, Usage
from polyroute.accounting._cost import call_cost, cost_breakdown, count_images
from polyroute.accounting._delivered import delivered_usage
from polyroute.catalog._catalog import Catalog, Endpoint, ProviderSpec, RouterSettings, Timeouts
from polyroute.errors import (
    BudgetExceeded,
    Cancelled,
    DeadlineExceeded,
    NoEndpointAvailable,
    PolyrouteError,
    ProviderError,
    RateLimited,
)
from polyroute.execution._admission import Gate, RateRefusal
from polyroute.execution._observers import AttemptStarter, CallObserver, Observers
from polyroute.execution._policy import Action, FirstTokenLimit, backoff, decide, first_token_limit
from polyroute.execution._recovery import continuable, continuation_mode, continuation_request
from polyroute.execution._relay import Relay, Resume, finish_reasons
from polyroute.health._breakers import CircuitBreaker, HealthState
from polyroute.routing._planner import Candidate, Plan

if TYPE_CHECKING:
    from polyroute.budgets import Reservation

__all__ = ["AttemptStarter", "CallObserver", "Execution", "Reserve", "Send", "Settle", "Wait"]

log = logging.getLogger("polyroute")
_NO_OBSERVERS = Observers()


@dataclass(slots=True)  # not frozen: one is built per attempt, and a frozen __init__ costs ~0.5 µs more
class Send:
    """Send one attempt to ``candidate`` with these timeouts (not to be changed once made)."""

    candidate: Candidate
    provider: ProviderSpec
    retry: int
    timeouts: Timeouts
    #: seconds left before the call's deadline, if it has one
    remaining: float | None
    #: the budget reservation this attempt holds, settled when it ends
    hold: Reservation | None = None
    #: the endpoint's circuit breaker (looked up once per attempt)
    breaker: CircuitBreaker | None = None
    #: the request to send (the call's own, or a continuation of a broken stream)
    request: ChatRequest | None = None
    #: streams: the wait allowed for the first content (see :func:`~polyroute.execution._policy.first_token_limit`)
    first_token: FirstTokenLimit | None = None
    #: streams: the longest gap allowed between chunks once content has started
    idle: float | None = None


@dataclass(slots=True)
class Reserve:
    """Take a rate-limit slot and reserve the budget for an attempt at ``candidate``, then tell
    :meth:`Execution.reserved` the result (``gate.reserve`` / ``await gate.areserve``)."""

    candidate: Candidate
    gate: Gate


@dataclass(slots=True)
class Settle:
    """Charge finished attempts' actual costs against their reservations
    (``gate.settle`` / ``await gate.asettle``)."""

    holds: list[tuple[Reservation, Decimal | None]]
    gate: Gate


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait this many seconds (backoff before a retry)."""

    seconds: float


class Execution:
    """The state of one routed call."""

    __slots__ = (
        "_admitted",
        "_candidates",
        "_catalog",
        "_clock",
        "_current",
        "_deadline",
        "_excluded",
        "_fatal",
        "_gate",
        "_health",
        "_hedge_delay",
        "_hold",
        "_images",
        "_min_context",
        "_next",
        "_observers",
        "_refusal",
        "_retries",
        "_retry_pending",
        "_rng",
        "_sends",
        "_settings",
        "_settles",
        "_wait",
        "attempts",
        "errors",
        "prompt_tokens",
        "request",
        "request_id",
        "started",
    )

    def __init__(
        self,
        request: ChatRequest,
        plan: Plan,
        *,
        catalog: Catalog,
        health: HealthState,
        clock: Clock,
        rng: random.Random,
        request_id: str,
        observers: Observers | Sequence[CallObserver] = (),
        gate: Gate | None = None,
        hedge_delay: Callable[[Endpoint], float | None] | None = None,
        starters: Sequence[AttemptStarter] | None = None,
    ) -> None:
        self.request = request
        self.request_id = request_id
        self._candidates = plan.candidates
        self._excluded = plan.excluded
        self.prompt_tokens = plan.prompt_tokens
        self._hedge_delay = hedge_delay
        self._sends = 0
        self._catalog = catalog
        self._settings: RouterSettings = catalog.settings
        self._health = health
        self._clock = clock
        self._rng = rng
        if not isinstance(observers, Observers):
            observers = Observers(observers, starters=starters) if observers or starters is not None else _NO_OBSERVERS
        self._observers = observers
        self.attempts: list[Attempt] = []
        self.errors: list[ProviderError] = []
        self.started = clock.monotonic()
        deadline = request.timeout if request.timeout is not None else self._settings.timeouts.deadline
        self._deadline = self.started + deadline if deadline is not None else None
        self._next = 0
        self._retries = 0
        self._retry_pending = False
        self._wait: float | None = None
        self._current: Candidate | None = None
        self._min_context: int | None = None
        self._fatal: PolyrouteError | None = None
        self._gate = gate
        #: the result of the last Reserve, for the candidate at ``_i`` (or the retry)
        self._admitted: tuple[Candidate, object] | None = None
        self._settles: list[tuple[Reservation, Decimal | None]] = []
        self._hold: Reservation | None = None  # reserved for the next Send
        self._refusal: BudgetExceeded | None = None
        self._images: int | None = None

    # -- decisions ---------------------------------------------------------------------------

    def next(self) -> Send | Wait | Reserve | Settle | PolyrouteError:
        """What to do now. An error means stop and raise it (attempts attached)."""
        if self._settles:
            return self.settlements()  # type: ignore[return-value]
        if self._fatal is not None:
            return self._finish_error(self._fatal)
        now = self._clock.monotonic()
        if self._deadline is not None and now >= self._deadline:
            return self._finish_error(
                DeadlineExceeded(f"deadline passed after {len(self.attempts)} attempts", errors=self.errors)
            )
        if self._wait is not None:
            seconds, self._wait = self._wait, None
            return Wait(seconds)
        if self._retry_pending and self._current is not None:
            current = self._current
            breaker = self._health.breaker(current.endpoint.key)  # every attempt re-checks its breaker
            gate = self._gate
            admitted = self._admitted
            if gate is None:
                self._retry_pending = False
                if breaker.admit(now):
                    return self._send(current, now, breaker)
                self._skip(current, "CircuitOpen", "circuit breaker open (not retried)")
            elif admitted is None or admitted[0] is not current:
                if breaker.available(now):
                    return Reserve(current, gate)
                self._retry_pending = False
                self._skip(current, "CircuitOpen", "circuit breaker open (not retried)")
            else:
                self._retry_pending = False
                self._admitted = None
                if self._admit(current, admitted[1]):
                    if breaker.admit(now):
                        return self._send(current, now, breaker)
                    self._release_unsent()
                    self._skip(current, "CircuitOpen", "circuit breaker open (not retried)")
        found = self._advance(now)
        if found is None:
            return self._finish_error(self._exhausted())
        if type(found) is Reserve:
            return found
        cand, breaker = found  # type: ignore[misc]
        self._current = cand
        return self._send(cand, now, breaker)

    def reserved(self, action: Reserve, result: object) -> None:
        """The result of a :class:`Reserve`: a reservation (or ``None``: nothing to hold), a
        :class:`~polyroute.errors.BudgetExceeded`, or a rate-limit refusal."""
        self._admitted = (action.candidate, result)

    def settlements(self) -> Settle | None:
        """The budget reservations to settle now, if any (the engines settle them when a call
        ends; :meth:`next` also returns them first)."""
        if not self._settles or self._gate is None:
            return None
        holds, self._settles = self._settles, []
        return Settle(holds, self._gate)

    def _advance(
        self, now: float, accept: Callable[[Candidate], bool] | None = None
    ) -> tuple[Candidate, CircuitBreaker] | Reserve | None:
        """The next candidate that may be sent now (its rate-limit slot and budget taken) and its
        breaker, recording the ones skipped on the way; or the :class:`Reserve` to do first.
        Candidates ``accept`` refuses are passed over silently."""
        while self._next < len(self._candidates):
            cand = self._candidates[self._next]
            if accept is not None and not accept(cand):
                self._next += 1
                continue
            endpoint = cand.endpoint
            breaker = self._health.breaker(endpoint.key)
            if self._gate is not None:  # reserve only for an endpoint that will be tried
                admitted = self._admitted
                if admitted is None or admitted[0] is not cand:
                    limit = self._min_context
                    if limit is not None and endpoint.context_length is not None and endpoint.context_length <= limit:
                        self._next += 1
                        self._skip(
                            cand,
                            "ContextLengthExceeded",
                            f"context {endpoint.context_length} is not larger than {limit}",
                        )
                        continue
                    if not breaker.available(now):
                        self._next += 1
                        self._skip(cand, "CircuitOpen", "circuit breaker open")
                        continue
                    return Reserve(cand, self._gate)
                self._admitted = None
                self._next += 1
                self._retries = 0
                if not self._admit(cand, admitted[1]):
                    continue
            else:
                self._next += 1
                self._retries = 0
                limit = self._min_context
                if limit is not None and endpoint.context_length is not None and endpoint.context_length <= limit:
                    self._skip(
                        cand, "ContextLengthExceeded", f"context {endpoint.context_length} is not larger than {limit}"
                    )
                    continue
            if not breaker.admit(now):
                self._release_unsent()
                self._skip(cand, "CircuitOpen", "circuit breaker open")
                continue
            return cand, breaker
        return None

    # -- hedging -----------------------------------------------------------------------------

    def hedge_delay(self, send: Send) -> float | None:
        """Seconds after which to hedge ``send`` with the next candidate, or ``None`` not to.

        Only the call's first attempt is hedged, and only when hedging is on for the call and
        a later candidate exists."""
        if self._hedge_delay is None or self._sends != 1 or send.retry or self._next >= len(self._candidates):
            return None
        return self._hedge_delay(send.candidate.endpoint)

    def hedge(self) -> Send | Reserve | None:
        """A second, concurrent attempt at the next candidate that may be sent, or ``None``; or
        the :class:`Reserve` to perform first (then ask again)."""
        now = self._clock.monotonic()
        if self._deadline is not None and now >= self._deadline:
            return None
        found = self._advance(now)
        if found is None or type(found) is Reserve:
            return found
        cand, breaker = found  # type: ignore[misc]
        return self._send(cand, now, breaker)

    def cancelled(self, send: Send, started: float, message: str) -> None:
        """Record an attempt stopped by us (a hedge that lost): no verdict on the endpoint.

        Its cost is estimated as the prompt's: a provider may bill a request it already read."""
        now = self._clock.monotonic()
        endpoint = send.candidate.endpoint
        self._breaker(send).release()
        attempt = self._attempt(send, outcome="error", started=started, now=now, ttft=None, usage=None, error=None)
        attempt.error = "Cancelled"
        attempt.message = message
        attempt.status = None
        attempt.cost = None
        attempt.cost_breakdown = None
        if self.prompt_tokens is not None:
            attempt.cost = call_cost(Usage(prompt_tokens=self.prompt_tokens, completion_tokens=0), endpoint.pricing)
        self._record(attempt)
        self._settle(send.hold, attempt.cost)

    # -- stream recovery -----------------------------------------------------------------------

    def resume(self, resume: Resume) -> Send | Reserve | Settle | None:
        """The next attempt continuing a stream that broke after content: the next candidate
        that declares a way to continue an answer (of the same model unless ``across_models``),
        sent the delivered text as a final assistant message (or the budget I/O to do first).
        ``None``: none can."""
        if self._settles:
            return self.settlements()
        recovery = self._settings.stream_recovery
        if not recovery.enabled or not resume.continuable or not resume.text or not continuable(self.request):
            return None
        now = self._clock.monotonic()
        if self._deadline is not None and now >= self._deadline:
            return None
        broken = resume.model or self.request.model
        modes: dict[int, str] = {}

        def accept(cand: Candidate) -> bool:
            if cand.model != broken and not recovery.across_models:
                return False
            mode = continuation_mode(cand.endpoint, self._catalog.provider(cand.endpoint.provider))
            if mode is None:
                return False
            modes[id(cand)] = mode
            return True

        found = self._advance(now, accept)
        if found is None:
            return None
        if type(found) is Reserve:
            return found
        cand, breaker = found  # type: ignore[misc]
        self._current = cand
        request, resume.trim = continuation_request(self.request, resume.text, modes[id(cand)])
        return self._send(cand, now, breaker, request)

    def broke(
        self, send: Send, error: ProviderError, started: float, *, ttft: float | None, usage: Usage | None, text: str
    ) -> None:
        """A stream failed after content reached the caller: record the attempt, billed for what
        it delivered (estimated from ``text``, and marked so, when the provider reported no usage)."""
        if usage is None:
            usage = delivered_usage(self.request, text)
        self.failed(send, error, started, ttft=ttft, usage=usage, final=True)

    def _breaker(self, send: Send) -> CircuitBreaker:
        b = send.breaker
        return b if b is not None else self._health.breaker(send.candidate.endpoint.key)

    def _send(self, cand: Candidate, now: float, breaker: CircuitBreaker, request: ChatRequest | None = None) -> Send:
        self._sends += 1
        self._observers.attempt_started(self.request, self.request_id, cand.model, cand.endpoint)
        provider = self._catalog.provider(cand.endpoint.provider)
        timeouts = provider.timeouts
        remaining = None
        if self._deadline is not None:
            remaining = self._deadline - now
            # ``deadline`` on a Send's timeouts: the seconds this attempt may take in all (the
            # sync transport enforces it while reading, against a provider dripping bytes)
            timeouts = replace(
                timeouts,
                connect=min(timeouts.connect, remaining),
                read=min(timeouts.read, remaining),
                deadline=remaining,
            )
        hold, self._hold = self._hold, None
        send = Send(cand, provider, self._retries, timeouts, remaining, hold, breaker, request or self.request)
        if send.request is not None and send.request.stream:
            send.first_token = first_token_limit(timeouts, remaining, others_left=self._next < len(self._candidates))
            send.idle = timeouts.idle
        return send

    # -- budgets -------------------------------------------------------------------------------

    def _admit(self, cand: Candidate, held: object) -> bool:
        """Take a :class:`Reserve`'s result; ``False`` (a skip recorded) if a budget would break
        or the endpoint is at its rate limit."""
        if isinstance(held, BudgetExceeded):
            self._refusal = self._refusal or held
            self._skip(cand, "BudgetExceeded", str(held)[:300])
            return False
        if isinstance(held, RateRefusal):
            self._skip(cand, "RateLimited", str(held))
            return False
        self._hold = held  # type: ignore[assignment]
        return True

    def _settle(self, hold: Reservation | None, actual: Decimal | None) -> None:
        """Charge a finished attempt's actual cost (``None``: unknown, charge the reservation):
        queued for the engine (see :meth:`settlements`)."""
        if hold is not None:
            self._settles.append((hold, actual))

    def _release_unsent(self) -> None:
        hold, self._hold = self._hold, None
        self._settle(hold, Decimal(0))

    def _exhausted(self) -> PolyrouteError:
        if not self.attempts:
            if self._excluded:
                why = "; ".join(f"{e.endpoint.key} ({e.model}): {e.reason}" for e in self._excluded)
                return NoEndpointAvailable(f"no endpoint to try: every one was excluded: {why}")
            return NoEndpointAvailable("no endpoint to try")
        if self._refusal is not None and all(a.outcome == "skipped" for a in self.attempts):
            return self._refusal
        tried = "; ".join(
            f"{a.provider}/{a.endpoint_model}: {a.error}" + (f" ({a.message})" if a.message else "")
            for a in self.attempts
            if a.outcome != "success"
        )
        err = NoEndpointAvailable(f"every endpoint failed or was unavailable: {tried}", errors=self.errors)
        if self.errors:
            err.__cause__ = self.errors[-1]
        return err

    def _finish_error(self, error: PolyrouteError) -> PolyrouteError:
        error.with_attempts(self.attempts)
        self._observers.call(self.request, None, error)
        return error

    # -- outcomes ----------------------------------------------------------------------------

    def _record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        self._observers.attempt(self.request, self.request_id, attempt)

    def _skip(self, cand: Candidate, error: str, message: str) -> None:
        self._record(
            Attempt(
                model=cand.model,
                provider=cand.endpoint.provider,
                endpoint_model=cand.endpoint.model,
                outcome="skipped",
                error=error,
                message=message,
                started_at=self._clock.time(),
            )
        )

    def failed(
        self,
        send: Send,
        error: ProviderError,
        started: float,
        *,
        ttft: float | None = None,
        usage: Usage | None = None,
        final: bool = False,
        concurrent: bool = False,
    ) -> None:
        """The attempt ``send`` failed with ``error``. With ``final`` no further attempt is made;
        with ``concurrent`` (another attempt of the call is still running) it is not retried."""
        now = self._clock.monotonic()
        endpoint = send.candidate.endpoint
        error.located(endpoint.provider, endpoint.model)
        self.errors.append(error)
        attempt = self._attempt(send, outcome="error", started=started, now=now, ttft=ttft, usage=usage, error=error)
        self._record(attempt)
        if send.hold is not None:  # a budget holds a reservation for it
            self._settle(send.hold, _charged(attempt))
        breaker = self._breaker(send)
        opened = False
        if error.counts_against_endpoint:
            opened = breaker.record_failure(now, retry_after=error.retry_after, reason=type(error).__name__)
        elif isinstance(error, RateLimited):
            breaker.release()
            if error.retry_after:
                breaker.hold(now, error.retry_after, "RateLimited: Retry-After")
        else:
            breaker.record_success()  # it answered; the request was the problem
        if final:
            return
        retry = self._settings.retry
        action = decide(
            error,
            send.retry,
            retry,
            others_left=self._next < len(self._candidates),
            larger_context_left=error.about_length and self._larger_context_left(endpoint),
        )
        if action is Action.RETRY and (concurrent or opened):
            if concurrent:
                return
            action = Action.NEXT  # the breaker is open (a failed probe, or the threshold reached)
        if action is Action.RETRY:
            delay = backoff(send.retry, retry, self._rng, error.retry_after)
            if self._deadline is None or now + delay < self._deadline:
                self._retries = send.retry + 1
                self._retry_pending = True
                if delay > 0:
                    self._wait = delay
        elif action is Action.FAIL:
            self._fatal = error
        elif action is Action.NEXT_LARGER_CONTEXT:
            if endpoint.context_length is not None:
                self._min_context = max(self._min_context or 0, endpoint.context_length)
        elif action is Action.NEXT_MISCONFIGURED:
            breaker.hold(now, self._settings.breaker.auth_cooldown, type(error).__name__)

    def _larger_context_left(self, endpoint: Endpoint) -> bool:
        """Whether a candidate still to come declares a larger context than ``endpoint``."""
        context = endpoint.context_length
        if context is None:
            return False
        return any(
            c.endpoint.context_length is not None and c.endpoint.context_length > context
            for c in self._candidates[self._next :]
        )

    def succeeded(
        self,
        send: Send,
        started: float,
        usage: Usage | None,
        *,
        ttft: float | None = None,
        reply: object = None,
    ) -> Route:
        """The attempt ``send`` succeeded: record it and return the route. ``reply`` is the
        response (a stream's relay): a chat reply's finish reasons are recorded, and observers
        that capture content are shown it."""
        now = self._clock.monotonic()
        self._breaker(send).record_success()
        attempt = self._attempt(send, outcome="success", started=started, now=now, ttft=ttft, usage=usage, error=None)
        if reply is not None:
            if isinstance(reply, Relay):
                attempt.finish_reasons = reply.finish_reasons
            elif isinstance(reply, ChatCompletion):
                attempt.finish_reasons = finish_reasons(reply.choices)
            if self._observers.outputs:
                self._observers.output(self.request, self.request_id, reply)
        self._record(attempt)
        if send.hold is not None:  # a budget holds a reservation for it
            self._settle(send.hold, _charged(attempt))
        route = self.route(send.candidate, usage, now)
        self._observers.call(self.request, route, None)
        return route

    def abandoned(
        self,
        send: Send,
        started: float,
        usage: Usage | None,
        *,
        ttft: float | None = None,
        message: str = "the caller closed the stream before it ended",
    ) -> None:
        """The caller stopped reading a stream (or cancelled the call): record the attempt (it
        may well be billed)."""
        now = self._clock.monotonic()
        self._breaker(send).release()
        attempt = self._attempt(send, outcome="success", started=started, now=now, ttft=ttft, usage=usage, error=None)
        attempt.outcome = "error"
        attempt.error = "Cancelled"
        attempt.message = message
        attempt.status = None
        self._record(attempt)
        if send.hold is not None:  # a budget holds a reservation for it
            self._settle(send.hold, _charged(attempt))
        self._finish_error(Cancelled(message))

    def interrupted(self, error: PolyrouteError) -> PolyrouteError:
        """A committed stream failed: report the call as failed and return ``error``."""
        return self._finish_error(error)

    def _attempt(
        self,
        send: Send,
        *,
        outcome: str,
        started: float,
        now: float,
        ttft: float | None,
        usage: Usage | None,
        error: ProviderError | None,
    ) -> Attempt:
        endpoint: Endpoint = send.candidate.endpoint
        lines = None
        cost: Decimal | None = Decimal(0)  # a failure that reported no usage is not billed
        if usage is not None or outcome == "success":
            pricing = endpoint.pricing
            if pricing.image is not None and self._images is None:
                self._images = count_images(self.request.messages)
            lines = cost_breakdown(
                usage, pricing, images=self._images or 0, fee_percent=self._settings.costs.platform_fee_percent
            )
            cost = lines.cost if lines is not None else None
        return Attempt(
            model=send.candidate.model,
            provider=endpoint.provider,
            endpoint_model=endpoint.model,
            outcome="success" if outcome == "success" else "error",
            error=type(error).__name__ if error is not None else None,
            message=error.message[:300] if error is not None else None,
            status=error.status if error is not None else 200,
            latency_s=now - started,
            ttft_s=ttft,
            retry=send.retry,
            usage=usage,
            cost=cost,
            started_at=self._clock.time() - (now - started),
            cost_breakdown=lines,
        )

    def route(self, cand: Candidate, usage: Usage | None, now: float) -> Route:
        """The route of a call served by ``cand``."""
        total = Decimal(0)
        fee = Decimal(0)
        known = True
        fees = self._settings.costs.platform_fee_percent is not None
        for a in self.attempts:
            if a.cost is not None:
                total += a.cost
            elif a.outcome == "success":
                known = False
            if fees and a.cost_breakdown is not None:
                fee += a.cost_breakdown.fee
        return Route(
            request_id=self.request_id,
            model=cand.model,
            provider=cand.endpoint.provider,
            endpoint_model=cand.endpoint.model,
            attempts=self.attempts,
            cost=total if known else None,
            usage=usage,
            latency_s=now - self.started,
            fee=fee if fees else None,
        )


def _charged(attempt: Attempt) -> Decimal | None:
    """What an attempt is charged against budgets: cost plus fee (``None``: unknown)."""
    lines = attempt.cost_breakdown
    return lines.total if lines is not None else attempt.cost
