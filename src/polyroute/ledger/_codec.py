"""Ledger rows to database parameters and back (exact decimals, JSON tags and metadata)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from polyroute.ledger._row import LedgerRow

__all__ = ["row_from_record", "row_params"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def row_params(row: LedgerRow, *, native: bool) -> tuple[Any, ...]:
    """The INSERT parameters for ``row``: ``native`` keeps Decimals and bools (PostgreSQL),
    otherwise they become text and integers (SQLite)."""
    money: tuple[Any, ...] = (row.cost, row.fee, row.provider_cost)
    if not native:
        money = tuple(_text(m) for m in money)
    return (
        row.request_id,
        row.started_at,
        row.model,
        row.provider,
        row.endpoint_model,
        row.outcome,
        row.error,
        row.status,
        row.retry,
        row.prompt_tokens,
        row.completion_tokens,
        row.cached_tokens,
        row.cache_write_tokens,
        row.reasoning_tokens,
        *money,
        row.cost_disagreement if native else int(row.cost_disagreement),
        row.latency_s,
        row.ttft_s,
        row.user,
        row.caller_key,
        row.project,
        _json(list(row.tags)),
        _json(dict(row.metadata)),
        row.kind,
        row.usage_estimated if native else int(row.usage_estimated),
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def row_from_record(rec: Sequence[Any]) -> LedgerRow:
    """A :class:`LedgerRow` from a SELECT of the columns in schema order."""
    tags = _loaded(rec[23]) or []
    metadata = _loaded(rec[24]) or {}
    return LedgerRow(
        request_id=rec[0],
        started_at=float(rec[1]),
        model=rec[2],
        provider=rec[3],
        endpoint_model=rec[4],
        outcome=rec[5],
        error=rec[6],
        status=rec[7],
        retry=rec[8],
        prompt_tokens=rec[9],
        completion_tokens=rec[10],
        cached_tokens=rec[11],
        cache_write_tokens=rec[12],
        reasoning_tokens=rec[13],
        cost=_decimal(rec[14]),
        fee=_decimal(rec[15]),
        provider_cost=_decimal(rec[16]),
        cost_disagreement=bool(rec[17]),
        latency_s=rec[18],
        ttft_s=rec[19],
        user=rec[20],
        caller_key=rec[21],
        project=rec[22],
        tags=tuple(str(t) for t in tags),
        metadata=metadata if isinstance(metadata, Mapping) else {},
        kind=rec[25] if len(rec) > 25 and rec[25] else "chat",
        usage_estimated=bool(rec[26]) if len(rec) > 26 else False,
    )
