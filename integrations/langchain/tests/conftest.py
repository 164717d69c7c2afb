"""Fixtures for langchain-polyroute: simulated providers scripted as a cooperative model, and routers.

The simulator (``polyroute.testing``) answers over real loopback HTTP. By default each simulated
provider is scripted with :func:`cooperative_model`, a deterministic stand-in for a real model
that does what a request *structurally* asks for, without reading the prompt:

- tools offered and ``tool_choice`` forcing one (``"required"`` or a named function): it calls
  the forced tool (the first one for ``"required"``), with arguments built from the tool's JSON
  Schema (:func:`example_value`);
- tools offered, choice left to the model, and the last message from the user: it calls the
  first tool (an eager tool user); after a tool result it answers in text;
- ``response_format`` of type ``json_schema``: JSON text matching the schema;
- ``response_format`` of type ``json_object``: a fixed JSON object;
- otherwise a short text answer.

What it cannot do is take meaning from the prompt (argument values named in the question, JSON
keys described in words); the standard tests that need that are marked xfail.
"""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

import polyroute
from polyroute.testing import (
    Behavior,
    FakeClock,
    FunctionBehavior,
    ProviderSimulator,
    RecordedRequest,
    Reply,
    SimulatedProvider,
    ToolCallSpec,
)

PRICES = {"prompt": "0.000001", "completion": "0.000002"}
TEXT_ANSWER = "Hello! How can I help you today?"
JSON_MODE_ANSWER = {"answer": "Hello"}


# -- LangChain's standard tests assume asyncio_mode=auto; this repository runs strict ----------


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Iterator[None]:
    """Mark every coroutine test collected here with ``asyncio``.

    ``trylast`` makes this wrapper run inside pytest-asyncio's, so the marks are in place when
    pytest-asyncio decides which items to run on an event loop.
    """
    outcome = yield
    result = outcome.get_result()  # type: ignore[attr-defined]
    nodes = result if isinstance(result, list) else [result]
    for node in nodes:
        if isinstance(node, pytest.Function) and inspect.iscoroutinefunction(node.obj):
            node.add_marker(pytest.mark.asyncio)


# -- the cooperative model --------------------------------------------------------------------


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return _resolve(defs.get(ref.rsplit("/", 1)[-1], {}), defs)
    return schema


def _example_integer(schema: Mapping[str, Any]) -> int:
    value = 1
    if "minimum" in schema:
        value = max(value, int(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, int(schema["exclusiveMinimum"]) + 1)
    if "maximum" in schema:
        value = min(value, int(schema["maximum"]))
    if "exclusiveMaximum" in schema:
        value = min(value, int(schema["exclusiveMaximum"]) - 1)
    return value


def example_value(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Any:
    """A deterministic value that satisfies a (pydantic-style) JSON Schema.

    Every property of an object is filled in; the first option of ``anyOf``/``oneOf`` that is
    not ``null`` is used; strings are ``"example"``.
    """
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    schema = _resolve(schema, defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, ()) if _resolve(o, defs).get("type") != "null"]
        if options:
            return example_value(options[0], defs)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: example_value(sub, defs) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_value(schema.get("items", {}), defs)]
    if kind == "integer":
        return _example_integer(schema)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools: Sequence[Mapping[str, Any]] = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    if isinstance(choice, Mapping):
        name = choice["function"]["name"]
        return next(t for t in tools if t["function"]["name"] == name)
    if choice == "required":
        return tools[0]
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "user":
        return tools[0]
    return None


def cooperative_reply(request: RecordedRequest) -> Behavior:
    """The cooperative model's answer to one request (see the module docstring)."""
    body = request.json or {}
    tool = _forced_tool(body)
    if tool is not None:
        function = tool["function"]
        arguments = example_value(function.get("parameters") or {"type": "object", "properties": {}})
        call_id = f"call_{len(request.messages)}"
        return Reply(tool_calls=[ToolCallSpec(name=function["name"], arguments=arguments, id=call_id)])
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return Reply(text=json.dumps(example_value(response_format["json_schema"]["schema"])))
    if response_format.get("type") == "json_object":
        return Reply(text=json.dumps(JSON_MODE_ANSWER))
    return Reply(text=TEXT_ANSWER)


