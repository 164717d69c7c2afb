"""Live health statistics per endpoint: rolling windows, read by routing on every request.

Each endpoint keeps two rolling windows (by default the last 5 and 30 minutes), each a ring of
30 time buckets. A finished attempt updates the current bucket and the window's running totals
in O(1); a bucket that falls out of the window is subtracted from the totals when time moves
past it. A shared state backend exchanges the windows' totals between processes
(:meth:`Stats.export`, :meth:`Stats.set_remote`): routing and reports then read this process's
windows merged with the others' (refreshed every ``sync_interval``). Latencies and throughputs
go into log-scale histograms (bins 2% wide), so percentiles are read from the totals without
keeping samples, to within about 1%.

What is counted, per window: successes; failures that are the endpoint's fault (5xx,
timeouts, broken streams: what :attr:`~polyroute.errors.ProviderError.counts_against_endpoint`
says; a 400 or a 429 never counts against a provider); ``not_counted`` attempts (those 4xx);
``cancelled`` attempts (a hedge that lost, a caller who left). Time to first token is the
stream's first content, or the whole response for a call that was not streamed (that is when
its caller got the first token); throughput is output tokens per second after the first token.

:class:`Stats` is a :class:`~polyroute.CallObserver` with an ``on_attempt_start`` hook (the
in-flight count). Routing reads :meth:`Stats.signals`, cached per endpoint until the next
update (percentiles computed only when something asks for them), so a read costs a dict lookup
and a comparison. Times come from the injected clock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from polyroute import errors
from polyroute._clock import Clock
from polyroute._records import Record
from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route
from polyroute.catalog._catalog import Endpoint
from polyroute.health._breakers import HealthState

if TYPE_CHECKING:
    from polyroute.state._limits import RateLimits

__all__ = ["EndpointStats", "Percentiles", "Remote", "RoutingView", "Signals", "Stats", "WindowStats"]

_RATIO = 1.02
_LOG_RATIO = math.log(_RATIO)
_FLOOR = 1e-6  # values at or below this (seconds or tokens/s) share the lowest bin
_PCTS = (50.0, 75.0, 90.0, 95.0, 99.0)


def _bin(x: float) -> int:
    return math.floor(math.log(x if x > _FLOOR else _FLOOR) / _LOG_RATIO)


def _bin_value(b: int) -> float:
    return float(_RATIO ** (b + 0.5))


class Percentiles(Record):
    """p50 to p99 of a measurement (seconds, or tokens per second), from ``samples`` samples.

    Read from log-scale histograms with bins 2% wide: each value is within about 1% of the
    exact percentile of the samples."""

    __slots__ = ("p50", "p75", "p90", "p95", "p99", "samples")

    def __init__(self, p50: float, p75: float, p90: float, p95: float, p99: float, *, samples: int) -> None:
        self.p50 = p50
        self.p75 = p75
        self.p90 = p90
        self.p95 = p95
        self.p99 = p99
        self.samples = samples

    def get(self, name: str) -> float | None:
        """A percentile by name (``"p95"``), ``None`` if not kept."""
        value = getattr(self, name, None) if name in _NAMES else None
        return value if isinstance(value, float) else None

    def model_dump(self) -> dict[str, Any]:
        return {"p50": self.p50, "p75": self.p75, "p90": self.p90, "p95": self.p95, "p99": self.p99,
                "samples": self.samples}  # fmt: skip


_NAMES = frozenset({"p50", "p75", "p90", "p95", "p99"})


def _percentiles(hist: dict[int, int]) -> Percentiles | None:
    """All five percentiles in one pass over the sorted bins."""
    total = sum(hist.values())
    if not total:
        return None
    ranks = [max(1, math.ceil(total * p / 100.0)) for p in _PCTS]
    out: list[float] = []
    seen = 0
    i = 0
    for b in sorted(hist):
        seen += hist[b]
        while i < len(ranks) and seen >= ranks[i]:
            out.append(_bin_value(b))
            i += 1
        if i == len(ranks):
            break
    return Percentiles(out[0], out[1], out[2], out[3], out[4], samples=total)


class WindowStats(Record):
    """One endpoint over one rolling window of ``window_s`` seconds.

    ``success_ratio`` is successes / (successes + failures), ``None`` without either;
    ``not_counted`` are 4xx answers (429 included) that say nothing against the provider;
    ``cancelled`` are attempts we stopped (a hedge that lost, a caller who left).
    """

    __slots__ = (
        "cancelled",
        "failures",
        "latency",
        "not_counted",
        "success_ratio",
        "successes",
        "throughput",
        "ttft",
        "window_s",
    )

    def __init__(
        self,
        *,
        window_s: float,
        successes: int,
        failures: int,
        not_counted: int,
        cancelled: int,
        success_ratio: float | None,
        ttft: Percentiles | None,
        latency: Percentiles | None,
        throughput: Percentiles | None,
    ) -> None:
        self.window_s = window_s
        self.successes = successes
        self.failures = failures
        self.not_counted = not_counted
        self.cancelled = cancelled
        self.success_ratio = success_ratio
        self.ttft = ttft
        self.latency = latency
        self.throughput = throughput

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


class EndpointStats(Record):
    """What :meth:`Router.stats() <polyroute.Router.stats>` reports for one endpoint.

    ``windows`` by label (``"5m"``, ``"30m"``); ``breaker`` is ``"closed"``, ``"open"`` or
    ``"half_open"``; the ``last_*`` ages are seconds ago, ``None`` if never.
    """

    __slots__ = ("breaker", "in_flight", "key", "last_failure_s", "last_success_s", "model", "provider", "windows")

    def __init__(
        self,
        *,
        key: str,
        provider: str,
        model: str,
        in_flight: int,
        breaker: str,
        windows: dict[str, WindowStats],
        last_success_s: float | None,
        last_failure_s: float | None,
    ) -> None:
        self.key = key
        self.provider = provider
        self.model = model
        self.in_flight = in_flight
        self.breaker = breaker
        self.windows = windows
        self.last_success_s = last_success_s
        self.last_failure_s = last_failure_s

    def __hash__(self) -> int:
        return hash(self.key)

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


class Signals:
    """What routing reads about an endpoint, over the short window (the last 5 minutes).

    ``ttft_recent`` / ``throughput_recent`` are exponentially weighted averages over recent
    successes (the newest weighs 30%), ``None`` when the window holds no success: what the
    latency and throughput strategies read. ``ttft`` / ``throughput`` are the window's
    percentiles, computed on first use. ``last_success`` / ``last_failure`` are clock-monotonic
    times; ``failing`` says the last attempt that counted failed.
    """

    __slots__ = (
        "_lock",
        "_tps",
        "_tps_hist",
        "_ttft",
        "_ttft_hist",
        "failing",
        "failures",
        "last_failure",
        "last_success",
        "successes",
        "throughput_recent",
        "ttft_recent",
    )

    def __init__(
        self,
        *,
        successes: int = 0,
        failures: int = 0,
        last_success: float | None = None,
        last_failure: float | None = None,
        failing: bool = False,
        ttft_recent: float | None = None,
        throughput_recent: float | None = None,
        histograms: tuple[dict[int, int], dict[int, int], threading.Lock] | None = None,
    ) -> None:
        self.successes = successes
        self.failures = failures
        self.last_success = last_success
        self.last_failure = last_failure
        self.failing = failing
        self.ttft_recent = ttft_recent
        self.throughput_recent = throughput_recent
        self._ttft_hist, self._tps_hist, self._lock = histograms or ({}, {}, threading.Lock())
        self._ttft: Percentiles | bool | None = False  # False: not computed yet
        self._tps: Percentiles | bool | None = False

    @property
    def success_ratio(self) -> float | None:
        """Successes over successes and failures in the window."""
        counted = self.successes + self.failures
        return self.successes / counted if counted else None

    @property
    def ttft(self) -> Percentiles | None:
        """Time-to-first-token percentiles over the window."""
        if self._ttft is False:
            with self._lock:
                self._ttft = _percentiles(self._ttft_hist)
        return self._ttft  # type: ignore[return-value]

    @property
    def throughput(self) -> Percentiles | None:
        """Output-tokens-per-second percentiles over the window."""
        if self._tps is False:
            with self._lock:
                self._tps = _percentiles(self._tps_hist)
        return self._tps  # type: ignore[return-value]

    def recent_outage(self, now: float, window: float) -> bool:
        """Whether the endpoint failed within ``window`` seconds and has not succeeded since."""
        failed = self.last_failure
        return self.failing and failed is not None and now - failed <= window

    def __repr__(self) -> str:
        return (
            f"Signals(successes={self.successes}, failures={self.failures}, ttft_recent={self.ttft_recent}, "
            f"throughput_recent={self.throughput_recent}, failing={self.failing})"
        )


_EMPTY_SIGNALS = Signals()


_INF = float("inf")


class _Bucket:
    __slots__ = ("cancelled", "failed", "hi", "latency", "lo", "neutral", "ok", "tps", "ttft")

    def __init__(self) -> None:
        self.ok = self.failed = self.neutral = self.cancelled = 0
        self.ttft: dict[int, int] = {}
        self.latency: dict[int, int] = {}
        self.tps: dict[int, int] = {}
        #: exact smallest and largest latency, ttft and throughput seen (buckets only, for reports)
        self.lo = [_INF, _INF, _INF]
        self.hi = [-_INF, -_INF, -_INF]

    def extremes(self, latency: float, ttft: float | None, tps: float | None) -> None:
        # comparisons, not min()/max(): five times cheaper, and this runs on every success
        lo, hi = self.lo, self.hi
        lo[0] = latency if latency < lo[0] else lo[0]
        hi[0] = latency if latency > hi[0] else hi[0]
        if ttft is not None:
            lo[1] = ttft if ttft < lo[1] else lo[1]
            hi[1] = ttft if ttft > hi[1] else hi[1]
        if tps is not None:
            lo[2] = tps if tps < lo[2] else lo[2]
            hi[2] = tps if tps > hi[2] else hi[2]

    def success(self, lb: int, tb: int | None, pb: int | None) -> None:
        """Count a success in the latency bin ``lb``, ttft bin ``tb``, throughput bin ``pb``."""
        self.ok += 1
        h = self.latency
        h[lb] = h.get(lb, 0) + 1
        if tb is not None:
            h = self.ttft
            h[tb] = h.get(tb, 0) + 1
        if pb is not None:
            h = self.tps
            h[pb] = h.get(pb, 0) + 1


def _subtract(total: dict[int, int], part: dict[int, int]) -> None:
    for k, v in part.items():
        left = total[k] - v
        if left:
            total[k] = left
        else:
            del total[k]


class _Window:
    """A rolling window of ``span`` seconds in ``n`` buckets, with running totals."""

    __slots__ = ("buckets", "head", "n", "span", "totals", "width")

    def __init__(self, span: float, n: int) -> None:
        self.span = span
        self.n = n
        self.width = span / n
        self.buckets: list[_Bucket | None] = [None] * n
        self.head: int | None = None
        self.totals = _Bucket()

    def roll(self, now: float) -> bool:
        """Move the window to ``now``, dropping buckets that fell out of it; whether any did."""
        epoch = int(now // self.width)
        head = self.head
        if head is not None and epoch <= head:
            return False
        self.head = epoch
        if head is None:
            return False
        if epoch - head >= self.n:
            if any(self.buckets):
                self.buckets = [None] * self.n
                self.totals = _Bucket()
                return True
            return False
        t = self.totals
        dropped = False
        for e in range(head + 1, epoch + 1):
            b = self.buckets[e % self.n]
            if b is None:
                continue
            t.ok -= b.ok
            t.failed -= b.failed
            t.neutral -= b.neutral
            t.cancelled -= b.cancelled
            _subtract(t.ttft, b.ttft)
            _subtract(t.latency, b.latency)
            _subtract(t.tps, b.tps)
            self.buckets[e % self.n] = None
            dropped = True
        return dropped

    def bucket(self, now: float) -> _Bucket:
        head = self.head
        if head is None or now // self.width > head:
            self.roll(now)
            head = self.head or 0
        i = head % self.n
        b = self.buckets[i]
        if b is None:
            b = self.buckets[i] = _Bucket()
        return b

    def _clamped(self, i: int, hist: dict[int, int]) -> Percentiles | None:
        """Percentiles, kept within the exact smallest and largest values of the window."""
        found = _percentiles(hist)
        buckets = [b for b in self.buckets if b is not None]
        if found is None or not buckets:
            return found
        lo = min(b.lo[i] for b in buckets)
        hi = max(b.hi[i] for b in buckets)
        p = [min(max(v, lo), hi) for v in (found.p50, found.p75, found.p90, found.p95, found.p99)]
        return Percentiles(p[0], p[1], p[2], p[3], p[4], samples=found.samples)

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
            ttft=self._clamped(1, t.ttft),
            latency=self._clamped(0, t.latency),
            throughput=self._clamped(2, t.tps),
        )


#: weight of the newest sample in the recent averages
EWMA_WEIGHT = 0.3


class Remote:
    """Other processes' statistics of one endpoint (a shared state backend builds these).

    ``windows`` line up with this process's windows: per window ``(successes, failures,
    not_counted, cancelled, ttft, latency, throughput, lo, hi)`` with log-scale histograms by
    bin and the exact extremes ``[latency, ttft, throughput]``. Times are this process's
    ``Clock.monotonic()`` seconds."""

    __slots__ = ("failing", "in_flight", "last_failure", "last_success", "tps_ewma", "ttft_ewma", "windows")

    def __init__(self, windows: list[_Totals]) -> None:
        self.windows = windows
        self.in_flight = 0
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.failing = False
        self.ttft_ewma: float | None = None
        self.tps_ewma: float | None = None


#: one window's totals: successes, failures, not counted, cancelled, ttft/latency/tps histograms, lo, hi
_Totals = tuple[int, int, int, int, dict[int, int], dict[int, int], dict[int, int], list[float], list[float]]


def _add(into: dict[int, int], part: dict[int, int]) -> None:
    for k, v in part.items():
        into[k] = into.get(k, 0) + v


def _later(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def _mean(a: float | None, wa: int, b: float | None, wb: int) -> float | None:
    if a is None or not wa:
        return b if wb else None
    if b is None or not wb:
        return a
    return (a * wa + b * wb) / (wa + wb)


class _Recorder:
    """One endpoint's live statistics."""

    __slots__ = (
        "_failing_keys",
        "_signals",
        "failing",
        "in_flight",
        "key",
        "last_failure",
        "last_success",
        "lock",
        "remote",
        "tps_ewma",
        "ttft_ewma",
        "windows",
    )

    def __init__(self, key: str, spans: Iterable[float], n: int, failing: set[str]) -> None:
        self.key = key
        #: other processes' statistics (shared state), or None
        self.remote: Remote | None = None
        self._failing_keys = failing
        self.windows = [_Window(s, n) for s in spans]
        self.lock = threading.Lock()
        self.in_flight = 0
        self.last_success: float | None = None
        self.last_failure: float | None = None
        self.failing = False
        self.ttft_ewma: float | None = None
        self.tps_ewma: float | None = None
        self._signals: Signals | None = None  # None: changed since last read

    def record(self, now: float, kind: int, ttft: float | None, latency: float, tps: float | None) -> None:
        """Count one finished attempt (``kind``: one of the ``_OK``... constants)."""
        if kind == _OK:
            lb = _bin(latency)
            tb = lb if ttft == latency else (_bin(ttft) if ttft is not None else None)
            pb = _bin(tps) if tps is not None else None
        with self.lock:
            self.in_flight = self.in_flight - 1 if self.in_flight > 0 else 0
            self._signals = None
            if kind == _OK:
                self.last_success = now
                if self.failing:
                    self.failing = False
                    self._failing_keys.discard(self.key)
                if ttft is not None:
                    old = self.ttft_ewma
                    self.ttft_ewma = ttft if old is None else old + EWMA_WEIGHT * (ttft - old)
                if tps is not None:
                    old = self.tps_ewma
                    self.tps_ewma = tps if old is None else old + EWMA_WEIGHT * (tps - old)
            elif kind == _FAILED:
                self.last_failure = now
                self.failing = True
                self._failing_keys.add(self.key)
            for w in self.windows:
                bucket = w.bucket(now)
                totals = w.totals
                if kind == _OK:
                    bucket.extremes(latency, ttft, tps)
                    bucket.success(lb, tb, pb)
                    totals.success(lb, tb, pb)
                elif kind == _FAILED:
                    bucket.failed += 1
                    totals.failed += 1
                elif kind == _NEUTRAL:
                    bucket.neutral += 1
                    totals.neutral += 1
                else:
                    bucket.cancelled += 1
                    totals.cancelled += 1

    def signals(self, now: float) -> Signals:
        w = self.windows[0]
        cached = self._signals
        if cached is not None and now // w.width == w.head:
            return cached
        with self.lock:
            w.roll(now)
            t = w.totals
            rem = self.remote
            if rem is None:
                signals = Signals(
                    successes=t.ok,
                    failures=t.failed,
                    last_success=self.last_success,
                    last_failure=self.last_failure,
                    failing=self.failing,
                    ttft_recent=self.ttft_ewma if t.ttft else None,
                    throughput_recent=self.tps_ewma if t.tps else None,
                    histograms=(t.ttft, t.tps, self.lock),
                )
            else:
                signals = self._merged(t, rem)
            self._signals = signals
        return signals

    def _merged(self, t: _Bucket, rem: Remote) -> Signals:
        """This process's short window plus the other processes' (caller holds the lock)."""
        ok, failed, _, _, ttft, _, tps, _, _ = rem.windows[0]
        last_success = _later(self.last_success, rem.last_success)
        last_failure = _later(self.last_failure, rem.last_failure)
        failing = (self.failing or rem.failing) and (
            last_failure is not None and (last_success is None or last_failure >= last_success)
        )
        ttft_hist = dict(t.ttft)
        _add(ttft_hist, ttft)
        tps_hist = dict(t.tps)
        _add(tps_hist, tps)
        return Signals(
            successes=t.ok + ok,
            failures=t.failed + failed,
            last_success=last_success,
            last_failure=last_failure,
            failing=failing,
            ttft_recent=_mean(self.ttft_ewma if t.ttft else None, t.ok, rem.ttft_ewma if ttft else None, ok),
            throughput_recent=_mean(self.tps_ewma if t.tps else None, t.ok, rem.tps_ewma if tps else None, ok),
            histograms=(ttft_hist, tps_hist, threading.Lock()),
        )

    def export(self, now: float) -> dict[str, Any]:
        """This process's windows, for other processes (ages instead of clock times)."""
        with self.lock:
            windows = []
            for w in self.windows:
                w.roll(now)
                t = w.totals
                buckets = [b for b in w.buckets if b is not None]
                lo = [min((b.lo[i] for b in buckets), default=_INF) for i in range(3)]
                hi = [max((b.hi[i] for b in buckets), default=-_INF) for i in range(3)]
                # JSON has no infinity: None stands for "no value yet"
                lo = [None if v == _INF else v for v in lo]  # type: ignore[misc]
                hi = [None if v == -_INF else v for v in hi]  # type: ignore[misc]
                windows.append(
                    [t.ok, t.failed, t.neutral, t.cancelled, dict(t.ttft), dict(t.latency), dict(t.tps), lo, hi]
                )
            return {
                "windows": windows,
                "in_flight": self.in_flight,
                "success_age": None if self.last_success is None else now - self.last_success,
                "failure_age": None if self.last_failure is None else now - self.last_failure,
                "failing": self.failing,
                "ttft_ewma": self.ttft_ewma,
                "tps_ewma": self.tps_ewma,
            }


