"""What planning needs from the catalog, computed once per catalog instead of once per request.

Per model, each endpoint's position, key, prices as floats (for estimates and weights; costs
that are billed stay ``Decimal``), whether it has a prompt-cache discount, and its context.
"""

from __future__ import annotations

from polyroute.catalog._catalog import Catalog, Endpoint, ModelSpec

__all__ = ["CatalogIndex", "IndexedEndpoint"]


class IndexedEndpoint:
    """One endpoint of one model, with what planning reads prepared."""

    __slots__ = ("caches", "completion", "context", "endpoint", "fee", "key", "position", "priced", "prompt")

    def __init__(self, endpoint: Endpoint, position: int) -> None:
        p = endpoint.pricing
        self.endpoint = endpoint
        self.position = position
        self.key = endpoint.key
        self.context = endpoint.context_length
        self.priced = p.prompt is not None and p.completion is not None
        self.prompt = float(p.prompt) if p.prompt is not None else 0.0
        self.completion = float(p.completion) if p.completion is not None else 0.0
        self.fee = float(p.request) if p.request is not None else 0.0
        self.caches = p.cache_read is not None and p.prompt is not None and p.cache_read < p.prompt

    def cost(self, prompt_tokens: int, output_tokens: int) -> float | None:
        """Estimated USD of a request of this size here, ``None`` if the price is unknown."""
        if not self.priced:
            return None
        return self.prompt * prompt_tokens + self.completion * output_tokens + self.fee


class CatalogIndex:
    """Every model's indexed endpoints. Build one per catalog (catalogs are immutable)."""

    __slots__ = ("_caching", "_models", "catalog")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._models: dict[str, tuple[IndexedEndpoint, ...]] = {}
        self._caching: dict[str, bool] = {}
        for spec in catalog.models.values():
            self._add(spec)

    def _add(self, spec: ModelSpec) -> tuple[IndexedEndpoint, ...]:
        indexed = tuple(IndexedEndpoint(ep, i) for i, ep in enumerate(spec.endpoints))
        self._models[spec.name] = indexed
        self._caching[spec.name] = any(e.caches for e in indexed)
        return indexed

    def endpoints(self, spec: ModelSpec) -> tuple[IndexedEndpoint, ...]:
        """The model's endpoints, indexed."""
        found = self._models.get(spec.name)
        if found is None or (found and found[0].endpoint is not spec.endpoints[0]):
            found = self._add(spec)
        return found

    def caching(self, name: str) -> bool:
        """Whether any endpoint of model ``name`` has a prompt-cache discount."""
        return self._caching.get(name, False)
