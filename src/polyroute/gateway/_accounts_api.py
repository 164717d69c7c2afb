"""``/api/v1/generation``, ``/api/v1/key`` and the admin key-provisioning API ``/api/v1/keys``.

Shaped like OpenRouter's: ``{"data": {...}}`` bodies; money as numbers of USD; a key appears
only as its ``hash`` (id) and masked ``label``; the key itself only in the answer to a create
or rotate, once. Ledger and key-table reads run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from polyroute.accounting._settings import BudgetPeriod
from polyroute.budgets._guard import window
from polyroute.errors import InvalidRequest
from polyroute.gateway._context import CONTEXT, GatewayContext
from polyroute.gateway._errors import GatewayError, error_response
from polyroute.gateway._keys import UNSET, KeyRecord, check_limit
from polyroute.gateway._ledger_query import rows_where
from polyroute.gateway._policy import authenticate
from polyroute.ledger import LedgerRow

__all__ = [
    "generation",
    "key_info",
    "keys_create",
    "keys_delete",
    "keys_get",
    "keys_list",
    "keys_rotate",
    "keys_update",
]

_ZERO = Decimal(0)
_PERIODS: dict[str, BudgetPeriod] = {"usage_daily": "day", "usage_weekly": "week", "usage_monthly": "month"}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _charged(row: LedgerRow) -> Decimal:
    return (row.cost or _ZERO) + (row.fee or _ZERO)


# -- /api/v1/generation ---------------------------------------------------------------------


def _generation(rows: list[LedgerRow]) -> dict[str, Any]:
    served = next((r for r in reversed(rows) if r.outcome == "success"), rows[-1])
    cancelled = any(r.error == "Cancelled" for r in rows)
    latency = sum(r.latency_s or 0.0 for r in rows)
    return {
        "id": rows[0].request_id,
        "total_cost": float(sum((_charged(r) for r in rows), _ZERO)),
        "usage": float(sum((_charged(r) for r in rows), _ZERO)),
        "created_at": _iso(rows[0].started_at),
        "model": served.model,
        "provider_name": served.provider,
        "endpoint_model": served.endpoint_model,
        "is_byok": False,
        "streamed": None,
        "cancelled": cancelled,
        "latency": round(latency * 1000, 3),
        "generation_time": round((served.latency_s or 0.0) * 1000, 3),
        "time_to_first_token": round(served.ttft_s * 1000, 3) if served.ttft_s is not None else None,
        "tokens_prompt": served.prompt_tokens,
        "tokens_completion": served.completion_tokens,
        "native_tokens_prompt": served.prompt_tokens,
        "native_tokens_completion": served.completion_tokens,
        "native_tokens_reasoning": served.reasoning_tokens,
        "native_tokens_cached": served.cached_tokens,
        "user": served.user,
        "attempts": [
            {
                "provider": r.provider,
                "model": r.model,
                "endpoint_model": r.endpoint_model,
                "outcome": r.outcome,
                "error": r.error,
                "status": r.status,
                "cost": float(_charged(r)) if r.cost is not None else None,
                "latency": round((r.latency_s or 0.0) * 1000, 3),
            }
            for r in rows
        ],
    }


def _caller(ctx: GatewayContext, request: web.Request) -> KeyRecord | None:
    """The calling key (``None`` for the administrator, or when keys are not required)."""
    if ctx.check_admin(request):
        return None
    if not ctx.settings.require_key and not request.headers.get("Authorization"):
        return None
    return authenticate(ctx.keys, request.headers.get("Authorization"))


async def generation(request: web.Request) -> web.Response:
    """``GET /api/v1/generation?id=``: one past call from the ledger (a key sees only its own)."""
    ctx = request.app[CONTEXT]
    try:
        await ctx.fresh_keys()
        record = _caller(ctx, request)
        gen_id = request.query.get("id")
        if not gen_id:
            raise GatewayError(400, "id is required", type="invalid_request_error", param="id")
        ledger = ctx.ledger
        if ledger is None:
            raise GatewayError(404, "this gateway keeps no ledger (set ledger: in the config)", type="not_found_error")
        rows = await asyncio.to_thread(_lookup, ledger, gen_id)
        if not rows or (record is not None and rows[0].caller_key != record.fingerprint):
            raise GatewayError(404, f"generation {gen_id!r} not found", type="not_found_error", param="id")
    except GatewayError as err:
        return error_response(err)
    return _json({"data": _generation(rows)})


def _lookup(ledger: Any, gen_id: str) -> list[LedgerRow]:
    ledger.flush(timeout=2.0)
    return rows_where(ledger, "request_id", gen_id)


# -- usage of a key -------------------------------------------------------------------------


def _usage(ctx: GatewayContext, record: KeyRecord) -> dict[str, Any]:
    """What ``record`` has spent (all time, this UTC day, week, month) and its limit's balance."""
    now = ctx.router.clock.time()
    totals = {"usage": _ZERO, "usage_daily": _ZERO, "usage_weekly": _ZERO, "usage_monthly": _ZERO}
    ledger = ctx.ledger
    if ledger is not None:
        ledger.flush(timeout=2.0)
        current = {name: window(period, now) for name, period in _PERIODS.items()}
        for row in rows_where(ledger, "caller_key", record.fingerprint):
            charged = _charged(row)
            totals["usage"] += charged
            for name, period in _PERIODS.items():
                if window(period, row.started_at) == current[name]:
                    totals[name] += charged
    remaining: Decimal | None = None
    guard = ctx.key_guard
    if record.limit is not None:
        balance = guard.key_balance(record) if guard is not None else None
        used = balance[0] + balance[1] if balance is not None else _ZERO
        remaining = max(_ZERO, record.limit - used)
        if ledger is None and balance is not None:
            totals["usage"] = max(totals["usage"], balance[0])
    out: dict[str, Any] = {k: float(v) for k, v in totals.items()}
    out["limit_remaining"] = float(remaining) if remaining is not None else None
    return out


