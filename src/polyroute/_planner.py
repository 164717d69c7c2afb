"""Planning: which endpoints to try for a request, in which order, and why.

A pure function of the request, the catalog, a health view and a random source: no I/O, so it
is exact to test and cheap to run on every call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from polyroute._catalog import Catalog, Endpoint, ModelSpec
from polyroute._request import ChatRequest
from polyroute.errors import InvalidRequest

__all__ = ["Candidate", "HealthView", "Plan", "make_plan", "resolve_models"]


class HealthView(Protocol):
    """What planning reads about endpoint health."""

    def available(self, key: str, now: float) -> bool:
        """Whether endpoint ``key`` may take a request at ``now``."""
        ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """An endpoint in a plan, with the model it serves and why it is where it is."""

    model: str
    endpoint: Endpoint
    reason: str


@dataclass(frozen=True, slots=True)
class Excluded:
    """An endpoint left out of a plan, and why."""

    model: str
    endpoint: Endpoint
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Ordered candidates, plus the endpoints that were left out with their reasons."""

    candidates: tuple[Candidate, ...]
    excluded: tuple[Excluded, ...] = ()


def resolve_models(catalog: Catalog, request: ChatRequest) -> list[ModelSpec]:
    """The model specs for the request's model list, plus configured fallbacks; unknown names are an error."""
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for i, name in enumerate(request.models):
        spec = catalog.model(name)
        if spec is None:
            param = "model" if i == 0 else f"models[{i - 1}]"
            known = ", ".join(sorted(catalog.models)) or "none configured"
            if catalog.resolves:
                known += "; or an id like provider/model-id, provider one of: " + (
                    ", ".join(catalog.providers) or "none"
                )
            raise InvalidRequest(f"unknown model {name!r} (known models: {known})", param=param)
        if name not in seen:
            seen.add(name)
            specs.append(spec)
    if len(request.models) == 1:
        for name in specs[0].fallbacks:
            spec = catalog.model(name)
            if spec is not None and name not in seen:
                seen.add(name)
                specs.append(spec)
    return specs


def make_plan(
    request: ChatRequest,
    catalog: Catalog,
    health: HealthView,
    now: float,
    rng: random.Random,
) -> Plan:
    """Candidates in order: each model's endpoints in configured order, models in request order.

    Endpoints whose circuit is open go to the end of the plan (the executor skips them while
    they stay open).
    """
    del rng  # the default order is deterministic; strategies that draw lots use it
    ready: list[Candidate] = []
    resting: list[Candidate] = []
    for spec in resolve_models(catalog, request):
        primary = spec.name == request.model
        for endpoint in spec.endpoints:
            if health.available(endpoint.key, now):
                why = "configured order" if primary else f"fallback model {spec.name!r}"
                ready.append(Candidate(spec.name, endpoint, why))
            else:
                resting.append(Candidate(spec.name, endpoint, "circuit open: moved to the end"))
    return Plan(tuple(ready + resting))
