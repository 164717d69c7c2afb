"""Fixtures for the LiteLLM integration: simulated providers and an isolated LiteLLM registry.

LiteLLM must not reach for the network: its bundled price map is forced before anything imports
it, and its HuggingFace tokenizer downloads are switched off (tiktoken's bundled encodings count).
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from collections.abc import Callable, Iterator, Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import litellm  # noqa: E402
import pytest  # noqa: E402

from polyroute.testing import ProviderSimulator, Reply, SimulatedProvider  # noqa: E402

litellm.disable_hf_tokenizer_download = True  # token counting must never reach for the network

ConfigFactory = Callable[..., dict[str, Any]]


def pytest_configure(config: pytest.Config) -> None:
    # LiteLLM's own models trip a pydantic advisory on first use; it says nothing about this package.
    config.addinivalue_line("filterwarnings", "ignore:.*using the `ReadOnly` qualifier:UserWarning")


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as simulator:
        yield simulator


def make_config(
    providers: Sequence[SimulatedProvider],
    models: Mapping[str, Sequence[str]],
    *,
    fallbacks: Mapping[str, Sequence[str]] | None = None,
    prompt_price: float = 1e-6,
    completion_price: float = 2e-6,
) -> dict[str, Any]:
    """A polyroute config: ``models`` maps a model name to the providers serving it, in order.

    Endpoint ``<provider>-<model>`` is priced per token at ``prompt_price``/``completion_price``;
    there are no polyroute retries and no backoff.
    """
    model_specs: dict[str, Any] = {}
    for name, served_by in models.items():
        spec: dict[str, Any] = {
            "endpoints": [
                {
                    "provider": provider,
                    "model": f"{provider}-{name}",
                    "pricing": {"prompt": prompt_price, "completion": completion_price},
                }
                for provider in served_by
            ]
        }
        if fallbacks and name in fallbacks:
            spec["fallbacks"] = list(fallbacks[name])
        model_specs[name] = spec
    return {
        "providers": {p.name: {"base_url": p.base_url} for p in providers},
        "models": model_specs,
        "router": {"retry": {"base_delay": 0, "max_retries": 0}, "provider": {"sort": "ordered"}},  # configured order
    }


@pytest.fixture
def answering(sim: ProviderSimulator) -> Callable[[str, str], SimulatedProvider]:
    """``answering(name, text)``: a provider added to the simulator whose every reply is ``text``."""

    def add(name: str, text: str) -> SimulatedProvider:
        provider = sim.add_provider(name)
        provider.set_default(Reply(text=text))
        return provider

    return add


@pytest.fixture
def config_factory() -> ConfigFactory:
    return make_config


@pytest.fixture(autouse=True)
def isolated_provider_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test registers into an empty ``litellm.custom_provider_map`` of its own."""
    monkeypatch.setattr(litellm, "custom_provider_map", [])
    monkeypatch.setattr(litellm, "callbacks", [])
