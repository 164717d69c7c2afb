"""Scripted provider weather: what the loopback server does to each request of one provider.

Shared by the server (which obeys it) and the scenario runner (which sets it and computes the
cheapest feasible routing from it). Plain data, JSON-friendly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["DownMode", "Weather"]

DownMode = Literal["refuse", "503"]


@dataclass(frozen=True, slots=True)
class Weather:
    """One provider's behaviour.

    ``down``: ``"refuse"`` closes the port (connection refused, open connections dropped),
    ``"503"`` answers every request with 503. ``latency_ms`` is the provider's own time per
    response, multiplied by ``multiplier`` (a brownout is ``multiplier=5``). ``rate_limited``
    answers 429 with ``Retry-After: retry_after_s``. ``error_rate`` answers 500 for that fraction
    of requests, drawn from ``random.Random(seed)``. Streams have ``stream_chunks`` content chunks;
    ``first_token_ms`` delays everything after the first content chunk (to measure time to first token).
    """

    down: DownMode | None = None
    latency_ms: float = 0.0
    multiplier: float = 1.0
    rate_limited: bool = False
    retry_after_s: float = 1.0
    error_rate: float = 0.0
    seed: int = 0
    stream_chunks: int = 20
    first_token_ms: float = 0.0

    @property
    def delay_s(self) -> float:
        """Seconds the provider takes before answering."""
        return self.latency_ms * self.multiplier / 1000.0

    @property
    def healthy(self) -> bool:
        """Whether a request sent now succeeds (error-rate aside)."""
        return self.down is None and not self.rate_limited

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Weather:
        """The inverse of :meth:`to_json`."""
        return cls(**data)
