"""Endpoint health shared by every request in the process: circuit breakers.

A breaker per endpoint counts consecutive failures that are the endpoint's fault. At the
threshold it opens for a cooldown (at least as long as any ``Retry-After`` the provider sent;
doubling on each re-open up to a cap). When the cooldown ends one request is let through as a
probe (half-open): success closes the breaker, failure re-opens it. Re-opening never shortens
an existing cooldown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from polyroute.catalog._catalog import BreakerSettings

__all__ = ["BreakerState", "CircuitBreaker", "HealthState"]


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A snapshot of one breaker for display and planning."""

    state: str  # "closed" | "open" | "half_open"
    consecutive_failures: int
    open_until: float
    reason: str | None


class CircuitBreaker:
    """One endpoint's breaker. Times are ``Clock.monotonic()`` seconds."""

    __slots__ = ("_failures", "_lock", "_open_until", "_opens", "_probe_in_flight", "_reason", "settings")

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._failures = 0
        self._opens = 0
        self._open_until = 0.0
        self._probe_in_flight = False
        self._reason: str | None = None
        self._lock = threading.Lock()

    def available(self, now: float) -> bool:
        """Whether a request may be sent now, without claiming the half-open probe."""
        return self._open_until <= now and not (self._opens and self._probe_in_flight)

    def admit(self, now: float) -> bool:
        """Whether to send a request now. In half-open state, only one probe is admitted."""
        if self._open_until > now:
            return False
        if not self._opens:  # closed: the hot path takes no lock
            return True
        with self._lock:
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
            return True

    def release(self) -> None:
        """Give back a probe slot that was admitted but not used."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        """A request succeeded: close the breaker."""
        if self._failures or self._opens or self._probe_in_flight:
            with self._lock:
                self._failures = 0
                self._opens = 0
                self._probe_in_flight = False
                self._reason = None

    def record_failure(self, now: float, *, retry_after: float | None = None, reason: str | None = None) -> None:
        """A request failed in a way that is the endpoint's fault."""
        with self._lock:
            self._failures += 1
            was_probe = self._probe_in_flight
            self._probe_in_flight = False
            if was_probe or self._failures >= self.settings.failure_threshold:
                cooldown = min(self.settings.cooldown * (2 ** min(self._opens, 16)), self.settings.max_cooldown)
                self._open(now, max(cooldown, retry_after or 0.0), reason)
            elif retry_after:
                # not open yet, but the provider told us when to come back: respect it
                self._open_until = max(self._open_until, now + retry_after)

    def hold(self, now: float, seconds: float, reason: str) -> None:
        """Keep the endpoint out of rotation for ``seconds`` (bad key, no quota, Retry-After)."""
        with self._lock:
            self._probe_in_flight = False
            self._open(now, seconds, reason)

    def _open(self, now: float, seconds: float, reason: str | None) -> None:
        self._opens += 1
        self._open_until = max(self._open_until, now + seconds)  # never shorten
        self._reason = reason

    def snapshot(self, now: float) -> BreakerState:
        """The breaker's state at ``now``."""
        if self._open_until > now:
            state = "open"
        elif self._opens:
            state = "half_open"
        else:
            state = "closed"
        return BreakerState(state, self._failures, self._open_until, self._reason)


class HealthState:
    """Breakers for every endpoint, created on first use. In-process; safe across threads."""

    __slots__ = ("_breakers", "settings")

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, key: str) -> CircuitBreaker:
        """The breaker for endpoint ``key``."""
        b = self._breakers.get(key)
        if b is None:
            b = self._breakers.setdefault(key, CircuitBreaker(self.settings))
        return b

    def available(self, key: str, now: float) -> bool:
        """Whether endpoint ``key`` may take a request now (for planning; claims nothing)."""
        b = self._breakers.get(key)
        return b is None or b.available(now)

    def snapshot(self, now: float) -> dict[str, BreakerState]:
        """Every known breaker's state."""
        return {k: b.snapshot(now) for k, b in self._breakers.items()}
