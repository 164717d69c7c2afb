"""PolyrouteEmbedding through LlamaIndex's public API, against the polyroute simulator."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from polyroute import Router
from polyroute.ledger import MemoryLedger
from polyroute.testing import ErrorReply, FunctionBehavior, RecordedRequest, Reply, SimulatedProvider, embedding_vector

from llama_index.embeddings.polyroute import PolyrouteEmbedding

DIMS = 24  # as in conftest.py
PRICE = "2e-8"

DOCS = [Document(text=f"Document {i}: the {i % 7}th note about topic {i % 13}.", id_=f"doc-{i}") for i in range(300)]


def _every_third_fails() -> FunctionBehavior:
    counter = itertools.count()
    lock = threading.Lock()

    def decide(request: RecordedRequest) -> Any:
        with lock:
            n = next(counter)
        return ErrorReply(503) if n % 3 == 1 else Reply()

    return FunctionBehavior(decide)


def _check_index(index: VectorStoreIndex) -> None:
    """Every node has its text's simulator vector (so it is present, in order, of the right size)."""
    store = index.vector_store
    nodes = index.docstore.docs
    assert len(nodes) == len(DOCS)
    for node_id, node in nodes.items():
        vector = store.get(node_id)
        assert len(vector) == DIMS
        assert vector == embedding_vector(node.get_content(metadata_mode="embed"), DIMS)  # type: ignore[arg-type]


def test_is_a_base_embedding(router: Router) -> None:
    model = PolyrouteEmbedding("embed", router=router)
    assert isinstance(model, BaseEmbedding)
    assert model.model_name == "embed"
    assert PolyrouteEmbedding.class_name() == "PolyrouteEmbedding"


def test_sync_and_async_single_and_batch(router: Router) -> None:
    import asyncio

    model = PolyrouteEmbedding("embed", router=router)
    texts = ["one", "two", "three"]
    expected = [embedding_vector(t, DIMS) for t in texts]
    assert model.get_query_embedding("q") == embedding_vector("q", DIMS)
    assert model.get_text_embedding("one") == expected[0]
    assert model.get_text_embedding_batch(texts) == expected

    async def run() -> tuple[Any, ...]:
        try:
            return (
                await model.aget_query_embedding("q"),
                await model.aget_text_embedding("one"),
                await model.aget_text_embedding_batch(texts),
            )
        finally:
            await router.aclose()

    assert asyncio.run(run()) == (embedding_vector("q", DIMS), expected[0], expected)


def test_vector_store_ingestion_survives_an_intermittently_failing_provider(
    router: Router, alpha: SimulatedProvider, beta: SimulatedProvider, ledger: MemoryLedger
) -> None:
    alpha.set_default(_every_third_fails())
    Settings.embed_model = PolyrouteEmbedding("embed", router=router, embed_batch_size=50)
    index = VectorStoreIndex.from_documents(DOCS)
    _check_index(index)
    assert len(beta.requests) > 0  # some batches failed over
    rows = list(ledger.rows())
    assert {r.kind for r in rows} == {"embedding"}
    assert sum(1 for r in rows if r.outcome == "error") == len(beta.requests)
    # 300 texts in 50s, split into batches of 16 by polyroute: 6 calls x 4 batches
    assert sum(1 for r in rows if r.outcome == "success") == 6 * 4
    tokens = sum(r.prompt_tokens for r in rows)
    assert sum((r.cost or Decimal(0)) for r in rows) == tokens * Decimal(PRICE)
    # and retrieval finds a document by its own text (the same text has the same vector)
    found = index.as_retriever(similarity_top_k=1).retrieve(DOCS[42].text)
    assert found[0].node.ref_doc_id == "doc-42"


def test_async_ingestion_survives_an_intermittently_failing_provider(
    router: Router, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(_every_third_fails())
    model = PolyrouteEmbedding("embed", router=router, embed_batch_size=100, max_concurrency=3)
    # use_async: LlamaIndex runs the async embedding methods on an event loop of its own
    index = VectorStoreIndex.from_documents(DOCS, embed_model=model, use_async=True)
    _check_index(index)
    assert len(beta.requests) > 0


def test_every_provider_failing_raises(router: Router, alpha: SimulatedProvider, beta: SimulatedProvider) -> None:
    from polyroute import errors

    alpha.set_default(ErrorReply(500))
    beta.set_default(ErrorReply(500))
    with pytest.raises(errors.NoEndpointAvailable):
        PolyrouteEmbedding("embed", router=router).get_text_embedding("x")


def test_chat_models_and_unknown_models_are_refused(router: Router) -> None:
    with pytest.raises(ValueError, match="not an embedding model"):
        PolyrouteEmbedding("chat", router=router)
    with pytest.raises(ValueError, match="not an embedding model"):
        PolyrouteEmbedding("nope", router=router)


def test_builds_and_closes_its_own_router(alpha: SimulatedProvider, beta: SimulatedProvider, make_config: Any) -> None:
    model = PolyrouteEmbedding("embed", config=make_config(alpha, beta))
    assert model.get_text_embedding("own") == embedding_vector("own", DIMS)
    model.close()
    with pytest.raises(ValueError, match="either router= or config="):
        PolyrouteEmbedding("embed", router=model.router, config=make_config(alpha, beta))
