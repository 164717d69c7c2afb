"""Settings of the state backend and of rate limits (plain data: imported by the catalog)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polyroute._secret import Secret

__all__ = ["RateLimit", "StateSettings"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens per minute allowed at an endpoint or a provider account (``None``: no limit)."""

    rpm: int | None = None
    tpm: int | None = None

    @property
    def any(self) -> bool:
        """Whether any limit is set."""
        return self.rpm is not None or self.tpm is not None


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where breakers, statistics, sticky sessions, rate limits and budget counters live.

    ``backend`` is ``"memory"`` (this process only; the default) or ``"redis"`` (shared by every
    process using ``url`` and ``prefix``). ``timeout`` bounds each Redis operation (seconds);
    ``sync_interval`` is how often shared statistics and rate-limit counts are exchanged;
    ``budgets_on_error`` says what budgets do while Redis cannot be reached: ``"closed"``
    (refuse: nothing is sent) or ``"open"`` (count in this process only until Redis returns).
    """

    backend: Literal["memory", "redis"] = "memory"
    url: Secret | None = None
    prefix: str = "polyroute"
    timeout: float = 0.1
    sync_interval: float = 0.5
    retry_interval: float = 1.0
    budgets_on_error: Literal["closed", "open"] = "closed"

    @property
    def shared(self) -> bool:
        """Whether state is shared with other processes."""
        return self.backend != "memory"
