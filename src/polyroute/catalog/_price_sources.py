"""Price catalogs to import: OpenRouter's ``GET /api/v1/models`` document and LiteLLM's price map.

An endpoint whose configuration gives no ``pricing`` takes its prices from the first source
(in the configured order) that knows it; prices given in the configuration always win. Prices
are read as exact decimals from the documents' text (OpenRouter's per-token strings such as
``"0.0000025"`` go straight to ``Decimal``; LiteLLM's JSON numbers are parsed as ``Decimal``).

LiteLLM's map is read as a data file from the installed ``litellm`` package, located without
importing it (importing litellm takes seconds).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from polyroute.catalog._catalog import Pricing
from polyroute.errors import ConfigError

__all__ = [
    "PriceTable",
    "litellm_price_file",
    "load_litellm_prices",
    "load_openrouter_prices",
    "openrouter_price_table",
]

LITELLM_FILE = "model_prices_and_context_window_backup.json"
#: OpenRouter model variants: ``:free`` is free of charge; these others cost what the base model costs
_SAME_PRICE_VARIANTS = (":nitro", ":floor")
_ZERO = Decimal(0)


class PriceTable:
    """Prices from one source by model id. :meth:`lookup` finds an endpoint's prices."""

    __slots__ = ("_prices", "_variants", "source")

    def __init__(self, source: str, prices: Mapping[str, Pricing], *, variants: bool = False) -> None:
        self.source = source
        self._prices = dict(prices)
        self._variants = variants

    def __len__(self) -> int:
        return len(self._prices)

    def lookup(self, provider: str, model: str) -> Pricing | None:
        """The prices for ``model`` served by ``provider``: by ``provider/model``, then by ``model``.

        In OpenRouter's catalog a ``:free`` variant costs nothing, and ``:nitro`` / ``:floor``
        variants cost what their base model costs.
        """
        found = self._prices.get(f"{provider}/{model}") or self._prices.get(model)
        if found is not None or not self._variants or ":" not in model:
            return found
        base, _, variant = model.rpartition(":")
        base_prices = self.lookup(provider, base)
        if base_prices is None:
            return None
        if variant == "free":
            return Pricing(prompt=_ZERO, completion=_ZERO, request=_ZERO, image=_ZERO, source=self.source)
        return base_prices if f":{variant}" in _SAME_PRICE_VARIANTS else None

    def __repr__(self) -> str:
        return f"PriceTable(source={self.source!r}, models={len(self._prices)})"


def _price(value: Any) -> Decimal | None:
    """A non-negative finite price, or ``None`` (absent, malformed, or OpenRouter's ``-1``: variable)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() and d >= 0 else None


def _positive(value: Any) -> Decimal | None:
    d = _price(value)
    return d if d else None


def _pricing(entry: Mapping[str, Any], fields: Mapping[str, str], source: str) -> Pricing:
    """A ``Pricing`` from one catalog entry: ``fields`` maps our field names to the catalog's keys
    (a reasoning price of 0 means "not priced apart")."""
    return Pricing(
        **{ours: (_positive if ours == "reasoning" else _price)(entry.get(theirs)) for ours, theirs in fields.items()},
        source=source,
    )


#: our ``Pricing`` fields -> OpenRouter's ``pricing`` keys
_OPENROUTER_FIELDS = {
    "prompt": "prompt",
    "completion": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
    "reasoning": "internal_reasoning",
    "request": "request",
    "image": "image",
}
#: our ``Pricing`` fields -> LiteLLM's ``model_prices_and_context_window`` keys
_LITELLM_FIELDS = {
    "prompt": "input_cost_per_token",
    "completion": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "reasoning": "output_cost_per_reasoning_token",
    "image": "input_cost_per_image",
}


# -- OpenRouter ------------------------------------------------------------------------------


def openrouter_price_table(document: Mapping[str, Any]) -> PriceTable:
    """The prices in an OpenRouter ``GET /api/v1/models`` response.

    ``internal_reasoning`` of ``"0"`` means reasoning is billed as completion (it is not free):
    only a positive value gives reasoning its own price.
    """
    data = document.get("data")
    if not isinstance(data, list):
        raise ValueError("not an OpenRouter models document: no 'data' list")
    prices: dict[str, Pricing] = {}
    for model in data:
        if not isinstance(model, Mapping) or not isinstance(model.get("id"), str):
            continue
        p = model.get("pricing")
        if not isinstance(p, Mapping):
            continue
        pricing = _pricing(p, _OPENROUTER_FIELDS, "openrouter")
        if pricing.known:
            prices[model["id"]] = pricing
    return PriceTable("openrouter", prices, variants=True)


def _read_location(location: str, base_dir: Path | None, timeout: float, path: str) -> bytes:
    if location.startswith(("http://", "https://")):
        import httpx

        try:
            resp = httpx.get(location, timeout=timeout, follow_redirects=True)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot fetch prices from {location}: {exc or type(exc).__name__}", path=path) from exc
        return resp.content
    file = Path(location).expanduser()
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read prices from {file}: {exc.strerror}", path=path) from exc


def load_openrouter_prices(
    location: str, *, base_dir: Path | None = None, timeout: float = 10.0, path: str = "costs.sources"
) -> PriceTable:
    """OpenRouter's prices from a saved ``/api/v1/models`` file or its URL.

    A relative file is read from ``base_dir`` (the config file's directory). Fetching gives up
    after ``timeout`` seconds. Any problem is a :class:`ConfigError` at ``path``.
    """
    raw = _read_location(location, base_dir, timeout, path)
    try:
        return openrouter_price_table(json.loads(raw))
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{location}: {exc}", path=path) from exc


# -- LiteLLM ---------------------------------------------------------------------------------


def litellm_price_file() -> Path | None:
    """The price map inside the installed ``litellm`` package (not imported), or ``None``."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / LITELLM_FILE
        if candidate.is_file():
            return candidate
    return None


def litellm_price_table(entries: Mapping[str, Any]) -> PriceTable:
    """The prices in a LiteLLM ``model_prices_and_context_window`` map."""
    prices: dict[str, Pricing] = {}
    for name, entry in entries.items():
        if not isinstance(entry, Mapping) or name == "sample_spec":
            continue
        pricing = _pricing(entry, _LITELLM_FIELDS, "litellm")
        if pricing.known:
            prices[name] = pricing
    return PriceTable("litellm", prices)


def load_litellm_prices(file: Path | None = None, *, path: str = "costs.sources") -> PriceTable | None:
    """LiteLLM's bundled prices (or those in ``file``); ``None`` when litellm is not installed."""
    file = file or litellm_price_file()
    if file is None:
        return None
    try:
        entries = json.loads(file.read_bytes(), parse_float=Decimal)
    except OSError as exc:
        raise ConfigError(f"cannot read prices from {file}: {exc.strerror}", path=path) from exc
    except ValueError as exc:
        raise ConfigError(f"{file}: not valid JSON: {exc}", path=path) from exc
    if not isinstance(entries, Mapping):
        raise ConfigError(f"{file}: not a LiteLLM price map", path=path)
    return litellm_price_table(entries)
