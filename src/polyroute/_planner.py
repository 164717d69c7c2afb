"""Planning: which endpoints to try for a request, in which order, and why.

A pure function of the request, the catalog, a view of endpoint health, the time and a random
source: no I/O, so it is exact to test and cheap to run on every call. For each model of the
request (the model, then its fallbacks):

1. the provider preferences are resolved (router, then model, then request, then a ``:floor`` /
   ``:nitro`` suffix) and every endpoint is screened (:mod:`polyroute._filters`): kept, demoted
   or excluded, with the reason;
2. kept endpoints are ordered: those in ``provider.order`` first, in that order; the others by
   the strategy ``provider.sort`` names (:mod:`polyroute._strategies`; OpenRouter's price-weighted
   load balancing when neither is set), endpoints with a recent outage behind the stable ones;
3. a sticky conversation's endpoint moves to the front (unless ``order`` is set); endpoints
   missing ``preferred_max_latency`` / ``preferred_min_throughput`` move to the demoted tier;
4. with ``allow_fallbacks: false`` and no ``order``, only the top endpoint is kept.

The plan is every model's kept endpoints, then every demoted one, then those whose circuit is
open (the executor skips them while it stays open).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from polyroute._catalog import Catalog, Endpoint, ModelSpec
from polyroute._filters import DEMOTE, EXCLUDE, RequestFacts, matches, screen
from polyroute._preferences import ProviderPreferences, normalize_preferences, resolve_preferences, split_variant
from polyroute._request import ChatRequest
from polyroute._stats import Signals
from polyroute._sticky import Key, StickySessions, conversation_key
from polyroute._strategies import BUILTIN_STRATEGIES, Option, Ranked, Strategy
from polyroute.errors import InvalidRequest

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


@dataclass(frozen=True, slots=True)
class Candidate:
    """An endpoint in a plan, with the model it serves and why it is where it is.

    ``estimated_cost`` is the estimated USD of this request there (``None``: price unknown).
    """

    model: str
    endpoint: Endpoint
    reason: str
    estimated_cost: float | None = None


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
        """The plan as text: each candidate with its reason, then each exclusion with its reason."""
        lines = []
        for i, c in enumerate(self.candidates, 1):
            lines.append(f"{i}. {c.model} via {c.endpoint.key}: {c.reason}")
        for e in self.excluded:
            lines.append(f"-  {e.model} via {e.endpoint.key}: excluded: {e.reason}")
        if not lines:
            lines.append("(no endpoints)")
        return "\n".join(lines)

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
            raise InvalidRequest(f"unknown model {name!r} (known models: {known})", param=param)
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


def resolve_models(catalog: Catalog, request: ChatRequest) -> list[ModelSpec]:
    """The model specs for the request's model list, plus configured fallbacks."""
    return [spec for spec, _ in resolve_targets(catalog, request)]


def _cost(endpoint: Endpoint, prompt_tokens: int, output_tokens: int) -> float | None:
    p = endpoint.pricing
    if p.prompt is None or p.completion is None:
        return None
    fee = float(p.request) if p.request is not None else 0.0
    return float(p.prompt) * prompt_tokens + float(p.completion) * output_tokens + fee


def _ranked(strategy: Strategy, options: list[Option], rng: random.Random) -> list[Ranked]:
    """The strategy's ranking, made a permutation of ``options`` whatever the strategy returned."""
    if not options:
        return []
    ranked = strategy.rank(options, rng)
    ids = {id(o) for o in options}
    out: list[Ranked] = []
    for item in ranked:
        o = item[0]
        if id(o) in ids:
            ids.discard(id(o))
            out.append((o, str(item[1])))
    out.extend((o, "left out by the strategy: configured order") for o in options if id(o) in ids)
    return out


class _ModelPlan:
    """One model's share of the plan."""

    __slots__ = ("demoted", "kept", "resting")

    def __init__(self) -> None:
        self.kept: list[Candidate] = []
        self.demoted: list[Candidate] = []
        self.resting: list[Candidate] = []