def _key_data(ctx: GatewayContext, record: KeyRecord) -> dict[str, Any]:
    return {
        "hash": record.hash,
        "name": record.name,
        "label": record.label,
        "disabled": record.disabled,
        "limit": float(record.limit) if record.limit is not None else None,
        "limit_reset": record.limit_reset,
        "include_byok_in_limit": False,
        "models": list(record.models),
        "providers": list(record.providers),
        "rate_limit": {"requests": record.rpm, "interval": "60s"} if record.rpm else None,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        **_usage(ctx, record),
    }


async def key_info(request: web.Request) -> web.Response:
    """``GET /api/v1/key``: the calling key's usage, limit and remaining credit."""
    ctx = request.app[CONTEXT]
    await ctx.fresh_keys()
    try:
        record = authenticate(ctx.keys, request.headers.get("Authorization"))
    except GatewayError as err:
        return error_response(err)
    data = await asyncio.to_thread(_key_data, ctx, record)
    data.update({"is_free_tier": False, "is_provisioning_key": False})
    return _json({"data": data})


# -- /api/v1/keys (admin) -------------------------------------------------------------------


def _admin(ctx: GatewayContext, request: web.Request) -> None:
    if not ctx.check_admin(request):
        raise GatewayError(
            401, "this needs the admin key (Authorization: Bearer <admin key>)", type="authentication_error"
        )


async def _admin_body(request: web.Request) -> dict[str, Any]:
    from polyroute.gateway._chat import read_json

    body = await read_json(request, request.app[CONTEXT].settings.max_body_bytes)
    if not isinstance(body, dict):
        raise GatewayError(400, "the body must be a JSON object", type="invalid_request_error")
    return body


def _found(record: KeyRecord | None) -> KeyRecord:
    """``record``, or a 404 :class:`GatewayError` when there is none."""
    if record is None:
        raise GatewayError(404, "no such key", type="not_found_error", param="hash")
    return record


async def _record(ctx: GatewayContext, request: web.Request) -> KeyRecord:
    """The key named by the path's ``{hash}`` (a 404 :class:`GatewayError` if there is none),
    also when another worker created it after this one last read the table."""
    return _found(await ctx.find_key(request.match_info["hash"]))


