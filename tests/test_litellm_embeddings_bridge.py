"""Embeddings through the LiteLLM bridge (``api: litellm``), LiteLLM's ``openai/`` provider pointed at
the simulator: the vectors, the cost, and fail-over from the bridge to a native endpoint."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import polyroute
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, embedding_vector

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("litellm") is None, reason="the LiteLLM bridge needs litellm installed"
    ),
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning"),
]

DIMS = 8
PRICE = "2e-8"


@pytest.fixture
def router(sim: ProviderSimulator, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[polyroute.Router]:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-upstream-test")
    bridged = sim.add_provider("upstream", api_key="sk-upstream-test", embedding_dimensions=DIMS)
    native = sim.add_provider("native", embedding_dimensions=DIMS)
    config: dict[str, Any] = {
        "providers": {
            "bridge": {"api": "litellm", "base_url": bridged.base_url, "api_key": "${UPSTREAM_KEY}"},
            "native": {"base_url": native.base_url},
        },
        "models": {
            "emb": {
                "kind": "embedding",
                "endpoints": [
                    {"provider": "bridge", "model": "openai/embed-1", "dimensions": DIMS, "pricing": {"prompt": PRICE}},
                    {"provider": "native", "model": "embed-1", "dimensions": DIMS, "pricing": {"prompt": PRICE}},
                ],
            }
        },
        "router": {"provider": {"sort": "ordered"}, "retry": {"max_retries": 0}},
    }
    r = polyroute.Router.from_config(config, clock=clock, rng=random.Random(3))
    yield r
    r.close()


def _check(resp: Any, texts: list[str], provider: str) -> None:
    assert [d.index for d in resp.data] == list(range(len(texts)))
    for d, text in zip(resp.data, texts, strict=True):
        assert d.embedding == pytest.approx(embedding_vector(text, DIMS), abs=1e-6)
    assert resp.route.provider == provider
    assert resp.route.cost is not None and resp.route.cost > Decimal(0)


def test_litellm_bridge_embeds_and_costs(router: polyroute.Router, sim: ProviderSimulator) -> None:
    texts = ["hello world", "a second text"]
    resp = router.embedding("emb", texts)
    _check(resp, texts, "bridge")
    assert sim.provider("upstream").requests, "the bridged call reached the bridge's upstream"
    assert not sim.provider("native").requests


@pytest.mark.asyncio
async def test_litellm_bridge_aembedding(router: polyroute.Router) -> None:
    texts = ["async one", "async two", "async three"]
    resp = await router.aembedding("emb", texts)
    _check(resp, texts, "bridge")


def test_litellm_bridge_failure_fails_over_to_native(router: polyroute.Router, sim: ProviderSimulator) -> None:
    sim.provider("upstream").set_default(ErrorReply(503))  # LiteLLM may retry on its own
    texts = ["fails over"]
    resp = router.embedding("emb", texts)
    _check(resp, texts, "native")
    first = resp.route.attempts[0]
    assert first.provider == "bridge" and first.error is not None
