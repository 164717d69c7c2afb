"""Routing strategies: how the eligible endpoints of a model are ordered.

A strategy is any object with one method::

    class Strategy(Protocol):
        def rank(self, options: Sequence[Option], rng: random.Random) -> Sequence[tuple[Option, str]]:
            ...

It receives the endpoints that passed every filter (preferences, capabilities, context fit,
breaker) and are stable (no recent outage): each an :class:`Option` carrying the endpoint, its
configured position, the estimated cost of this request there and the live statistics. It
returns them in the order to try, each with a short reason shown by ``router.plan()``. It must
be pure and fast — it runs on every request — and draw any randomness from ``rng``. Options it
leaves out are appended in configured order; duplicates are dropped.

Built in (``provider.sort`` picks one by name; a :class:`~polyroute.Router` takes more with
``strategies={"name": obj}``):

``default``      OpenRouter's load balancing: one endpoint drawn with probability proportional
                 to the inverse square of its price, then the rest cheapest first.
``price``        lowest estimated cost first; ties by time to first token (":floor").
``throughput``   highest output tokens per second (p50) first (":nitro").
``latency``      lowest time to first token (p50) first.
``least_busy``   fewest requests in flight first; ties by price.
``weighted``     random order weighted by each endpoint's configured ``weight``.
``ordered``      the configured order.

Endpoints with no measurements yet come first under ``latency`` and ``throughput``, so they
get measured; a measurement ages out with the statistics window (5 minutes), which makes every
endpoint's numbers fresh again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from polyroute._catalog import Endpoint
from polyroute._stats import Signals

__all__ = [
    "BUILTIN_STRATEGIES",
    "DefaultStrategy",
    "LatencyStrategy",
    "LeastBusyStrategy",
    "Option",
    "OrderedStrategy",
    "PriceStrategy",
    "Ranked",
    "Strategy",
    "ThroughputStrategy",
    "WeightedStrategy",
    "usd",
]


class Option:
    """An endpoint a strategy may order, and what is known about it now.

    ``position`` is its index among the model's configured endpoints; ``cost`` the estimated
    USD of this request there (``None``: price unknown); ``signals`` the live statistics of the
    last window; ``in_flight`` the attempts running there now.
    """

    __slots__ = ("cost", "endpoint", "in_flight", "model", "position", "signals")

    def __init__(
        self, model: str, endpoint: Endpoint, *, position: int, cost: float | None, signals: Signals, in_flight: int
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.position = position
        self.cost = cost
        self.signals = signals
        self.in_flight = in_flight

    @property
    def ttft(self) -> float | None:
        """Median seconds to first token, ``None`` without data."""
        return self.signals.ttft_p50

    @property
    def throughput(self) -> float | None:
        """Median output tokens per second, ``None`` without data."""
        return self.signals.throughput_p50

    def __repr__(self) -> str:
        return f"Option({self.model!r}, {self.endpoint.key!r}, cost={self.cost}, in_flight={self.in_flight})"


Ranked = tuple[Option, str]


@runtime_checkable
class Strategy(Protocol):
    """Orders a model's eligible endpoints; see the module documentation."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> Sequence[Ranked]:
        """``options`` in the order to try them, each with the reason for its place."""
        ...


def usd(value: float) -> str:
    """A small dollar amount, readably: ``$0.000015``."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return f"${text}" if text != "0" else "$0"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _cost_key(o: Option) -> tuple[bool, float, int]:
    return (o.cost is None, o.cost or 0.0, o.position)


class DefaultStrategy:
    """OpenRouter's default: draw the first endpoint weighted by the inverse square of its price,
    then the rest cheapest first; endpoints with unknown prices after those with known ones."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        priced = [o for o in options if o.cost is not None]
        unknown = [(o, "price unknown: after the priced endpoints") for o in options if o.cost is None]
        if not priced:
            return [(o, "no prices known: configured order") for o in options]
        if len(priced) == 1:
            first, why = priced[0], "the only priced endpoint"
        else:
            free = [o for o in priced if o.cost == 0]
            if free:
                first = free[0] if len(free) == 1 else rng.choice(free)
                why = f"free; drawn among {len(free)} free endpoints"
            else:
                weights = [1.0 / (o.cost or 1.0) ** 2 for o in priced]
                total = sum(weights)
                first = rng.choices(priced, weights)[0]
                chance = weights[priced.index(first)] / total
                why = f"drawn by inverse-square price weighting ({chance:.0%} chance; est. {usd(first.cost or 0)})"
        rest = sorted((o for o in priced if o is not first), key=_cost_key)
        ranked: list[Ranked] = [(first, why)]
        ranked.extend((o, f"fallback, cheapest first (est. {usd(o.cost or 0)})") for o in rest)
        ranked.extend(unknown)
        return ranked


class PriceStrategy:
    """Lowest estimated cost first; equal prices by time to first token, then configured order."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[bool, float, bool, float, int]:
            t = o.ttft
            return (o.cost is None, o.cost or 0.0, t is None, t or 0.0, o.position)

        return [
            (o, f"est. {usd(o.cost)}" if o.cost is not None else "price unknown: after the priced endpoints")
            for o in sorted(options, key=key)
        ]


class LatencyStrategy:
    """Lowest median time to first token first; unmeasured endpoints first, to measure them."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[bool, float, int]:
            t = o.ttft
            return (t is not None, t or 0.0, o.position)

        return [
            (o, f"TTFT p50 {_ms(o.ttft)}" if o.ttft is not None else "no latency measured yet: tried to measure it")
            for o in sorted(options, key=key)
        ]


class ThroughputStrategy:
    """Highest median output tokens per second first; unmeasured endpoints first."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[bool, float, int]:
            t = o.throughput
            return (t is not None, -(t or 0.0), o.position)

        return [
            (o, f"{o.throughput:.0f} tok/s p50" if o.throughput is not None else "no throughput measured yet")
            for o in sorted(options, key=key)
        ]


class LeastBusyStrategy:
    """Fewest attempts in flight first; ties by estimated cost, then configured order."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[int, bool, float, int]:
            return (o.in_flight, o.cost is None, o.cost or 0.0, o.position)

        return [(o, f"{o.in_flight} in flight") for o in sorted(options, key=key)]


class WeightedStrategy:
    """A random order in which each endpoint's chance to come first is proportional to its
    configured ``weight``; weight 0 means fallback only."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        total = sum(o.endpoint.weight for o in options)
        keyed = []
        for o in options:
            w = o.endpoint.weight
            keyed.append((rng.random() ** (1.0 / w) if w > 0 else -1.0, -o.position, o))
        keyed.sort(key=lambda k: (k[0], k[1]), reverse=True)
        return [
            (o, f"weight {o.endpoint.weight:g} ({o.endpoint.weight / total:.0%} of traffic)" if total else "weight 0")
            for _, _, o in keyed
        ]


class OrderedStrategy:
    """The configured order."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        return [(o, f"configured position {o.position + 1}") for o in sorted(options, key=lambda o: o.position)]


BUILTIN_STRATEGIES: Mapping[str, Strategy] = {
    "default": DefaultStrategy(),
    "price": PriceStrategy(),
    "throughput": ThroughputStrategy(),
    "latency": LatencyStrategy(),
    "least_busy": LeastBusyStrategy(),
    "weighted": WeightedStrategy(),
    "ordered": OrderedStrategy(),
}
