"""``litellm.completion`` / ``acompletion`` with ``model="polyroute/<model>"``, whole and streamed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import litellm
import litellm_polyroute
import pytest
from litellm.integrations.custom_logger import CustomLogger

import polyroute
from polyroute import ChatRequest, Route
from polyroute.errors import PolyrouteError
from polyroute.testing import ErrorReply, FunctionBehavior, ProviderSimulator, Reply, ToolCallSpec

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
PROMPT_PRICE = Decimal("0.000001")
COMPLETION_PRICE = Decimal("0.000002")


def expected_cost(prompt_tokens: int, completion_tokens: int) -> float:
    return float(prompt_tokens * PROMPT_PRICE + completion_tokens * COMPLETION_PRICE)


class CallRecorder:
    """A polyroute observer noting each finished call's request and the thread it finished on."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.requests: list[ChatRequest] = []

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: polyroute.Attempt) -> None:
        pass

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        self.threads.append(threading.get_ident())
        self.requests.append(request)


class CostLogger(CustomLogger):
    """Captures what LiteLLM's logging computed for the next successful call.

    One instance serves every test: LiteLLM keeps registered loggers in internal lists and
    does not register a second logger of the same class.
    """

    def __init__(self) -> None:
        super().__init__()
        self.done = asyncio.Event()
        self.kwargs: dict[str, Any] = {}

    def reset(self) -> None:
        self.done = asyncio.Event()
        self.kwargs = {}

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.kwargs = kwargs
        self.done.set()


COST_LOGGER = CostLogger()


@pytest.fixture
def groq(sim: ProviderSimulator) -> Any:
    return sim.add_provider("groq")


@pytest.fixture
def backup(sim: ProviderSimulator) -> Any:
    return sim.add_provider("backup")


@pytest.fixture
def cost_logger() -> CostLogger:
    COST_LOGGER.reset()
    litellm.callbacks = [COST_LOGGER]
    return COST_LOGGER


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest.fixture
def router(
    groq: Any, backup: Any, config_factory: Callable[..., dict[str, Any]], recorder: CallRecorder
) -> Iterator[polyroute.Router]:
    config = config_factory(
        [groq, backup],
        {"llama": ["groq", "backup"], "mistral": ["backup"]},
        prompt_price=float(PROMPT_PRICE),
        completion_price=float(COMPLETION_PRICE),
    )
    with polyroute.Router.from_config(config, observers=[recorder]) as r:
        litellm_polyroute.register(r)
        yield r


# -- whole responses ---------------------------------------------------------------------------


def test_completion_returns_the_routed_response_with_cost_and_route(router: polyroute.Router, groq: Any) -> None:
    groq.set_default(Reply(text="Paris."))

    resp = litellm.completion(model="polyroute/llama", messages=MESSAGES)

    assert resp.choices[0].message.content == "Paris."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "groq-llama"
    usage = resp.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    cost = expected_cost(usage.prompt_tokens, usage.completion_tokens)
    assert resp._hidden_params["response_cost"] == pytest.approx(cost)
    assert resp.route["provider"] == "groq"
    assert resp.route["endpoint_model"] == "groq-llama"
    assert Decimal(resp.route["cost"]) == pytest.approx(Decimal(str(cost)))
    assert [a["outcome"] for a in resp.route["attempts"]] == ["success"]
    assert groq.requests[-1].json["model"] == "groq-llama"


def test_failover_inside_polyroute_is_visible_in_the_route(router: polyroute.Router, groq: Any, backup: Any) -> None:
    groq.set_default(ErrorReply(503))
    backup.set_default(Reply(text="from backup"))

    resp = litellm.completion(model="polyroute/llama", messages=MESSAGES)

    assert resp.choices[0].message.content == "from backup"
    assert resp.route["provider"] == "backup"
    attempts = resp.route["attempts"]
    assert [(a["provider"], a["outcome"], a["status"]) for a in attempts] == [
        ("groq", "error", 503),
        ("backup", "success", 200),
    ]


