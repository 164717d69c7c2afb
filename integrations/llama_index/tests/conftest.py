"""Fixtures: a provider simulator with two providers, a router over it, and offline LlamaIndex settings.

Catalog used by most tests (``CONFIG``):

- ``chat-model``: ``alpha`` (context 32,000, max output 100,000) then ``beta`` (context 16,000);
  configured fallback ``backup-model``.
- ``backup-model``: ``gamma`` (context 8,000).
- ``no-tools-model``: ``beta`` declaring no ``tools`` capability.

Nothing sleeps: the router and the simulator share a :class:`FakeClock`, and retries are off.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import llama_index.core
import pytest
import pytest_asyncio
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from polyroute import Router
from polyroute.testing import FakeClock, ProviderSimulator, SimulatedProvider

from llama_index.llms.polyroute import Polyroute

# LlamaIndex's tokenizer files ship inside llama-index-core; never download them.
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"))

PRICING = {"prompt": 1e-6, "completion": 2e-6}


def build_config(sim_providers: dict[str, SimulatedProvider]) -> dict[str, Any]:
    """The test catalog over the simulated providers."""
    return {
        "providers": {name: {"base_url": p.base_url} for name, p in sim_providers.items()},
        "models": {
            "chat-model": {
                "endpoints": [
                    {
                        "provider": "alpha",
                        "model": "alpha-large",
                        "pricing": PRICING,
                        "context_length": 32000,
                        "max_output_tokens": 100000,
                    },
                    {"provider": "beta", "model": "beta-large", "pricing": PRICING, "context_length": 16000},
                ],
                "fallbacks": ["backup-model"],
            },
            "backup-model": {
                "endpoints": [{"provider": "gamma", "model": "gamma-small", "pricing": PRICING, "context_length": 8000}]
            },
            "no-tools-model": {
                "endpoints": [
                    {"provider": "beta", "model": "beta-plain", "context_length": 4096, "capabilities": ["streaming"]}
                ]
            },
        },
        "router": {"retry": {"max_retries": 0, "base_delay": 0}, "provider": {"sort": "ordered"}},  # configured order
    }


@pytest.fixture(autouse=True)
def offline_settings() -> Iterator[None]:
    """LlamaIndex's global defaults would reach for OpenAI: pin them to local mocks for every test."""
    saved_llm, saved_embed = Settings._llm, Settings._embed_model
    Settings.llm = MockLLM()
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield
    Settings._llm, Settings._embed_model = saved_llm, saved_embed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[ProviderSimulator]:
    with ProviderSimulator(clock=clock) as simulator:
        yield simulator


@pytest.fixture
def providers(sim: ProviderSimulator) -> dict[str, SimulatedProvider]:
    return {name: sim.add_provider(name) for name in ("alpha", "beta", "gamma")}


@pytest.fixture
def alpha(providers: dict[str, SimulatedProvider]) -> SimulatedProvider:
    return providers["alpha"]


@pytest.fixture
def beta(providers: dict[str, SimulatedProvider]) -> SimulatedProvider:
    return providers["beta"]


@pytest.fixture
def gamma(providers: dict[str, SimulatedProvider]) -> SimulatedProvider:
    return providers["gamma"]


@pytest.fixture
def config(providers: dict[str, SimulatedProvider]) -> dict[str, Any]:
    return build_config(providers)


@pytest.fixture
def router(config: dict[str, Any], clock: FakeClock) -> Iterator[Router]:
    with Router.from_config(config, clock=clock, rng=random.Random(0)) as r:
        yield r


@pytest.fixture
def llm(router: Router) -> Polyroute:
    return Polyroute(model="chat-model", router=router)


@pytest_asyncio.fixture
async def arouter(config: dict[str, Any], clock: FakeClock) -> AsyncIterator[Router]:
    async with Router.from_config(config, clock=clock, rng=random.Random(0)) as r:
        yield r


@pytest_asyncio.fixture
async def allm(arouter: Router) -> Polyroute:
    return Polyroute(model="chat-model", router=arouter)
