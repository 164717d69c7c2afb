"""Planning: which endpoints to try for a request, in which order, and why.

A pure function of the request, the catalog, a view of endpoint health, the time and a random
source: no I/O, so it is exact to test and cheap to run on every call. For each model of the
request (the model, then its fallbacks):

1. the provider preferences are resolved (router, then model, then request, then a ``:floor`` /
   ``:nitro`` suffix) and every endpoint is screened (:mod:`polyroute.routing._filters`): kept, demoted
   or excluded, with the reason;
2. kept endpoints are ordered: those in ``provider.order`` first, in that order; the others by
   the strategy ``provider.sort`` names (:mod:`polyroute.routing._strategies`); with neither,
   OpenRouter's load balancing, endpoints with a recent outage behind the stable ones;
3. a sticky conversation's endpoint moves to the front (unless ``order`` is set); endpoints
   missing ``preferred_max_latency`` / ``preferred_min_throughput`` move to the demoted tier;
4. with ``allow_fallbacks: false`` and no ``order``, only the top endpoint is kept.

The plan is every model's kept endpoints, then every demoted one, then those whose circuit is
open (the executor skips them while it stays open). Reasons are formatted only when read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Catalog, Endpoint, ModelSpec
from polyroute.errors import InvalidRequest
from polyroute.health._stats import Signals
from polyroute.routing._filters import DEMOTE, EXCLUDE, RequestFacts, matches, screen
from polyroute.routing._index import CatalogIndex, IndexedEndpoint
from polyroute.routing._preferences import (
    DEFAULT_PREFERENCES,
    ProviderPreferences,
    resolve_preferences,
    split_variant,
)
from polyroute.routing._sticky import Key, StickySessions, conversation_key
from polyroute.routing._strategies import (
    BUILTIN_ORDERS,
    BUILTIN_STRATEGIES,
    Columns,
    Option,
    Order,
    Ranked,
    Reason,
    Strategy,
    trusted,
    usd,
)

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "Candidate",
    "Excluded",
    "HealthView",
    "Plan",
    "make_plan",
    "resolve_models",
    "resolve_targets",
]

#: completion tokens assumed when estimating a request's cost without ``max_tokens``
DEFAULT_OUTPUT_TOKENS = 256


class HealthView(Protocol):
    """What planning reads about endpoint health."""

    def available(self, key: str, now: float) -> bool:
        """Whether endpoint ``key`` may take a request at ``now`` (its circuit is not open)."""
        ...

    def signals(self, key: str, now: float) -> Signals:
        """The endpoint's live statistics."""
        ...

    def in_flight(self, key: str) -> int:
        """Attempts running at the endpoint now."""
        ...

    @property
    def failing(self) -> Collection[str]:
        """Keys of the endpoints whose last counted attempt failed (a superset of recent outages)."""
        ...


