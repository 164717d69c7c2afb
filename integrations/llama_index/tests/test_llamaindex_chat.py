"""chat, complete and their streamed and async twins: content, usage, cost, provider and attempts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatResponse, CompletionResponse, ThinkingBlock
from llama_index.core.llms import ChatMessage
from polyroute import Router
from polyroute.errors import NoEndpointAvailable
from polyroute.testing import ErrorReply, Reply, SimulatedProvider

from llama_index.llms.polyroute import Polyroute

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
COST = Decimal("0.000025")  # 11 x 1e-6 + 7 x 2e-6
MESSAGES = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Capital of France?")]


def _script(provider: SimulatedProvider) -> None:
    provider.set_default(Reply(text="Paris is the capital.", usage=USAGE, chunk_size=5))


def _assert_accounted(resp: ChatResponse | CompletionResponse, provider: str) -> None:
    kwargs = resp.additional_kwargs
    assert kwargs["prompt_tokens"] == 11
    assert kwargs["completion_tokens"] == 7
    assert kwargs["total_tokens"] == 18
    assert kwargs["cost"] == COST
    assert kwargs["provider"] == provider
    assert kwargs["route"]["provider"] == provider
    assert kwargs["route"]["model"] == "chat-model"
    raw = resp.raw
    assert isinstance(raw, dict)
    assert raw["usage"]["prompt_tokens"] == 11
    assert raw["usage"]["completion_tokens"] == 7
    assert raw["route"]["cost"] == COST
    assert raw["route"]["provider"] == provider


def _assert_failover(resp: ChatResponse | CompletionResponse) -> None:
    attempts = resp.additional_kwargs["route"]["attempts"]
    assert [(a["provider"], a["outcome"], a["status"]) for a in attempts] == [
        ("alpha", "error", 503),
        ("beta", "success", 200),
    ]


def _sent(provider: SimulatedProvider) -> dict[str, Any]:
    body = provider.requests[-1].json
    assert body is not None
    return body


# -- whole responses -------------------------------------------------------------------------


def test_chat(llm: Polyroute, alpha: SimulatedProvider) -> None:
    _script(alpha)

    resp = llm.chat(MESSAGES)

    assert resp.message.role == "assistant"
    assert resp.message.content == "Paris is the capital."
    _assert_accounted(resp, "alpha")
    assert _sent(alpha)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]


def test_complete_fails_over_and_shows_the_attempts(
    llm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider
) -> None:
    alpha.enqueue(ErrorReply(503))
    _script(beta)

    resp = llm.complete("Capital of France?")

    assert resp.text == "Paris is the capital."
    _assert_accounted(resp, "beta")
    _assert_failover(resp)
    assert _sent(beta)["messages"] == [{"role": "user", "content": "Capital of France?"}]


@pytest.mark.asyncio
async def test_achat(allm: Polyroute, alpha: SimulatedProvider) -> None:
    _script(alpha)

    resp = await allm.achat(MESSAGES)

    assert resp.message.content == "Paris is the capital."
    _assert_accounted(resp, "alpha")


@pytest.mark.asyncio
async def test_acomplete_fails_over(allm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider) -> None:
    alpha.enqueue(ErrorReply(503))
    _script(beta)

    resp = await allm.acomplete("Capital of France?")

    assert resp.text == "Paris is the capital."
    _assert_accounted(resp, "beta")
    _assert_failover(resp)


# -- streams ---------------------------------------------------------------------------------


def test_stream_chat(llm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider) -> None:
    alpha.enqueue(ErrorReply(503))
    _script(beta)

    responses = list(llm.stream_chat(MESSAGES))

    assert "".join(r.delta or "" for r in responses) == "Paris is the capital."
    assert [r.message.content for r in responses][-1] == "Paris is the capital."
    assert len([r for r in responses if r.delta]) == 5  # 21 characters in chunks of 5
    last = responses[-1]
    _assert_accounted(last, "beta")
    _assert_failover(last)
    assert all("cost" not in r.additional_kwargs for r in responses[:-1])
    assert _sent(beta)["stream"] is True


def test_stream_complete(llm: Polyroute, alpha: SimulatedProvider) -> None:
    _script(alpha)

    responses = list(llm.stream_complete("Capital of France?"))

    assert "".join(r.delta or "" for r in responses) == "Paris is the capital."
    assert responses[-1].text == "Paris is the capital."
    _assert_accounted(responses[-1], "alpha")


@pytest.mark.asyncio
async def test_astream_chat(allm: Polyroute, alpha: SimulatedProvider, beta: SimulatedProvider) -> None:
    alpha.enqueue(ErrorReply(503))
    _script(beta)

    responses = [r async for r in await allm.astream_chat(MESSAGES)]

    assert "".join(r.delta or "" for r in responses) == "Paris is the capital."
    assert responses[-1].message.content == "Paris is the capital."
    _assert_accounted(responses[-1], "beta")
    _assert_failover(responses[-1])


@pytest.mark.asyncio
async def test_astream_complete(allm: Polyroute, alpha: SimulatedProvider) -> None:
    _script(alpha)

    responses = [r async for r in await allm.astream_complete("Capital of France?")]

    assert responses[-1].text == "Paris is the capital."
    _assert_accounted(responses[-1], "alpha")


def test_streams_ask_for_usage_even_when_the_caller_does_not(llm: Polyroute, alpha: SimulatedProvider) -> None:
    _script(alpha)

    list(llm.stream_chat(MESSAGES, stream_options={"include_usage": False}))

    assert _sent(alpha)["stream_options"] == {"include_usage": True}


def test_streamed_reasoning_is_a_thinking_block_with_deltas(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(text="42", reasoning="six times seven", chunk_size=4))

    responses = list(llm.stream_chat(MESSAGES))

    thinking = [b for b in responses[-1].message.blocks if isinstance(b, ThinkingBlock)]
    assert [b.content for b in thinking] == ["six times seven"]
    assert "".join(r.additional_kwargs.get("thinking_delta", "") for r in responses) == "six times seven"
    assert responses[-1].message.content == "42"


def test_whole_reasoning_is_a_thinking_block(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(text="42", reasoning="six times seven"))

    resp = llm.chat(MESSAGES)

    assert [b.content for b in resp.message.blocks if isinstance(b, ThinkingBlock)] == ["six times seven"]
    assert resp.message.content == "42"


# -- parameters ------------------------------------------------------------------------------


def test_parameters_from_the_constructor_and_the_call(router: Router, alpha: SimulatedProvider) -> None:
    llm = Polyroute(
        model="chat-model",
        router=router,
        temperature=0.2,
        max_tokens=64,
        additional_kwargs={"seed": 7, "top_p": 0.9},
    )

    llm.complete("hi")
    body = _sent(alpha)
    assert (body["temperature"], body["max_tokens"], body["seed"], body["top_p"]) == (0.2, 64, 7, 0.9)

    llm.complete("hi", temperature=1.0, top_p=None, stop=["\n"])
    body = _sent(alpha)
    assert (body["temperature"], body["max_tokens"], body["seed"], body["stop"]) == (1.0, 64, 7, ["\n"])
    assert "top_p" not in body  # None unsets a default for one call


def test_unset_parameters_are_not_sent(llm: Polyroute, alpha: SimulatedProvider) -> None:
    llm.complete("hi")

    assert set(_sent(alpha)) == {"model", "messages"}


def test_every_provider_failing_raises_the_routers_error(
    llm: Polyroute, providers: dict[str, SimulatedProvider]
) -> None:
    for provider in providers.values():
        provider.set_default(ErrorReply(503))

    with pytest.raises(NoEndpointAvailable) as info:
        llm.chat(MESSAGES)

    assert [a.provider for a in info.value.attempts] == ["alpha", "beta", "gamma"]
