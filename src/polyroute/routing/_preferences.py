"""Provider preferences: OpenRouter's ``provider`` object, validated and layered.

The same object is accepted per request (``provider={...}``), per model
(``models.<name>.provider``) and router-wide (``router.provider``); each layer overrides the
one before it key by key. :func:`normalize_preferences` validates one layer and converts it
(prices to USD per token, lists to tuples) so that layers given in configuration are checked
once, at load; :func:`resolve_preferences` merges normalised layers into the
:class:`ProviderPreferences` planning reads.

Units follow OpenRouter: ``max_price.prompt`` / ``.completion`` are USD per million tokens,
``.request`` USD per request, ``.image`` USD per image; ``preferred_max_latency`` is seconds
to first token and ``preferred_min_throughput`` output tokens per second, each a number (the
p50) or ``{p50, p75, p90, p99}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from polyroute._records import Record
from polyroute.errors import InvalidRequest

__all__ = [
    "DEFAULT_PREFERENCES",
    "VARIANT_SORTS",
    "Cutoffs",
    "MaxPrice",
    "ProviderPreferences",
    "normalize_preferences",
    "resolve_preferences",
    "split_variant",
]

_PER_MILLION = Decimal(1_000_000)
_PERCENTILES = ("p50", "p75", "p90", "p99")
_PARTITIONS = ("model", "none")
#: model-name suffixes and the sort they stand for (OpenRouter's ``:floor`` and ``:nitro``)
VARIANT_SORTS = {"floor": "price", "nitro": "throughput"}


class MaxPrice(Record):
    """Hard price ceilings, converted to the catalog's units: USD per token for ``prompt`` and
    ``completion``, USD per request and per image for the other two. ``None``: no ceiling."""

    __slots__ = ("completion", "image", "prompt", "request")

    def __init__(
        self,
        *,
        prompt: Decimal | None = None,
        completion: Decimal | None = None,
        request: Decimal | None = None,
        image: Decimal | None = None,
    ) -> None:
        self.prompt = prompt
        self.completion = completion
        self.request = request
        self.image = image


class Cutoffs(Record):
    """Percentile thresholds (seconds, or tokens per second); every one given must be met."""

    __slots__ = ("p50", "p75", "p90", "p99")

    def __init__(
        self, *, p50: float | None = None, p75: float | None = None, p90: float | None = None, p99: float | None = None
    ) -> None:
        self.p50 = p50
        self.p75 = p75
        self.p90 = p90
        self.p99 = p99

    def items(self) -> list[tuple[str, float]]:
        """The thresholds that are set, as ``(percentile name, value)``."""
        return [(name, v) for name in _PERCENTILES if (v := getattr(self, name)) is not None]


class ProviderPreferences(Record):
    """How to choose among a model's endpoints; OpenRouter's ``provider`` object.

    ``sort`` names a strategy (``"price"``, ``"throughput"``, ``"latency"`` as on OpenRouter,
    or any registered one); ``partition`` is ``"model"`` (sort within each model, models in
    order) or ``"none"`` (sort across every model of the request).
    """

    __slots__ = (
        "allow_fallbacks",
        "data_collection",
        "ignore",
        "max_price",
        "only",
        "order",
        "partition",
        "preferred_max_latency",
        "preferred_min_throughput",
        "quantizations",
        "require_parameters",
        "sort",
        "zdr",
    )

    def __init__(
        self,
        *,
        order: tuple[str, ...] = (),
        allow_fallbacks: bool = True,
        require_parameters: bool = False,
        data_collection: str = "allow",
        zdr: bool = False,
        only: tuple[str, ...] = (),
        ignore: tuple[str, ...] = (),
        quantizations: tuple[str, ...] = (),
        sort: str | None = None,
        partition: str = "model",
        max_price: MaxPrice | None = None,
        preferred_max_latency: Cutoffs | None = None,
        preferred_min_throughput: Cutoffs | None = None,
    ) -> None:
        self.order = order
        self.allow_fallbacks = allow_fallbacks
        self.require_parameters = require_parameters
        self.data_collection = data_collection
        self.zdr = zdr
        self.only = only
        self.ignore = ignore
        self.quantizations = quantizations
        self.sort = sort
        self.partition = partition
        self.max_price = max_price
        self.preferred_max_latency = preferred_max_latency
        self.preferred_min_throughput = preferred_min_throughput


DEFAULT_PREFERENCES = ProviderPreferences()
_FIELDS = frozenset(ProviderPreferences.__slots__)
_UNSUPPORTED = {
    "enforce_distillable_text": "the catalog has no distillation terms to filter on",
}


def _fail(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=path)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"must be true or false, got {value!r}")
    return value


def _names(value: Any, path: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(path, f"must be a list of provider names, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _fail(f"{path}[{i}]", f"must be a non-empty string, got {item!r}")
    return tuple(value)


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _fail(path, f"must be a number, got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise _fail(path, f"must be a number, got {value!r}") from None
    if not d.is_finite() or d < 0:
        raise _fail(path, f"must be a non-negative number, got {value!r}")
    return d


def _max_price(value: Any, path: str) -> MaxPrice:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be an object: {prompt, completion, request, image} in USD")
    known = {"prompt", "completion", "request", "image", "audio"}
    for key in value:
        if key not in known:
            raise _fail(f"{path}.{key}", f"unknown price; expected some of {sorted(known)}")
    out: dict[str, Decimal | None] = {}
    for key in ("prompt", "completion"):
        if value.get(key) is not None:
            out[key] = _number(value[key], f"{path}.{key}") / _PER_MILLION
    for key in ("request", "image"):
        if value.get(key) is not None:
            out[key] = _number(value[key], f"{path}.{key}")
    if value.get("audio") is not None:  # accepted for compatibility; the catalog has no audio prices
        _number(value["audio"], f"{path}.audio")
    return MaxPrice(**out)


def _cutoffs(value: Any, path: str) -> Cutoffs:
    if isinstance(value, Mapping):
        out: dict[str, float] = {}
        for key, v in value.items():
            if key not in _PERCENTILES:
                raise _fail(f"{path}.{key}", f"unknown percentile; expected some of {list(_PERCENTILES)}")
            if v is not None:
                out[key] = float(_number(v, f"{path}.{key}"))
        return Cutoffs(**out)
    return Cutoffs(p50=float(_number(value, path)))


def _sort(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key in value:
            if key not in ("by", "partition"):
                raise _fail(f"{path}.{key}", "unknown key; expected 'by' and optionally 'partition'")
        by = value.get("by")
        partition = value.get("partition", "model")
        if partition not in _PARTITIONS:
            raise _fail(f"{path}.partition", f"must be one of {list(_PARTITIONS)}, got {partition!r}")
        out["partition"] = partition
        path = f"{path}.by"
    else:
        by = value
    if not isinstance(by, str) or not by:
        raise _fail(path, f"must be a strategy name such as 'price', 'throughput' or 'latency', got {by!r}")
    out["sort"] = by


def normalize_preferences(raw: Mapping[str, Any], *, path: str = "provider") -> dict[str, Any]:
    """Validate one layer of preferences and convert its values; only the keys given are returned.

    Raises :class:`~polyroute.errors.InvalidRequest` whose ``param`` names the offending key
    (``provider.max_price.prompt``).
    """
    if not isinstance(raw, Mapping):
        raise _fail(path, "must be an object of provider preferences")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key in _UNSUPPORTED:
            raise _fail(where, f"is not supported: {_UNSUPPORTED[key]}")
        if key not in _FIELDS:
            raise _fail(where, f"unknown preference; expected one of {sorted(_FIELDS)}")
        if value is None:
            continue
        if key in ("allow_fallbacks", "require_parameters") or key == "zdr":
            out[key] = _bool(value, where)
        elif key == "data_collection":
            if value not in ("allow", "deny"):
                raise _fail(where, f"must be 'allow' or 'deny', got {value!r}")
            out[key] = value
        elif key in ("order", "only", "ignore", "quantizations"):
            out[key] = _names(value, where)
        elif key == "sort":
            _sort(value, where, out)
        elif key == "partition":
            if value not in _PARTITIONS:
                raise _fail(where, f"must be one of {list(_PARTITIONS)}, got {value!r}")
            out[key] = value
        elif key == "max_price":
            out[key] = _max_price(value, where)
        else:  # preferred_max_latency, preferred_min_throughput
            out[key] = _cutoffs(value, where)
    return out


def resolve_preferences(*layers: Mapping[str, Any] | None) -> ProviderPreferences:
    """Merge normalised layers, later ones winning key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return ProviderPreferences(**merged) if merged else DEFAULT_PREFERENCES


def split_variant(name: str) -> tuple[str, str | None]:
    """``"llama:nitro"`` -> ``("llama", "throughput")``; names without a known suffix are unchanged."""
    base, sep, variant = name.rpartition(":")
    if sep and base and variant in VARIANT_SORTS:
        return base, VARIANT_SORTS[variant]
    return name, None
