"""Live health statistics per endpoint: rolling windows, read by routing on every request.

Each endpoint keeps two rolling windows (by default the last 5 and 30 minutes), each a ring of
30 time buckets. A finished attempt updates the current bucket and the window's running totals
in O(1); a bucket that falls out of the window is subtracted from the totals when time moves
past it. Latencies and throughputs go into log-scale histograms (bins 10% wide), so percentiles
are read from the totals without sorting samples, to within about 5%.

What is counted, per window: successes; failures that are the endpoint's fault (5xx,
timeouts, broken streams: what :attr:`~polyroute.errors.ProviderError.counts_against_endpoint`
says; a 400 or a 429 never counts against a provider); ``not_counted`` attempts (those 4xx);
``cancelled`` attempts (a hedge that lost, a caller who left). Time to first token is the
stream's first content, or the whole response for a call that was not streamed (that is when
its caller got the first token); throughput is output tokens per second after the first token.

:class:`Stats` is a :class:`~polyroute.CallObserver` with an ``on_attempt_start`` hook (the
in-flight count). Routing reads :meth:`Stats.signals`, cached per endpoint until the next
update, so a read costs a dict lookup and a comparison. Times come from the injected clock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from polyroute import errors
from polyroute._catalog import Endpoint
from polyroute._clock import Clock
from polyroute._health import HealthState
from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route

__all__ = ["EndpointStats", "Percentiles", "RoutingView", "Signals", "Stats", "WindowStats"]

_RATIO = 1.1
_LOG_RATIO = math.log(_RATIO)
_FLOOR = 1e-6  # values at or below this (seconds or tokens/s) share the lowest bin
_PCTS = (50.0, 75.0, 90.0, 95.0, 99.0)


def _bin(x: float) -> int:
    return math.floor(math.log(max(x, _FLOOR)) / _LOG_RATIO)


def _bin_value(b: int) -> float:
    return float(_RATIO ** (b + 0.5))


def _percentile(hist: dict[int, int], total: int, pct: float) -> float:
    """The ``pct`` percentile of a histogram holding ``total`` samples."""
    rank = max(1, math.ceil(total * pct / 100.0))
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return _bin_value(b)
    return _bin_value(max(hist))


def _add(hist: dict[int, int], b: int, n: int = 1) -> None:
    hist[b] = hist.get(b, 0) + n


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50 to p99 of a measurement (seconds, or tokens per second), from ``samples`` samples."""

    p50: float
    p75: float
    p90: float
    p95: float
    p99: float
    samples: int

    def get(self, name: str) -> float | None:
        """A percentile by name (``"p95"``), ``None`` if not kept."""
        value = getattr(self, name, None)
        return value if isinstance(value, float) else None

    def model_dump(self) -> dict[str, Any]:
        return {"p50": self.p50, "p75": self.p75, "p90": self.p90, "p95": self.p95, "p99": self.p99,
                "samples": self.samples}  # fmt: skip


