"""Rate limits: requests and tokens per minute per endpoint or provider account.

Limits come from configuration (``rate_limit: {rpm, tpm}`` on a provider, for its whole account,
or on an endpoint) and from what providers say: ``x-ratelimit-remaining-requests: 0`` (or
``-tokens``) with its ``x-ratelimit-reset-*`` holds the account until the reset. Before each
attempt the engine takes a request slot (:meth:`RateLimits.take`); an endpoint at its limit is
skipped, and planning moves it behind the others (:meth:`RateLimits.available`), so the provider
never has to answer 429. Requests per minute are a sliding window (exact); tokens per minute are
counted when an attempt reports its usage, so a burst of calls already in flight may overshoot
by what they use.

:class:`RateLimits` keeps the windows in this process. The Redis state backend keeps the request
and token windows in Redis (one atomic script per attempt at a limited endpoint reads both) and
shares learned holds.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from polyroute.catalog._catalog import Endpoint
from polyroute.state._settings import RateLimit

if TYPE_CHECKING:
    from polyroute._request import ChatRequest
    from polyroute._types import Attempt, Route
    from polyroute.errors import PolyrouteError

__all__ = ["WINDOW", "RateLimits", "parse_reset"]

#: the span of every rate-limit window, seconds
WINDOW = 60.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """Seconds until a limit resets, from ``1s``, ``6m0s``, ``20ms`` or a plain number; ``None`` if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(value) and pos else None


def account_key(provider: str) -> str:
    """The rate-limit key of a provider account."""
    return f"provider:{provider}"


class RateLimits:
    """Sliding one-minute windows per limited key, and holds learned from providers (this process).

    Times are ``now()`` seconds (the router's ``Clock.monotonic``). Thread-safe. A
    :class:`~polyroute.CallObserver`: attempts that report usage count against tokens per minute.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        #: endpoint key -> the limited keys it counts against, with their limits
        self._checks: dict[str, tuple[tuple[str, RateLimit], ...]] = {}
        self._provider_of: dict[str, str] = {}
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}
        #: key -> monotonic time until which it is held (learned from a provider)
        self._holds: dict[str, float] = {}
        self._lock = threading.Lock()
        #: whether any limit or hold exists (planning skips every check when not)
        self.active = False

    def configure(self, endpoints: Iterable[Endpoint], providers: Mapping[str, RateLimit | None]) -> None:
        """The limits of a catalog (at start and on a reload); counts so far are kept."""
        checks: dict[str, tuple[tuple[str, RateLimit], ...]] = {}
        provider_of: dict[str, str] = {}
        for ep in endpoints:
            found: list[tuple[str, RateLimit]] = []
            if ep.rate_limit is not None and ep.rate_limit.any:
                found.append((ep.key, ep.rate_limit))
            account = providers.get(ep.provider)
            if account is not None and account.any:
                found.append((account_key(ep.provider), account))
            provider_of[ep.key] = ep.provider
            if found:
                checks[ep.key] = tuple(found)
        with self._lock:
            self._checks = checks
            self._provider_of = provider_of
            self.active = bool(checks or self._holds)

    def checks(self, endpoint_key: str) -> tuple[tuple[str, RateLimit], ...]:
        """The limited keys an attempt at ``endpoint_key`` counts against."""
        return self._checks.get(endpoint_key, ())

    @property
    def limited(self) -> bool:
        """Whether any endpoint has a configured limit (attempts then take a slot first)."""
        return bool(self._checks)

    # -- reading -------------------------------------------------------------------------------

    def _wait(self, key: str, limit: RateLimit, now: float) -> float:
        """Seconds until ``key`` may take one more request (0: now)."""
        wait = 0.0
        held = self._holds.get(key)
        if held is not None:
            if held > now:
                wait = held - now
            else:
                del self._holds[key]
        if limit.rpm is not None:
            log = self._requests.get(key)
            if log:
                while log and log[0] <= now - WINDOW:
                    log.popleft()
                if len(log) >= limit.rpm:
                    wait = max(wait, log[0] + WINDOW - now)
        if limit.tpm is not None:
            tokens = self._tokens.get(key)
            if tokens:
                while tokens and tokens[0][0] <= now - WINDOW:
                    tokens.popleft()
                if sum(n for _, n in tokens) >= limit.tpm:
                    wait = max(wait, tokens[0][0] + WINDOW - now)
        return wait

    def available(self, endpoint_key: str, now: float) -> bool:
        """Whether ``endpoint_key`` may take a request at ``now`` (for planning; takes nothing)."""
        if not self.active:
            return True
        with self._lock:
            return self._blocked(endpoint_key, now) == 0.0

    def _blocked(self, endpoint_key: str, now: float) -> float:
        wait = 0.0
        for key, limit in self._checks.get(endpoint_key, ()):
            wait = max(wait, self._wait(key, limit, now))
        if self._holds:
            for key in (endpoint_key, account_key(self._provider_of.get(endpoint_key, ""))):
                held = self._holds.get(key)
                if held is not None and held > now:
                    wait = max(wait, held - now)
        return wait

    # -- counting ------------------------------------------------------------------------------

    def take(self, endpoint_key: str, now: float) -> float | None:
        """Count one request at ``endpoint_key``; or, when a limit is reached, take nothing and
        return the seconds until it frees."""
        with self._lock:
            wait = self._blocked(endpoint_key, now)
            if wait > 0:
                return wait
            for key, limit in self._checks.get(endpoint_key, ()):
                if limit.rpm is not None:
                    self._requests.setdefault(key, deque()).append(now)
        return None

    async def atake(self, endpoint_key: str, now: float) -> float | None:
        """:meth:`take` (in memory: nothing to wait for)."""
        return self.take(endpoint_key, now)

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """An attempt ended: count the tokens it used at a token-limited endpoint."""
        if not self._checks or attempt.usage is None:
            return
        key = f"{attempt.provider}/{attempt.endpoint_model}"
        if key in self._checks:
            usage = attempt.usage
            self.used_tokens(key, usage.prompt_tokens + usage.completion_tokens, self.now())

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """Calls are counted by their attempts."""

    def used_tokens(self, endpoint_key: str, tokens: int, now: float) -> None:
        """An attempt at ``endpoint_key`` used ``tokens`` (prompt plus completion)."""
        if tokens <= 0:
            return
        with self._lock:
            for key, limit in self._checks.get(endpoint_key, ()):
                if limit.tpm is not None:
                    self._tokens.setdefault(key, deque()).append((now, tokens))

    def hold(self, key: str, until: float) -> None:
        """Keep ``key`` (an endpoint key or :func:`account_key`) out of rotation until ``until``."""
        with self._lock:
            self._holds[key] = max(self._holds.get(key, 0.0), until)
            self.active = True

    def learn(self, endpoint: Endpoint, headers: Mapping[str, str], now: float) -> float | None:
        """Read a provider's rate-limit headers; hold its account when it says nothing is left.

        Returns the hold in seconds, or ``None``."""
        seconds: float | None = None
        for kind in ("requests", "tokens"):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is None:
                continue
            try:
                left = float(remaining)
            except ValueError:
                continue
            if left <= 0:
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                if reset is None:
                    reset = parse_reset(headers.get("retry-after")) or 1.0
                seconds = max(seconds or 0.0, reset)
        if seconds:
            self.hold(account_key(endpoint.provider), now + seconds)
        return seconds
