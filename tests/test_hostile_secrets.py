"""Secrets: a key polyroute holds never shows in what it returns, raises, prints or stores, even
when a provider echoes it back."""

from __future__ import annotations

import orjson
import pytest
from tests.hostile_support import ENV, Answer, good, two_providers

import polyroute
from polyroute import errors

USER = [{"role": "user", "content": "hi"}]
BAD_KEY = ENV["BAD_KEY"]


# key-shaped test values are assembled at run time, so no file holds a string shaped like a real key
PROJ_KEY = "sk-" + "proj-abcdefghijklmnopqrstuvwxyz"


def _echo(request: polyroute.transports.HttpRequest) -> Answer:
    sent = request.headers.get("Authorization", "")
    body = {"error": {"message": f"Incorrect API key provided: {sent} (also {PROJ_KEY})"}}
    return Answer(orjson.dumps(body), status=401)


def test_a_key_echoed_in_a_401_body_is_scrubbed_everywhere() -> None:
    with two_providers("openai", _echo, good("openai")) as router:
        resp = router.completion("m", USER)
    first = resp.route.attempts[0]
    assert first.error == "AuthenticationError"
    shown = [first.message or "", repr(first), repr(resp.route), orjson.dumps(resp.model_dump(mode="json")).decode()]
    for text in shown:
        assert BAD_KEY not in text
        assert PROJ_KEY not in text
    assert "***" in (first.message or "")


def test_errors_are_scrubbed_in_str_and_body() -> None:
    with two_providers("openai", _echo, _echo) as router, pytest.raises(errors.NoEndpointAvailable) as info:
        router.completion("m", USER)
    exc = info.value
    assert BAD_KEY not in str(exc)
    assert ENV["GOOD_KEY"] not in str(exc)
    for err in exc.errors:
        assert isinstance(err, errors.ProviderError)
        assert BAD_KEY not in str(err) and BAD_KEY not in (err.body or "")
        assert ENV["GOOD_KEY"] not in (err.body or "")
    for attempt in exc.attempts:
        assert BAD_KEY not in repr(attempt)


def test_key_shapes_are_scrubbed_even_when_unknown() -> None:
    err = errors.ServerError(
        "leaked " + "sk-ant-" + "api03-abcdefghijklmnopqrstuvwx and " + "AIza" + "SyA1234567890abcdefghijklmnopqrstu"
    )
    assert "sk-ant-api03" not in str(err) and "AIzaSy" not in str(err)
    assert "gsk_" + "abcdefghijklmnopqrstuvwx" not in str(
        errors.BadRequest("gsk_" + "abcdefghijklmnopqrstuvwx", body="x")
    )
