"""What to do after a failed attempt: plain functions, no I/O.

``decide()`` maps an error to an :class:`Action`; ``backoff()`` gives the delay before a retry
(exponential with full jitter, honouring the provider's ``Retry-After``); ``first_token_limit()``
bounds a streamed attempt's wait for its first content (one rule for both engines).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from polyroute.catalog._catalog import RetrySettings, Timeouts
from polyroute.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    Timeout,
)

__all__ = ["Action", "FirstTokenLimit", "backoff", "decide", "first_token_limit"]


class Action(enum.Enum):
    """The decision after a failed attempt."""

    #: try the same endpoint again after a backoff
    RETRY = "retry"
    #: move on to the next candidate
    NEXT = "next"
    #: move on, skipping candidates whose context is no larger than this one's
    NEXT_LARGER_CONTEXT = "next_larger_context"
    #: move on and take this endpoint out of rotation (bad key, no quota)
    NEXT_MISCONFIGURED = "next_misconfigured"
    #: stop: another provider would reject this request too
    FAIL = "fail"


def decide(
    error: ProviderError,
    retries_done: int,
    settings: RetrySettings,
    *,
    others_left: bool = False,
    larger_context_left: bool = False,
) -> Action:
    """What to do after ``error`` on an endpoint already retried ``retries_done`` times.

    With ``others_left`` (another candidate is waiting) two retryable failures move on at once
    instead of retrying: a timeout (a silent endpoint would make every retry wait as long again)
    and a ``Retry-After`` of ``failover_after`` or more (waiting is slower than failing over).
    With ``larger_context_left`` (a later candidate declares a larger context), a rejected
    request whose wording is about length or tokens moves on to it.
    """
    if error.retryable:
        if retries_done >= settings.max_retries:
            return Action.NEXT
        retry_after = error.retry_after
        if retry_after is not None and retry_after > settings.max_retry_after:
            return Action.NEXT
        if others_left and (
            isinstance(error, Timeout) or (retry_after is not None and retry_after >= settings.failover_after)
        ):
            return Action.NEXT
        return Action.RETRY
    if isinstance(error, ContextLengthExceeded):
        return Action.NEXT_LARGER_CONTEXT
    if isinstance(error, (AuthenticationError, QuotaExceeded)):
        return Action.NEXT_MISCONFIGURED
    if isinstance(error, ModelNotFound):
        return Action.NEXT
    if error.about_length and larger_context_left:
        return Action.NEXT_LARGER_CONTEXT
    return Action.FAIL


def backoff(retries_done: int, settings: RetrySettings, rng: random.Random, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``retries_done + 1``.

    Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**retries_done)]``; never less
    than the provider's ``retry_after`` (which ``decide`` has already capped).
    """
    ceiling = min(settings.max_delay, settings.base_delay * (2**retries_done))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass(frozen=True, slots=True)
class FirstTokenLimit:
    """How long a streamed attempt may take to its first content, and what ends it."""

    seconds: float
    #: ``True``: the call's deadline ends it (``DeadlineExceeded`` territory), not the first-token limit
    deadline: bool


def first_token_limit(timeouts: Timeouts, remaining: float | None, *, others_left: bool) -> FirstTokenLimit | None:
    """The wait allowed before a streamed attempt's first content (text, reasoning or tool-call
    delta; SSE keep-alive comments do not count), or ``None`` for no limit.

    A configured ``first_token`` always applies; otherwise ``first_token_failover`` (15 s by
    default) applies when another candidate is left. What is left of the call's deadline caps
    either."""
    limit = timeouts.first_token
    if limit is None and others_left:
        limit = timeouts.first_token_failover
    if remaining is not None and (limit is None or remaining < limit):
        return FirstTokenLimit(max(remaining, 0.0), deadline=True)
    return FirstTokenLimit(limit, deadline=False) if limit is not None else None
