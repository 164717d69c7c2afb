"""What ChatPolyroute returns: messages, usage, routing metadata and cost, whole and streamed.

Sync and async paths are mirrored; the async ones run on the event loop itself (no thread hop).
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_polyroute import ChatPolyroute

import polyroute
from polyroute.testing import Disconnect, ErrorReply, FakeClock, Reply, SimulatedProvider, ToolCallSpec

USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
# PRICES in conftest: 1e-6 per prompt token, 2e-6 per completion token
COST = Decimal("0.000100") + Decimal("0.000040")


@pytest.fixture
def chat(router: polyroute.Router) -> ChatPolyroute:
    return ChatPolyroute(model="sim-large", router=router)


def merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def attempts(message: AIMessage) -> list[tuple[str, str, str | None]]:
    return [(a["provider"], a["outcome"], a["error"]) for a in message.response_metadata["attempts"]]


# -- whole responses --------------------------------------------------------------------------


def test_response_metadata_names_who_served_and_what_it_cost(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text="Bonjour", usage=USAGE))
    result = chat.invoke("Say hello in French")
    assert result.content == "Bonjour"
    meta = result.response_metadata
    assert {k: meta[k] for k in ("model_name", "model_provider", "provider", "endpoint_model", "finish_reason")} == {
        "model_name": "sim-large",
        "model_provider": "polyroute",
        "provider": "alpha",
        "endpoint_model": "large-001",
        "finish_reason": "stop",
    }
    assert Decimal(meta["cost"]) == COST
    assert meta["fallbacks"] == 0
    assert attempts(result) == [("alpha", "success", None)]
    assert meta["request_id"].startswith("pr-")
    assert meta["id"].startswith("chatcmpl-")  # the provider's id; the message id stays LangChain's run id
    assert result.id is not None and result.id.startswith("lc_run-")
    assert result.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


async def test_response_metadata_async(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text="Bonjour", usage=USAGE))
    result = await chat.ainvoke("Say hello in French")
    assert (result.content, result.response_metadata["provider"]) == ("Bonjour", "alpha")
    assert Decimal(result.response_metadata["cost"]) == COST
    assert result.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


def test_failover_is_visible_in_the_metadata(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(ErrorReply(503), ErrorReply(503))
    result = chat.invoke("hi")
    meta = result.response_metadata
    assert (meta["provider"], meta["endpoint_model"], meta["fallbacks"]) == ("beta", "large-002", 2)
    assert attempts(result) == [
        ("alpha", "error", "ServerError"),
        ("alpha", "error", "ServerError"),
        ("beta", "success", None),
    ]


def test_model_name_is_the_fallback_model_that_served(
    chat: ChatPolyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.enqueue(ErrorReply(503), ErrorReply(503))
    beta.enqueue(ErrorReply(503), ErrorReply(503))
    result = chat.invoke("hi")
    assert result.response_metadata["model_name"] == "sim-mini"
    assert result.response_metadata["endpoint_model"] == "mini-001"


def test_llm_output_carries_usage_model_and_cost(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text="ok", usage=USAGE), Reply(text="ok", usage=USAGE))
    result = chat.generate([[HumanMessage("hi")], [HumanMessage("hello")]])
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "sim-large"
    assert result.llm_output["token_usage"] == {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}
    assert Decimal(result.llm_output["cost"]) == 2 * COST


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {
                "prompt_tokens": 2000,
                "completion_tokens": 300,
                "total_tokens": 2300,
                "prompt_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 400, "audio_tokens": 10},
                "completion_tokens_details": {"reasoning_tokens": 250, "audio_tokens": 0},
            },
            {
                "input_tokens": 2000,
                "output_tokens": 300,
                "total_tokens": 2300,
                "input_token_details": {"audio": 10, "cache_read": 1500, "cache_creation": 400},
                "output_token_details": {"audio": 0, "reasoning": 250},
            },
        ),
        (
            {
                "prompt_tokens": 50,
                "completion_tokens": 5,
                "total_tokens": 55,
                "prompt_tokens_details": {"cache_creation_tokens": 40},
            },
            {
                "input_tokens": 50,
                "output_tokens": 5,
                "total_tokens": 55,
                "input_token_details": {"cache_creation": 40},
            },
        ),
    ],
    ids=["openai-style", "anthropic-style-cache-write"],
)
def test_usage_details_are_mapped(
    chat: ChatPolyroute, alpha: SimulatedProvider, usage: dict[str, Any], expected: dict[str, Any]
) -> None:
    alpha.enqueue(Reply(text="ok", usage=usage), Reply(text="ok", usage=usage))
    assert chat.invoke("hi").usage_metadata == expected
    assert merge(list(chat.stream("hi"))).usage_metadata == expected


def test_reasoning_is_kept_as_reasoning_content(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(
        Reply(text="Yes.", reasoning="7 * 11 * 13 = 1001"), Reply(text="Yes.", reasoning="7 * 11 * 13 = 1001")
    )
    whole = chat.invoke("Is 1001 composite?")
    streamed = merge(list(chat.stream("Is 1001 composite?")))
    for message in (whole, streamed):
        assert message.additional_kwargs["reasoning_content"] == "7 * 11 * 13 = 1001"
        assert message.content_blocks[0] == {"type": "reasoning", "reasoning": "7 * 11 * 13 = 1001"}


def test_tool_calls_are_parsed_and_bad_arguments_kept_as_invalid(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(
        Reply(
            tool_calls=[
                ToolCallSpec(name="get_weather", arguments={"city": "Paris"}, id="c1"),
                ToolCallSpec(name="get_time", arguments='{"city": ', id="c2"),
            ]
        )
    )
    result = chat.invoke("Weather and time in Paris?")
    assert result.tool_calls == [{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}]
    assert [(c["name"], c["args"], c["id"]) for c in result.invalid_tool_calls] == [("get_time", '{"city": ', "c2")]
    assert result.response_metadata["finish_reason"] == "tool_calls"


def test_errors_from_polyroute_propagate(
    chat: ChatPolyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(401))
    beta.set_default(ErrorReply(401))
    with pytest.raises(polyroute.NoEndpointAvailable) as info:
        chat.invoke("hi")
    assert {a.provider for a in info.value.attempts} == {"alpha", "beta"}


# -- streams ----------------------------------------------------------------------------------


def _check_final_chunk_only(chunks: list[AIMessageChunk]) -> None:
    *body, last = chunks
    assert last.chunk_position == "last"
    assert last.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
    assert Decimal(last.response_metadata["cost"]) == COST
    assert last.response_metadata["model_name"] == "sim-large"
    assert last.response_metadata["finish_reason"] == "stop"
    for chunk in body:
        assert chunk.usage_metadata is None
        assert chunk.response_metadata.keys() <= {"model_provider"}
        assert chunk.chunk_position is None


def test_stream_reports_usage_model_and_cost_once_on_the_final_chunk(
    chat: ChatPolyroute, alpha: SimulatedProvider
) -> None:
    alpha.enqueue(Reply(text="The quick brown fox jumps.", usage=USAGE, chunk_size=4))
    chunks = list(chat.stream("Tell me about the fox"))
    assert len(chunks) > 3
    _check_final_chunk_only(chunks)
    full = merge(chunks)
    assert full.content == "The quick brown fox jumps."
    assert full.response_metadata["provider"] == "alpha"


async def test_astream_reports_usage_model_and_cost_once_on_the_final_chunk(
    chat: ChatPolyroute, alpha: SimulatedProvider
) -> None:
    alpha.enqueue(Reply(text="The quick brown fox jumps.", usage=USAGE, chunk_size=4))
    chunks = [chunk async for chunk in chat.astream("Tell me about the fox")]
    assert len(chunks) > 3
    _check_final_chunk_only(chunks)
    assert merge(chunks).content == "The quick brown fox jumps."


TWO_CALLS = Reply(
    tool_calls=[
        ToolCallSpec(name="get_weather", arguments={"city": "Kraków", "unit": "celsius"}, id="call_a"),
        ToolCallSpec(name="get_time", arguments={"city": "東京"}, id="call_b"),
    ],
    chunk_size=3,
)
EXPECTED_CALLS = [
    {"name": "get_weather", "args": {"city": "Kraków", "unit": "celsius"}, "id": "call_a", "type": "tool_call"},
    {"name": "get_time", "args": {"city": "東京"}, "id": "call_b", "type": "tool_call"},
]


def test_streamed_tool_call_fragments_merge(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(TWO_CALLS)
    chunks = list(chat.stream("Weather and time?"))
    assert sum(1 for c in chunks if c.tool_call_chunks) > 4  # the arguments really came in pieces
    full = merge(chunks)
    assert full.tool_calls == EXPECTED_CALLS
    assert full.invalid_tool_calls == []
    assert full.response_metadata["finish_reason"] == "tool_calls"


async def test_astreamed_tool_call_fragments_merge(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(TWO_CALLS)
    full = merge([chunk async for chunk in chat.astream("Weather and time?")])
    assert full.tool_calls == EXPECTED_CALLS


def test_stream_fails_over_invisibly_before_the_first_token(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Disconnect(after_chunks=0), Disconnect(after_chunks=0))
    full = merge(list(chat.stream("hi")))
    assert full.content == "Hello! How can I help you today?"
    assert full.response_metadata["provider"] == "beta"
    assert full.response_metadata["fallbacks"] == 2


def test_stream_broken_after_content_raises_stream_interrupted(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Disconnect(after_chunks=2))
    received: list[AIMessageChunk] = []
    with pytest.raises(polyroute.StreamInterrupted) as info:
        received.extend(chat.stream("hi"))
    assert "".join(str(c.content) for c in received) == info.value.delivered_text


def test_streaming_flag_streams_invoke_to_callbacks(router: polyroute.Router, alpha: SimulatedProvider) -> None:
    class Tokens(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str | list[str | dict[str, Any]], **kwargs: Any) -> None:
            assert isinstance(token, str)
            self.tokens.append(token)

    alpha.enqueue(Reply(text="one two three", usage=USAGE, chunk_size=4))
    handler = Tokens()
    result = ChatPolyroute(model="sim-large", router=router, streaming=True).invoke(
        "count", config={"callbacks": [handler]}
    )
    assert "".join(handler.tokens) == "one two three"
    assert alpha.requests[-1].stream
    assert result.usage_metadata == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


# -- async runs natively ----------------------------------------------------------------------


async def test_async_calls_run_on_the_event_loop_thread(sim_config: dict[str, Any]) -> None:
    threads: list[int] = []

    class Where:
        def on_attempt(self, request: polyroute.ChatRequest, request_id: str, attempt: polyroute.Attempt) -> None:
            threads.append(threading.get_ident())

        def on_call(self, request: Any, route: Any, error: Any) -> None:
            """Attempts are enough."""

    router = polyroute.Router.from_config(sim_config, clock=FakeClock(), observers=[Where()])
    try:
        model = ChatPolyroute(model="sim-large", router=router)
        await model.ainvoke("hi")
        _ = [c async for c in model.astream("hi")]
        await asyncio.gather(model.ainvoke("a"), model.ainvoke("b"))
    finally:
        await router.aclose()
    assert threads == [threading.get_ident()] * 4