def test_openai_parameters_reach_the_provider_and_litellm_internals_do_not(router: polyroute.Router, groq: Any) -> None:
    litellm.completion(
        model="polyroute/llama",
        messages=MESSAGES,
        temperature=0.2,
        max_tokens=50,
        seed=7,
        stop=["\n"],
        tools=TOOLS,
        tool_choice="auto",
        metadata={"team": "search"},
        num_retries=0,
    )

    body = groq.requests[-1].json
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50
    assert body["seed"] == 7
    assert body["stop"] == ["\n"]
    assert body["tools"] == TOOLS
    assert body["tool_choice"] == "auto"
    assert set(body) == {"model", "messages", "temperature", "max_tokens", "seed", "stop", "tools", "tool_choice"}


@pytest.mark.parametrize(("litellm_timeout", "deadline"), [(7, 7.0), (None, 600.0)], ids=["given", "litellm-default"])
def test_the_litellm_timeout_is_the_calls_overall_deadline(
    router: polyroute.Router, recorder: CallRecorder, litellm_timeout: int | None, deadline: float
) -> None:
    litellm.completion(model="polyroute/llama", messages=MESSAGES, timeout=litellm_timeout)

    assert [r.timeout for r in recorder.requests] == [deadline]


def test_a_shorter_configured_deadline_wins_over_the_litellm_timeout(
    groq: Any, config_factory: Callable[..., dict[str, Any]], recorder: CallRecorder
) -> None:
    config = config_factory([groq], {"llama": ["groq"]})
    config["router"]["timeout"] = {"deadline": 3}
    with polyroute.Router.from_config(config, observers=[recorder]) as r:
        litellm_polyroute.register(r)
        litellm.completion(model="polyroute/llama", messages=MESSAGES, timeout=30)

    assert [r.timeout for r in recorder.requests] == [3.0]


