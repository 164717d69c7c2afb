"""What to do after a failed attempt: plain functions, no I/O.

``decide()`` maps an error to an :class:`Action`; ``backoff()`` gives the delay before a retry
(exponential with full jitter, honouring the provider's ``Retry-After``).
"""

from __future__ import annotations

import enum
import random

from polyroute.catalog._catalog import RetrySettings
from polyroute.errors import (
    AuthenticationError,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    Timeout,
)

__all__ = ["Action", "backoff", "decide"]


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


def decide(error: ProviderError, retries_done: int, settings: RetrySettings, *, others_left: bool = False) -> Action:
    """What to do after ``error`` on an endpoint already retried ``retries_done`` times.

    With ``others_left`` (another candidate is waiting) two retryable failures move on at once
    instead of retrying: a timeout (a silent endpoint would make every retry wait as long again)
    and a ``Retry-After`` of ``failover_after`` or more (waiting is slower than failing over).
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
