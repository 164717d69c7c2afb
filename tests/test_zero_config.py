"""Zero-config: ``Router.from_env()``, ``provider/model`` ids, and a config file merged over the environment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import polyroute
from polyroute import Pricing, errors
from polyroute.catalog._known_providers import KNOWN_PROVIDERS
from polyroute.catalog._model_ids import native_model_id
from polyroute.cli import _chat, _models, app  # noqa: F401  (registers the commands)
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator

USER = [{"role": "user", "content": "hi"}]
ALL_VARS = sorted({v for p in KNOWN_PROVIDERS for v in (*p.key_env, *p.base_url_env)} | {"POLYROUTE_CONFIG"})

# written out, not read from the table: these are the providers' documented endpoints
EXPECTED = [
    ("OPENAI_API_KEY", "openai", "openai", "https://api.openai.com/v1"),
    ("ANTHROPIC_API_KEY", "anthropic", "anthropic", "https://api.anthropic.com/v1"),
    ("GEMINI_API_KEY", "gemini", "gemini", "https://generativelanguage.googleapis.com/v1beta"),
    ("GROQ_API_KEY", "groq", "openai", "https://api.groq.com/openai/v1"),
    ("MISTRAL_API_KEY", "mistral", "openai", "https://api.mistral.ai/v1"),
    ("DEEPSEEK_API_KEY", "deepseek", "openai", "https://api.deepseek.com"),
    ("TOGETHER_API_KEY", "together", "openai", "https://api.together.xyz/v1"),
    ("FIREWORKS_API_KEY", "fireworks", "openai", "https://api.fireworks.ai/inference/v1"),
    ("OPENROUTER_API_KEY", "openrouter", "openai", "https://openrouter.ai/api/v1"),
    ("XAI_API_KEY", "xai", "openai", "https://api.x.ai/v1"),
    ("CEREBRAS_API_KEY", "cerebras", "openai", "https://api.cerebras.ai/v1"),
]


def endpoints(router: polyroute.Router, model: str) -> list[tuple[str, str]]:
    return [(c.endpoint.provider, c.endpoint.model) for c in router.plan(model).candidates]


@pytest.mark.parametrize(("var", "name", "api", "base_url"), EXPECTED)
def test_each_key_enables_its_provider(var: str, name: str, api: str, base_url: str) -> None:
    router = polyroute.Router.from_env(env={var: "secret-value"})
    provider = router.catalog.provider(name)
    assert (list(router.catalog.providers), provider.api, provider.base_url) == ([name], api, base_url)
    assert provider.api_key is not None and provider.api_key.reveal() == "secret-value"
    assert provider.api_key.source == f"env:{var}"
    assert "secret-value" not in repr(provider) and "secret-value" not in repr(router)


def test_an_empty_environment_has_no_providers() -> None:
    router = polyroute.Router.from_env(env={"OPENAI_API_KEY": ""})
    assert dict(router.catalog.providers) == {}
    with pytest.raises(errors.InvalidRequest, match="provider/model-id"):
        router.completion(model="openai/gpt-4o-mini", messages=USER)


@pytest.mark.parametrize(
    ("env", "name", "base_url"),
    [
        ({"OLLAMA_HOST": "0.0.0.0:11434"}, "ollama", "http://127.0.0.1:11434/v1"),
        ({"OLLAMA_BASE_URL": "http://gpu-box:11434/"}, "ollama", "http://gpu-box:11434/v1"),
        ({"VLLM_BASE_URL": "http://localhost:8000/v1"}, "vllm", "http://localhost:8000/v1"),
        ({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "https://proxy.example/v1"}, "openai", "https://proxy.example/v1"),
    ],
)
def test_base_urls_from_the_environment(env: dict[str, str], name: str, base_url: str) -> None:
    router = polyroute.Router.from_env(env=env)
    assert router.catalog.provider(name).base_url == base_url


def test_local_servers_need_no_key() -> None:
    router = polyroute.Router.from_env(env={"OLLAMA_HOST": "127.0.0.1:11434", "VLLM_BASE_URL": "http://h:8000/v1"})
    assert router.catalog.provider("ollama").api_key is None
    assert router.catalog.provider("vllm").api_key is None


KEYS = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k", "GROQ_API_KEY": "k", "XAI_API_KEY": "k"}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai/gpt-4o-mini", [("openai", "gpt-4o-mini"), ("openrouter", "openai/gpt-4o-mini")]),
        (
            "anthropic/claude-sonnet-4",
            [("anthropic", "claude-sonnet-4-0"), ("openrouter", "anthropic/claude-sonnet-4")],
        ),
        (
            "anthropic/claude-3.7-sonnet",
            [("anthropic", "claude-3-7-sonnet-latest"), ("openrouter", "anthropic/claude-3.7-sonnet")],
        ),
        (
            "claude-opus-4-1-20250805",
            [("anthropic", "claude-opus-4-1-20250805"), ("openrouter", "anthropic/claude-opus-4-1-20250805")],
        ),
        ("google/gemini-2.5-flash", [("gemini", "gemini-2.5-flash"), ("openrouter", "google/gemini-2.5-flash")]),
        ("gemini/gemini-2.5-pro", [("gemini", "gemini-2.5-pro"), ("openrouter", "google/gemini-2.5-pro")]),
        ("gemini-2.5-flash", [("gemini", "gemini-2.5-flash"), ("openrouter", "google/gemini-2.5-flash")]),
        ("gpt-4.1", [("openai", "gpt-4.1"), ("openrouter", "openai/gpt-4.1")]),
        ("x-ai/grok-4", [("xai", "grok-4"), ("openrouter", "x-ai/grok-4")]),
        ("groq/llama-3.1-8b-instant", [("groq", "llama-3.1-8b-instant")]),
        ("meta-llama/llama-3.3-70b-instruct", [("openrouter", "meta-llama/llama-3.3-70b-instruct")]),
        ("openrouter/anthropic/claude-sonnet-4", [("openrouter", "anthropic/claude-sonnet-4")]),
        ("mistralai/mistral-large", [("openrouter", "mistralai/mistral-large")]),
    ],
)
def test_model_ids_resolve_to_the_providers_that_serve_them(model: str, expected: list[tuple[str, str]]) -> None:
    router = polyroute.Router.from_env(env={**KEYS, "OPENROUTER_API_KEY": "k"})
    assert endpoints(router, model) == expected


def test_without_openrouter_only_native_providers_serve() -> None:
    router = polyroute.Router.from_env(env=KEYS)
    assert endpoints(router, "anthropic/claude-sonnet-4") == [("anthropic", "claude-sonnet-4-0")]
    with pytest.raises(errors.InvalidRequest, match="unknown model 'meta-llama/llama-3.3-70b-instruct'"):
        router.plan("meta-llama/llama-3.3-70b-instruct")
    with pytest.raises(errors.InvalidRequest):
        router.plan("just-a-name")


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4", "claude-sonnet-4-0"),
        ("claude-opus-4", "claude-opus-4-0"),
        ("claude-opus-4.1", "claude-opus-4-1"),
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("claude-3.5-haiku", "claude-3-5-haiku-latest"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4-20250514"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-latest"),
    ],
)
def test_openrouter_style_claude_ids_become_anthropic_aliases(model: str, native: str) -> None:
    assert native_model_id("anthropic", model) == native
    assert native_model_id("openai", model) == model


def test_zero_config_end_to_end_with_failover(sim: ProviderSimulator, clock: FakeClock) -> None:
    claude = sim.add_provider("anthropic-sim", api="anthropic", api_key="sk-ant")
    openrouter = sim.add_provider("openrouter-sim", api_key="sk-or")
    env = {
        "ANTHROPIC_API_KEY": "sk-ant",
        "ANTHROPIC_BASE_URL": claude.base_url,
        "OPENROUTER_API_KEY": "sk-or",
        "OPENROUTER_BASE_URL": openrouter.base_url,
    }
    router = polyroute.Router.from_env(env=env, config={"router": {"retry": {"max_retries": 0}}}, clock=clock)
    resp = router.completion(model="anthropic/claude-sonnet-4", messages=USER)
    assert claude.requests[-1].model == "claude-sonnet-4-0"
    assert resp.route is not None and (resp.route.model, resp.route.provider) == (
        "anthropic/claude-sonnet-4",
        "anthropic",
    )
    assert resp.route.cost is None  # no price source: unknown, never guessed
    claude.set_default(ErrorReply(529))
    resp = router.completion(model="anthropic/claude-sonnet-4", messages=USER)
    assert resp.route is not None and resp.route.provider == "openrouter"
    assert openrouter.requests[-1].model == "anthropic/claude-sonnet-4"
    router.close()


def test_a_price_lookup_prices_resolved_models(sim: ProviderSimulator) -> None:
    gpt = sim.add_provider("openai-sim")
    prices = {("openai", "gpt-4o-mini"): Pricing(prompt=Decimal("1.5e-7"), completion=Decimal("6e-7"))}
    router = polyroute.Router.from_env(
        env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": gpt.base_url}, prices=lambda p, m: prices.get((p, m))
    )
    resp = router.completion(model="openai/gpt-4o-mini", messages=USER)
    assert resp.route is not None and resp.usage is not None
    expected = resp.usage.prompt_tokens * Decimal("1.5e-7") + resp.usage.completion_tokens * Decimal("6e-7")
    assert resp.route.cost == expected


# -- a config file over the environment ---------------------------------------------------------


def test_config_overrides_an_environment_provider_key_by_key() -> None:
    config = {"providers": {"openai": {"base_url": "https://proxy.example/v1", "timeout": {"read": 5}}}}
    router = polyroute.Router.from_env(env={"OPENAI_API_KEY": "k"}, config=config)
    provider = router.catalog.provider("openai")
    assert (provider.base_url, provider.timeouts.read, provider.api) == ("https://proxy.example/v1", 5.0, "openai")
    assert provider.api_key is not None and provider.api_key.source == "env:OPENAI_API_KEY"


def test_config_adds_providers_and_models() -> None:
    config = {
        "providers": {
            "groq": {"api_key": "${MY_GROQ_KEY}"},  # a known name: inherits api and base_url
            "lab": {"base_url": "http://lab.internal/v1"},
        },
        "models": {
            "fast": {
                "endpoints": [
                    {"provider": "groq", "model": "llama-3.1-8b-instant"},
                    {"provider": "lab", "model": "llama"},
                ],
                "fallbacks": ["anthropic/claude-sonnet-4"],
            }
        },
    }
    router = polyroute.Router.from_env(env={"ANTHROPIC_API_KEY": "k", "MY_GROQ_KEY": "g"}, config=config)
    assert sorted(router.catalog.providers) == ["anthropic", "groq", "lab"]
    assert router.catalog.provider("groq").base_url == "https://api.groq.com/openai/v1"
    assert endpoints(router, "fast") == [
        ("groq", "llama-3.1-8b-instant"),
        ("lab", "llama"),
        ("anthropic", "claude-sonnet-4-0"),
    ]
    assert endpoints(router, "lab/qwen3") == [("lab", "qwen3")]  # any configured provider resolves too


def test_config_file_path(tmp_path: Path) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text("providers:\n  anthropic: {headers: {anthropic-beta: prompt-caching-2024-07-31}}\n")
    router = polyroute.Router.from_env(env={"ANTHROPIC_API_KEY": "k"}, config=path)
    assert router.catalog.provider("anthropic").headers == {"anthropic-beta": "prompt-caching-2024-07-31"}


def test_config_errors_still_name_their_path() -> None:
    with pytest.raises(errors.ConfigError) as info:
        polyroute.Router.from_env(env={}, config={"providers": {"lab": {"api": "openai"}}})
    assert info.value.path == "providers.lab.base_url"


# -- the CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./polyroute.yaml


def test_cli_without_a_config_uses_the_environment(clean_env: None, sim: ProviderSimulator) -> None:
    gpt = sim.add_provider("openai-sim", api_key="sk-test")
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": gpt.base_url}
    result = CliRunner().invoke(app, ["chat", "hi", "-m", "openai/gpt-4o-mini"], env=env)
    assert result.exit_code == 0, result.output
    assert "Hello from openai-sim" in result.output
    assert gpt.requests[-1].model == "gpt-4o-mini"
    listing = CliRunner().invoke(app, ["models"], env=env)
    assert listing.exit_code == 0 and "providers: openai" in listing.output


def test_cli_without_config_or_keys_explains(clean_env: None) -> None:
    result = CliRunner().invoke(app, ["chat", "hi", "-m", "openai/gpt-4o-mini"])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output


def test_resolved_models_are_priced_from_litellm_map_by_default() -> None:
    import pytest

    from polyroute.catalog._price_sources import litellm_price_file

    if litellm_price_file() is None:
        pytest.skip("litellm is not installed, so its bundled price map is not available")
    router = polyroute.Router.from_env(env={"OPENAI_API_KEY": "sk-test"})
    pricing = router.plan("openai/gpt-4o-mini").candidates[0].endpoint.pricing
    assert pricing.source == "litellm"
    assert pricing.known


def test_resolved_models_are_priced_from_configured_sources(tmp_path: Path) -> None:
    import json

    doc = {"data": [{"id": "openai/gpt-4o-mini", "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}}]}
    (tmp_path / "models.json").write_text(json.dumps(doc))
    router = polyroute.Router.from_env(
        env={"OPENAI_API_KEY": "sk-test"},
        config={"costs": {"sources": [{"openrouter": str(tmp_path / "models.json")}]}},
    )
    pricing = router.plan("openai/gpt-4o-mini").candidates[0].endpoint.pricing
    assert pricing.source == "openrouter"
    from decimal import Decimal

    assert pricing.prompt == Decimal("0.00000015")