async def keys_list(request: web.Request) -> web.Response:
    """``GET /api/v1/keys[?include_disabled=true&offset=N]``: every key (admin)."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        offset = int(request.query.get("offset", "0"))
    except GatewayError as err:
        return error_response(err)
    except ValueError:
        return error_response(GatewayError(400, "must be an integer", type="invalid_request_error", param="offset"))
    include = request.query.get("include_disabled", "true").lower() != "false"
    await asyncio.to_thread(ctx.keys.refresh)
    records = [r for r in ctx.keys.list() if include or not r.disabled][offset : offset + 100]
    data = await asyncio.to_thread(lambda: [_key_data(ctx, r) for r in records])
    return _json({"data": data})


async def keys_create(request: web.Request) -> web.Response:
    """``POST /api/v1/keys`` ``{name, limit?, limit_reset?, models?, providers?, rpm?}``: a new key (admin).
    The answer holds the key itself, once."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        body = await _admin_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("must be a non-empty string", param="name")
        secret, record = await asyncio.to_thread(
            ctx.keys.create,
            name,
            limit=check_limit(body.get("limit")),
            limit_reset=body.get("limit_reset"),
            models=body.get("models") or (),
            providers=body.get("providers") or (),
            rpm=body.get("rpm"),
        )
    except GatewayError as err:
        return error_response(err)
    except InvalidRequest as exc:
        return error_response(GatewayError(400, str(exc), type="invalid_request_error", param=exc.param))
    data = await asyncio.to_thread(_key_data, ctx, record)
    return _json({"data": data, "key": secret}, status=201)


async def keys_get(request: web.Request) -> web.Response:
    """``GET /api/v1/keys/{hash}`` (admin)."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        await asyncio.to_thread(ctx.keys.refresh)  # the key as it is now, wherever it was changed
        record = _found(ctx.keys.get(request.match_info["hash"]))
    except GatewayError as err:
        return error_response(err)
    return _json({"data": await asyncio.to_thread(_key_data, ctx, record)})


_PATCHABLE = ("name", "disabled", "limit", "limit_reset", "models", "providers", "rpm")


async def keys_update(request: web.Request) -> web.Response:
    """``PATCH /api/v1/keys/{hash}`` ``{name?, disabled?, limit?, limit_reset?, models?, providers?, rpm?}`` (admin)."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        body = await _admin_body(request)
        unknown = sorted(set(body) - set(_PATCHABLE) - {"include_byok_in_limit"})
        if unknown:
            raise GatewayError(400, f"unknown field {unknown[0]!r}", type="invalid_request_error", param=unknown[0])
        record = await _record(ctx, request)
        changes = {k: body.get(k, UNSET) for k in _PATCHABLE}
        record = await asyncio.to_thread(lambda: ctx.keys.update(record.hash, **changes))
    except GatewayError as err:
        return error_response(err)
    except InvalidRequest as exc:
        return error_response(GatewayError(400, str(exc), type="invalid_request_error", param=exc.param))
    except KeyError:
        return error_response(GatewayError(404, "no such key", type="not_found_error", param="hash"))
    return _json({"data": await asyncio.to_thread(_key_data, ctx, record)})


async def keys_rotate(request: web.Request) -> web.Response:
    """``POST /api/v1/keys/{hash}/rotate`` (polyroute's): a new secret for the key, returned once (admin)."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        record = await _record(ctx, request)
        secret, record = await asyncio.to_thread(ctx.keys.rotate, record.hash)
    except GatewayError as err:
        return error_response(err)
    except KeyError:
        return error_response(GatewayError(404, "no such key", type="not_found_error", param="hash"))
    return _json({"data": await asyncio.to_thread(_key_data, ctx, record), "key": secret})


async def keys_delete(request: web.Request) -> web.Response:
    """``DELETE /api/v1/keys/{hash}`` (admin)."""
    ctx = request.app[CONTEXT]
    try:
        _admin(ctx, request)
        record = await _record(ctx, request)
    except GatewayError as err:
        return error_response(err)
    await asyncio.to_thread(ctx.keys.delete, record.hash)
    return _json({"data": {"success": True}, "deleted": True})
