"""Zero-config: a catalog from the environment, extended or overridden by a config file.

The environment contributes one provider per :data:`~polyroute.catalog._known_providers.KNOWN_PROVIDERS`
row it enables (``OPENAI_API_KEY`` set -> ``openai``; ``OLLAMA_HOST`` set -> ``ollama``), its
key as a ``${VAR}`` reference so it is read, validated and hidden like any configured secret.
A config file is merged over that:

* ``providers.<name>``: merged key by key over the environment's provider of that name (so a
  config may change only ``timeout`` or ``base_url``); a known name the environment did not
  enable starts from the table's ``api`` and ``base_url``; other names are taken as written.
* ``models`` and ``router``: the config's, as written (the environment defines no models).

Names that are not configured models resolve as ``provider/model-id`` ids (see
:mod:`polyroute.catalog._model_ids`), also where the config names them as ``fallbacks``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polyroute.catalog._catalog import Catalog, ModelSpec, Pricing
from polyroute.catalog._config import build_catalog, load_config_data, parse_config
from polyroute.catalog._known_providers import KNOWN_PROVIDERS, known_provider
from polyroute.catalog._model_ids import ModelResolver, PriceLookup
from polyroute.catalog._price_sources import PriceTable

__all__ = ["SourcePrices", "env_catalog", "env_config", "merge_config"]


class SourcePrices:
    """Prices for models resolved from their ids: the config's ``costs.sources`` if it names
    any, else LiteLLM's bundled price map when litellm is installed (read as data, never
    imported). Loaded on the first lookup, so building a router stays fast."""

    __slots__ = ("_base_dir", "_costs", "_tables")

    def __init__(self, costs: Any, *, base_dir: Path | None = None) -> None:
        self._costs = costs
        self._base_dir = base_dir
        self._tables: list[PriceTable] | None = None

    def _load(self) -> list[PriceTable]:
        from polyroute.catalog._config import CostsConfig, price_tables
        from polyroute.catalog._price_sources import load_litellm_prices

        costs = CostsConfig.model_validate(self._costs or {})
        if costs.sources:
            return price_tables(costs, self._base_dir)
        table = load_litellm_prices()
        return [table] if table is not None else []

    def __call__(self, provider: str, model: str) -> Pricing | None:
        tables = self._tables
        if tables is None:
            tables = self._tables = self._load()
        for table in tables:
            found = table.lookup(provider, model)
            if found is not None:
                return found
        return None


def _base_dir(config: Any) -> Path | None:
    if config is None or isinstance(config, Mapping):
        return None
    return Path(config).resolve().parent


def env_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The configuration the environment implies: ``{"providers": {...}}``."""
    providers: dict[str, Any] = {}
    for known in KNOWN_PROVIDERS:
        if not known.enabled(env):
            continue
        entry: dict[str, Any] = {"api": known.api, "base_url": known.base_url_from(env) or known.base_url}
        key_var = known.api_key_var(env)
        if key_var is not None:
            entry["api_key"] = "${" + key_var + "}"
        providers[known.name] = entry
    return {"providers": providers}


def merge_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` (a config file's data) merged over ``base`` (the environment's)."""
    merged: dict[str, Any] = {k: v for k, v in override.items() if k != "providers"}
    providers: dict[str, Any] = {name: dict(p) for name, p in (base.get("providers") or {}).items()}
    for name, entry in (override.get("providers") or {}).items():
        if not isinstance(entry, Mapping):
            providers[name] = entry  # validation reports it, with its path
            continue
        start = providers.get(name)
        if start is None:
            known = known_provider(name)
            start = {"api": known.api, "base_url": known.base_url} if known is not None else {}
        providers[name] = {**start, **entry}
    merged["providers"] = providers
    return merged


def _spec_config(spec: ModelSpec) -> dict[str, Any]:
    endpoints = []
    for ep in spec.endpoints:
        pricing = {
            field: str(value)
            for field in ("prompt", "completion", "cache_read", "cache_write", "reasoning", "request", "image")
            if (value := getattr(ep.pricing, field)) is not None
        }
        endpoints.append({"provider": ep.provider, "model": ep.model, "pricing": pricing})
    return {"endpoints": endpoints}


def _resolve_fallbacks(data: dict[str, Any], resolver: ModelResolver) -> None:
    """Add a model entry for each fallback that names a resolvable id rather than a configured model."""
    models = data.get("models")
    if not isinstance(models, Mapping):
        return
    added: dict[str, Any] = {}
    for model in models.values():
        fallbacks = model.get("fallbacks") if isinstance(model, Mapping) else None
        for name in fallbacks if isinstance(fallbacks, list) else ():
            if isinstance(name, str) and name not in models and name not in added:
                spec = resolver(name)
                if spec is not None:
                    added[name] = _spec_config(spec)
    if added:
        data["models"] = {**models, **added}


def _apis(providers: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(p.get("api") or "openai") for name, p in providers.items() if isinstance(p, Mapping)}


def env_catalog(
    env: Mapping[str, str],
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    prices: PriceLookup | None = None,
) -> Catalog:
    """The catalog for ``env`` with ``config`` (a YAML path or a dict) merged over it."""
    override: Mapping[str, Any] = {}
    if config is not None:
        override = load_config_data(config if isinstance(config, Mapping) else Path(config))
    data = merge_config(env_config(env), override)
    if prices is None:
        prices = SourcePrices(data.get("costs"), base_dir=_base_dir(config))
    resolver = ModelResolver(_apis(data["providers"]), prices)
    _resolve_fallbacks(data, resolver)
    parsed, secret_paths = parse_config(data, env=env)
    catalog = build_catalog(parsed, secret_paths)
    final = ModelResolver({name: p.api for name, p in catalog.providers.items()}, prices)
    return Catalog(catalog.providers.values(), catalog.models.values(), catalog.settings, resolve=final)
