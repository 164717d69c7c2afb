"""``GET /v1/models`` and ``/api/v1/models/{author}/{slug}/endpoints`` in OpenRouter's schema.

Prices are strings of USD per token (``"-1"`` when unknown: OpenRouter's spelling for a
variable price); a model's ``pricing`` is its cheapest endpoint's. Each endpoint in
``/endpoints`` has live ``uptime_last_30m`` (success ratio, percent), ``latency_last_30m``
(ms) and ``throughput_last_30m`` (output tokens per second) percentiles from
:meth:`Router.stats() <polyroute.Router.stats>`, plus polyroute's full ``stats``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from polyroute.catalog._catalog import Endpoint, ModelSpec
from polyroute.gateway._context import CONTEXT
from polyroute.gateway._errors import GatewayError, error_response

__all__ = ["model_endpoints", "models"]

_BASE_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
)
_BY_CAPABILITY = {
    "tools": ("tools",),
    "tool_choice": ("tool_choice",),
    "json_object": ("response_format",),
    "json_schema": ("response_format", "structured_outputs"),
    "reasoning": ("reasoning", "include_reasoning", "reasoning_effort"),
}


def _price(value: Decimal | None) -> str:
    if value is None:
        return "-1"
    text = format(value.normalize(), "f")
    return text


def _pricing(ep: Endpoint) -> dict[str, str]:
    p = ep.pricing
    out = {
        "prompt": _price(p.prompt),
        "completion": _price(p.completion),
        "request": _price(p.request or Decimal(0)),
        "image": _price(p.image or Decimal(0)),
        "web_search": "0",
        "internal_reasoning": _price(p.reasoning or p.completion),
    }
    if p.cache_read is not None:
        out["input_cache_read"] = _price(p.cache_read)
    if p.cache_write is not None:
        out["input_cache_write"] = _price(p.cache_write)
    return out


def _sort_price(ep: Endpoint) -> tuple[bool, Decimal]:
    p = ep.pricing
    if p.prompt is None or p.completion is None:
        return True, Decimal(0)
    return False, p.prompt + p.completion


def _parameters(endpoints: tuple[Endpoint, ...]) -> list[str]:
    params = set(_BASE_PARAMS)
    for ep in endpoints:
        caps = ep.capabilities
        names = _BY_CAPABILITY if caps is None else {c: _BY_CAPABILITY[c] for c in caps if c in _BY_CAPABILITY}
        for group in names.values():
            params.update(group)
    return sorted(params)


def _modalities(endpoints: tuple[Endpoint, ...]) -> list[str]:
    vision = any(ep.capabilities is not None and "vision" in ep.capabilities for ep in endpoints)
    return ["text", "image"] if vision else ["text"]


def _architecture(spec: ModelSpec) -> dict[str, Any]:
    inputs = _modalities(spec.endpoints)
    tokenizer = next((ep.tokenizer for ep in spec.endpoints if ep.tokenizer), None)
    output = "embeddings" if getattr(spec, "kind", "chat") == "embedding" else "text"
    return {
        "modality": "+".join(inputs) + "->" + output,
        "input_modalities": inputs,
        "output_modalities": [output],
        "tokenizer": tokenizer or "Other",
        "instruct_type": None,
    }


def _model(spec: ModelSpec) -> dict[str, Any]:
    eps = spec.endpoints
    cheapest = min(eps, key=_sort_price) if eps else None
    contexts = [ep.context_length for ep in eps if ep.context_length]
    outputs = [ep.max_output_tokens for ep in eps if ep.max_output_tokens]
    return {
        "id": spec.name,
        "canonical_slug": spec.name,
        "name": spec.name,
        "created": 0,
        "description": f"{spec.name}, routed by polyroute over {len(eps)} endpoint(s)",
        "context_length": max(contexts) if contexts else None,
        "architecture": _architecture(spec),
        "pricing": _pricing(cheapest) if cheapest is not None else {},
        "top_provider": {
            "context_length": max(contexts) if contexts else None,
            "max_completion_tokens": max(outputs) if outputs else None,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": _parameters(eps),
        "default_parameters": {},
        "endpoints": [{"provider": ep.provider, "model": ep.model} for ep in eps],
        "fallbacks": list(spec.fallbacks),
    }


async def models(request: web.Request) -> web.Response:
    """``GET /v1/models``: every configured model, OpenRouter's schema (also OpenAI's ``id``/``object`` list)."""
    ctx = request.app[CONTEXT]
    data = [{**_model(spec), "object": "model", "owned_by": "polyroute"} for spec in ctx.router.catalog.models.values()]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")


def _percentiles(p: Any, scale: float) -> dict[str, float] | None:
    if p is None:
        return None
    return {name: round(getattr(p, name) * scale, 3) for name in ("p50", "p75", "p90", "p99")}


def _endpoint(ep: Endpoint, stats: Any) -> dict[str, Any]:
    w = stats.windows.get("30m") if stats is not None else None
    ratio = w.success_ratio if w is not None else None
    breaker = stats.breaker if stats is not None else "closed"
    return {
        "name": f"{ep.provider} | {ep.model}",
        "model_name": ep.model,
        "provider_name": ep.provider,
        "tag": ep.provider,
        "context_length": ep.context_length,
        "max_completion_tokens": ep.max_output_tokens,
        "max_prompt_tokens": None,
        "pricing": _pricing(ep),
        "quantization": ep.quantization,
        "supported_parameters": _parameters((ep,)),
        "status": 0 if breaker == "closed" else -1 if breaker == "half_open" else -2,
        "uptime_last_30m": round(ratio * 100, 2) if ratio is not None else None,
        "latency_last_30m": _percentiles(w.latency if w is not None else None, 1000.0),
        "throughput_last_30m": _percentiles(w.throughput if w is not None else None, 1.0),
        "supports_implicit_caching": False,
        "stats": stats.model_dump() if stats is not None else None,
    }


async def model_endpoints(request: web.Request) -> web.Response:
    """``GET /api/v1/models/{author}/{slug}/endpoints``: the model's endpoints with live figures."""
    ctx = request.app[CONTEXT]
    name = request.match_info["model"]
    spec = ctx.router.catalog.models.get(name) or ctx.router.catalog.model(name)
    if spec is None:
        return error_response(GatewayError(404, f"no model {name!r}", type="not_found_error", param="model"))
    stats = ctx.router.stats()
    out = _model(spec)
    out["endpoints"] = [_endpoint(ep, stats.get(ep.key)) for ep in spec.endpoints]
    return web.Response(body=orjson.dumps({"data": out}), content_type="application/json")
