"""Routing strategies: how the eligible endpoints of a model are ordered.

A strategy is any object with one method::

    class Strategy(Protocol):
        def rank(self, options: Sequence[Option], rng: random.Random) -> Sequence[tuple[Option, str]]:
            ...

It receives the endpoints that passed every filter (preferences, capabilities, context fit,
breaker) and are stable (no recent outage): each an :class:`Option` carrying the endpoint, its
configured position, the estimated cost of this request there and the live statistics. It
returns them in the order to try, each with a short reason shown by ``router.plan()``. It must
be pure and fast — it runs on every request — and draw any randomness from ``rng``. A reason is
a string, or a function returning one (called only if someone reads the plan). Options it
leaves out are appended in configured order; duplicates are dropped.

Built in (``provider.sort`` picks one by name; a :class:`~polyroute.Router` takes more with
``strategies={"name": obj}``):

``default``      OpenRouter's load balancing: one endpoint drawn with probability proportional
                 to the inverse square of its price, then the rest cheapest first.
``price``        lowest estimated cost first; ties by time to first token (":floor").
``throughput``   highest recent output tokens per second first (":nitro").
``latency``      lowest recent time to first token first.
``least_busy``   fewest requests in flight first; ties by price.
``weighted``     random order weighted by each endpoint's configured ``weight``.
``ordered``      the configured order.

"Recent" is an exponentially weighted average over the endpoint's successes (the newest weighs
30%), so an endpoint that turns slow loses traffic within a request or two. Endpoints with no
success in the statistics window (5 minutes) count as unmeasured and come first under
``latency`` and ``throughput``, so they get measured again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from polyroute.catalog._catalog import Endpoint
from polyroute.health._stats import Signals

__all__ = [
    "BUILTIN_STRATEGIES",
    "DefaultStrategy",
    "LatencyStrategy",
    "LeastBusyStrategy",
    "Option",
    "OrderedStrategy",
    "PriceStrategy",
    "Ranked",
    "Reason",
    "Strategy",
    "ThroughputStrategy",
    "WeightedStrategy",
    "trusted",
    "usd",
]


class Option:
    """An endpoint a strategy may order, and what is known about it now.

    ``position`` is its index among the model's configured endpoints; ``cost`` the estimated
    USD of this request there (``None``: price unknown); ``signals`` the live statistics of the
    last window and ``in_flight`` the attempts running there now (both read when first asked,
    from ``view`` at ``now``, unless given).
    """

    __slots__ = ("_now", "_signals", "_view", "cost", "endpoint", "model", "position")

    def __init__(
        self,
        model: str,
        endpoint: Endpoint,
        position: int,
        cost: float | None,
        *,
        view: _Live | None = None,
        now: float = 0.0,
        signals: Signals | None = None,
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.position = position
        self.cost = cost
        self._view = view
        self._now = now
        self._signals = signals

    @property
    def signals(self) -> Signals:
        """The endpoint's live statistics."""
        found = self._signals
        if found is None:
            found = self._signals = self._view.signals(self.endpoint.key, self._now) if self._view else Signals()
        return found

    @property
    def in_flight(self) -> int:
        """Attempts running at the endpoint now."""
        return self._view.in_flight(self.endpoint.key) if self._view is not None else 0

    @property
    def ttft(self) -> float | None:
        """Recent seconds to first token (weighted average of the last successes), ``None`` without data."""
        return self.signals.ttft_recent

    @property
    def throughput(self) -> float | None:
        """Recent output tokens per second (weighted average), ``None`` without data."""
        return self.signals.throughput_recent

    def __repr__(self) -> str:
        return f"Option({self.model!r}, {self.endpoint.key!r}, cost={self.cost}, in_flight={self.in_flight})"


#: a reason: the text, or a function giving it (called only if someone reads the plan)
Reason = str | Callable[[], str]
Ranked = tuple[Option, Reason]


class _Live(Protocol):
    def signals(self, key: str, now: float) -> Signals: ...

    def in_flight(self, key: str) -> int: ...


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


def _cost_of(o: Option) -> float:
    return o.cost or 0.0


def _drawn(chance: float) -> Reason:
    return lambda: f"drawn by inverse-square price weighting ({chance:.0%} chance)"


_UNPRICED = "price unknown: after the priced endpoints"


