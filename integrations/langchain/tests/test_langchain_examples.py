"""End-to-end examples: an LCEL chain and a tool-using agent surviving a provider failure.

In each, the first provider (alpha) breaks part-way and polyroute fails over to beta: the result
is the same as without the failure, and the failover shows in the response metadata.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_polyroute import ChatPolyroute

import polyroute
from polyroute.testing import (
    Behavior,
    Disconnect,
    ErrorReply,
    FunctionBehavior,
    RecordedRequest,
    Reply,
    SimulatedProvider,
    ToolCallSpec,
)

# -- an LCEL chain: prompt | model | parser ---------------------------------------------------

TRANSLATIONS = {"I love programming.": "J'adore la programmation."}


def translator(request: RecordedRequest) -> Behavior:
    """A scripted translation model: both providers answer the same way."""
    return Reply(text=TRANSLATIONS[request.messages[-1]["content"]], chunk_size=5)


class LastResponse(BaseCallbackHandler):
    """Keeps the response metadata of the last model call in a chain."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generation = response.generations[0][0]
        assert isinstance(generation, ChatGeneration)
        self.metadata = dict(generation.message.response_metadata)


def translation_chain(router: polyroute.Router) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Translate into {language}."), ("human", "{text}")])
    return prompt | ChatPolyroute(model="sim-large", router=router, temperature=0) | StrOutputParser()


QUESTION = {"language": "French", "text": "I love programming."}
ANSWER = "J'adore la programmation."


@pytest.fixture
def scripted(alpha: SimulatedProvider, beta: SimulatedProvider) -> tuple[SimulatedProvider, SimulatedProvider]:
    for provider in (alpha, beta):
        provider.set_default(FunctionBehavior(translator))
    return alpha, beta


def test_lcel_chain_result_survives_a_provider_failure(
    router: polyroute.Router, scripted: tuple[SimulatedProvider, SimulatedProvider]
) -> None:
    alpha, _ = scripted
    chain = translation_chain(router)
    calm, failing = LastResponse(), LastResponse()
    baseline = chain.invoke(QUESTION, config={"callbacks": [calm]})
    alpha.enqueue(ErrorReply(503), ErrorReply(503))
    survived = chain.invoke(QUESTION, config={"callbacks": [failing]})
    assert baseline == survived == ANSWER
    assert (calm.metadata["provider"], calm.metadata["fallbacks"]) == ("alpha", 0)
    assert (failing.metadata["provider"], failing.metadata["fallbacks"]) == ("beta", 2)
    assert [a["provider"] for a in failing.metadata["attempts"]] == ["alpha", "alpha", "beta"]


def test_lcel_chain_streams_through_a_failover(
    router: polyroute.Router, scripted: tuple[SimulatedProvider, SimulatedProvider]
) -> None:
    alpha, _ = scripted
    alpha.enqueue(Disconnect(after_chunks=0), Disconnect(after_chunks=0))
    pieces = list(translation_chain(router).stream(QUESTION))
    assert len(pieces) > 1
    assert "".join(pieces) == ANSWER


async def test_lcel_chain_async_survives_a_provider_failure(
    router: polyroute.Router, scripted: tuple[SimulatedProvider, SimulatedProvider]
) -> None:
    alpha, _ = scripted
    chain = translation_chain(router)
    handler = LastResponse()
    alpha.enqueue(ErrorReply(500), ErrorReply(500), Disconnect(after_chunks=0), Disconnect(after_chunks=0))
    assert await chain.ainvoke(QUESTION, config={"callbacks": [handler]}) == ANSWER
    assert handler.metadata["provider"] == "beta"
    assert "".join([piece async for piece in chain.astream(QUESTION)]) == ANSWER


# -- a tool-using agent (LangChain's create_agent, on LangGraph) -------------------------------


@tool
def get_weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny and 24°C in {city}"


def weather_model(request: RecordedRequest) -> Behavior:
    """A scripted agent model: ask for the weather, then report the tool's answer."""
    last = request.messages[-1]
    if last["role"] == "tool":
        return Reply(text=f"The forecast says: {last['content']}.", chunk_size=6)
    return Reply(tool_calls=[ToolCallSpec(name="get_weather", arguments={"city": "Paris"}, id="call_weather")])


@pytest.fixture
def agent(router: polyroute.Router, alpha: SimulatedProvider, beta: SimulatedProvider) -> Any:
    for provider in (alpha, beta):
        provider.set_default(FunctionBehavior(weather_model))
    model = ChatPolyroute(model="sim-large", router=router)
    return create_agent(model, tools=[get_weather], system_prompt="You answer weather questions.")


ASK = {"messages": [HumanMessage("What's the weather in Paris?")]}
FORECAST = "The forecast says: Sunny and 24°C in Paris."


def test_agent_fails_over_mid_run(agent: Any, alpha: SimulatedProvider) -> None:
    baseline = agent.invoke(ASK)["messages"]
    # the agent's first model call is served by alpha; alpha breaks before its second
    alpha.enqueue(FunctionBehavior(weather_model), ErrorReply(503), ErrorReply(503))
    messages = agent.invoke(ASK)["messages"]

    assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert messages[-1].content == baseline[-1].content == FORECAST
    assert messages[2].content == "Sunny and 24°C in Paris"
    planner, answer = messages[1], messages[3]
    assert planner.tool_calls[0]["args"] == {"city": "Paris"}
    assert (planner.response_metadata["provider"], planner.response_metadata["fallbacks"]) == ("alpha", 0)
    assert (answer.response_metadata["provider"], answer.response_metadata["fallbacks"]) == ("beta", 2)
    assert [(a["provider"], a["outcome"]) for a in answer.response_metadata["attempts"]] == [
        ("alpha", "error"),
        ("alpha", "error"),
        ("beta", "success"),
    ]


async def test_agent_streams_tokens_through_a_failover(agent: Any, alpha: SimulatedProvider) -> None:
    alpha.enqueue(FunctionBehavior(weather_model), Disconnect(after_chunks=0), Disconnect(after_chunks=0))
    streamed: dict[str, AIMessageChunk] = {}  # one merged message per model call
    counts: dict[str, int] = {}
    async for message, meta in agent.astream(ASK, stream_mode="messages"):
        if meta["langgraph_node"] == "model" and isinstance(message, AIMessageChunk):
            assert message.id is not None
            streamed[message.id] = streamed[message.id] + message if message.id in streamed else message
            counts[message.id] = counts.get(message.id, 0) + 1
    planner, answer = streamed.values()
    assert counts[str(answer.id)] > 3  # the answer arrived token by token
    assert planner.tool_calls[0]["name"] == "get_weather"
    assert planner.response_metadata["provider"] == "alpha"
    assert answer.text == FORECAST
    assert (answer.response_metadata["provider"], answer.response_metadata["fallbacks"]) == ("beta", 2)
