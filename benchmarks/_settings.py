"""How much to run: the full mode and the ``--quick`` smoke mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FULL", "QUICK", "Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Request counts are per round and per client kind; every loop also stops at its time cap."""

    mode: str
    rounds: int
    budget_s: float
    latency_n: dict[str, int]
    throughput_n: dict[str, int]
    stream_chunks: int
    streams: dict[str, int]
    ttft_n: dict[str, int]
    memory_n: int
    memory_warmup: int
    plan_sizes: list[int]
    plan_rounds: int
    plan_min_time: float
    scenario_rounds: int
    scenario_rate: float
    scenario_duration: float
    import_rounds: int
    import_slow_rounds: int
    concurrency: int = 50
    section_cap_s: float = 30.0
    #: observability's cost: fresh interpreters per variant and round, calls each
    observability_rounds: int = 5
    observability_n: int = 3000
    extras: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Settings(
    mode="full",
    rounds=5,
    budget_s=16 * 60,
    latency_n={"raw": 2000, "polyroute": 2000, "openai": 800, "litellm": 300},
    throughput_n={"raw": 5000, "polyroute": 5000, "openai": 1000, "litellm": 400},
    stream_chunks=1000,
    streams={"raw": 20, "polyroute": 20, "openai": 5, "litellm": 4},
    ttft_n={"raw": 300, "polyroute": 300, "openai": 150, "litellm": 60},
    memory_n=100_000,
    memory_warmup=5000,
    plan_sizes=[10, 30, 100, 300, 1000, 3000, 10000],
    plan_rounds=3,
    plan_min_time=0.3,
    scenario_rounds=3,
    scenario_rate=60.0,
    scenario_duration=5.0,
    import_rounds=7,
    import_slow_rounds=3,
)

QUICK = Settings(
    mode="quick",
    rounds=2,
    budget_s=150,
    latency_n={"raw": 400, "polyroute": 400, "openai": 200, "litellm": 80},
    throughput_n={"raw": 1500, "polyroute": 1500, "openai": 300, "litellm": 120},
    stream_chunks=500,
    streams={"raw": 5, "polyroute": 5, "openai": 2, "litellm": 2},
    ttft_n={"raw": 80, "polyroute": 80, "openai": 40, "litellm": 20},
    memory_n=10_000,
    memory_warmup=1000,
    plan_sizes=[10, 30, 100, 300, 1000, 3000, 10000],
    plan_rounds=1,
    plan_min_time=0.05,
    scenario_rounds=1,
    scenario_rate=50.0,
    scenario_duration=2.0,
    import_rounds=2,
    import_slow_rounds=1,
    section_cap_s=10.0,
    observability_rounds=2,
    observability_n=1000,
)
