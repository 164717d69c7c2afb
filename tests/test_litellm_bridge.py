"""The LiteLLM bridge (``api: litellm``), with LiteLLM's ``openai/`` provider pointed at the simulator.

No network: LiteLLM talks to the simulator over loopback. LiteLLM itself is imported only by
these tests (on the router's first call to such a provider), never by ``import polyroute``.
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import USER

import polyroute
from polyroute import errors
from polyroute.testing import (
    Disconnect,
    ErrorReply,
    FakeClock,
    ProviderSimulator,
    Reply,
    SimulatedProvider,
    ToolCallSpec,
)

pytestmark = [
    # find_spec, not importorskip: LiteLLM is imported only when a test first calls through it
    pytest.mark.skipif(
        importlib.util.find_spec("litellm") is None, reason="the LiteLLM bridge needs litellm installed"
    ),
    # LiteLLM's own pydantic models warn about themselves; those warnings are not ours to fix
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning"),
]


@pytest.fixture
def upstream(sim: ProviderSimulator) -> SimulatedProvider:
    return sim.add_provider("upstream", api_key="sk-upstream")


@pytest.fixture
def router(sim: ProviderSimulator, upstream: SimulatedProvider, clock: FakeClock) -> Iterator[polyroute.Router]:
    native = sim.add_provider("native")
    config = {
        "providers": {
            "bridge": {"api": "litellm", "base_url": upstream.base_url, "api_key": "${UPSTREAM_KEY}"},
            "native": {"base_url": native.base_url},
        },
        "models": {
            "m": {
                "endpoints": [
                    {
                        "provider": "bridge",
                        "model": "openai/long-tail-model",
                        "pricing": {"prompt": 1e-6, "completion": 2e-6},
                    }
                ]
            },
            "with-backup": {
                "endpoints": [
                    {"provider": "bridge", "model": "openai/long-tail-model"},
                    {"provider": "native", "model": "native-model"},
                ]
            },
        },
        "router": {"retry": {"max_retries": 1}},
    }
    r = polyroute.Router.from_config(config, env={"UPSTREAM_KEY": "sk-upstream"}, clock=clock, rng=random.Random(0))
    yield r
    r.close()


def test_import_polyroute_does_not_import_litellm() -> None:
    code = "import polyroute, polyroute.testing, sys; assert 'litellm' not in sys.modules, 'litellm imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_accepts_litellm_providers_without_a_base_url() -> None:
    config = {
        "providers": {"bedrock": {"api": "litellm", "options": {"aws_region_name": "us-east-1"}}},
        "models": {
            "claude": {
                "endpoints": [{"provider": "bedrock", "model": "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"}]
            }
        },
    }
    router = polyroute.Router.from_config(config)
    assert router.catalog.provider("bedrock").base_url == ""


def test_completion_through_litellm(router: polyroute.Router, upstream: SimulatedProvider) -> None:
    upstream.set_default(
        Reply(text="from the long tail", usage={"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14})
    )
    resp = router.completion(model="m", messages=USER, temperature=0.2, max_tokens=30)
    assert resp.choices[0].message.content == "from the long tail"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens == 14
    assert resp.route is not None and (resp.route.provider, resp.route.endpoint_model) == (
        "bridge",
        "openai/long-tail-model",
    )
    assert resp.route.cost is not None and resp.route.cost > 0
    sent = upstream.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-upstream"
    assert sent.json is not None and (sent.json["model"], sent.json["temperature"], sent.json["max_tokens"]) == (
        "long-tail-model",
        0.2,
        30,
    )
    message = resp.choices[0].message.model_dump()
    assert set(message) <= {"role", "content", "tool_calls", "refusal", "reasoning_content"}  # no LiteLLM bookkeeping


def test_tool_calls_through_litellm(router: polyroute.Router, upstream: SimulatedProvider) -> None:
    upstream.set_default(Reply(tool_calls=[ToolCallSpec("lookup", {"q": "x"})]))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    resp = router.completion(model="m", messages=USER, tools=tools)
    calls = resp.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments or "")) for c in calls] == [("lookup", {"q": "x"})]
    assert resp.choices[0].finish_reason == "tool_calls"


def test_stream_through_litellm(router: polyroute.Router, upstream: SimulatedProvider) -> None:
    upstream.set_default(
        Reply(text="streamed via litellm", usage={"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8})
    )
    stream = router.completion(model="m", messages=USER, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed via litellm"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 8
    assert stream.route is not None and stream.route.provider == "bridge"


@pytest.mark.asyncio
async def test_async_through_litellm(router: polyroute.Router, upstream: SimulatedProvider) -> None:
    upstream.set_default(Reply(text="async via litellm"))
    resp = await router.acompletion(model="m", messages=USER)
    assert resp.choices[0].message.content == "async via litellm"
    stream = await router.acompletion(model="m", messages=USER, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "async via litellm"
    await router.aclose()


@pytest.mark.parametrize(
    ("behaviour", "error", "retried"),
    [
        (ErrorReply(401), "AuthenticationError", False),
        (ErrorReply(404), "ModelNotFound", False),
        (ErrorReply(503), "ServerError", True),
        (ErrorReply(500), "ServerError", True),
        (ErrorReply(529), "ServerError", True),
        (ErrorReply(429), "RateLimited", True),
        (ErrorReply.insufficient_quota(), "QuotaExceeded", False),
        (ErrorReply.context_length_exceeded(), "ContextLengthExceeded", False),
    ],
)
def test_litellm_errors_map_onto_ours_and_fail_over(
    router: polyroute.Router, upstream: SimulatedProvider, behaviour: Any, error: str, retried: bool
) -> None:
    upstream.set_default(behaviour)
    resp = router.completion(model="with-backup", messages=USER)
    assert resp.route is not None and resp.route.provider == "native"
    failed = [a for a in resp.route.attempts if a.provider == "bridge"]
    assert {a.error for a in failed} == {error}
    assert len(failed) == (2 if retried else 1)


def test_bad_request_through_litellm_fails_without_failover(
    router: polyroute.Router, upstream: SimulatedProvider, sim: ProviderSimulator
) -> None:
    upstream.set_default(ErrorReply(400, message="Invalid 'messages'"))
    with pytest.raises(errors.BadRequest):
        router.completion(model="with-backup", messages=USER)
    assert len(sim.provider("native").requests) == 0


def test_retry_after_from_litellm_is_honoured(
    router: polyroute.Router, upstream: SimulatedProvider, clock: FakeClock
) -> None:
    upstream.enqueue(ErrorReply(429, retry_after=4))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and [a.error for a in resp.route.attempts] == ["RateLimited", None]
    assert clock.sleeps == [4.0]


def test_connection_lost_before_content_fails_over(router: polyroute.Router, upstream: SimulatedProvider) -> None:
    upstream.set_default(Disconnect(after_chunks=0))
    stream = router.completion(model="with-backup", messages=USER, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from native"
    assert stream.route is not None and stream.route.attempts[0].provider == "bridge"
    assert stream.route.attempts[0].outcome == "error"
