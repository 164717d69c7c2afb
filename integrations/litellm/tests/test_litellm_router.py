"""polyroute as a deployment of a ``litellm.Router``: calls, and LiteLLM's fallbacks and retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import litellm
import litellm_polyroute
import pytest

import polyroute
from polyroute.testing import Behavior, ErrorReply, ProviderSimulator, Reply, ToolCallSpec

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def primary(sim: ProviderSimulator) -> Any:
    return sim.add_provider("primary")


@pytest.fixture
def secondary(answering: Callable[[str, str], Any]) -> Any:
    return answering("secondary", "from the fallback group")


@pytest.fixture
def polyroute_router(
    primary: Any, secondary: Any, config_factory: Callable[..., dict[str, Any]]
) -> Iterator[polyroute.Router]:
    config = config_factory([primary, secondary], {"main": ["primary"], "spare": ["secondary"]})
    with polyroute.Router.from_config(config) as router:
        litellm_polyroute.register(router)
        yield router


def litellm_router(**settings: Any) -> litellm.Router:
    """Model group ``main`` served by polyroute's ``main``, ``spare`` by polyroute's ``spare``."""
    return litellm.Router(
        model_list=[
            {"model_name": "main", "litellm_params": {"model": "polyroute/main"}},
            {"model_name": "spare", "litellm_params": {"model": "polyroute/spare"}},
        ],
        **settings,
    )


def test_a_router_deployment_serves_through_polyroute(polyroute_router: polyroute.Router, primary: Any) -> None:
    primary.set_default(Reply(text="served by polyroute"))

    resp = litellm_router(num_retries=0).completion(model="main", messages=MESSAGES)

    assert resp.choices[0].message.content == "served by polyroute"
    assert resp.route["provider"] == "primary"
    assert resp._hidden_params["response_cost"] == pytest.approx(float(resp.route["cost"]))


@pytest.mark.asyncio
async def test_a_router_deployment_streams_tool_calls_asynchronously(
    polyroute_router: polyroute.Router, primary: Any
) -> None:
    primary.set_default(Reply(tool_calls=[ToolCallSpec(name="lookup", arguments={"q": "x"}, id="call_1")]))
    try:
        stream = await litellm_router(num_retries=0).acompletion(model="main", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    finally:
        await polyroute_router.aclose()

    resp = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    (call,) = resp.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "lookup", '{"q": "x"}')


FALLBACK_ON: list[Behavior] = [
    ErrorReply(429),
    ErrorReply.insufficient_quota(),
    ErrorReply(401),
    ErrorReply(403),
    ErrorReply(404),
    ErrorReply(400),
    ErrorReply.context_length_exceeded(),
    ErrorReply(500),
    ErrorReply(503),
]
IDS = ["429", "quota", "401", "403", "404", "400", "context", "500", "503"]


@pytest.mark.parametrize("failure", FALLBACK_ON, ids=IDS)
def test_litellm_fallbacks_trigger_on_mapped_errors(
    polyroute_router: polyroute.Router, primary: Any, secondary: Any, failure: Behavior
) -> None:
    primary.set_default(failure)
    router = litellm_router(num_retries=0, fallbacks=[{"main": ["spare"]}])

    resp = router.completion(model="main", messages=MESSAGES)

    assert resp.choices[0].message.content == "from the fallback group"
    assert len(primary.requests) == 1
    assert resp.route["provider"] == "secondary"


@pytest.mark.asyncio
@pytest.mark.parametrize("failure", [ErrorReply(429), ErrorReply(503)], ids=["429", "503"])
async def test_litellm_fallbacks_trigger_before_the_first_streamed_chunk(
    polyroute_router: polyroute.Router, primary: Any, failure: Behavior
) -> None:
    primary.set_default(failure)
    router = litellm_router(num_retries=0, fallbacks=[{"main": ["spare"]}])
    try:
        stream = await router.acompletion(model="main", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    finally:
        await polyroute_router.aclose()

    assert text == "from the fallback group"


def test_context_window_fallbacks_trigger_on_context_length_exceeded(
    polyroute_router: polyroute.Router, primary: Any
) -> None:
    primary.set_default(ErrorReply.context_length_exceeded())
    router = litellm_router(num_retries=0, context_window_fallbacks=[{"main": ["spare"]}])

    resp = router.completion(model="main", messages=MESSAGES)

    assert resp.choices[0].message.content == "from the fallback group"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [(ErrorReply(429), litellm.exceptions.RateLimitError), (ErrorReply(500), litellm.exceptions.InternalServerError)],
    ids=["429", "500"],
)
def test_context_window_fallbacks_do_not_trigger_on_other_errors(
    polyroute_router: polyroute.Router, primary: Any, secondary: Any, failure: Behavior, expected: type[Exception]
) -> None:
    primary.set_default(failure)
    router = litellm_router(num_retries=0, context_window_fallbacks=[{"main": ["spare"]}])

    with pytest.raises(expected):
        router.completion(model="main", messages=MESSAGES)

    assert secondary.requests == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ErrorReply(400), litellm.exceptions.BadRequestError),
        (ErrorReply(401), litellm.exceptions.AuthenticationError),
        (ErrorReply.context_length_exceeded(), litellm.exceptions.ContextWindowExceededError),
    ],
    ids=["400", "401", "context"],
)
def test_litellm_does_not_retry_errors_a_retry_cannot_fix(
    polyroute_router: polyroute.Router, primary: Any, failure: Behavior, expected: type[Exception]
) -> None:
    primary.set_default(failure)
    router = litellm_router(num_retries=3)

    with pytest.raises(expected):
        router.completion(model="main", messages=MESSAGES)

    assert len(primary.requests) == 1
