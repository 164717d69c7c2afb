"""Router options (fallback models, provider preferences, caller identity) at construction and per call."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from polyroute import Attempt, ChatRequest, Route, Router
from polyroute.errors import PolyrouteError
from polyroute.testing import ErrorReply, FakeClock, SimulatedProvider

from llama_index.llms.polyroute import Polyroute


class Requests:
    """A call observer keeping every routed request."""

    def __init__(self) -> None:
        self.seen: list[ChatRequest] = []

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        pass

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        self.seen.append(request)


@pytest.fixture
def observed() -> Requests:
    return Requests()


@pytest.fixture
def observed_router(config: dict[str, Any], clock: FakeClock, observed: Requests) -> Iterator[Router]:
    with Router.from_config(config, clock=clock, rng=random.Random(0), observers=[observed]) as router:
        yield router


CONSTRUCTED: dict[str, Any] = {
    "models": ["backup-model"],
    "provider": {"sort": "price"},
    "session_id": "conv-1",
    "timeout": 30.0,
    "user": "end-user-7",
    "caller_key": "ck-team-a",
    "project": "search",
    "tags": ["llamaindex", "rag"],
    "caller_metadata": {"tenant": "acme"},
}


def test_options_given_at_construction_reach_the_router(
    observed_router: Router, observed: Requests, alpha: SimulatedProvider
) -> None:
    llm = Polyroute(model="chat-model", router=observed_router, **CONSTRUCTED)

    llm.complete("hi")

    [request] = observed.seen
    assert request.models == ("chat-model", "backup-model")
    assert request.provider == {"sort": "price"}
    assert request.session_id == "conv-1"
    assert request.timeout == 30.0
    caller = request.caller
    assert (caller.user, caller.key, caller.project) == ("end-user-7", "ck-team-a", "search")
    assert caller.tags == ("llamaindex", "rag")
    assert dict(caller.metadata) == {"tenant": "acme"}
    body = alpha.requests[-1].json
    assert body is not None
    assert body["user"] == "end-user-7"
    for private in ("caller_key", "project", "tags", "metadata", "provider", "models", "session_id", "timeout"):
        assert private not in body  # routing options are the router's, never the provider's


def test_options_given_per_call_replace_the_constructors(observed_router: Router, observed: Requests) -> None:
    llm = Polyroute(model="chat-model", router=observed_router, **CONSTRUCTED)

    llm.complete("hi", tags=["batch"], project="reports", metadata={"job": 9}, caller_key="ck-b", models=[])

    [request] = observed.seen
    assert request.caller.tags == ("batch",)
    assert (request.caller.project, request.caller.key) == ("reports", "ck-b")
    assert dict(request.caller.metadata) == {"job": 9}
    assert request.models == ("chat-model",)
    assert request.session_id == "conv-1"  # not overridden: the constructor's value stays


@pytest.mark.asyncio
async def test_per_call_options_on_async_and_streamed_calls(
    config: dict[str, Any], clock: FakeClock, observed: Requests
) -> None:
    async with Router.from_config(config, clock=clock, rng=random.Random(0), observers=[observed]) as router:
        llm = Polyroute(model="chat-model", router=router, tags=["a"])
        await llm.acomplete("hi", tags=["b"])
        [r async for r in await llm.astream_complete("hi", tags=["c"])]
        list(llm.stream_complete("hi", tags=["d"]))

    assert [r.caller.tags for r in observed.seen] == [("b",), ("c",), ("d",)]


def test_fallback_models_from_the_constructor_serve_when_the_model_fails(
    router: Router, alpha: SimulatedProvider, beta: SimulatedProvider, gamma: SimulatedProvider
) -> None:
    alpha.set_default(ErrorReply(503))
    beta.set_default(ErrorReply(429))
    llm = Polyroute(model="no-tools-model", router=router, models=["chat-model", "backup-model"])

    resp = llm.complete("hi")

    assert resp.text == "Hello from gamma"
    attempts = resp.additional_kwargs["route"]["attempts"]
    assert [(a["model"], a["provider"], a["outcome"]) for a in attempts] == [
        ("no-tools-model", "beta", "error"),
        ("chat-model", "alpha", "error"),
        ("chat-model", "beta", "error"),
        ("backup-model", "gamma", "success"),
    ]
    assert resp.additional_kwargs["route"]["model"] == "backup-model"


def test_fallback_models_per_call(router: Router, alpha: SimulatedProvider, beta: SimulatedProvider) -> None:
    beta.set_default(ErrorReply(503))
    llm = Polyroute(model="no-tools-model", router=router)

    resp = llm.complete("hi", models=["chat-model"])

    assert resp.text == "Hello from alpha"
    assert resp.additional_kwargs["provider"] == "alpha"
