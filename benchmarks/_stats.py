"""Percentiles within a round, and median / min / max across rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Spread", "percentile", "spread"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac


@dataclass(frozen=True, slots=True)
class Spread:
    """A figure over repeated rounds."""

    median: float
    min: float
    max: float
    rounds: int

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "rounds": self.rounds}


def spread(values: Sequence[float]) -> Spread:
    """Median, min and max of one figure over rounds."""
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return Spread(float("nan"), float("nan"), float("nan"), 0)
    return Spread(statistics.median(clean), min(clean), max(clean), len(clean))
