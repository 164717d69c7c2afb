"""Fixtures: two simulated providers of one embedding model, a router over them, offline settings."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.llms import MockLLM
from polyroute import Router
from polyroute.ledger import MemoryLedger
from polyroute.testing import FakeClock, ProviderSimulator, SimulatedProvider

DIMS = 24
PRICE = "2e-8"


@pytest.fixture(autouse=True)
def offline_llm() -> Iterator[None]:
    """LlamaIndex's default LLM would reach for OpenAI: a local mock instead."""
    saved = Settings._llm
    Settings.llm = MockLLM()
    yield
    Settings._llm = saved


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator() as sim:
        yield sim


def _fresh(sim: ProviderSimulator, name: str) -> SimulatedProvider:
    provider = sim.ensure_provider(name, embedding_dimensions=DIMS)
    provider.reset()
    return provider


@pytest.fixture
def alpha(simulator: ProviderSimulator) -> SimulatedProvider:
    return _fresh(simulator, "li-alpha")


@pytest.fixture
def beta(simulator: ProviderSimulator) -> SimulatedProvider:
    return _fresh(simulator, "li-beta")


def config(alpha: SimulatedProvider, beta: SimulatedProvider, **endpoint: Any) -> dict[str, Any]:
    ep = {"model": "embed-001", "dimensions": DIMS, "pricing": {"prompt": PRICE}, **endpoint}
    return {
        "providers": {"li-alpha": {"base_url": alpha.base_url}, "li-beta": {"base_url": beta.base_url}},
        "models": {
            "embed": {
                "kind": "embedding",
                "endpoints": [{"provider": "li-alpha", **ep}, {"provider": "li-beta", **ep}],
            },
            "chat": {"endpoints": [{"provider": "li-alpha", "model": "chat-001"}]},
        },
        "router": {"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}},
    }


@pytest.fixture
def make_config() -> Any:
    """``config(alpha, beta, **endpoint_fields)``: the test configuration."""
    return config


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def router(alpha: SimulatedProvider, beta: SimulatedProvider, ledger: MemoryLedger) -> Iterator[Router]:
    r = Router.from_config(
        config(alpha, beta, max_batch_items=16), clock=FakeClock(), rng=random.Random(3), ledger=ledger
    )
    yield r
    r.close()