def _percentiles(hist: dict[int, int]) -> Percentiles | None:
    total = sum(hist.values())
    if not total:
        return None
    p50, p75, p90, p95, p99 = (_percentile(hist, total, p) for p in _PCTS)
    return Percentiles(p50, p75, p90, p95, p99, total)


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One endpoint over one rolling window."""

    window_s: float
    successes: int
    failures: int
    not_counted: int
    cancelled: int
    #: successes / (successes + failures); ``None`` without either
    success_ratio: float | None
    ttft: Percentiles | None
    latency: Percentiles | None
    throughput: Percentiles | None

    @property
    def attempts(self) -> int:
        """Every attempt that ended in the window."""
        return self.successes + self.failures + self.not_counted + self.cancelled

    def model_dump(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": self.failures,
            "not_counted": self.not_counted,
            "cancelled": self.cancelled,
            "success_ratio": self.success_ratio,
            "ttft": self.ttft.model_dump() if self.ttft else None,
            "latency": self.latency.model_dump() if self.latency else None,
            "throughput": self.throughput.model_dump() if self.throughput else None,
        }


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """What :meth:`Router.stats() <polyroute.Router.stats>` reports for one endpoint.

    ``windows`` by label (``"5m"``, ``"30m"``); ``breaker`` is ``"closed"``, ``"open"`` or
    ``"half_open"``; the ``last_*`` ages are seconds ago, ``None`` if never.
    """

    key: str
    provider: str
    model: str
    in_flight: int
    breaker: str
    windows: dict[str, WindowStats]
    last_success_s: float | None
    last_failure_s: float | None

    def model_dump(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "provider": self.provider,
            "model": self.model,
            "in_flight": self.in_flight,
            "breaker": self.breaker,
            "last_success_s": self.last_success_s,
            "last_failure_s": self.last_failure_s,
            "windows": {k: w.model_dump() for k, w in self.windows.items()},
        }


@dataclass(frozen=True, slots=True)
class Signals:
    """What routing reads about an endpoint (the short window): medians, tail, reliability."""

    ttft_p50: float | None
    ttft_p95: float | None
    latency_p50: float | None
    throughput_p50: float | None
    ttft: Percentiles | None
    throughput: Percentiles | None
    success_ratio: float | None
    successes: int
    failures: int
    #: clock-monotonic times of the last success and the last failure that counted
    last_success: float | None
    last_failure: float | None

    def recent_outage(self, now: float, window: float) -> bool:
        """Whether the endpoint failed within ``window`` seconds and has not succeeded since."""
        failed = self.last_failure
        if failed is None or now - failed > window:
            return False
        return self.last_success is None or self.last_success < failed


_EMPTY_SIGNALS = Signals(None, None, None, None, None, None, None, 0, 0, None, None)


class _Bucket:
    __slots__ = ("cancelled", "epoch", "failed", "latency", "neutral", "ok", "tps", "ttft")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.ok = self.failed = self.neutral = self.cancelled = 0
        self.ttft: dict[int, int] = {}
        self.latency: dict[int, int] = {}
        self.tps: dict[int, int] = {}


class _Window:
    """A rolling window of ``span`` seconds in ``n`` buckets, with running totals."""

    __slots__ = ("buckets", "head", "n", "span", "totals", "version", "width")

    def __init__(self, span: float, n: int) -> None:
        self.span = span
        self.n = n
        self.width = span / n
        self.buckets: list[_Bucket | None] = [None] * n
        self.head: int | None = None
        self.totals = _Bucket(0)
        self.version = 0

    def roll(self, now: float) -> None:
        """Move the window to ``now``, dropping buckets that fell out of it."""
        epoch = int(now // self.width)
        head = self.head
        if head is not None and epoch <= head:
            return
        self.head = epoch
        if head is None:
            return
        if epoch - head >= self.n:
            if any(self.buckets):
                self.buckets = [None] * self.n
                self.totals = _Bucket(0)
                self.version += 1
            return
        t = self.totals
        for e in range(head + 1, epoch + 1):
            b = self.buckets[e % self.n]
            if b is None:
                continue
            t.ok -= b.ok
            t.failed -= b.failed
            t.neutral -= b.neutral
            t.cancelled -= b.cancelled
            for mine, total in ((b.ttft, t.ttft), (b.latency, t.latency), (b.tps, t.tps)):
                for k, v in mine.items():
                    left = total[k] - v
                    if left:
                        total[k] = left
                    else:
                        del total[k]
            self.buckets[e % self.n] = None
            self.version += 1

    def bucket(self, now: float) -> _Bucket:
        self.roll(now)
        i = (self.head or 0) % self.n
        b = self.buckets[i]
        if b is None:
            b = self.buckets[i] = _Bucket(self.head or 0)
        self.version += 1
        return b

    def report(self) -> WindowStats:
        t = self.totals
        counted = t.ok + t.failed
        return WindowStats(
            window_s=self.span,
            successes=t.ok,
            failures=t.failed,
            not_counted=t.neutral,
            cancelled=t.cancelled,
            success_ratio=t.ok / counted if counted else None,
            ttft=_percentiles(t.ttft),
            latency=_percentiles(t.latency),
            throughput=_percentiles(t.tps),
        )


class _Recorder:
    """One endpoint's live statistics."""

    __slots__ = ("_cached", "_cached_version", "in_flight", "last_failure", "last_success", "lock", "windows")

    def __init__(self, spans: Iterable[float], n: int) -> None:
        self.windows = [_Window(s, n) for s in spans]
        self.lock = threading.Lock()
        self.in_flight = 0
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self._cached = _EMPTY_SIGNALS
        self._cached_version = -1

    def record(self, now: float, kind: str, ttft: float | None, latency: float, tps: float | None) -> None:
        with self.lock:
            self.in_flight = max(self.in_flight - 1, 0)
            if kind == "ok":
                self.last_success = now
            elif kind == "failed":
                self.last_failure = now
            for w in self.windows:
                for b in (w.bucket(now), w.totals):
                    if kind == "ok":
                        b.ok += 1
                        _add(b.latency, _bin(latency))
                        if ttft is not None:
                            _add(b.ttft, _bin(ttft))
                        if tps is not None:
                            _add(b.tps, _bin(tps))
                    elif kind == "failed":
                        b.failed += 1
                    elif kind == "neutral":
                        b.neutral += 1
                    else:
                        b.cancelled += 1

    def signals(self, now: float) -> Signals:
        w = self.windows[0]
        if now // w.width != w.head:
            with self.lock:
                w.roll(now)
        version = w.version
        if version == self._cached_version:
            return self._cached
        with self.lock:
            t = w.totals
            ttft = _percentiles(t.ttft)
            tps = _percentiles(t.tps)
            counted = t.ok + t.failed
            latency = _percentile(t.latency, t.ok, 50.0) if t.latency and t.ok else None
            signals = Signals(
                ttft_p50=ttft.p50 if ttft else None,
                ttft_p95=ttft.p95 if ttft else None,
                latency_p50=latency,
                throughput_p50=tps.p50 if tps else None,
                ttft=ttft,
                throughput=tps,
                success_ratio=t.ok / counted if counted else None,
                successes=t.ok,
                failures=t.failed,
                last_success=self.last_success,
                last_failure=self.last_failure,
            )
            self._cached, self._cached_version = signals, version
        return signals


