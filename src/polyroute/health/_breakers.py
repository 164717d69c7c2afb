"""Endpoint health shared by every request in the process: circuit breakers.

A breaker per endpoint counts consecutive failures that are the endpoint's fault. The rules
(the semantics any storage backend must keep):

- **Closed**: every request is admitted (no lock taken). At ``failure_threshold`` consecutive
  failures the breaker opens.
- **Open**: nothing is admitted for the cooldown: ``cooldown`` seconds, or longer when the
  provider sent a ``Retry-After`` (up to ``max_cooldown``). Re-opening never shortens an
  existing cooldown.
- **Half-open**: when the cooldown has passed, exactly one request is admitted as a probe.
  Success closes the breaker; failure re-opens it for the *base* cooldown again (no doubling), so
  a recovered endpoint gets traffic back within one cooldown of recovering, and a dead one costs
  one probe per cooldown. A failed probe is never retried: :meth:`CircuitBreaker.record_failure`
  returns ``True`` when the breaker is open after it, and the caller moves on.
- A hold (``Retry-After``, a bad key) keeps the endpoint out for a while without opening it.
- A probe claim that is never resolved (its caller vanished) expires after one cooldown.

Every attempt, retries included, asks :meth:`CircuitBreaker.admit` before it is sent.

Storage: each breaker lives in this process. A shared state backend (see :mod:`polyroute.state`)
keeps the breakers of many processes in step without touching the request path: a breaker tells
its ``listener`` when it opens, is held or closes (the backend publishes that), the backend
applies what other processes published with :meth:`CircuitBreaker.apply_remote`, and with
``shared_probe`` set a half-open breaker admits its probe only while this process holds the
cluster-wide probe lease (:meth:`CircuitBreaker.grant_probe`), so exactly one process probes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from polyroute.catalog._catalog import BreakerSettings

__all__ = ["BreakerListener", "BreakerState", "CircuitBreaker", "HealthState"]

#: told ``(key, breaker)`` after a breaker opens, is held or closes; must not block
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
        "_probe_since",
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
        #: told about openings, holds and closings (a shared state backend publishes them)
        self.listener = listener
        #: the half-open probe needs the cluster-wide lease (:meth:`grant_probe`)
        self.shared_probe = False
        self._probe_until = 0.0  # the lease, while shared_probe: monotonic time it ends
        self._failures = 0
        self._opens = 0
        self._open_until = 0.0
        #: when the half-open probe in flight was admitted (``None``: no probe in flight)
        self._probe_since: float | None = None
        self._reason: str | None = None
        self._lock = threading.Lock()

    def _probe_busy(self, now: float) -> bool:
        since = self._probe_since
        return since is not None and now - since < self.settings.cooldown

    def available(self, now: float) -> bool:
        """Whether a request may be sent now, without claiming the half-open probe."""
        if self._open_until > now:
            return False
        if not self._opens:
            return True
        return not self._probe_busy(now) and (not self.shared_probe or self._probe_until > now)

    def admit(self, now: float) -> bool:
        """Whether to send a request now. In half-open state, only one probe is admitted."""
        if self._open_until > now:
            return False
        if not self._opens:  # closed: the hot path takes no lock
            return True
        with self._lock:
            if self._probe_busy(now) or (self.shared_probe and self._probe_until <= now):
                return False
            self._probe_since = now
            self._probe_until = 0.0  # this probe uses the lease up
            return True

    # -- sharing (a state backend drives these) ---------------------------------------------------

    def wants_probe(self, now: float) -> bool:
        """Half-open, no probe in flight and no lease held here: the backend may claim the lease."""
        return (
            self.shared_probe
            and bool(self._opens)
            and self._open_until <= now
            and not self._probe_busy(now)
            and self._probe_until <= now
        )

    def grant_probe(self, until: float) -> None:
        """This process won the cluster-wide probe lease, valid until ``until`` (monotonic)."""
        with self._lock:
            if self._opens:
                self._probe_until = until

    def exported(self) -> tuple[float, int, str | None]:
        """``(open_until, opens, reason)``: what a backend publishes."""
        return self._open_until, self._opens, self._reason

    def apply_remote(self, open_until: float, opens: int, reason: str | None, now: float) -> None:
        """Another process opened, held (``open_until`` ahead) or closed (``opens == 0``) this
        endpoint's breaker. Cooldowns are never shortened; a close applies once the local
        cooldown is over."""
        with self._lock:
            if open_until > self._open_until:
                self._open_until = open_until
                self._reason = reason
            if opens > self._opens:
                self._opens = opens
                self._reason = reason
                self._probe_until = 0.0
            elif opens == 0 and self._opens and self._open_until <= now:
                self._failures = 0
                self._opens = 0
                self._probe_since = None
                self._probe_until = 0.0
                self._reason = None

    def _changed(self) -> None:
        listener = self.listener
        if listener is not None:
            listener(self.key, self)

    def release(self) -> None:
        """Give back a probe slot that was admitted but not used (or ended with no verdict)."""
        self._probe_since = None

    def record_success(self) -> None:
        """A request succeeded: close the breaker."""
        if self._failures or self._opens or self._probe_since is not None:
            with self._lock:
                was_open = self._opens
                self._failures = 0
                self._opens = 0
                self._probe_since = None
                self._reason = None
            if was_open and self.listener is not None:
                self._changed()

    def record_failure(self, now: float, *, retry_after: float | None = None, reason: str | None = None) -> bool:
        """A request failed in a way that is the endpoint's fault. Returns whether the breaker is
        open now (then the endpoint must not be retried: a failed probe never is)."""
        with self._lock:
            self._failures += 1
            was_probe = self._opens > 0 and self._probe_since is not None
            self._probe_since = None
            opened = was_probe or self._failures >= self.settings.failure_threshold
            if opened:
                self._open(now, self._cooldown(retry_after), reason)
            elif retry_after:
                # not open yet, but the provider told us when to come back: respect it
                self._open_until = max(self._open_until, now + min(retry_after, self.settings.max_cooldown))
            is_open = self._open_until > now
        if (opened or retry_after) and self.listener is not None:
            self._changed()
        return is_open

    def _cooldown(self, retry_after: float | None) -> float:
        """The base cooldown, or the provider's Retry-After when longer (up to ``max_cooldown``)."""
        settings = self.settings
        return max(settings.cooldown, min(retry_after or 0.0, settings.max_cooldown))

    def hold(self, now: float, seconds: float, reason: str) -> None:
        """Keep the endpoint out of rotation for ``seconds`` (bad key, no quota, Retry-After).

        A hold is a gate in time, not a verdict: when it ends, traffic resumes (no probe), unless
        the breaker was already open for failures."""
        with self._lock:
            self._probe_since = None
            # a Retry-After of a year (or inf) holds it out for the longest cooldown at most
            seconds = min(seconds, max(self.settings.max_cooldown, self.settings.auth_cooldown))
            self._open_until = max(self._open_until, now + seconds)  # never shorten
            self._reason = reason
        if self.listener is not None:
            self._changed()

    def _open(self, now: float, seconds: float, reason: str | None) -> None:
        self._opens += 1
        self._probe_until = 0.0
        self._open_until = max(self._open_until, now + seconds)  # never shorten
        self._reason = reason

    def state_at(self, now: float) -> str:
        """``"closed"``, ``"half_open"`` or ``"open"`` at ``now`` (:meth:`snapshot`'s ``state`` alone)."""
        if self._open_until > now:
            return "open"
        return "half_open" if self._opens else "closed"

    def snapshot(self, now: float) -> BreakerState:
        """The breaker's state at ``now``."""
        return BreakerState(self.state_at(now), self._failures, self._open_until, self._reason)


class HealthState:
    """Breakers for every endpoint, created on first use. In-process; safe across threads."""

    __slots__ = ("_breakers", "listener", "settings", "shared_probe")

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._breakers: dict[str, CircuitBreaker] = {}
        #: given to every breaker (a shared state backend sets these)
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
        """Give every breaker (now and later) a ``listener`` and the probe-lease rule."""
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