_OK, _FAILED, _NEUTRAL, _CANCELLED = 0, 1, 2, 3


def _classify(attempt: Attempt) -> int:
    if attempt.outcome == "success":
        return _OK
    name = attempt.error or ""
    if name == "Cancelled":
        return _CANCELLED
    if attempt.status in (400, 429):
        return _NEUTRAL
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.ProviderError) and not cls.counts_against_endpoint:
        return _NEUTRAL
    return _FAILED


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
        #: endpoints whose last counted attempt failed: routing checks them for a recent outage
        self.failing: set[str] = set()

    @property
    def windows(self) -> tuple[float, ...]:
        """The rolling spans, in seconds."""
        return self._spans

    def _recorder(self, key: str) -> _Recorder:
        r = self._recorders.get(key)
        if r is None:
            with self._lock:
                r = self._recorders.setdefault(key, _Recorder(key, self._spans, self._buckets, self.failing))
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
        ttft = attempt.ttft_s if attempt.ttft_s is not None else (latency if kind == _OK else None)
        tps = None
        usage = attempt.usage
        if kind == _OK and usage is not None and usage.completion_tokens > 0:
            # after the first token; the whole call when that is all we know (or it all came at once)
            generating = latency - attempt.ttft_s if attempt.ttft_s is not None else 0.0
            if generating <= 0:
                generating = latency
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
        """Attempts at ``key`` sent and not yet ended (in every process, with shared state)."""
        r = self._recorders.get(key)
        if r is None:
            return 0
        rem = r.remote
        return r.in_flight if rem is None else r.in_flight + rem.in_flight

    # -- sharing -------------------------------------------------------------------------------

    def export(self, now: float) -> dict[str, dict[str, Any]]:
        """Every endpoint's windows in this process (what a shared backend publishes)."""
        return {key: r.export(now) for key, r in list(self._recorders.items())}

    def set_remote(self, remote: dict[str, Remote]) -> None:
        """Other processes' statistics, merged into what routing and reports read from now on."""
        for key in remote:
            self._recorder(key)
        for key, r in list(self._recorders.items()):
            rem = remote.get(key)
            with r.lock:
                r.remote = rem
                r._signals = None
            if rem is not None and rem.failing:
                self.failing.add(key)

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
                r = _Recorder(ep.key, self._spans, self._buckets, set())
            with r.lock:
                rem = r.remote
                for i, w in enumerate(r.windows):
                    w.roll(now)
                    label = _window_label(w.span)
                    windows[label] = w.report() if rem is None else _merged_report(w, rem.windows[i])
            b = breakers.get(ep.key)
            last_success, last_failure = r.last_success, r.last_failure
            in_flight = r.in_flight
            if rem is not None:
                last_success = _later(last_success, rem.last_success)
                last_failure = _later(last_failure, rem.last_failure)
                in_flight += rem.in_flight
            out[ep.key] = EndpointStats(
                key=ep.key,
                provider=ep.provider,
                model=ep.model,
                in_flight=in_flight,
                breaker=b.state if b is not None else "closed",
                windows=windows,
                last_success_s=None if last_success is None else now - last_success,
                last_failure_s=None if last_failure is None else now - last_failure,
            )
        return out