class DefaultStrategy:
    """OpenRouter's default: draw the first endpoint weighted by the inverse square of its price,
    then the rest cheapest first; endpoints with unknown prices after those with known ones."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        priced = [o for o in options if o.cost is not None]
        if not priced:
            return [(o, "no prices known: configured order") for o in options]
        first: Option
        why: Reason
        if len(priced) == 1:
            first, why = priced[0], "the only priced endpoint"
        elif 0.0 in (costs := [o.cost or 0.0 for o in priced]):
            free = [o for o in priced if o.cost == 0]
            first = free[0] if len(free) == 1 else rng.choice(free)
            why = f"free; drawn among {len(free)} free endpoints"
        else:
            weights = [1.0 / (c * c) for c in costs]
            total = sum(weights)
            point = rng.random() * total
            i = 0
            for i, w in enumerate(weights):  # noqa: B007 - the index is the draw
                point -= w
                if point < 0:
                    break
            first = priced[i]
            why = _drawn(weights[i] / total)
        ranked: list[Ranked] = [(first, why)]
        rest = [o for o in priced if o is not first]
        if len(rest) > 1:
            rest.sort(key=_cost_of)  # stable: equal prices keep the configured order
        ranked.extend((o, "fallback, cheapest first") for o in rest)
        if len(priced) < len(options):
            ranked.extend((o, _UNPRICED) for o in options if o.cost is None)
        return ranked


class PriceStrategy:
    """Lowest estimated cost first; equal prices by time to first token, then configured order."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        by_cost = sorted(options, key=_cost_or_inf)  # stable: configured order within a price
        ordered: list[Option] = []
        i = 0
        while i < len(by_cost):
            j = i + 1
            while j < len(by_cost) and by_cost[j].cost == by_cost[i].cost:
                j += 1
            tied = by_cost[i:j]
            if len(tied) > 1:  # only ties read the statistics
                tied.sort(key=_ttft_or_inf)
            ordered.extend(tied)
            i = j
        return [(o, "lowest cost first" if o.cost is not None else _UNPRICED) for o in ordered]


_INF = float("inf")


def _cost_or_inf(o: Option) -> float:
    return o.cost if o.cost is not None else _INF


def _ttft_or_inf(o: Option) -> float:
    t = o.ttft
    return t if t is not None else _INF


def _measured(o: Option, value: float | None) -> int:
    """0: nothing in the window (measure it first), 1: measured, 2: only failures (last)."""
    if value is not None:
        return 1
    return 2 if o.signals.failures else 0


_UNMEASURED = ("no success measured yet: tried to measure it", "", "no success in the window, only failures")


def _ttft_reason(o: Option) -> Reason:
    t = o.ttft
    return (lambda: f"recent TTFT {_ms(t)}") if t is not None else _UNMEASURED[_measured(o, None)]


def _tps_reason(o: Option) -> Reason:
    t = o.throughput
    return (lambda: f"recent {t:.0f} tok/s") if t is not None else _UNMEASURED[_measured(o, None)]


class LatencyStrategy:
    """Lowest recent time to first token first; unmeasured endpoints first, to measure them;
    endpoints with only failures in the window last."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[int, float, int]:
            return (_measured(o, o.ttft), o.ttft or 0.0, o.position)

        return [(o, _ttft_reason(o)) for o in sorted(options, key=key)]


class ThroughputStrategy:
    """Highest recent output tokens per second first; unmeasured endpoints first, endpoints with
    only failures in the window last."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        def key(o: Option) -> tuple[int, float, int]:
            return (_measured(o, o.throughput), -(o.throughput or 0.0), o.position)

        return [(o, _tps_reason(o)) for o in sorted(options, key=key)]


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
        return [(o, _weight_reason(o, total)) for _, _, o in keyed]


def _weight_reason(o: Option, total: float) -> Reason:
    w = o.endpoint.weight
    return (lambda: f"weight {w:g} ({w / total:.0%} of first picks)") if total else "weight 0"


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
_TRUSTED = frozenset(type(s) for s in BUILTIN_STRATEGIES.values())


def trusted(strategy: Strategy) -> bool:
    """Whether ``strategy`` is built in (its rankings need no checking)."""
    return type(strategy) in _TRUSTED
