"""One ledger row: one attempt of one call, who made it, what it used and cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from polyroute._request import Caller
from polyroute._types import Attempt
from polyroute.accounting._settings import key_fingerprint

__all__ = ["LedgerRow", "row_for_attempt"]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """An attempt as the ledger stores it.

    ``started_at`` is Unix seconds. Token counts are by kind, as the provider reported them
    (``prompt_tokens`` includes cached and cache-write tokens, ``completion_tokens`` includes
    reasoning tokens). ``cost`` is what the provider charges (``None``: unknown), ``fee`` the
    platform fee line, ``provider_cost`` the provider's own figure and ``cost_disagreement``
    whether the two differ. ``user``, ``project``, ``tags`` and ``metadata`` are the caller's, as
    passed to ``completion()``; ``caller_key`` is the fingerprint of the caller's key
    (:func:`~polyroute.key_fingerprint`), never the key itself. ``kind`` is ``"chat"`` or
    ``"embedding"`` (one row per batch attempt); ``usage_estimated`` says the provider reported no
    usage and the token count (and so the cost) is polyroute's estimate.
    """

    request_id: str
    started_at: float
    model: str
    provider: str
    endpoint_model: str
    outcome: str
    error: str | None = None
    status: int | None = None
    retry: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None
    fee: Decimal | None = None
    provider_cost: Decimal | None = None
    cost_disagreement: bool = False
    latency_s: float | None = None
    ttft_s: float | None = None
    user: str | None = None
    caller_key: str | None = None
    project: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "chat"
    usage_estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def row_for_attempt(request_id: str, attempt: Attempt, caller: Caller, kind: str = "chat") -> LedgerRow:
    """The ledger row of ``attempt``, made by ``caller`` in call ``request_id`` (a ``kind`` call)."""
    usage = attempt.usage
    lines = attempt.cost_breakdown
    return LedgerRow(
        request_id=request_id,
        started_at=attempt.started_at,
        model=attempt.model,
        provider=attempt.provider,
        endpoint_model=attempt.endpoint_model,
        outcome=attempt.outcome,
        error=attempt.error,
        status=attempt.status,
        retry=attempt.retry,
        prompt_tokens=usage.prompt_tokens if usage is not None else 0,
        completion_tokens=usage.completion_tokens if usage is not None else 0,
        cached_tokens=usage.cached_tokens if usage is not None else 0,
        cache_write_tokens=usage.cache_write_tokens if usage is not None else 0,
        reasoning_tokens=usage.reasoning_tokens if usage is not None else 0,
        cost=attempt.cost,
        fee=lines.fee if lines is not None else None,
        provider_cost=lines.provider_reported if lines is not None else (usage.provider_cost if usage else None),
        cost_disagreement=lines.disagreement if lines is not None else False,
        latency_s=attempt.latency_s if attempt.outcome != "skipped" else None,
        ttft_s=attempt.ttft_s,
        user=caller.user,
        caller_key=key_fingerprint(caller.key) if caller.key is not None else None,
        project=caller.project,
        tags=caller.tags,
        metadata=caller.metadata,
        kind=kind,
        usage_estimated=usage.estimated if usage is not None else False,
    )
