"""Hostile configurations: everything that cannot work is a ``ConfigError`` at load time, and no
error message shows a secret."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import polyroute
from polyroute import errors

ENV = {"KEY": "sk-" + "live-abcdefghijklmnopqrstuvwx", "PG": "postgresql://u:pw-secret-123@db/x"}


def _config(**provider: Any) -> dict[str, Any]:
    p = {"base_url": "https://api.example.com/v1", "api_key": "${KEY}", **provider}
    return {"providers": {"p": p}, "models": {"m": {"endpoints": [{"provider": "p", "model": "x"}]}}}


def _load(cfg: dict[str, Any] | Path, env: dict[str, str] | None = None) -> polyroute.Router:
    return polyroute.Router.from_config(cfg, env=ENV if env is None else env)


def _error(cfg: dict[str, Any] | Path, env: dict[str, str] | None = None) -> errors.ConfigError:
    with pytest.raises(errors.ConfigError) as info:
        _load(cfg, env)
    return info.value


def test_binary_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert "not a text file" in str(_error(path))


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: " + "[" * 1000 + "]" * 1000)
    assert "deep" in str(_error(path))
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(2000):
        node["x"] = {}
        node = node["x"]
    assert "deep" in str(_error({"providers": deep}))


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append("providers: {p: *a8}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines))
    started = time.process_time()
    assert "too large" in str(_error(path))
    assert time.process_time() - started < 5  # generous: the walk stops at 100,000 values


@pytest.mark.parametrize(
    ("timeout", "where"),
    [
        ({"read": float("inf")}, "read"),
        ({"connect": float("inf")}, "connect"),
        ({"read": float("nan")}, "read"),
        ({"read": -1}, "read"),
        ({"read": 0}, "read"),
        ({"read": True}, "read"),
        ({"deadline": 1e300}, "deadline"),
    ],
)
def test_timeouts_must_be_finite_positive_numbers(timeout: dict[str, Any], where: str) -> None:
    err = _error(_config(timeout=timeout))
    assert err.path == f"providers.p.timeout.{where}"


def test_yaml_infinities_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "providers:\n  p: {base_url: 'https://a.example/v1', api_key: ${KEY}, timeout: {read: .inf}}\n"
        "models:\n  m: {endpoints: [{provider: p, model: x}]}\n"
    )
    assert _error(path).path == "providers.p.timeout.read"


@pytest.mark.parametrize("price", [True, False, float("inf"), float("nan"), -1, "-0.5", "NaN", "abc", "Infinity"])
def test_prices_are_finite_non_negative_numbers_not_booleans(price: Any) -> None:
    cfg = _config()
    cfg["models"]["m"]["endpoints"][0]["pricing"] = {"prompt": price}
    assert _error(cfg).path == "models.m.endpoints[0].pricing.prompt"


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ({"retry": {"max_retries": True}}, "router.retry.max_retries"),
        ({"breaker": {"cooldown": float("inf")}}, "router.breaker.cooldown"),
        ({"retry": {"max_retry_after": -1}}, "router.retry.max_retry_after"),
        ({"limits": {"max_body_bytes": 10}}, "router.limits.max_body_bytes"),
        ({"limits": {"max_line_bytes": True}}, "router.limits.max_line_bytes"),
    ],
)
def test_router_settings_are_checked(section: dict[str, Any], value: str) -> None:
    cfg = _config()
    cfg["router"] = section
    assert _error(cfg).path == value


@pytest.mark.parametrize(
    "headers",
    [{"X-Trace": "a\r\nInjected: 1"}, {"X-Trace": "a\nb"}, {"Bad Name": "x"}, {"X-Trace": "a\x00"}],
)
def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    assert _error(_config(headers=headers)).path == "providers.p.headers"


def test_an_api_key_with_a_line_break_is_refused() -> None:
    err = _error(_config(), env={"KEY": "sk-abc\r\nX: y"})
    assert err.path == "providers.p.api_key"


@pytest.mark.parametrize(
    "url",
    [
        "https://",
        "http:///v1",
        "https://exa mple.com/v1",
        "ftp://example.com",
        "https://example.com:99999/v1",
        "https://user:pass@example.com/v1",
        "example.com/v1",
        "https://example.com/v1#x",
    ],
)
def test_base_urls_must_parse(url: str) -> None:
    assert _error(_config(base_url=url)).path == "providers.p.base_url"


@pytest.mark.parametrize("url", ["sqlite://x.db", "mysql://h/db", "sqlite://"])
def test_malformed_ledger_urls_are_refused_without_creating_anything(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _config()
    cfg["ledger"] = {"url": url}
    assert _error(cfg).path == "ledger.url"
    assert list(tmp_path.iterdir()) == []


def test_sqlite_urls_with_three_slashes_still_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _config()
    cfg["ledger"] = {"url": "sqlite:///usage.db"}
    with _load(cfg):
        pass
    assert (tmp_path / "usage.db").exists()


@pytest.mark.parametrize(
    ("provider", "where"),
    [
        ({"api_key": "${NOPE:-sk-literal-key-123456}"}, "providers.p.api_key"),
        ({"api_key": "${KEY:-sk-literal-key-123456}"}, "providers.p.api_key"),
        ({"api_key": "Bearer ${KEY}"}, "providers.p.api_key"),
        ({"headers": {"x-api-key": "literal-key-123456"}}, "providers.p.headers.x-api-key"),
        ({"headers": {"Authorization": "Bearer literal-123456"}}, "providers.p.headers.Authorization"),
        ({"headers": {"X-Custom-Token": "${NOPE:-literal}"}}, "providers.p.headers.X-Custom-Token"),
        ({"options": {"aws_secret_access_key": "literal"}}, "providers.p.options.aws_secret_access_key"),
    ],
)
def test_secrets_come_from_the_environment_alone(provider: dict[str, Any], where: str) -> None:
    err = _error(_config(**provider))
    assert err.path == where
    assert "literal" not in str(err)


def test_secret_headers_from_the_environment_are_fine_and_hidden_in_reprs() -> None:
    cfg = _config(headers={"x-api-key": "${KEY}", "X-Title": "demo"})
    with _load(cfg) as router:
        spec = router.catalog.providers["p"]
        assert spec.headers["x-api-key"] == ENV["KEY"]
        assert ENV["KEY"] not in repr(spec)
        assert "demo" in repr(spec)


def test_a_database_url_with_a_literal_password_is_refused() -> None:
    for url in ("postgresql://u:literal-pw@db/x", "${NOPE:-postgresql://u:literal-pw@db/x}"):
        cfg = _config()
        cfg["ledger"] = {"url": url}
        err = _error(cfg)
        assert err.path == "ledger.url"
        assert "literal-pw" not in str(err)


def test_a_secret_in_the_wrong_field_is_not_printed() -> None:
    err = _error(_config(base_url="${KEY}"))
    assert err.path == "providers.p.base_url"
    assert ENV["KEY"] not in str(err)
    assert "abcdefghijkl" not in str(err)
