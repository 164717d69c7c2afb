"""The retry policy on its own: ``decide`` (error -> action) and ``backoff`` (the delay before a retry)."""

from __future__ import annotations

import random

import pytest

from polyroute.catalog._catalog import RetrySettings
from polyroute.errors import (
    AuthenticationError,
    BadRequest,
    ConnectError,
    ContentFiltered,
    ContextLengthExceeded,
    FirstTokenTimeout,
    IncompleteStream,
    MalformedResponse,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    ReadTimeout,
    ServerError,
)
from polyroute.execution._policy import Action, backoff, decide

SETTINGS = RetrySettings(max_retries=2, base_delay=0.5, max_delay=4.0, max_retry_after=20.0)


@pytest.mark.parametrize(
    "error",
    [
        RateLimited("slow down", status=429),
        ServerError("boom", status=500),
        ConnectError("refused"),
        ReadTimeout("no bytes"),
        FirstTokenTimeout("nothing yet"),
        IncompleteStream("cut short"),
        MalformedResponse("not json"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_retryable_errors_are_retried_until_the_retries_run_out(error: ProviderError) -> None:
    assert error.retryable
    assert decide(error, 0, SETTINGS) is Action.RETRY
    assert decide(error, 1, SETTINGS) is Action.RETRY
    assert decide(error, 2, SETTINGS) is Action.NEXT


def test_no_retries_configured_moves_on_at_once() -> None:
    assert decide(ServerError("boom", status=503), 0, RetrySettings(max_retries=0)) is Action.NEXT


def test_with_others_left_a_timeout_or_a_long_retry_after_moves_on() -> None:
    assert decide(ReadTimeout("silent"), 0, SETTINGS, others_left=True) is Action.NEXT
    assert decide(ReadTimeout("silent"), 0, SETTINGS, others_left=False) is Action.RETRY
    assert decide(RateLimited("x", status=429, retry_after=1.0), 0, SETTINGS, others_left=True) is Action.NEXT
    assert decide(RateLimited("x", status=429, retry_after=0.5), 0, SETTINGS, others_left=True) is Action.RETRY
    assert decide(RateLimited("x", status=429, retry_after=1.0), 0, SETTINGS) is Action.RETRY
    assert decide(ServerError("boom", status=500), 0, SETTINGS, others_left=True) is Action.RETRY


def test_a_retry_after_above_the_cap_moves_on_and_one_at_the_cap_is_retried() -> None:
    assert decide(RateLimited("x", status=429, retry_after=20.5), 0, SETTINGS) is Action.NEXT
    assert decide(RateLimited("x", status=429, retry_after=20.0), 0, SETTINGS) is Action.RETRY


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (ContextLengthExceeded("too long", status=400), Action.NEXT_LARGER_CONTEXT),
        (AuthenticationError("bad key", status=401), Action.NEXT_MISCONFIGURED),
        (QuotaExceeded("no credit", status=402), Action.NEXT_MISCONFIGURED),
        (ModelNotFound("no such model", status=404), Action.NEXT),
        (BadRequest("bad", status=400), Action.FAIL),
        (ContentFiltered("refused", status=400), Action.FAIL),
        (ProviderError("unknown", status=418), Action.FAIL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.value,
)
def test_non_retryable_errors_map_to_one_action_whatever_the_retry_count(error: ProviderError, action: Action) -> None:
    assert not error.retryable
    assert decide(error, 0, SETTINGS) is action
    assert decide(error, 5, SETTINGS) is action


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    rng = random.Random(1)
    for retries_done, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [backoff(retries_done, SETTINGS, rng, None) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9  # the whole range is used
        assert min(delays) < ceiling * 0.1


def test_backoff_is_the_rng_draw() -> None:
    a = [backoff(1, SETTINGS, random.Random(42), None) for _ in range(3)]
    b = [backoff(1, SETTINGS, random.Random(42), None) for _ in range(3)]
    assert a == b
    assert a[0] == random.Random(42).uniform(0.0, 1.0)


def test_backoff_never_waits_less_than_retry_after() -> None:
    rng = random.Random(3)
    assert backoff(0, SETTINGS, rng, 7.5) == 7.5  # above the jitter ceiling
    for _ in range(50):
        assert backoff(3, SETTINGS, rng, 0.01) >= 0.01
