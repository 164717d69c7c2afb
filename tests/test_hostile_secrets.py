"""Secrets: a key polyroute holds never shows in what it returns, raises, prints or stores, even
when a provider echoes it back."""

from __future__ import annotations

import logging
import socket
import traceback
from pathlib import Path

import orjson
import pytest
import yaml
from tests.hostile_support import ENV, Answer, good, two_providers

import polyroute
from polyroute import errors
from polyroute.catalog._config import load_catalog
from polyroute.testing import ErrorReply, FunctionBackend, ProviderSimulator, Reply

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


# -- the command line ------------------------------------------------------------------------------


def test_polyroute_chat_never_prints_a_key_echoed_by_a_401(
    tmp_path: Path, sim: ProviderSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from polyroute.cli import _chat, _demo, _models, app  # noqa: F401  (registers the commands)

    key = "alpha-secret-" + "0123456789abcdef"  # not shaped like any key: scrubbed because polyroute holds it
    monkeypatch.setenv("H12_ALPHA_KEY", key)
    monkeypatch.setenv("COLUMNS", "500")  # no line wrapping that could split the key in the output
    alpha, beta = sim.add_provider("alpha"), sim.add_provider("beta")
    echo = ErrorReply(401, message=f"Incorrect API key provided: {key}")
    alpha.set_default(echo)
    cfg = {
        "providers": {
            "alpha": {"base_url": alpha.base_url, "api_key": "${H12_ALPHA_KEY}"},
            "beta": {"base_url": beta.base_url},
        },
        "models": {"m": {"endpoints": [{"provider": "alpha", "model": "a-1"}, {"provider": "beta", "model": "b-1"}]}},
        "router": {"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}},
    }
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    for extra in ([], ["--stream"]):
        result = runner.invoke(app, ["chat", "hi", "-m", "m", "-c", str(path), *extra])
        assert result.exit_code == 0, result.output
        assert "AuthenticationError" in result.output
        assert key not in result.output
    beta.set_default(echo)  # nobody answers: the error is printed
    result = runner.invoke(app, ["chat", "hi", "-m", "m", "-c", str(path)])
    assert result.exit_code == 1
    assert "Incorrect API key provided" in result.output
    assert key not in result.output


# -- database and Redis URLs ---------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shown(exc: BaseException | None, caplog: pytest.LogCaptureFixture, *objects: object) -> str:
    parts = [caplog.text, *(repr(o) for o in objects)]
    if exc is not None:
        parts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    return "\n".join(parts)


def test_a_redis_state_urls_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    password = "state-pass-" + "0123456789"
    encoded = "p%40ss-" + "0123456789"  # "p@ss-0123456789", percent-encoded in the URL
    for secret, plain in ((password, password), (encoded, "p@ss-" + "0123456789")):
        url = f"redis://:{secret}@127.0.0.1:{_dead_port()}/0"
        cfg = {
            "providers": {"p": {"api": "custom"}},
            "models": {
                "m": {"endpoints": [{"provider": "p", "model": "x", "pricing": {"prompt": 0, "completion": 0}}]}
            },
            "budgets": [{"scope": "user", "match": "*", "limit_usd": 1, "period": "day"}],
            "router": {"state": {"backend": "redis", "url": "${H12_STATE_URL}", "timeout": 0.2}},
        }
        backend = FunctionBackend(lambda call: Reply(text="hi"))
        caplog.clear()
        with (
            caplog.at_level(logging.DEBUG, logger="polyroute"),
            polyroute.Router.from_config(cfg, env={"H12_STATE_URL": url}, backends={"p": backend}) as router,
        ):
            with pytest.raises(errors.BudgetExceeded) as info:  # budgets fail closed while Redis is down
                router.completion("m", USER, user="u")
            try:  # a driver's error quoting the password it was given, logged with its traceback
                raise ConnectionError(f"Error connecting to 127.0.0.1 with password {plain!r}")
            except ConnectionError as exc:
                logging.getLogger("polyroute").exception("polyroute: Redis failed (%s)", exc)
                quoted: BaseException = errors.ServerError(f"upstream said: {exc}")
            shown = _shown(info.value, caplog, router, router.catalog.settings.state, router.budgets, quoted)
        assert "Error connecting to" in shown  # the record was there, scrubbed
        assert secret not in shown and plain not in shown


def test_a_database_urls_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("psycopg")
    password = "db-p@ss-" + "0123456789"  # percent-encoded in the URL
    url = f"postgresql://postgres:{password.replace('@', '%40')}@127.0.0.1:{_dead_port()}/test"
    cfg = {
        "providers": {"p": {"api": "custom"}},
        "models": {"m": {"endpoints": [{"provider": "p", "model": "x"}]}},
        "ledger": {"url": "${H12_DB_URL}"},
    }
    caplog.set_level(logging.DEBUG, logger="polyroute")
    with pytest.raises(Exception) as info:  # nothing listens there
        polyroute.Router.from_config(cfg, env={"H12_DB_URL": url}, backends={"p": FunctionBackend(lambda c: "x")})
    catalog = load_catalog(cfg, env={"H12_DB_URL": url})
    try:
        raise OSError(f"could not connect to 127.0.0.1 as postgres, password {password!r}")
    except OSError as exc:
        logging.getLogger("polyroute").exception("polyroute ledger: %s", exc)
        quoted = errors.ServerError(str(exc))
    shown = _shown(info.value, caplog, catalog.settings.ledger, quoted)
    assert "could not connect to" in shown
    assert password not in shown and password.replace("@", "%40") not in shown