class _Planner:
    __slots__ = (
        "catalog",
        "excluded",
        "facts",
        "health",
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
    ) -> None:
        self.request = request
        self.catalog = catalog
        self.health = health
        self.now = now
        self.rng = rng
        self.strategies = strategies
        self.sticky = sticky if sticky is not None and sticky.enabled else None
        self.sticky_key: Key | bool | None = False  # False: not computed yet
        self.outage_window = catalog.settings.routing.outage_window
        self.facts = RequestFacts(request)
        self.excluded: list[Excluded] = []
        self.request_prefs = normalize_preferences(request.provider) if request.provider else None

    def preferences(self, spec: ModelSpec, suffix_sort: str | None) -> ProviderPreferences:
        layers: list[Mapping[str, Any] | None] = [
            self.catalog.settings.provider,
            spec.provider_preferences,
            self.request_prefs,
        ]
        if suffix_sort is not None:
            layers.append({"sort": suffix_sort})
        return resolve_preferences(*layers)

    def strategy(self, name: str) -> Strategy:
        found = self.strategies.get(name)
        if found is None:
            known = ", ".join(sorted(self.strategies))
            raise InvalidRequest(f"unknown strategy {name!r}; known: {known}", param="provider.sort")
        return found

    # -- one model -----------------------------------------------------------------------------

    def screen_model(
        self, spec: ModelSpec, prefs: ProviderPreferences
    ) -> tuple[_ModelPlan, list[Option], list[Option]]:
        """Screen the model's endpoints: the model plan (demoted, resting), stable and unstable options.

        Only the default load balancing tells endpoints with a recent outage apart (as on
        OpenRouter, ``sort`` and ``order`` follow their own criterion; breakers still apply)."""
        mp = _ModelPlan()
        balancing = prefs.sort is None and not prefs.order
        stable: list[Option] = []
        unstable: list[Option] = []
        facts = self.facts
        health = self.health
        now = self.now
        prompt_tokens = -1
        output = facts.max_output or DEFAULT_OUTPUT_TOKENS
        for position, endpoint in enumerate(spec.endpoints):
            verdict, reason = screen(endpoint, prefs, facts)
            if verdict == EXCLUDE:
                self.excluded.append(Excluded(spec.name, endpoint, reason or "excluded"))
                continue
            if prompt_tokens < 0:
                prompt_tokens = facts.prompt.upper
            cost = _cost(endpoint, prompt_tokens, output)
            key = endpoint.key
            if not health.available(key, now):
                mp.resting.append(Candidate(spec.name, endpoint, "circuit open: moved to the end", cost))
                continue
            if verdict == DEMOTE:
                mp.demoted.append(Candidate(spec.name, endpoint, reason or "demoted", cost))
                continue
            signals = health.signals(key, now)
            option = Option(
                spec.name, endpoint, position=position, cost=cost, signals=signals, in_flight=health.in_flight(key)
            )
            if balancing and signals.recent_outage(now, self.outage_window):
                unstable.append(option)
            else:
                stable.append(option)
        return mp, stable, unstable

    def order_model(
        self, spec: ModelSpec, prefs: ProviderPreferences, stable: list[Option], unstable: list[Option]
    ) -> list[Candidate]:
        """The kept endpoints of one model, in order, with reasons."""
        name = spec.name
        out: list[Candidate] = []
        if prefs.order:
            chosen: list[Option] = []
            for item in prefs.order:
                chosen.extend(o for o in (*stable, *unstable) if o not in chosen and matches(o.endpoint, (item,)))
            for i, o in enumerate(chosen):
                out.append(Candidate(name, o.endpoint, f"provider.order position {i + 1}", o.cost))
            stable = [o for o in stable if o not in chosen]
            unstable = [o for o in unstable if o not in chosen]
            label = prefs.sort or "price"
            prefix = f"after provider.order, by {label}: "
        else:
            label = prefs.sort or "default"
            prefix = f"{label}: "
        strategy = self.strategy(label)
        for o, why in _ranked(strategy, stable, self.rng):
            out.append(Candidate(name, o.endpoint, prefix + why, o.cost))
        for o, why in _ranked(strategy, unstable, self.rng):
            age = self.now - (o.signals.last_failure or self.now)
            out.append(
                Candidate(
                    name, o.endpoint, f"recent outage (failed {age:.0f} s ago): behind stable endpoints; " + why, o.cost
                )
            )
        if not prefs.order and out:
            out = self.apply_sticky(spec, out, stable)
        return out

    def apply_sticky(self, spec: ModelSpec, out: list[Candidate], stable: list[Option]) -> list[Candidate]:
        """Move the conversation's endpoint to the front, if it is healthy and stickiness pays there."""
        if self.sticky is None:
            return out
        if self.sticky_key is False:
            cached = any(_caches(o.endpoint) for o in stable)
            self.sticky_key = conversation_key(self.request) if cached or self.request.session_id else None
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
            healthy = any(o.endpoint is c.endpoint for o in stable) and not self.health.signals(
                endpoint_key, self.now
            ).recent_outage(self.now, self.outage_window)
            if not healthy or not (self.request.session_id or _caches(c.endpoint)):
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


