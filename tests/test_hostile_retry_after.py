"""Retry-After from a hostile provider: never forever, and dated by the router's clock."""

from __future__ import annotations

import email.utils

import orjson
import pytest
from tests.hostile_support import Answer, good, two_providers

from polyroute.adapters._classify import MAX_RETRY_AFTER, retry_after
from polyroute.testing import FakeClock

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("value", ["inf", "1e400", "99999999999", "Thu, 01 Jan 2099 00:00:00 GMT", "-inf"])
def test_absurd_retry_after_values_are_capped(value: str) -> None:
    seconds = retry_after({"retry-after": value}, now=1_700_000_000.0)
    assert seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER


def test_nan_retry_after_is_ignored() -> None:
    assert retry_after({"retry-after": "nan"}) is None
    assert retry_after({"retry-after-ms": "nan"}) is None


def test_an_http_date_is_read_against_the_given_clock() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after({"retry-after": date}, now=now) == pytest.approx(30, abs=1)


@pytest.mark.parametrize("value", ["inf", "1e400", "Thu, 01 Jan 2099 00:00:00 GMT"])
def test_a_huge_retry_after_holds_the_endpoint_out_for_the_max_cooldown_at_most(value: str) -> None:
    def limited(request: object) -> Answer:
        return Answer(orjson.dumps({"error": {"message": "slow down"}}), status=429, headers={"retry-after": value})

    router = two_providers("openai", limited, good("openai"), breaker={"max_cooldown": 60, "auth_cooldown": 30})
    clock = router.clock
    assert isinstance(clock, FakeClock)
    with router:
        assert router.completion("m", USER).route.provider == "good"
        clock.advance(61)
        states = {k: v.breaker for k, v in router.stats().items()}
        assert states["bad/bad-m"] != "open", states
