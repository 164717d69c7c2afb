"""Prometheus metrics of calls, attempts, tokens, cost, breakers and budgets.

Needs the ``prometheus`` extra (``pip install 'polyroute[prometheus]'``: prometheus-client).
:class:`PrometheusObserver` registers its metrics on a registry (default: prometheus-client's
``REGISTRY``), so an application that already serves ``/metrics`` serves them too;
:func:`exposition` renders the page (in prometheus-client's multiprocess mode too, when
``PROMETHEUS_MULTIPROC_DIR`` is set) for a server of your own, and :func:`serve` starts one in a
thread for a process that has none (``polyroute metrics serve`` from the command line).

Labels are bounded by the configuration: model, provider, endpoint (``provider/model``),
outcome, error class, token kind, budget rule. Never a user, key, tag or request id.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "polyroute's Prometheus metrics need prometheus-client: pip install 'polyroute[prometheus]'"
    ) from exc

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import PolyrouteError
from polyroute.observability._watch import attempt_outcome

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from polyroute._router import Router
    from polyroute.routing._planner import Plan

__all__ = ["BREAKER_STATES", "PrometheusObserver", "exposition", "metrics_registry", "serve"]

#: ``polyroute_breaker_state`` values
BREAKER_STATES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
#: seconds: calls and attempts (a routed call spans 10 ms to minutes)
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
#: seconds to the first token
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
#: output tokens per second
TPS_BUCKETS = (1.0, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2000.0)

_ENDPOINT = ("model", "provider", "endpoint")


class _Metrics:
    """The metric families on one registry, and their children by label values."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.calls = Counter(
            "polyroute_calls", "Routed calls, by the endpoint that served (or last tried) and outcome.",
            (*_ENDPOINT, "outcome", "error_type"), registry=registry,
        )  # fmt: skip
        self.attempts = Counter(
            "polyroute_attempts", "Attempts at endpoints (skipped ones included), by outcome.",
            (*_ENDPOINT, "outcome", "error_type"), registry=registry,
        )  # fmt: skip
        self.call_seconds = Histogram(
            "polyroute_call_duration_seconds", "Duration of routed calls, every attempt and wait included.",
            (*_ENDPOINT, "outcome"), buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.attempt_seconds = Histogram(
            "polyroute_attempt_duration_seconds", "Duration of attempts that were sent.",
            (*_ENDPOINT, "outcome"), buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "polyroute_time_to_first_token_seconds", "Time to the first content of streamed attempts.",
            _ENDPOINT, buckets=TTFT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.tps = Histogram(
            "polyroute_output_tokens_per_second", "Output tokens per second of successful attempts (after the first).",
            _ENDPOINT, buckets=TPS_BUCKETS, registry=registry,
        )  # fmt: skip
        self.tokens = Counter(
            "polyroute_tokens", "Tokens by kind: input, output, cached_input, cache_write_input, reasoning.",
            (*_ENDPOINT, "kind"), registry=registry,
        )  # fmt: skip
        self.cost = Counter(
            "polyroute_cost_usd", "What the providers charge, in USD (platform fee excluded).",
            _ENDPOINT, registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "polyroute_in_flight_attempts", "Attempts running now.",
            ("provider", "endpoint"), registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.breaker = Gauge(
            "polyroute_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open (as of the last call there).",
            ("provider", "endpoint"), registry=registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self._endpoints: dict[tuple[str, str, str], _Endpoint] = {}

    def endpoint(self, model: str, provider: str, endpoint_model: str) -> _Endpoint:
        """The children of one model at one endpoint (``provider/endpoint_model``), found once."""
        found = self._endpoints.get((model, provider, endpoint_model))
        if found is None:
            with _lock:
                made = _Endpoint(self, model, provider, f"{provider}/{endpoint_model}" if provider else "")
                found = self._endpoints.setdefault((model, provider, endpoint_model), made)
        return found


class _Endpoint:
    """The metric children of one model at one endpoint; label sets that vary are made on first use."""

    __slots__ = (
        "_calls",
        "_m",
        "_outcomes",
        "breaker",
        "breaker_state",
        "cost",
        "in_flight",
        "labels",
        "tokens",
        "tps",
        "ttft",
    )

    def __init__(self, m: _Metrics, model: str, provider: str, key: str) -> None:
        self._m = m
        self.labels = (model, provider, key)
        self.in_flight = m.in_flight.labels(provider, key)
        self.breaker = m.breaker.labels(provider, key)
        #: the state last set on the breaker gauge
        self.breaker_state: str | None = None
        self.ttft = m.ttft.labels(*self.labels)
        self.tps = m.tps.labels(*self.labels)
        self.cost = m.cost.labels(*self.labels)
        self.tokens = {kind: m.tokens.labels(*self.labels, kind) for kind in _TOKEN_KINDS}
        #: (outcome, error type) -> (attempts counter, attempt duration histogram)
        self._outcomes: dict[tuple[str, str], tuple[Any, Any]] = {}
        #: (outcome, error type) -> (calls counter, call duration histogram)
        self._calls: dict[tuple[str, str], tuple[Any, Any]] = {}

    def attempt(self, outcome: str, error: str) -> tuple[Any, Any]:
        """The attempts counter and duration histogram of an outcome."""
        found = self._outcomes.get((outcome, error))
        if found is None:
            m = self._m
            found = (m.attempts.labels(*self.labels, outcome, error), m.attempt_seconds.labels(*self.labels, outcome))
            self._outcomes[(outcome, error)] = found
        return found

    def call(self, outcome: str, error: str) -> tuple[Any, Any]:
        """The calls counter and duration histogram of an outcome."""
        found = self._calls.get((outcome, error))
        if found is None:
            m = self._m
            found = (m.calls.labels(*self.labels, outcome, error), m.call_seconds.labels(*self.labels, outcome))
            self._calls[(outcome, error)] = found
        return found

    def set_breaker(self, state: str) -> None:
        """Set the breaker gauge (only when the state changed)."""
        if state != self.breaker_state:
            self.breaker_state = state
            self.breaker.set(BREAKER_STATES.get(state, 0.0))


_TOKEN_KINDS = ("input", "output", "cached_input", "cache_write_input", "reasoning")
_lock = threading.Lock()
#: metric families by registry (prometheus-client refuses to register a name twice)
_registries: dict[int, _Metrics] = {}
#: this process's budget collectors, added to the multiprocess exposition
_live: weakref.WeakSet[_BudgetCollector] = weakref.WeakSet()


def _metrics_for(registry: CollectorRegistry) -> _Metrics:
    with _lock:
        m = _registries.get(id(registry))
        if m is None or m.registry is not registry:
            m = _registries[id(registry)] = _Metrics(registry)
        return m


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class PrometheusObserver:
    """Counts every call and attempt into Prometheus metrics (pass it in ``Router(observers=[...])``).

    ``registry`` defaults to prometheus-client's ``REGISTRY``. Observers on the same registry
    share the metrics, so several routers may each have one.
    """

    __slots__ = ("_metrics", "_watched", "registry")
    #: followed through the per-call observers ``on_call_start`` returns (see ``Observers``)
    call_start_only = True

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY
        self._metrics = _metrics_for(self.registry)
        self._watched: set[int] = set()

    def watch(self, router: Router) -> None:
        """Report ``router``'s budget balances (``polyroute_budget_remaining_usd``); done on its first call anyway."""
        if id(router) in self._watched:
            return
        self._watched.add(id(router))
        if router.budgets is not None:
            collector = _BudgetCollector(router)
            if not _multiprocess():
                self.registry.register(collector)
            _live.add(collector)

    def on_call_start(self, router: Router, request: ChatRequest, request_id: str, plan: Plan) -> _CallMetrics:
        """Follow the call (to time it and read its endpoints' breakers when it ends)."""
        if id(router) not in self._watched:
            self.watch(router)
        return _CallMetrics(self._metrics, router)

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """Counted by the call's own observer."""

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """Counted by the call's own observer."""

    def __repr__(self) -> str:
        return "PrometheusObserver()"


class _CallMetrics:
    """One call's measurements."""

    __slots__ = ("_health", "_m", "_now", "_started")

    def __init__(self, metrics: _Metrics, router: Router) -> None:
        self._m = metrics
        self._health = router.health
        self._now = router.clock.monotonic
        self._started = self._now()

    def on_attempt_start(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        self._m.endpoint(model, endpoint.provider, endpoint.model).in_flight.inc()

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        ep = self._m.endpoint(attempt.model, attempt.provider, attempt.endpoint_model)
        outcome = attempt_outcome(attempt)
        count, seconds = ep.attempt(outcome, (attempt.error or "") if outcome != "success" else "")
        count.inc()
        if outcome == "skipped":
            return
        ep.in_flight.dec()
        latency = attempt.latency_s
        seconds.observe(latency)
        ttft = attempt.ttft_s
        if ttft is not None:
            ep.ttft.observe(ttft)
        usage = attempt.usage
        if usage is None:
            return
        tokens = ep.tokens
        if usage.prompt_tokens:
            tokens["input"].inc(usage.prompt_tokens)
        if usage.completion_tokens:
            tokens["output"].inc(usage.completion_tokens)
        if usage.prompt_tokens_details:
            if cached := usage.cached_tokens:
                tokens["cached_input"].inc(cached)
            if written := usage.cache_write_tokens:
                tokens["cache_write_input"].inc(written)
        if usage.completion_tokens_details and (reasoning := usage.reasoning_tokens):
            tokens["reasoning"].inc(reasoning)
        if outcome == "success" and usage.completion_tokens > 0:
            generating = latency - ttft if ttft is not None else 0.0
            if generating <= 0:
                generating = latency
            if generating > 0:
                ep.tps.observe(usage.completion_tokens / generating)

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        m = self._m
        if route is not None:
            attempts: Sequence[Attempt] = route.attempts
            ep = m.endpoint(route.model, route.provider, route.endpoint_model)
            count, seconds = ep.call("success", "")
            seconds.observe(route.latency_s)
        else:
            attempts = error.attempts if error is not None else ()
            last = attempts[-1] if attempts else None
            if last is not None:
                ep = m.endpoint(last.model, last.provider, last.endpoint_model)
            else:
                ep = m.endpoint(request.models[0], "", "")
            name = type(error).__name__
            count, seconds = ep.call("cancelled" if name == "Cancelled" else "error", name)
            seconds.observe(self._now() - self._started)
        count.inc()
        # cost per endpoint, summed exactly before it becomes a float; breakers after the verdicts
        if len(attempts) == 1:
            only = attempts[0]
            if only.cost:
                ep.cost.inc(float(only.cost))
            if only.outcome != "success" or ep.breaker_state != "closed":
                ep.set_breaker(self._health.breaker(ep.labels[2]).state_at(self._now()))
            return
        costs: dict[_Endpoint, Decimal] = {}
        now = self._now()
        for a in attempts:
            at = m.endpoint(a.model, a.provider, a.endpoint_model)
            if a.cost and a.outcome != "skipped":
                costs[at] = costs.get(at, Decimal(0)) + a.cost
            at.set_breaker(self._health.breaker(at.labels[2]).state_at(now))
        for at, cost in costs.items():
            if cost:
                at.cost.inc(float(cost))


class _BudgetCollector(Collector):
    """``polyroute_budget_remaining_usd`` of a router's budget rules, read when scraped.

    Rules for one caller (``match`` a value) are reported; a rule for every caller (``match: "*"``)
    has a balance per caller, which would make one series per user: it is left out.
    """

    def __init__(self, router: Router) -> None:
        self._router = weakref.ref(router)

    def collect(self) -> Iterator[Metric]:
        from polyroute.accounting._settings import key_fingerprint
        from polyroute.budgets import window

        family = GaugeMetricFamily(
            "polyroute_budget_remaining_usd",
            "What a budget rule leaves to spend in its current period, in USD (reservations not deducted).",
            labels=("rule", "scope", "period"),
        )
        router = self._router()
        guard = router.budgets if router is not None else None
        if guard is not None:
            now = guard.clock.time()
            for rule in guard.rules:
                if rule.match == "*":
                    continue
                subject = key_fingerprint(rule.match) if rule.scope == "key" else rule.match
                counter = f"{rule.id}|{subject}|{window(rule.period, now)}"
                spent, _ = guard.store.balance(counter, now=now)
                family.add_metric((rule.id, rule.scope, rule.period), float(rule.limit_usd - spent))
        yield family


def metrics_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry to expose: in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) a new one
    reading every process's files, plus this process's budget balances; else ``registry``
    (default ``REGISTRY``)."""
    if not _multiprocess():
        return registry if registry is not None else REGISTRY
    from prometheus_client.multiprocess import MultiProcessCollector

    out = CollectorRegistry()
    MultiProcessCollector(out)  # type: ignore[no-untyped-call]
    for collector in list(_live):
        out.register(collector)
    return out


def exposition(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The ``/metrics`` page and its content type: ``body, content_type = exposition()``.

    Handles prometheus-client's multiprocess mode (see :func:`metrics_registry`)."""
    return generate_latest(metrics_registry(registry)), CONTENT_TYPE_LATEST


def serve(
    port: int = 9464, addr: str = "127.0.0.1", *, registry: CollectorRegistry | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (the server and thread are
    returned: ``server.shutdown()`` stops it). Multiprocess mode is handled."""
    server, thread = start_http_server(port, addr, registry=metrics_registry(registry))
    return server, thread