COOPERATIVE_MODEL = FunctionBehavior(cooperative_reply)


# -- simulator, providers, routers ------------------------------------------------------------


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    """One simulator for the session; providers are reset for every test."""
    with ProviderSimulator() as sim:
        yield sim


def _fresh(sim: ProviderSimulator, name: str) -> SimulatedProvider:
    provider = sim.ensure_provider(name)
    provider.reset()
    provider.set_default(COOPERATIVE_MODEL)
    return provider


@pytest.fixture
def alpha(simulator: ProviderSimulator) -> SimulatedProvider:
    """The first provider in every model's plan; scripted as the cooperative model."""
    return _fresh(simulator, "alpha")


@pytest.fixture
def beta(simulator: ProviderSimulator) -> SimulatedProvider:
    """The second provider (the failover target); scripted as the cooperative model."""
    return _fresh(simulator, "beta")


def _endpoint(provider: str, model: str) -> dict[str, Any]:
    return {"provider": provider, "model": model, "pricing": dict(PRICES)}


@pytest.fixture
def sim_config(alpha: SimulatedProvider, beta: SimulatedProvider) -> dict[str, Any]:
    """A polyroute config over the simulator.

    ``sim-large`` is served by alpha (``large-001``) then beta (``large-002``), and falls back to
    ``sim-mini``; ``sim-mini`` is served by beta (``mini-001``). No backoff, one retry.
    """
    return {
        "providers": {"alpha": {"base_url": alpha.base_url}, "beta": {"base_url": beta.base_url}},
        "models": {
            "sim-large": {
                "endpoints": [_endpoint("alpha", "large-001"), _endpoint("beta", "large-002")],
                "fallbacks": ["sim-mini"],
            },
            "sim-mini": {"endpoints": [_endpoint("beta", "mini-001")]},
        },
        "router": {"retry": {"max_retries": 1, "base_delay": 0}, "provider": {"sort": "ordered"}},  # configured order
    }


@dataclass
class CallRecorder:
    """A polyroute observer keeping every finished call's request, route and error."""

    calls: list[tuple[polyroute.ChatRequest, polyroute.Route | None, polyroute.PolyrouteError | None]] = field(
        default_factory=list
    )

    def on_attempt(self, request: polyroute.ChatRequest, request_id: str, attempt: polyroute.Attempt) -> None:
        """Attempts are not needed here."""

    def on_call(
        self, request: polyroute.ChatRequest, route: polyroute.Route | None, error: polyroute.PolyrouteError | None
    ) -> None:
        self.calls.append((request, route, error))

    @property
    def requests(self) -> list[polyroute.ChatRequest]:
        """The requests of every finished call, oldest first."""
        return [request for request, _, _ in self.calls]


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest_asyncio.fixture
async def router(sim_config: dict[str, Any], recorder: CallRecorder) -> AsyncIterator[polyroute.Router]:
    """A router over the simulator (fake clock, seeded RNG, ``recorder`` observing); closed afterwards."""
    r = polyroute.Router.from_config(sim_config, clock=FakeClock(), rng=random.Random(7), observers=[recorder])
    yield r
    await r.aclose()


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    """VCR for the standard ``test_stream_time``: no cassettes; only loopback (the simulator) passes.

    With ``record_mode="none"`` and no cassette, any request to a real host fails instead of
    being sent or recorded.
    """
    return {"record_mode": "none", "ignore_localhost": True}


@pytest.fixture(autouse=True)
def _alpha_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard tests' configuration reads its (unused) key from the environment, as any must."""
    monkeypatch.setenv("ALPHA_API_KEY", "sk-unused")
