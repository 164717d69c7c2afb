"""PolyrouteEmbeddings: LangChain's standard embeddings tests (unit and integration) and fail-over,
against the polyroute simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_polyroute import PolyrouteEmbeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

import polyroute
from polyroute.ledger import MemoryLedger
from polyroute.testing import ErrorReply, ProviderSimulator, SimulatedProvider, embedding_vector

CONFIG_FILE = Path(__file__).parent / "data" / "polyroute.yaml"
DIMS = 16


def _embedding_model(*providers: str) -> dict[str, Any]:
    return {
        "kind": "embedding",
        "endpoints": [
            {"provider": p, "model": "embed-001", "dimensions": DIMS, "pricing": {"prompt": "0.00000002"}}
            for p in providers
        ],
    }


UNIT_CONFIG: dict[str, Any] = {
    "providers": {"alpha": {"base_url": "http://127.0.0.1:9/alpha/v1"}},
    "models": {"sim-embed": _embedding_model("alpha")},
}


class TestPolyrouteEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[PolyrouteEmbeddings]:
        return PolyrouteEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "sim-embed", "config": UNIT_CONFIG}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"POLYROUTE_CONFIG": str(CONFIG_FILE)}, {"model": "sim-embed"}, {"config": str(CONFIG_FILE)}


@pytest.fixture
def embed_providers(simulator: ProviderSimulator) -> Iterator[tuple[SimulatedProvider, SimulatedProvider]]:
    """Two providers of one embedding model; the first fails every third request."""
    made = []
    for name in ("emb-alpha", "emb-beta"):
        p = simulator.ensure_provider(name, embedding_dimensions=DIMS)
        p.reset()
        made.append(p)
    yield made[0], made[1]


@pytest.fixture
def embed_router(embed_providers: tuple[SimulatedProvider, SimulatedProvider]) -> Iterator[polyroute.Router]:
    alpha, beta = embed_providers
    config = {
        "providers": {"emb-alpha": {"base_url": alpha.base_url}, "emb-beta": {"base_url": beta.base_url}},
        "models": {"sim-embed": _embedding_model("emb-alpha", "emb-beta")},
        "router": {"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}},
    }
    router = polyroute.Router.from_config(config, ledger=MemoryLedger())
    yield router
    router.close()


class TestPolyrouteEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """Every standard integration test, over two simulated providers, the first failing at times."""

    @pytest_asyncio.fixture(autouse=True)
    async def _simulated(
        self, embed_router: polyroute.Router, embed_providers: tuple[SimulatedProvider, SimulatedProvider]
    ) -> AsyncIterator[None]:
        self._router = embed_router
        embed_providers[0].enqueue(ErrorReply(503))  # the first call fails over
        yield
        await embed_router.aclose()

    @property
    def embeddings_class(self) -> type[PolyrouteEmbeddings]:
        return PolyrouteEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "sim-embed", "router": self._router}


def test_vectors_fail_over_and_are_costed(
    embed_router: polyroute.Router, embed_providers: tuple[SimulatedProvider, SimulatedProvider]
) -> None:
    alpha, beta = embed_providers
    alpha.enqueue(ErrorReply(500))
    embeddings = PolyrouteEmbeddings(model="sim-embed", router=embed_router, caller_tags=["ingest"])
    texts = ["alpha text", "beta text", "gamma text"]
    assert embeddings.embed_documents(texts) == [embedding_vector(t, DIMS) for t in texts]
    assert embeddings.embed_query("query") == embedding_vector("query", DIMS)
    assert len(alpha.requests) == 2 and len(beta.requests) == 1
    ledger = embed_router.ledger
    assert ledger is not None
    rows = list(ledger.rows())
    assert [(r.provider, r.outcome, r.kind, r.tags) for r in rows] == [
        ("emb-alpha", "error", "embedding", ("ingest",)),
        ("emb-beta", "success", "embedding", ("ingest",)),
        ("emb-alpha", "success", "embedding", ("ingest",)),
    ]
    assert sum((r.cost or Decimal(0)) for r in rows) > 0


def test_a_retriever_finds_documents_through_polyroute(embed_router: polyroute.Router) -> None:
    embeddings = PolyrouteEmbeddings(model="sim-embed", router=embed_router)
    store = InMemoryVectorStore(embeddings)
    docs = [Document(page_content=f"document {i}") for i in range(20)]
    store.add_documents(docs)
    found = store.as_retriever(search_kwargs={"k": 1}).invoke("document 7")
    assert [d.page_content for d in found] == ["document 7"]  # the same text has the same vector


def test_chat_models_are_refused(embed_router: polyroute.Router) -> None:
    with pytest.raises(ValueError, match="not an embedding model"):
        PolyrouteEmbeddings(model="nope", router=embed_router)


async def test_close_releases_only_a_router_built_from_a_config(
    embed_router: polyroute.Router, embed_providers: tuple[SimulatedProvider, SimulatedProvider]
) -> None:
    given = PolyrouteEmbeddings(model="sim-embed", router=embed_router)
    given.close()
    await given.aclose()
    assert len(given.embed_query("the caller's router stays usable")) == DIMS
    alpha, _ = embed_providers
    config = {
        "providers": {"emb-alpha": {"base_url": alpha.base_url}},
        "models": {"sim-embed": _embedding_model("emb-alpha")},
    }
    built = PolyrouteEmbeddings(model="sim-embed", config=config)
    assert len(await built.aembed_query("hello")) == DIMS
    built.close()
    await built.aclose()
