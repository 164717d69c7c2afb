"""litellm.embedding / aembedding through polyroute: the library and litellm.Router."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import litellm
import litellm_polyroute
import pytest

import polyroute
from polyroute.testing import ErrorReply, ProviderSimulator, embedding_vector

DIMS = 12
TEXTS = ["first passage", "second passage", "third passage"]


@pytest.fixture
def embed_router(sim: ProviderSimulator) -> Iterator[polyroute.Router]:
    first = sim.add_provider("first", embedding_dimensions=DIMS)
    second = sim.add_provider("second", embedding_dimensions=DIMS)
    endpoint = {"model": "vec-001", "dimensions": DIMS, "pricing": {"prompt": "1e-6"}, "max_batch_items": 2}
    config = {
        "providers": {"first": {"base_url": first.base_url}, "second": {"base_url": second.base_url}},
        "models": {
            "vec": {
                "kind": "embedding",
                "endpoints": [{"provider": "first", **endpoint}, {"provider": "second", **endpoint}],
            },
            "other-vec": {"kind": "embedding", "endpoints": [{"provider": "second", **endpoint, "model": "vec-002"}]},
        },
        "router": {"retry": {"base_delay": 0, "max_retries": 0}, "provider": {"sort": "ordered"}},
    }
    with polyroute.Router.from_config(config) as router:
        litellm_polyroute.register(router)
        yield router


def _vectors(resp: Any) -> list[list[float]]:
    return [item["embedding"] for item in resp.data]


def test_litellm_embedding_is_routed_failed_over_and_costed(
    embed_router: polyroute.Router, sim: ProviderSimulator
) -> None:
    sim.provider("first").enqueue(ErrorReply(503))
    resp = litellm.embedding(model="polyroute/vec", input=TEXTS)
    assert _vectors(resp) == [embedding_vector(t, DIMS) for t in TEXTS]
    assert [item["index"] for item in resp.data] == [0, 1, 2]
    assert resp.route["provider"] == "second"  # the first batch failed over
    assert [a["outcome"] for a in resp.route["attempts"]] == ["error", "success", "success"]
    assert resp.usage.prompt_tokens == sum(len(t) // 4 for t in TEXTS)
    assert resp._hidden_params["response_cost"] == pytest.approx(resp.usage.prompt_tokens * 1e-6)


def test_litellm_aembedding_is_native_async(embed_router: polyroute.Router) -> None:
    async def run() -> Any:
        try:
            # LiteLLM refuses OpenAI's dimensions for custom providers: extra_body carries it
            return await litellm.aembedding(model="polyroute/vec", input=TEXTS, extra_body={"dimensions": 4})
        finally:
            await embed_router.aclose()

    resp = asyncio.run(run())
    assert _vectors(resp) == [embedding_vector(t, 4) for t in TEXTS]


def test_polyroute_refusals_are_litellm_errors(embed_router: polyroute.Router) -> None:
    with pytest.raises(litellm.BadRequestError, match="not interchangeable"):
        litellm.embedding(model="polyroute/vec", input=["x"], models=["other-vec"])


def test_a_litellm_router_deployment_embeds_through_polyroute(embed_router: polyroute.Router) -> None:
    router = litellm.Router(
        model_list=[{"model_name": "vectors", "litellm_params": {"model": "polyroute/vec"}}], num_retries=0
    )
    resp = router.embedding(model="vectors", input=TEXTS)
    assert _vectors(resp) == [embedding_vector(t, DIMS) for t in TEXTS]

    async def run() -> Any:
        try:
            return await router.aembedding(model="vectors", input=["async text"])
        finally:
            await embed_router.aclose()

    assert _vectors(asyncio.run(run())) == [embedding_vector("async text", DIMS)]