def test_an_endpoint_without_a_price_leaves_the_cost_to_litellm(
    groq: Any, config_factory: Callable[..., dict[str, Any]]
) -> None:
    config = config_factory([groq], {"llama": ["groq"]})
    del config["models"]["llama"]["endpoints"][0]["pricing"]
    with polyroute.Router.from_config(config) as r:
        litellm_polyroute.register(r)
        resp = litellm.completion(model="polyroute/llama", messages=MESSAGES)
        chunks = list(
            litellm.completion(
                model="polyroute/llama", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )

    assert resp.route["cost"] is None
    assert getattr(resp.usage, "cost", None) is None
    assert chunks[-1].usage.completion_tokens > 0
    assert getattr(chunks[-1].usage, "cost", None) is None


def test_polyroute_routing_options_pass_through_litellm(router: polyroute.Router, groq: Any, backup: Any) -> None:
    groq.set_default(ErrorReply(503))
    backup.set_default(
        FunctionBehavior(
            lambda request: ErrorReply(503) if request.model == "backup-llama" else Reply(text="mistral answered")
        )
    )

    resp = litellm.completion(model="polyroute/llama", messages=MESSAGES, models=["mistral"])

    assert resp.choices[0].message.content == "mistral answered"
    assert resp.route["model"] == "mistral"
    assert [(a["model"], a["outcome"]) for a in resp.route["attempts"]] == [
        ("llama", "error"),
        ("llama", "error"),
        ("mistral", "success"),
    ]


def test_tool_calls_come_back_as_litellm_tool_calls(router: polyroute.Router, groq: Any) -> None:
    groq.set_default(Reply(tool_calls=[ToolCallSpec(name="get_weather", arguments={"city": "Paris"}, id="call_w")]))

    resp = litellm.completion(model="polyroute/llama", messages=MESSAGES, tools=TOOLS)

    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.id == "call_w"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


@pytest.mark.asyncio
async def test_acompletion_runs_natively_on_the_event_loop(
    router: polyroute.Router, groq: Any, recorder: CallRecorder
) -> None:
    groq.set_default(Reply(text="async Paris"))
    try:
        resp = await litellm.acompletion(model="polyroute/llama", messages=MESSAGES)
    finally:
        await router.aclose()

    assert resp.choices[0].message.content == "async Paris"
    assert resp.route["provider"] == "groq"
    assert resp._hidden_params["response_cost"] == pytest.approx(
        expected_cost(resp.usage.prompt_tokens, resp.usage.completion_tokens)
    )
    assert recorder.threads == [threading.get_ident()]


@pytest.mark.asyncio
async def test_cost_reaches_litellm_cost_tracking(
    router: polyroute.Router, groq: Any, backup: Any, cost_logger: CostLogger
) -> None:
    groq.set_default(ErrorReply(500))
    backup.set_default(Reply(text="billed", extra_usage={"prompt_tokens": 100, "completion_tokens": 40}))
    try:
        await litellm.acompletion(model="polyroute/llama", messages=MESSAGES)
        await asyncio.wait_for(cost_logger.done.wait(), timeout=10)
    finally:
        await router.aclose()

    cost = expected_cost(100, 40)
    assert cost_logger.kwargs["response_cost"] == pytest.approx(cost)
    assert cost_logger.kwargs["standard_logging_object"]["response_cost"] == pytest.approx(cost)


# -- streams -----------------------------------------------------------------------------------


def test_streaming_yields_text_then_usage_with_cost_and_the_route(router: polyroute.Router, groq: Any) -> None:
    groq.set_default(Reply(text="Paris is the capital of France.", chunk_size=5))

    chunks = list(
        litellm.completion(
            model="polyroute/llama", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Paris is the capital of France."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    final = chunks[-1]
    assert final.usage.prompt_tokens > 0
    assert final.usage.cost == pytest.approx(expected_cost(final.usage.prompt_tokens, final.usage.completion_tokens))
    routes = [c.route for c in chunks if getattr(c, "route", None)]
    assert len(routes) == 1
    assert routes[0]["provider"] == "groq"
    assert [a["outcome"] for a in routes[0]["attempts"]] == ["success"]


def test_a_streamed_finish_reason_is_kept(router: polyroute.Router, groq: Any) -> None:
    groq.set_default(Reply(text="cut off", finish_reason="length"))

    chunks = list(litellm.completion(model="polyroute/llama", messages=MESSAGES, stream=True))

    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]


def test_streamed_tool_calls_assemble_into_tool_calls(router: polyroute.Router, groq: Any) -> None:
    groq.set_default(
        Reply(
            tool_calls=[
                ToolCallSpec(name="get_weather", arguments={"city": "Paris"}, id="call_a"),
                ToolCallSpec(name="get_weather", arguments={"city": "Lyon"}, id="call_b"),
            ],
            chunk_size=4,
        )
    )

    chunks = list(litellm.completion(model="polyroute/llama", messages=MESSAGES, tools=TOOLS, stream=True))
    resp = litellm.stream_chunk_builder(chunks, messages=MESSAGES)

    assert resp.choices[0].finish_reason == "tool_calls"
    calls = resp.choices[0].message.tool_calls
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_weather", {"city": "Lyon"}),
    ]


@pytest.mark.asyncio
async def test_async_streaming_is_native_and_ends_with_usage(
    router: polyroute.Router, groq: Any, recorder: CallRecorder
) -> None:
    groq.set_default(Reply(text="streamed asynchronously", chunk_size=6))
    try:
        stream = await litellm.acompletion(
            model="polyroute/llama", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await router.aclose()

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed asynchronously"
    assert chunks[-1].usage.completion_tokens > 0
    assert recorder.threads == [threading.get_ident()]


@pytest.mark.asyncio
async def test_streamed_cost_reaches_litellm_cost_tracking(
    router: polyroute.Router, groq: Any, cost_logger: CostLogger
) -> None:
    groq.set_default(Reply(text="streamed and billed", extra_usage={"prompt_tokens": 30, "completion_tokens": 12}))
    try:
        stream = await litellm.acompletion(model="polyroute/llama", messages=MESSAGES, stream=True)
        async for _ in stream:
            pass
        await asyncio.wait_for(cost_logger.done.wait(), timeout=10)
    finally:
        await router.aclose()

    assert cost_logger.kwargs["response_cost"] == pytest.approx(expected_cost(30, 12))
    assert cost_logger.kwargs["standard_logging_object"]["response_cost"] == pytest.approx(expected_cost(30, 12))