def _merged_report(w: _Window, other: _Totals) -> WindowStats:
    """A window's report over this process's totals plus other processes'."""
    t = w.totals
    ok, failed, neutral, cancelled, ttft, latency, tps, olo, ohi = other
    merged = [dict(t.latency), dict(t.ttft), dict(t.tps)]
    _add(merged[0], latency)
    _add(merged[1], ttft)
    _add(merged[2], tps)
    buckets = [b for b in w.buckets if b is not None]
    out: list[Percentiles | None] = []
    for i in range(3):
        found = _percentiles(merged[i])
        if found is not None:
            lo = min([olo[i], *(b.lo[i] for b in buckets)])
            hi = max([ohi[i], *(b.hi[i] for b in buckets)])
            p = [min(max(v, lo), hi) for v in (found.p50, found.p75, found.p90, found.p95, found.p99)]
            found = Percentiles(p[0], p[1], p[2], p[3], p[4], samples=found.samples)
        out.append(found)
    successes, failures = t.ok + ok, t.failed + failed
    counted = successes + failures
    return WindowStats(
        window_s=w.span,
        successes=successes,
        failures=failures,
        not_counted=t.neutral + neutral,
        cancelled=t.cancelled + cancelled,
        success_ratio=successes / counted if counted else None,
        ttft=out[1],
        latency=out[0],
        throughput=out[2],
    )


class RoutingView:
    """What planning reads about endpoints: breaker availability plus live statistics.

    ``available(key, now)``, ``signals(key, now)`` and ``in_flight(key)`` are the health
    state's and the statistics' own methods, bound once; with ``limits``, an endpoint at its
    rate limit is not available either (planning moves it behind the others)."""

    __slots__ = ("available", "failing", "health", "in_flight", "signals", "stats")

    def __init__(self, health: HealthState, stats: Stats, limits: RateLimits | None = None) -> None:
        self.health = health
        self.stats = stats
        if limits is None:
            self.available = health.available
        else:
            breaker_ok = health.available
            rate_ok = limits.available

            def available(key: str, now: float) -> bool:
                return breaker_ok(key, now) and rate_ok(key, now)

            self.available = available
        self.signals = stats.signals
        self.in_flight = stats.in_flight
        self.failing = stats.failing
