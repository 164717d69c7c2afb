"""``POST /v1/chat/completions``: OpenAI Chat Completions with OpenRouter's extensions.

The body is OpenAI's; OpenRouter's ``models``, ``provider``, ``session_id``, ``user`` and model
suffixes (``:floor``, ``:nitro``) are routing options the router understands; ``route``,
``transforms``, ``usage`` and ``plugins`` are accepted and ignored (see
``docs/gateway/openrouter-compat.md``); ``reasoning.effort`` becomes ``reasoning_effort``.
The response carries OpenRouter's ``usage.cost`` (USD, platform fee included), ``provider``,
the routed ``model``, an ``id`` that ``/api/v1/generation?id=`` finds in the ledger, the
``route`` object, and ``X-Polyroute-*`` headers. Streams are SSE; the final chunk before
``[DONE]`` has the usage and cost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from polyroute._types import ChatCompletion, ChatCompletionChunk, Route
from polyroute.errors import PolyrouteError
from polyroute.gateway._context import CONTEXT, GatewayContext
from polyroute.gateway._errors import GatewayError, error_body, error_for, error_response
from polyroute.gateway._policy import authenticate, restrict

__all__ = ["chat_completions", "read_json"]

#: OpenRouter body fields polyroute accepts and ignores (its behaviour is the default, or not offered)
IGNORED = frozenset({"route", "transforms", "usage", "plugins", "debug", "prediction"})
#: polyroute's own caller options a client may not set through the gateway (the key decides them)
RESERVED = frozenset({"caller_key", "project", "tags", "extra_body", "hedge"})
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def read_json(request: web.Request, limit: int) -> Any:
    """The request body parsed as JSON; 413 over ``limit`` bytes, 400 if it is not JSON."""
    length = request.content_length
    if length is not None and length > limit:
        raise GatewayError(
            413, f"request body of {length} bytes is over the limit of {limit}", type="invalid_request_error"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GatewayError(
            413, f"request body is over the limit of {limit} bytes", type="invalid_request_error"
        ) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"the body is not valid JSON: {exc}", type="invalid_request_error") from None


def _split(body: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
    """``(model, messages, stream, params)`` from a request body."""
    if not isinstance(body, dict):
        raise GatewayError(400, "the body must be a JSON object", type="invalid_request_error")
    params = {k: v for k, v in body.items() if k not in IGNORED}
    for name in RESERVED:
        if name in params:
            raise GatewayError(
                400, f"{name} is set by the gateway key, not the body", type="invalid_request_error", param=name
            )
    model = params.pop("model", None)
    messages = params.pop("messages", None)
    stream = params.pop("stream", False)
    if not isinstance(stream, bool):
        raise GatewayError(400, "must be true or false", type="invalid_request_error", param="stream")
    reasoning = params.pop("reasoning", None)
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        params.setdefault("reasoning_effort", reasoning["effort"])
    if messages is None:
        raise GatewayError(400, "messages is required", type="invalid_request_error", param="messages")
    return model, messages, stream, params


def _cost(route: Route | None) -> Decimal | None:
    if route is None or route.cost is None:
        return None
    return route.cost + (route.fee or 0)


def _usage_out(usage: dict[str, Any] | None, route: Route | None) -> dict[str, Any]:
    out = dict(usage or {})
    cost = _cost(route)
    out["cost"] = float(cost) if cost is not None else None
    out["is_byok"] = False
    out.setdefault("cost_details", {"upstream_inference_cost": None})
    return out


def _headers(route: Route | None) -> dict[str, str]:
    if route is None:
        return {}
    cost = _cost(route)
    return {
        "X-Polyroute-Request-Id": route.request_id,
        "X-Polyroute-Provider": route.provider,
        "X-Polyroute-Route": f"{route.provider}/{route.endpoint_model}; model={route.model}; "
        f"attempts={len(route.attempts)}; fallbacks={route.fallbacks}" + (f"; cost={cost}" if cost is not None else ""),
    }


def _route_out(route: Route) -> dict[str, Any]:
    """The route, compact: who served, and each attempt's outcome, latency and cost (the cost
    lines are in ``/api/v1/generation`` and the ledger)."""
    return {
        "request_id": route.request_id,
        "model": route.model,
        "provider": route.provider,
        "endpoint_model": route.endpoint_model,
        "cost": None if route.cost is None else str(route.cost),
        "fee": None if route.fee is None else str(route.fee),
        "latency_s": route.latency_s,
        "attempts": [
            {
                "model": a.model,
                "provider": a.provider,
                "endpoint_model": a.endpoint_model,
                "outcome": a.outcome,
                "error": a.error,
                "status": a.status,
                "latency_s": a.latency_s,
                "cost": None if a.cost is None else str(a.cost),
            }
            for a in route.attempts
        ],
    }


def render(resp: ChatCompletion) -> dict[str, Any]:
    """A routed completion as OpenRouter returns it."""
    route = resp.route
    out = resp.model_dump(mode="json", exclude_route=True)
    if route is not None:
        out["id"] = route.request_id
        out["model"] = route.model
        out["provider"] = route.provider
        out["route"] = _route_out(route)
    out["usage"] = _usage_out(out.get("usage"), route)
    return out


def _call(ctx: GatewayContext, request: web.Request, body: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
    model, messages, stream, params = _split(body)
    if ctx.settings.require_key or request.headers.get("Authorization"):
        record = authenticate(ctx.keys, request.headers.get("Authorization"))
        ctx.limiter.check(record)
        restrict(record, model, params)
        params["caller_key"] = record.hash
    return model, messages, stream, params


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """The handler of ``POST /v1/chat/completions`` and ``/api/v1/chat/completions``."""
    ctx = request.app[CONTEXT]
    try:
        if ctx.settings.require_key and not request.headers.get("Authorization"):
            authenticate(ctx.keys, None)  # 401 before reading the body
        await ctx.fresh_keys()
        body = await read_json(request, ctx.settings.max_body_bytes)
        model, messages, stream, params = _call(ctx, request, body)
        if stream:
            params["stream_options"] = {**(params.get("stream_options") or {}), "include_usage": True}
            return await _stream(request, ctx, model, messages, params)
        resp = await ctx.router.acompletion(model, messages, **params)
    except GatewayError as err:
        return error_response(err)
    except PolyrouteError as exc:
        return error_response(error_for(exc))
    return web.Response(body=orjson.dumps(render(resp)), content_type="application/json", headers=_headers(resp.route))


def _frame(chunk: ChatCompletionChunk, request_id: str | None) -> bytes:
    out = chunk.model_dump(mode="json", exclude_route=True) if chunk.route is not None else chunk.model_dump()
    if request_id is not None:
        out["id"] = request_id
    route = chunk.route
    if route is not None:
        out["model"] = route.model
        out["provider"] = route.provider
        out["usage"] = _usage_out(out.get("usage"), route)
        out["route"] = _route_out(route)
    return b"data: " + orjson.dumps(out) + b"\n\n"


async def _stream(
    request: web.Request, ctx: GatewayContext, model: Any, messages: Any, params: dict[str, Any]
) -> web.StreamResponse:
    stream = await ctx.router.acompletion(model, messages, stream=True, **params)
    request_id = stream.request_id
    try:
        first = await anext(stream)  # errors before any content are plain HTTP errors
    except StopAsyncIteration:
        first = None
    except BaseException:
        await stream.aclose()
        raise
    response = web.StreamResponse(headers=_SSE_HEADERS)
    ctx.open_streams += 1
    try:
        await response.prepare(request)
        if first is not None:
            await response.write(_frame(first, request_id))
            async for chunk in stream:
                await response.write(_frame(chunk, request_id))
        await response.write(b"data: [DONE]\n\n")
    except PolyrouteError as exc:  # after content: an error chunk, as OpenRouter sends it
        err = error_for(exc)
        with contextlib.suppress(ConnectionError):
            await response.write(b"data: " + orjson.dumps(error_body(err)) + b"\n\n")
    except ConnectionError:  # the client left: stop the upstream call; what was delivered is billed
        await stream.aclose()
    except asyncio.CancelledError:  # the same, noticed by aiohttp (handler_cancellation) first
        await asyncio.shield(stream.aclose())
        raise
    finally:
        ctx.open_streams -= 1
        await stream.aclose()
    return response