def _caches(endpoint: Endpoint) -> bool:
    p = endpoint.pricing
    return p.cache_read is not None and p.prompt is not None and p.cache_read < p.prompt


def _misses(prefs: ProviderPreferences, signals: Signals) -> str | None:
    if prefs.preferred_max_latency is not None and signals.ttft is not None:
        for pct, limit in prefs.preferred_max_latency.items():
            value = signals.ttft.get(pct)
            if value is not None and value > limit:
                return f"TTFT {pct} {value:.2f} s is above provider.preferred_max_latency {limit:g} s"
    if prefs.preferred_min_throughput is not None and signals.throughput is not None:
        for pct, limit in prefs.preferred_min_throughput.items():
            value = signals.throughput.get(pct)
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
) -> Plan:
    """The ordered candidates for ``request`` and the endpoints left out, each with its reason.

    Raises :class:`~polyroute.errors.InvalidRequest` for an unknown model, invalid provider
    preferences or an unknown strategy.
    """
    planner = _Planner(request, catalog, health, now, rng, strategies=strategies, sticky=sticky)
    kept: list[Candidate] = []
    demoted: list[Candidate] = []
    resting: list[Candidate] = []
    targets = resolve_targets(catalog, request)
    pooled: list[tuple[ModelSpec, ProviderPreferences, list[Option], list[Option]]] = []
    for spec, suffix_sort in targets:
        prefs = planner.preferences(spec, suffix_sort)
        mp, stable, unstable = planner.screen_model(spec, prefs)
        if prefs.partition == "none" and not prefs.order and len(targets) > 1:
            pooled.append((spec, prefs, stable, unstable))
            demoted.extend(mp.demoted)
            resting.extend(mp.resting)
            continue
        ordered = planner.order_model(spec, prefs, stable, unstable)
        if spec.name != request.model and spec.name != split_variant(request.model)[0]:
            ordered = [Candidate(c.model, c.endpoint, f"fallback model {c.model!r}; {c.reason}", c.estimated_cost)
                       for c in ordered]  # fmt: skip
        good, slow = planner.preferred(prefs, ordered)
        if not prefs.allow_fallbacks and not prefs.order:
            good = planner.only_top(spec, good + slow + mp.demoted + mp.resting)
            slow, mp.demoted, mp.resting = [], [], []
        kept.extend(good)
        demoted.extend(slow + mp.demoted)
        resting.extend(mp.resting)
    if pooled:
        kept.extend(_pooled(planner, pooled))
    prompt = planner.facts.prompt.upper if planner.facts.measured else None
    return Plan(tuple(kept + demoted + resting), tuple(planner.excluded), prompt)


def _pooled(
    planner: _Planner, pooled: Sequence[tuple[ModelSpec, ProviderPreferences, list[Option], list[Option]]]
) -> list[Candidate]:
    """``partition: none``: one ranking across every model's endpoints."""
    _, prefs, _, _ = pooled[0]
    label = prefs.sort or "default"
    strategy = planner.strategy(label)
    stable = [o for _, _, s, _ in pooled for o in s]
    unstable = [o for _, _, _, u in pooled for o in u]
    out = [
        Candidate(o.model, o.endpoint, f"{label} across models: {why}", o.cost)
        for o, why in _ranked(strategy, stable, planner.rng)
    ]
    out.extend(
        Candidate(o.model, o.endpoint, f"recent outage: behind stable endpoints; {why}", o.cost)
        for o, why in _ranked(strategy, unstable, planner.rng)
    )
    return out
