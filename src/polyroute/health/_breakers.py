"""Endpoint health shared by every request in the process: circuit breakers.

A breaker per endpoint counts consecutive failures that are the endpoint's fault. At the
threshold it opens for a cooldown (at least as long as any ``Retry-After`` the provider sent;
doubling on each re-open up to a cap). When the cooldown ends one request is let through as a
probe (half-open): success closes the breaker, failure re-opens it. Re-opening never shortens
an existing cooldown.

Storage: each breaker lives in this process. A shared state backend (see
:mod:`polyroute.state`) keeps the breakers of many processes in step: a breaker tells its
``listener`` when it opens or closes (the backend publishes that), the backend applies what
other processes published with :meth:`CircuitBreaker.apply_remote`, and with ``shared_probe``
set a half-open breaker admits its probe only while this process holds the cluster-wide probe
lease (:meth:`CircuitBreaker.grant_probe`), so exactly one process probes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from polyroute.catalog._catalog import BreakerSettings

__all__ = ["BreakerListener", "BreakerState", "CircuitBreaker", "HealthState"]

#: told ``(key, breaker)`` after a breaker opens (or re-opens) or closes; must not block
BreakerListener = Callable[[str, "CircuitBreaker"], None]


@dataclass(frozen=True, slots=True)
class BreakerState:
    """A snapshot of one breaker for display and planning."""

    state: str  # "closed" | "open" | "half_open"
    consecutive_failures: int
    open_until: float
    reason: str | None


class CircuitBreaker:
    """One endpoint's breaker. Times are ``Clock.monotonic()`` seconds."""

    __slots__ = (
        "_failures",
        "_lock",
        "_open_until",
        "_opens",
        "_probe_in_flight",
        "_probe_until",
        "_reason",
        "key",
        "listener",
        "settings",
        "shared_probe",
    )

    def __init__(self, settings: BreakerSettings, key: str = "", listener: BreakerListener | None = None) -> None:
        self.settings = settings
        self.key = key
        #: told about openings and closings (a shared state backend publishes them)
        self.listener = listener
        #: the half-open probe needs the cluster-wide lease (:meth:`grant_probe`)
        self.shared_probe = False
        self._probe_until = 0.0  # the lease, while shared_probe: monotonic time it ends
        self._failures = 0
        self._opens = 0
        self._open_until = 0.0
        self._probe_in_flight = False
        self._reason: str | None = None
        self._lock = threading.Lock()

    def available(self, now: float) -> bool:
        """Whether a request may be sent now, without claiming the half-open probe."""
        if self._open_until > now:
            return False
        if not self._opens:
            return True
        return not self._probe_in_flight and (not self.shared_probe or self._probe_until > now)

    def admit(self, now: float) -> bool:
        """Whether to send a request now. In half-open state, only one probe is admitted."""
        if self._open_until > now:
            return False
        if not self._opens:  # closed: the hot path takes no lock
            return True
        with self._lock:
            if self._probe_in_flight or (self.shared_probe and self._probe_until <= now):
                return False
            self._probe_in_flight = True
            self._probe_until = 0.0  # the lease is used up by this probe
            return True

    # -- sharing (a state backend drives these) -----------------------------------------------------

    def wants_probe(self, now: float) -> bool:
        """Half-open, waiting for a probe, and no lease held here: the backend may claim one."""
        return (
            self.shared_probe
            and bool(self._opens)
            and self._open_until <= now
            and not self._probe_in_flight
            and self._probe_until <= now
        )

    def grant_probe(self, until: float) -> None:
        """This process won the cluster-wide probe lease, valid until ``until`` (monotonic)."""
        with self._lock:
            if self._opens and not self._probe_in_flight:
                self._probe_until = until

    def exported(self) -> tuple[float, int, str | None]:
        """``(open_until, opens, reason)``: what a backend publishes."""
        return self._open_until, self._opens, self._reason

    def apply_remote(self, open_until: float, opens: int, reason: str | None, now: float) -> None:
        """Another process opened (``opens > 0``) or closed this endpoint's breaker. Opening
        never shortens a cooldown; closing applies once the local cooldown is over."""
        with self._lock:
            if opens > 0:
                if open_until > self._open_until or opens > self._opens:
                    self._open_until = max(self._open_until, open_until)
                    self._opens = max(self._opens, opens)
                    self._reason = reason
                    self._probe_until = 0.0
            elif self._opens and self._open_until <= now and not self._probe_in_flight:
                self._failures = 0
                self._opens = 0
                self._probe_until = 0.0
                self._reason = None

    def _changed(self) -> None:
        listener = self.listener
        if listener is not None:
            listener(self.key, self)

    def release(self) -> None:
        """Give back a probe slot that was admitted but not used."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        """A request succeeded: close the breaker."""
        if self._failures or self._opens or self._probe_in_flight:
            with self._lock:
                was_open = self._opens
                self._failures = 0
                self._opens = 0
                self._probe_in_flight = False
                self._reason = None
            if was_open:
                self._changed()

    def record_failure(self, now: float, *, retry_after: float | None = None, reason: str | None = None) -> None:
        """A request failed in a way that is the endpoint's fault."""
        with self._lock:
            self._failures += 1
            was_probe = self._probe_in_flight
            self._probe_in_flight = False
            opened = was_probe or self._failures >= self.settings.failure_threshold
            if opened:
                cooldown = min(self.settings.cooldown * (2 ** min(self._opens, 16)), self.settings.max_cooldown)
                self._open(now, max(cooldown, retry_after or 0.0), reason)
            elif retry_after:
                # not open yet, but the provider told us when to come back: respect it
                self._open_until = max(self._open_until, now + retry_after)
        if opened:
            self._changed()

    def hold(self, now: float, seconds: float, reason: str) -> None:
        """Keep the endpoint out of rotation for ``seconds`` (bad key, no quota, Retry-After)."""
        with self._lock:
            self._probe_in_flight = False
            self._open(now, seconds, reason)
        self._changed()

    def _open(self, now: float, seconds: float, reason: str | None) -> None:
        self._opens += 1
        self._probe_until = 0.0
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

    __slots__ = ("_breakers", "listener", "settings", "shared_probe")

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._breakers: dict[str, CircuitBreaker] = {}
        #: given to every breaker (a shared state backend sets these before the first call)
        self.listener: BreakerListener | None = None
        self.shared_probe = False

    def breaker(self, key: str) -> CircuitBreaker:
        """The breaker for endpoint ``key``."""
        b = self._breakers.get(key)
        if b is None:
            made = CircuitBreaker(self.settings, key, self.listener)
            made.shared_probe = self.shared_probe
            b = self._breakers.setdefault(key, made)
        return b

    def breakers(self) -> list[CircuitBreaker]:
        """Every breaker made so far."""
        return list(self._breakers.values())

    def share(self, listener: BreakerListener | None, shared_probe: bool) -> None:
        """Tell every breaker (now and later) about openings' ``listener`` and probe leases."""
        self.listener = listener
        self.shared_probe = shared_probe
        for b in list(self._breakers.values()):
            b.listener = listener
            b.shared_probe = shared_probe

    def available(self, key: str, now: float) -> bool:
        """Whether endpoint ``key`` may take a request now (for planning; claims nothing)."""
        b = self._breakers.get(key)
        return b is None or b.available(now)

    def snapshot(self, now: float) -> dict[str, BreakerState]:
        """Every known breaker's state."""
        return {k: b.snapshot(now) for k, b in self._breakers.items()}
