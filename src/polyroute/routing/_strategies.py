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
from typing import Any, Protocol, runtime_checkable

from polyroute.catalog._catalog import Endpoint
from polyroute.health._stats import Signals

__all__ = [
    "BUILTIN_ORDERS",
    "BUILTIN_STRATEGIES",
    "Columns",
    "DefaultStrategy",
    "LatencyStrategy",
    "LeastBusyStrategy",
    "Option",
    "Order",
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


class Columns:
    """The options a built-in strategy orders, read by index: their estimated costs, and the rest on
    demand. Built-in strategies rank these, so that planning allocates no object per option (an
    :class:`Option`, a ranked pair) for them; ``rank()`` wraps its options in one."""

    __slots__ = ("costs",)

    costs: Sequence[float | None]

    def positions(self) -> list[int]:
        """Each option's index among its model's configured endpoints."""
        raise NotImplementedError

    def weights(self) -> list[float]:
        """Each option's configured ``weight``."""
        raise NotImplementedError

    def signals(self, i: int) -> Signals:
        """Option ``i``'s live statistics."""
        raise NotImplementedError

    def in_flight(self, i: int) -> int:
        """Attempts running at option ``i``'s endpoint now."""
        raise NotImplementedError


class _OptionColumns(Columns):
    __slots__ = ("_options",)

    def __init__(self, options: Sequence[Option]) -> None:
        self._options = options
        self.costs = [o.cost for o in options]

    def positions(self) -> list[int]:
        return [o.position for o in self._options]

    def weights(self) -> list[float]:
        return [o.endpoint.weight for o in self._options]

    def signals(self, i: int) -> Signals:
        return self._options[i].signals

    def in_flight(self, i: int) -> int:
        return self._options[i].in_flight


#: a built-in strategy's ranking: indices into its columns, in order, and each one's reason
Order = tuple[list[int], list[Reason]]


class _Builtin:
    """A built-in strategy: it ranks :class:`Columns`; ``rank()`` ranks options through them."""

    __slots__ = ()

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        """``options`` in the order to try them, each with the reason for its place."""
        order, reasons = self.order(_OptionColumns(options), rng)
        return [(options[i], why) for i, why in zip(order, reasons, strict=True)]

    def order(self, columns: Columns, rng: random.Random) -> Order:
        """The ranking of ``columns``: indices in the order to try them, and each one's reason."""
        raise NotImplementedError


def _drawn(chance: float) -> Reason:
    return lambda: f"drawn by inverse-square price weighting ({chance:.0%} chance)"


_UNPRICED = "price unknown: after the priced endpoints"


class DefaultStrategy(_Builtin):
    """OpenRouter's default: draw the first endpoint weighted by the inverse square of its price,
    then the rest cheapest first; endpoints with unknown prices after those with known ones."""

    def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
        """``options`` in the order to try them, each with the reason for its place."""
        ranked = super().rank(options, rng)
        if len(ranked) > 1:  # an option passed twice is drawn first once, not also a fallback
            first = ranked[0][0]
            if any(o is first for o, _ in ranked[1:]):
                ranked = [ranked[0], *(r for r in ranked[1:] if r[0] is not first)]
        return ranked

    def order(self, columns: Columns, rng: random.Random) -> Order:
        costs = columns.costs
        n = len(costs)
        if n == 1:  # one endpoint: nothing to draw
            return [0], ["the only priced endpoint" if costs[0] is not None else "no prices known: configured order"]
        whole = None not in costs  # every option priced: places in ``priced`` are indices
        priced = list(range(n)) if whole else [i for i in range(n) if costs[i] is not None]
        if not priced:
            return list(range(n)), ["no prices known: configured order"] * n
        # each priced option's cost as a float (what the draw and the sort read), by place in ``priced``
        prices = [c or 0.0 for c in costs] if whole else [costs[i] or 0.0 for i in priced]
        first: int  # place in ``priced``
        why: Reason
        if len(priced) == 1:
            first, why = 0, "the only priced endpoint"
        elif 0.0 in prices:
            free = [j for j, c in enumerate(prices) if c == 0]
            first = free[0] if len(free) == 1 else rng.choice(free)
            why = f"free; drawn among {len(free)} free endpoints"
        else:
            weights = [1.0 / (c * c) for c in prices]
            total = sum(weights)
            point = rng.random() * total
            first = 0
            for first, w in enumerate(weights):  # noqa: B007 - the index is the draw
                point -= w
                if point < 0:
                    break
            why = _drawn(weights[first] / total)
        rest = list(range(len(priced)))
        del rest[first]
        if len(rest) > 1:
            rest.sort(key=prices.__getitem__)  # stable: equal prices keep the configured order
        order = [priced[first]]
        order += rest if whole else [priced[j] for j in rest]
        reasons = [why]
        reasons += ["fallback, cheapest first"] * len(rest)
        if len(priced) < n:
            unpriced = [i for i in range(n) if costs[i] is None]
            order += unpriced
            reasons += [_UNPRICED] * len(unpriced)
        return order, reasons


_INF = float("inf")


class PriceStrategy(_Builtin):
    """Lowest estimated cost first; equal prices by time to first token, then configured order."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        costs = columns.costs
        n = len(costs)
        keys = [c if c is not None else _INF for c in costs]
        by_cost = sorted(range(n), key=keys.__getitem__)  # stable: configured order within a price
        order: list[int] = []
        i = 0
        while i < n:
            cost = costs[by_cost[i]]
            j = i + 1
            while j < n and costs[by_cost[j]] == cost:
                j += 1
            if j - i > 1:  # only ties read the statistics
                tied = by_cost[i:j]
                ttft: list[float] = []
                for k in tied:
                    t = columns.signals(k).ttft_recent
                    ttft.append(t if t is not None else _INF)
                order += [tied[m] for m in sorted(range(j - i), key=ttft.__getitem__)]
            else:
                order.append(by_cost[i])
            i = j
        return order, ["lowest cost first" if costs[k] is not None else _UNPRICED for k in order]


_UNMEASURED = ("no success measured yet: tried to measure it", "", "no success in the window, only failures")


def _by(columns: Columns, *keys: list[int] | list[float]) -> list[int]:
    """Indices sorted by ``keys`` (most significant first), ties in index order: one stable sort per
    key, least significant first, so that no key tuple is built per option."""
    order = list(range(len(columns.costs)))
    for key in reversed(keys):
        order.sort(key=key.__getitem__)
    return order


def _measured(columns: Columns, values: list[float | None]) -> list[int]:
    """Per option, 0: nothing in the window (measure it first), 1: measured, 2: only failures (last)."""
    return [1 if v is not None else 2 if columns.signals(i).failures else 0 for i, v in enumerate(values)]


class LatencyStrategy(_Builtin):
    """Lowest recent time to first token first; unmeasured endpoints first, to measure them;
    endpoints with only failures in the window last."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        ttft = [columns.signals(i).ttft_recent for i in range(len(columns.costs))]
        measured = _measured(columns, ttft)
        order = _by(columns, measured, [t or 0.0 for t in ttft], columns.positions())
        return order, [_ttft_reason(ttft[i], measured[i]) for i in order]


def _ttft_reason(t: float | None, measured: int) -> Reason:
    return (lambda: f"recent TTFT {_ms(t)}") if t is not None else _UNMEASURED[measured]


class ThroughputStrategy(_Builtin):
    """Highest recent output tokens per second first; unmeasured endpoints first, endpoints with
    only failures in the window last."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        tps = [columns.signals(i).throughput_recent for i in range(len(columns.costs))]
        measured = _measured(columns, tps)
        order = _by(columns, measured, [-(t or 0.0) for t in tps], columns.positions())
        return order, [_tps_reason(tps[i], measured[i]) for i in order]


def _tps_reason(t: float | None, measured: int) -> Reason:
    return (lambda: f"recent {t:.0f} tok/s") if t is not None else _UNMEASURED[measured]


class LeastBusyStrategy(_Builtin):
    """Fewest attempts in flight first; ties by estimated cost, then configured order."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        costs = columns.costs
        busy = [columns.in_flight(i) for i in range(len(costs))]
        unpriced = [int(c is None) for c in costs]
        order = _by(columns, busy, unpriced, [c or 0.0 for c in costs], columns.positions())
        return order, [f"{busy[i]} in flight" for i in order]


class WeightedStrategy(_Builtin):
    """A random order in which each endpoint's chance to come first is proportional to its
    configured ``weight``; weight 0 means fallback only."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        weights = columns.weights()
        total = sum(weights)
        draws = [rng.random() ** (1.0 / w) if w > 0 else -1.0 for w in weights]
        back = [-p for p in columns.positions()]
        order = list(range(len(weights)))
        order.sort(key=back.__getitem__, reverse=True)  # stable sorts: ties keep their order
        order.sort(key=draws.__getitem__, reverse=True)
        return order, [_weight_reason(weights[i], total) for i in order]


def _weight_reason(w: float, total: float) -> Reason:
    return (lambda: f"weight {w:g} ({w / total:.0%} of first picks)") if total else "weight 0"


class OrderedStrategy(_Builtin):
    """The configured order."""

    def order(self, columns: Columns, rng: random.Random) -> Order:
        positions = columns.positions()
        order = sorted(range(len(positions)), key=positions.__getitem__)
        return order, [f"configured position {positions[i] + 1}" for i in order]


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


#: each built-in strategy's type, and its ``order()``: how planning ranks columns without a call to
#: ``rank()`` (any other strategy, even a subclass of a built-in one, gets options)
BUILTIN_ORDERS: Mapping[type, Callable[[Any, Columns, random.Random], Order]] = {
    t: t.order for t in _TRUSTED if issubclass(t, _Builtin)
}