class Candidate:
    """An endpoint in a plan, with the model it serves and why it is where it is.

    ``estimated_cost`` is the estimated USD of this request there (``None``: price unknown).
    ``reason`` is formatted on first read.
    """

    __slots__ = ("_prefix", "_reason", "endpoint", "estimated_cost", "model")

    def __init__(
        self, model: str, endpoint: Endpoint, reason: Reason, estimated_cost: float | None = None, prefix: str = ""
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self._reason = reason
        self._prefix = prefix
        self.estimated_cost = estimated_cost

    @property
    def reason(self) -> str:
        """Why the candidate is where it is."""
        r = self._reason
        if not isinstance(r, str):
            r = r()
        if self._prefix:
            r = self._prefix + r
            self._prefix = ""
        self._reason = r
        return r

    def relabelled(self, prefix: str) -> Candidate:
        """The same candidate, its reason prefixed."""
        return Candidate(self.model, self.endpoint, self._reason, self.estimated_cost, prefix + self._prefix)

    def __repr__(self) -> str:
        return f"Candidate({self.model!r}, {self.endpoint.key!r}, {self.reason!r})"


@dataclass(frozen=True, slots=True)
class Excluded:
    """An endpoint left out of a plan, and why."""

    model: str
    endpoint: Endpoint
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Ordered candidates, the endpoints left out with their reasons, and the prompt estimate.

    ``prompt_tokens`` is the conservative estimate used for prices and context fit (``None``
    when nothing needed it).
    """

    candidates: tuple[Candidate, ...]
    excluded: tuple[Excluded, ...] = ()
    prompt_tokens: int | None = None

    def explain(self) -> str:
        """The plan as text: each candidate (with its estimated cost) and the reason for its place,
        then each exclusion with its reason."""
        lines = [
            f"{i}. {c.model} via {c.endpoint.key}{_est(c.estimated_cost)}: {c.reason}"
            for i, c in enumerate(self.candidates, 1)
        ]
        lines.extend(f"-  {e.model} via {e.endpoint.key}: excluded: {e.reason}" for e in self.excluded)
        return "\n".join(lines) if lines else "(no endpoints)"

    def model_dump(self) -> dict[str, Any]:
        """The plan as JSON-ready data."""
        return {
            "candidates": [
                {"model": c.model, "endpoint": c.endpoint.key, "reason": c.reason, "estimated_cost": c.estimated_cost}
                for c in self.candidates
            ],
            "excluded": [{"model": e.model, "endpoint": e.endpoint.key, "reason": e.reason} for e in self.excluded],
            "prompt_tokens": self.prompt_tokens,
        }


def _est(cost: float | None) -> str:
    return f" (est. {usd(cost)})" if cost is not None else ""


def _lookup(catalog: Catalog, name: str) -> tuple[ModelSpec | None, str | None]:
    spec = catalog.model(name)
    if spec is not None:
        return spec, None
    base, sort = split_variant(name)
    if sort is not None:
        return catalog.model(base), sort
    return None, None


def resolve_targets(catalog: Catalog, request: ChatRequest) -> list[tuple[ModelSpec, str | None]]:
    """The model specs to try, with the sort a ``:floor`` / ``:nitro`` suffix asked for; then
    configured fallbacks. Unknown names are an :class:`~polyroute.errors.InvalidRequest`."""
    targets: list[tuple[ModelSpec, str | None]] = []
    seen: set[str] = set()
    for i, name in enumerate(request.models):
        spec, sort = _lookup(catalog, name)
        if spec is None:
            param = "model" if i == 0 else f"models[{i - 1}]"
            known = ", ".join(sorted(catalog.models)) or "none configured"
            if catalog.resolves:
                known += "; or an id like provider/model-id, provider one of: " + (
                    ", ".join(catalog.providers) or "none"
                )
            raise InvalidRequest(f"unknown model {name!r} (known models: {known})", param=param)
        if spec.kind != request.kind:
            param = "model" if i == 0 else f"models[{i - 1}]"
            use = "embedding()/aembedding()" if spec.kind == "embedding" else "completion()/acompletion()"
            raise InvalidRequest(f"{name!r} is {_a(spec.kind)} model: call {use}", param=param)
        if spec.name not in seen:
            seen.add(spec.name)
            targets.append((spec, sort))
    if len(request.models) == 1:
        for name in targets[0][0].fallbacks:
            spec = catalog.model(name)
            if spec is not None and name not in seen:
                seen.add(name)
                targets.append((spec, None))
    return targets


def _a(kind: str) -> str:
    return "an embedding" if kind == "embedding" else f"a {kind}"


def resolve_models(catalog: Catalog, request: ChatRequest) -> list[ModelSpec]:
    """The model specs for the request's model list, plus configured fallbacks."""
    return [spec for spec, _ in resolve_targets(catalog, request)]


def _ranked(strategy: Strategy, options: list[Option], rng: random.Random) -> Sequence[Ranked]:
    """The strategy's ranking, made a permutation of ``options`` whatever the strategy returned."""
    if not options:
        return ()
    ranked = strategy.rank(options, rng)
    if trusted(strategy):
        return ranked
    ids = {id(o) for o in options}
    out: list[Ranked] = []
    for o, why in ranked:
        if id(o) in ids:
            ids.discard(id(o))
            out.append((o, why if callable(why) else str(why)))
    out.extend((o, "left out by the strategy: configured order") for o in options if id(o) in ids)
    return out


def _outage_reason(now: float, signals: Signals, why: Reason) -> Reason:
    def text() -> str:
        age = now - (signals.last_failure or now)
        rest = why if isinstance(why, str) else why()
        return f"recent outage (failed {age:.0f} s ago): behind stable endpoints; {rest}"

    return text


class _Group(Columns):
    """Options for a strategy, as columns rather than an :class:`Option` each: the indexed
    endpoints, their estimated costs, the model of each (``name``, unless pooled across models) and
    the statistics read so far (by index). Options are made only for a custom strategy."""

    __slots__ = ("found", "ies", "models", "name", "now", "view")

    def __init__(self, name: str, view: HealthView, now: float) -> None:
        self.name = name
        self.view = view
        self.now = now
        self.ies: list[IndexedEndpoint] = []
        self.costs: list[float | None] = []
        self.models: list[str] | None = None
        self.found: dict[int, Signals] | None = None

    def add(self, ie: IndexedEndpoint, cost: float | None, signals: Signals) -> None:
        """Append an option whose statistics were read."""
        if self.found is None:
            self.found = {}
        self.found[len(self.ies)] = signals
        self.ies.append(ie)
        self.costs.append(cost)

    def model(self, i: int) -> str:
        return self.name if self.models is None else self.models[i]

    def positions(self) -> list[int]:
        return [ie.position for ie in self.ies]

    def weights(self) -> list[float]:
        return [ie.endpoint.weight for ie in self.ies]

    def signals(self, i: int) -> Signals:
        found = self.found
        if found is None:
            found = self.found = {}
        s = found.get(i)
        if s is None:
            view = self.view
            s = found[i] = view.signals(self.ies[i].key, self.now) if view else Signals()
        return s

    def in_flight(self, i: int) -> int:
        return self.view.in_flight(self.ies[i].key) if self.view is not None else 0

    def option(self, i: int) -> Option:
        ie = self.ies[i]
        found = self.found.get(i) if self.found is not None else None
        return Option(
            self.model(i), ie.endpoint, ie.position, self.costs[i], view=self.view, now=self.now, signals=found
        )

    def without(self, taken: Collection[int]) -> _Group:
        """The options not in ``taken`` (indices)."""
        if not taken:
            return self
        return _Group.of([self], keep=lambda g, i: i not in taken)

    @staticmethod
    def of(groups: Sequence[_Group], keep: Callable[[_Group, int], bool] | None = None) -> _Group:
        """The options of ``groups``, one after another (those ``keep(group, index)`` accepts)."""
        first = groups[0]
        out = _Group(first.name, first.view, first.now)
        models: list[str] = []
        for g in groups:
            for i, ie in enumerate(g.ies):
                if keep is not None and not keep(g, i):
                    continue
                if g.found is not None and i in g.found:
                    out.add(ie, g.costs[i], g.found[i])
                else:
                    out.ies.append(ie)
                    out.costs.append(g.costs[i])
                models.append(g.model(i))
        if any(g.models is not None or g.name != first.name for g in groups):
            out.models = models
        return out


def _rank(strategy: Strategy, group: _Group, rng: random.Random) -> Order:
    """The strategy's ranking of ``group``: indices in order and their reasons (a permutation of
    the group whatever a custom strategy returned)."""
    if not group.ies:
        return [], []
    builtin = BUILTIN_ORDERS.get(type(strategy))
    if builtin is not None:
        return builtin(strategy, group, rng)
    options = [group.option(i) for i in range(len(group.ies))]
    at = {id(o): i for i, o in enumerate(options)}
    ranked = _ranked(strategy, options, rng)
    return [at[id(o)] for o, _ in ranked], [why for _, why in ranked]


class _ModelPlan:
    """One model's share of the plan: its candidates by tier, and its stable and unstable options."""

    __slots__ = ("demoted", "resting", "stable", "unstable")

    def __init__(self, name: str, view: HealthView, now: float) -> None:
        self.demoted: list[Candidate] = []
        self.resting: list[Candidate] = []
        self.stable = _Group(name, view, now)
        self.unstable: _Group | None = None  # made for the first endpoint with a recent outage


class _Planner:
    __slots__ = (
        "catalog",
        "excluded",
        "facts",
        "health",
        "index",
        "now",
        "outage_window",
        "request",
        "request_prefs",
        "rng",
        "sticky",
        "sticky_key",
        "strategies",
    )

    def __init__(
        self,
        request: ChatRequest,
        catalog: Catalog,
        health: HealthView,
        now: float,
        rng: random.Random,
        *,
        strategies: Mapping[str, Strategy],
        sticky: StickySessions | None,
        index: CatalogIndex,
    ) -> None:
        self.request = request
        self.catalog = catalog
        self.health = health
        self.now = now
        self.rng = rng
        self.strategies = strategies
        self.index = index
        self.sticky = sticky if sticky is not None and sticky.enabled else None
        self.sticky_key: Key | bool | None = False  # False: not computed yet
        self.outage_window = catalog.settings.routing.outage_window
        self.facts = RequestFacts(request)
        self.excluded: list[Excluded] = []
        #: normalised once, by :func:`polyroute._request.build_request`
        self.request_prefs = request.provider or None

    def preferences(self, spec: ModelSpec, suffix_sort: str | None) -> ProviderPreferences:
        router = self.catalog.settings.provider
        model = spec.provider_preferences
        if not (router or model or self.request_prefs or suffix_sort):
            return DEFAULT_PREFERENCES
        return resolve_preferences(router, model, self.request_prefs, {"sort": suffix_sort} if suffix_sort else None)

    def strategy(self, name: str) -> Strategy:
        found = self.strategies.get(name)
        if found is None:
            known = ", ".join(sorted(self.strategies))
            raise InvalidRequest(f"unknown strategy {name!r}; known: {known}", param="provider.sort")
        return found

    # -- one model -----------------------------------------------------------------------------

    def screen_model(self, spec: ModelSpec, prefs: ProviderPreferences) -> _ModelPlan:
        """Screen the model's endpoints into tiers; wrap the kept ones as options for a strategy.

        Only the default load balancing tells endpoints with a recent outage apart (as on
        OpenRouter, ``sort`` and ``order`` follow their own criterion; breakers still apply)."""
        facts = self.facts
        health = self.health
        now = self.now
        name = spec.name
        mp = _ModelPlan(name, health, now)
        stable = mp.stable
        stable_ies, stable_costs = stable.ies, stable.costs
        balancing = prefs.sort is None and not prefs.order
        # no preference to screen by and no feature to check: only the request's size can matter
        plain = prefs is DEFAULT_PREFERENCES and not facts.needs
        prompt_tokens = facts.prompt.upper
        max_output = facts.max_output
        output = max_output or DEFAULT_OUTPUT_TOKENS
        needed = prompt_tokens + (max_output or 0)
        available = health.available
        failing = health.failing if balancing else ()
        window = self.outage_window
        for ie in self.index.endpoints(spec):
            endpoint = ie.endpoint
            context = ie.context
            if (
                plain
                and (context is None or needed <= context)
                and (
                    max_output is None or endpoint.max_output_tokens is None or max_output <= endpoint.max_output_tokens
                )
            ):
                verdict, reason = 0, None  # what screen() would say, without asking
            else:
                verdict, reason = screen(endpoint, prefs, facts)
                if verdict == EXCLUDE:
                    self.excluded.append(Excluded(name, endpoint, reason or "excluded"))
                    continue
            cost = ie.prompt * prompt_tokens + ie.completion * output + ie.fee if ie.priced else None
            key = ie.key
            if not available(key, now):
                mp.resting.append(Candidate(name, endpoint, "circuit open: moved to the end", cost))
                continue
            if verdict == DEMOTE:
                mp.demoted.append(Candidate(name, endpoint, reason or "demoted", cost))
                continue
            if failing and key in failing:
                signals = health.signals(key, now) if health else Signals()
                if signals.recent_outage(now, window):
                    if mp.unstable is None:
                        mp.unstable = _Group(name, health, now)
                    mp.unstable.add(ie, cost, signals)
                else:
                    stable.add(ie, cost, signals)
            else:
                stable_ies.append(ie)
                stable_costs.append(cost)
        return mp

    def order_model(self, spec: ModelSpec, prefs: ProviderPreferences, mp: _ModelPlan) -> list[Candidate]:
        """The kept endpoints of one model, in order, with reasons."""
        name = spec.name
        out: list[Candidate] = []
        stable, unstable = mp.stable, mp.unstable
        if prefs.order:
            if unstable is None:
                unstable = _Group(name, self.health, self.now)
            taken: tuple[set[int], set[int]] = (set(), set())
            for item in prefs.order:
                for group, took in zip((stable, unstable), taken, strict=True):
                    for i, ie in enumerate(group.ies):
                        if i not in took and matches(ie.endpoint, (item,)):
                            took.add(i)
                            out.append(
                                Candidate(name, ie.endpoint, f"provider.order position {len(out) + 1}", group.costs[i])
                            )
            stable = stable.without(taken[0])
            unstable = unstable.without(taken[1])
            label = prefs.sort or "price"
            prefix = f"after provider.order, by {label}: "
        else:
            label = prefs.sort or "default"
            prefix = f"{label}: "
        strategy = self.strategy(label)
        order, reasons = _rank(strategy, stable, self.rng)
        ies, costs = stable.ies, stable.costs
        out += [Candidate(name, ies[i].endpoint, why, costs[i], prefix) for i, why in zip(order, reasons, strict=True)]
        if unstable is not None and unstable.ies:
            now = self.now
            order, reasons = _rank(strategy, unstable, self.rng)
            ies, costs = unstable.ies, unstable.costs
            out += [
                Candidate(name, ies[i].endpoint, _outage_reason(now, unstable.signals(i), why), costs[i])
                for i, why in zip(order, reasons, strict=True)
            ]
        if not prefs.order and out and self.sticky is not None:
            out = self.apply_sticky(spec, out, stable)
        return out

    def apply_sticky(self, spec: ModelSpec, out: list[Candidate], stable: _Group) -> list[Candidate]:
        """Move the conversation's endpoint to the front, if it is healthy and stickiness pays there."""
        request = self.request
        if not request.session_id and not self.index.caching(spec.name):
            return out
        assert self.sticky is not None
        if self.sticky_key is False:
            self.sticky_key = conversation_key(request)
        key = self.sticky_key
        if not isinstance(key, tuple):
            return out
        entry = self.sticky.lookup(spec.name, key, self.now)
        if entry is None:
            return out
        endpoint_key, when = entry
        for i, c in enumerate(out):
            if c.endpoint.key != endpoint_key:
                continue
            signals = self.health.signals(endpoint_key, self.now)
            healthy = any(ie.endpoint is c.endpoint for ie in stable.ies) and not signals.recent_outage(
                self.now, self.outage_window
            )
            caches = any(ie.caches for ie in self.index.endpoints(spec) if ie.endpoint is c.endpoint)
            if not healthy or not (request.session_id or caches):
                return out
            why = f"sticky: served this conversation {self.now - when:.0f} s ago (keeps its prompt cache warm)"
            return [Candidate(c.model, c.endpoint, why, c.estimated_cost), *out[:i], *out[i + 1 :]]
        return out

    def preferred(self, prefs: ProviderPreferences, kept: list[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
        """Split off the endpoints that miss ``preferred_max_latency`` / ``preferred_min_throughput``."""
        if prefs.preferred_max_latency is None and prefs.preferred_min_throughput is None:
            return kept, []
        good: list[Candidate] = []
        slow: list[Candidate] = []
        for c in kept:
            why = _misses(prefs, self.health.signals(c.endpoint.key, self.now))
            if why is None:
                good.append(c)
            else:
                slow.append(Candidate(c.model, c.endpoint, f"{why}: deprioritised", c.estimated_cost))
        return good, slow

    def only_top(self, spec: ModelSpec, ordered: list[Candidate]) -> list[Candidate]:
        for c in ordered[1:]:
            self.excluded.append(
                Excluded(spec.name, c.endpoint, "provider.allow_fallbacks is false: only the top endpoint is used")
            )
        return ordered[:1]


def _misses(prefs: ProviderPreferences, signals: Signals) -> str | None:
    ttft = signals.ttft if prefs.preferred_max_latency is not None else None
    if prefs.preferred_max_latency is not None and ttft is not None:
        for pct, limit in prefs.preferred_max_latency.items():
            value = ttft.get(pct)
            if value is not None and value > limit:
                return f"TTFT {pct} {value:.2f} s is above provider.preferred_max_latency {limit:g} s"
    tps = signals.throughput if prefs.preferred_min_throughput is not None else None
    if prefs.preferred_min_throughput is not None and tps is not None:
        for pct, limit in prefs.preferred_min_throughput.items():
            value = tps.get(pct)
            if value is not None and value < limit:
                return f"throughput {pct} {value:.0f} tok/s is below provider.preferred_min_throughput {limit:g}"
    return None


def make_plan(
    request: ChatRequest,
    catalog: Catalog,
    health: HealthView,
    now: float,
    rng: random.Random,
    *,
    strategies: Mapping[str, Strategy] = BUILTIN_STRATEGIES,
    sticky: StickySessions | None = None,
    index: CatalogIndex | None = None,
) -> Plan:
    """The ordered candidates for ``request`` and the endpoints left out, each with its reason.

    ``index`` is the catalog's :class:`~polyroute.routing._index.CatalogIndex` (built here if
    not given; a router keeps one). Raises :class:`~polyroute.errors.InvalidRequest` for an
    unknown model, invalid provider preferences or an unknown strategy.
    """
    planner = _Planner(
        request,
        catalog,
        health,
        now,
        rng,
        strategies=strategies,
        sticky=sticky,
        index=index if index is not None else CatalogIndex(catalog),
    )
    kept: list[Candidate] = []
    demoted: list[Candidate] = []
    resting: list[Candidate] = []
    targets = resolve_targets(catalog, request)
    primary = targets[0][0].name
    pooled: list[tuple[ProviderPreferences, _ModelPlan]] = []
    for spec, suffix_sort in targets:
        prefs = planner.preferences(spec, suffix_sort)
        mp = planner.screen_model(spec, prefs)
        demoted_here = mp.demoted
        if prefs.partition == "none" and not prefs.order and len(targets) > 1:
            pooled.append((prefs, mp))
            demoted.extend(demoted_here)
            resting.extend(mp.resting)
            continue
        ordered = planner.order_model(spec, prefs, mp)
        if spec.name != primary:
            label = f"fallback model {spec.name!r}; "
            ordered = [c.relabelled(label) for c in ordered]
        good, slow = planner.preferred(prefs, ordered)
        if not prefs.allow_fallbacks and not prefs.order:
            good = planner.only_top(spec, good + slow + demoted_here + mp.resting)
            slow, demoted_here, mp.resting = [], [], []
        kept.extend(good)
        demoted.extend(slow)
        demoted.extend(demoted_here)
        resting.extend(mp.resting)
    if pooled:
        kept.extend(_pooled(planner, pooled))
    prompt = planner.facts.prompt.upper if planner.facts.measured else None
    return Plan(tuple(kept + demoted + resting) if demoted or resting else tuple(kept), tuple(planner.excluded), prompt)


def _pooled(planner: _Planner, pooled: Sequence[tuple[ProviderPreferences, _ModelPlan]]) -> list[Candidate]:
    """``partition: none``: one ranking across every model's endpoints."""
    label = pooled[0][0].sort or "default"
    strategy = planner.strategy(label)
    stable = _Group.of([mp.stable for _, mp in pooled])
    unstables = [mp.unstable for _, mp in pooled if mp.unstable is not None]
    prefix = f"{label} across models: "
    order, reasons = _rank(strategy, stable, planner.rng)
    out = [
        Candidate(stable.model(i), stable.ies[i].endpoint, why, stable.costs[i], prefix)
        for i, why in zip(order, reasons, strict=True)
    ]
    if not unstables:
        return out
    unstable = _Group.of(unstables)
    order, reasons = _rank(strategy, unstable, planner.rng)
    out += [
        Candidate(
            unstable.model(i),
            unstable.ies[i].endpoint,
            _outage_reason(planner.now, unstable.signals(i), why),
            unstable.costs[i],
        )
        for i, why in zip(order, reasons, strict=True)
    ]
    return out
