"""Configuration is validated at load; every error names the key path; secrets stay secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import polyroute
from polyroute.errors import ConfigError


def base(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {
            "groq": {"api": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key": "${GROQ_API_KEY}"}
        },
        "models": {
            "llama": {
                "endpoints": [
                    {
                        "provider": "groq",
                        "model": "llama-3.3-70b-versatile",
                        "pricing": {"prompt": 5.9e-7, "completion": 7.9e-7},
                    }
                ]
            }
        },
    }
    cfg.update(over)
    return cfg


ENV = {"GROQ_API_KEY": "gsk-test-not-a-real-key"}


def test_valid_config_builds_catalog() -> None:
    router = polyroute.Router.from_config(base(), env=ENV)
    spec = router.catalog.model("llama")
    assert spec is not None
    ep = spec.endpoints[0]
    assert ep.key == "groq/llama-3.3-70b-versatile"
    from decimal import Decimal

    assert ep.pricing.prompt == Decimal("5.9E-7")
    assert router.catalog.provider("groq").api_key is not None


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(
        """
providers:
  groq:     {api: openai, base_url: https://api.groq.com/openai/v1, api_key: ${GROQ_API_KEY}}
  together: {api: openai, base_url: https://api.together.xyz/v1, api_key: ${TOGETHER_API_KEY}}
models:
  llama-3.3-70b:
    endpoints:
      - {provider: groq, model: llama-3.3-70b-versatile, pricing: {prompt: 5.9e-7, completion: 7.9e-7}, context_length: 131072}
      - {provider: together, model: meta-llama/Llama-3.3-70B-Instruct-Turbo, pricing: {prompt: 8.8e-7, completion: 8.8e-7}}
"""
    )
    router = polyroute.Router.from_config(path, env={"GROQ_API_KEY": "a", "TOGETHER_API_KEY": "b"})
    assert [e.provider for e in router.catalog.models["llama-3.3-70b"].endpoints] == ["groq", "together"]


def test_unset_env_var_names_the_variable_and_path() -> None:
    with pytest.raises(ConfigError) as info:
        polyroute.Router.from_config(base(), env={})
    assert "GROQ_API_KEY" in str(info.value)
    assert info.value.path == "providers.groq.api_key"


def test_empty_env_var_is_unset() -> None:
    with pytest.raises(ConfigError, match="GROQ_API_KEY"):
        polyroute.Router.from_config(base(), env={"GROQ_API_KEY": ""})


def test_env_default() -> None:
    cfg = base()
    cfg["providers"]["groq"]["base_url"] = "${GROQ_BASE:-https://example.test/v1}"
    router = polyroute.Router.from_config(cfg, env=ENV)
    assert router.catalog.provider("groq").base_url == "https://example.test/v1"


def test_literal_api_key_is_rejected() -> None:
    cfg = base()
    cfg["providers"]["groq"]["api_key"] = "gsk-literal"
    with pytest.raises(ConfigError) as info:
        polyroute.Router.from_config(cfg, env=ENV)
    assert info.value.path == "providers.groq.api_key"
    assert "gsk-literal" not in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (
            lambda c: c["models"]["llama"]["endpoints"][0].update(provider="nope"),
            "models.llama.endpoints[0].provider",
            "unknown provider 'nope'",
        ),
        (
            lambda c: c["models"]["llama"]["endpoints"][0].update(pricng={}),
            "models.llama.endpoints[0].pricng",
            "Extra inputs",
        ),
        (
            lambda c: c["models"]["llama"]["endpoints"][0]["pricing"].update(prompt="cheap"),
            "models.llama.endpoints[0].pricing.prompt",
            "must be a number",
        ),
        (
            lambda c: c["models"]["llama"]["endpoints"][0]["pricing"].update(prompt=-1),
            "models.llama.endpoints[0].pricing.prompt",
            "non-negative",
        ),
        (lambda c: c["models"]["llama"].update(endpoints=[]), "models.llama.endpoints", "at least 1"),
        (
            lambda c: c["models"]["llama"].update(fallbacks=["ghost"]),
            "models.llama.fallbacks[0]",
            "unknown fallback model 'ghost'",
        ),
        (lambda c: c["providers"]["groq"].update(base_url="api.groq.com"), "providers.groq.base_url", "http://"),
        (lambda c: c["providers"]["groq"].update(api="smoke-signals"), "providers.groq.api", "unknown api"),
        (
            lambda c: c.update(router={"retry": {"max_retries": -1}}),
            "router.retry.max_retries",
            "greater than or equal",
        ),
    ],
)
def test_errors_name_the_key_path(mutate: Any, path: str, words: str) -> None:
    cfg = base()
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        polyroute.Router.from_config(cfg, env=ENV)
    assert info.value.path == path
    assert path in str(info.value)
    assert words in str(info.value)


def test_several_problems_are_listed_together() -> None:
    cfg = base()
    cfg["models"]["llama"]["endpoints"][0]["pricing"]["prompt"] = "x"
    cfg["models"]["llama"]["endpoints"][0]["context_length"] = 0
    with pytest.raises(ConfigError) as info:
        polyroute.Router.from_config(cfg, env=ENV)
    text = str(info.value)
    assert "2 problems" in text
    assert "pricing.prompt" in text and "context_length" in text


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        polyroute.Router.from_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        polyroute.Router.from_config(tmp_path / "missing.yaml")


def test_secrets_never_shown() -> None:
    router = polyroute.Router.from_config(base(), env=ENV)
    key = router.catalog.provider("groq").api_key
    assert key is not None
    for text in (repr(key), str(key), repr(router.catalog.provider("groq")), repr(router), repr(router.catalog)):
        assert "gsk-test-not-a-real-key" not in text
    assert key.reveal() == "gsk-test-not-a-real-key"
    assert "GROQ_API_KEY" in repr(key)


def test_api_key_is_sent_as_bearer() -> None:
    from polyroute.testing import ProviderSimulator

    with ProviderSimulator() as sim:
        p = sim.add_provider("groq", api_key="sk-sim-123")
        cfg = base()
        cfg["providers"]["groq"]["base_url"] = p.base_url
        with polyroute.Router.from_config(cfg, env={"GROQ_API_KEY": "sk-sim-123"}) as router:
            resp = router.completion(model="llama", messages=[{"role": "user", "content": "hi"}])
        assert resp.route is not None and resp.route.provider == "groq"
        with polyroute.Router.from_config(cfg, env={"GROQ_API_KEY": "wrong-key-value"}) as router:
            with pytest.raises(polyroute.errors.NoEndpointAvailable) as info:
                router.completion(model="llama", messages=[{"role": "user", "content": "hi"}])
        assert info.value.attempts[0].error == "AuthenticationError"
        assert "wrong-key-value" not in str(info.value)