def _classify(attempt: Attempt) -> str:
    if attempt.outcome == "success":
        return "ok"
    name = attempt.error or ""
    if name == "Cancelled":
        return "cancelled"
    if attempt.status in (400, 429):
        return "neutral"
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.ProviderError) and not cls.counts_against_endpoint:
        return "neutral"
    return "failed"


def _window_label(span: float) -> str:
    return f"{span / 60:g}m" if span % 60 == 0 else f"{span:g}s"


class Stats:
    """Per-endpoint rolling statistics, fed by every attempt (a :class:`~polyroute.CallObserver`).

    ``windows`` are the rolling spans in seconds, the first one being what routing reads.
    Thread-safe; cheap to update and to read.
    """

    def __init__(self, clock: Clock, *, windows: tuple[float, ...] = (300.0, 1800.0), buckets: int = 30) -> None:
        if not windows or any(w <= 0 for w in windows):
            raise ValueError("windows must be positive spans in seconds")
        self._clock = clock
        self._spans = windows
        self._buckets = buckets
        self._recorders: dict[str, _Recorder] = {}
        self._lock = threading.Lock()

    @property
    def windows(self) -> tuple[float, ...]:
        """The rolling spans, in seconds."""
        return self._spans

    def _recorder(self, key: str) -> _Recorder:
        r = self._recorders.get(key)
        if r is None:
            with self._lock:
                r = self._recorders.setdefault(key, _Recorder(self._spans, self._buckets))
        return r

    # -- observer hooks ------------------------------------------------------------------------

    def on_attempt_start(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        """An attempt was sent to ``endpoint``: count it in flight."""
        r = self._recorder(endpoint.key)
        with r.lock:
            r.in_flight += 1

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """An attempt ended: update the windows (skipped attempts were never sent)."""
        if attempt.outcome == "skipped":
            return
        kind = _classify(attempt)
        latency = attempt.latency_s
        ttft = attempt.ttft_s if attempt.ttft_s is not None else (latency if kind == "ok" else None)
        tps = None
        usage = attempt.usage
        if kind == "ok" and usage is not None and usage.completion_tokens > 0:
            generating = latency - attempt.ttft_s if attempt.ttft_s is not None else latency
            if generating > 0:
                tps = usage.completion_tokens / generating
        key = f"{attempt.provider}/{attempt.endpoint_model}"
        self._recorder(key).record(self._clock.monotonic(), kind, ttft, latency, tps)

    def on_call(self, request: ChatRequest, route: Route | None, error: errors.PolyrouteError | None) -> None:
        """Calls are counted by their attempts."""

    # -- reading -------------------------------------------------------------------------------

    def signals(self, key: str, now: float) -> Signals:
        """What routing reads about ``key`` at ``now`` (empty signals for an endpoint never used)."""
        r = self._recorders.get(key)
        return r.signals(now) if r is not None else _EMPTY_SIGNALS

    def in_flight(self, key: str) -> int:
        """Attempts at ``key`` sent and not yet ended."""
        r = self._recorders.get(key)
        return r.in_flight if r is not None else 0

    def report(self, endpoints: Iterable[Endpoint], health: HealthState, now: float) -> dict[str, EndpointStats]:
        """Every endpoint's statistics at ``now``, by endpoint key."""
        out: dict[str, EndpointStats] = {}
        breakers = health.snapshot(now)
        for ep in endpoints:
            if ep.key in out:
                continue
            r = self._recorders.get(ep.key)
            windows: dict[str, WindowStats] = {}
            if r is None:
                r = _Recorder(self._spans, self._buckets)
            with r.lock:
                for w in r.windows:
                    w.roll(now)
                    windows[_window_label(w.span)] = w.report()
            b = breakers.get(ep.key)
            out[ep.key] = EndpointStats(
                key=ep.key,
                provider=ep.provider,
                model=ep.model,
                in_flight=r.in_flight,
                breaker=b.state if b is not None else "closed",
                windows=windows,
                last_success_s=None if r.last_success is None else now - r.last_success,
                last_failure_s=None if r.last_failure is None else now - r.last_failure,
            )
        return out


class RoutingView:
    """What planning reads about endpoints: breaker availability plus live statistics."""

    __slots__ = ("health", "stats")

    def __init__(self, health: HealthState, stats: Stats) -> None:
        self.health = health
        self.stats = stats

    def available(self, key: str, now: float) -> bool:
        """Whether the endpoint's circuit lets a request through now."""
        return self.health.available(key, now)

    def signals(self, key: str, now: float) -> Signals:
        """The endpoint's live statistics."""
        return self.stats.signals(key, now)

    def in_flight(self, key: str) -> int:
        """Attempts at the endpoint now."""
        return self.stats.in_flight(key)
