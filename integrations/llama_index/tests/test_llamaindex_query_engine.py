"""A VectorStoreIndex query engine and a chat engine answering through Polyroute while a provider fails."""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.chat_engine.types import ChatMode
from llama_index.core.embeddings import MockEmbedding
from polyroute.testing import ErrorReply, FunctionBehavior, RecordedRequest, Reply, SimulatedProvider

from llama_index.llms.polyroute import Polyroute

DOCS = [
    Document(text="The Eiffel Tower is in Paris. It was completed in 1889."),
    Document(text="Lyon is known for its cuisine and the Fourviere basilica."),
]


def _answer_from_context(request: RecordedRequest) -> Reply:
    """Answer only if the retrieved context reached the model."""
    prompt = "\n".join(str(m.get("content")) for m in request.messages)
    if "completed in 1889" in prompt:
        return Reply(text="It was completed in 1889.")
    return Reply(text="I do not know.")


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCS, embed_model=MockEmbedding(embed_dim=8))


def test_query_engine_answers_while_the_first_provider_fails(
    index: VectorStoreIndex, llm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(503))
    beta.set_default(FunctionBehavior(_answer_from_context))
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)

    response = engine.query("When was the Eiffel Tower completed?")

    assert str(response) == "It was completed in 1889."
    assert len(response.source_nodes) == 2
    assert len(alpha.requests) == 1 and len(beta.requests) == 1
    body = beta.requests[0].json
    assert body is not None
    assert "When was the Eiffel Tower completed?" in body["messages"][-1]["content"]


@pytest.mark.asyncio
async def test_async_query_engine_answers_while_the_first_provider_fails(
    index: VectorStoreIndex, allm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(503))
    beta.set_default(FunctionBehavior(_answer_from_context))
    engine = index.as_query_engine(llm=allm, similarity_top_k=2)

    response = await engine.aquery("When was the Eiffel Tower completed?")

    assert str(response) == "It was completed in 1889."


def test_streaming_query_engine(
    index: VectorStoreIndex, llm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(503))
    beta.set_default(FunctionBehavior(_answer_from_context))
    engine = index.as_query_engine(llm=llm, similarity_top_k=2, streaming=True)

    response = engine.query("When was the Eiffel Tower completed?")

    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == "It was completed in 1889."


def test_context_chat_engine_keeps_the_conversation(
    index: VectorStoreIndex, llm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(503))
    beta.set_default(FunctionBehavior(_answer_from_context))
    engine = index.as_chat_engine(chat_mode=ChatMode.CONTEXT, llm=llm, similarity_top_k=2)

    first = engine.chat("When was the Eiffel Tower completed?")
    second = engine.chat("And where is it?")

    assert str(first) == "It was completed in 1889."
    body = beta.requests[-1].json
    assert body is not None
    roles = [m["role"] for m in body["messages"]]
    assert roles[-3:] == ["user", "assistant", "user"]
    assert body["messages"][-2]["content"] == "It was completed in 1889."
    assert str(second)
