"""The real LiteLLM proxy, configured through ``custom_provider_map``, called with the ``openai`` client.

One proxy process serves the session (it takes seconds to start): it runs on 127.0.0.1 on a free
port, without a database, with the local price map and the module-level handler, which loads the
polyroute config named by ``POLYROUTE_CONFIG`` (a temporary YAML whose providers are simulated).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from polyroute.testing import ErrorReply, ProviderSimulator, Reply, ToolCallSpec, embedding_vector

pytestmark = pytest.mark.slow

MASTER_KEY = "sk-polyroute-proxy-test"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
READY_TIMEOUT = 120.0
READY_POLL = 0.25
STOP_TIMEOUT = 20.0
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
#: polyroute models, each served by the simulated provider of the same name
MODELS = ("fast", "tools", "limited", "broken", "huge")
EMBEDDING_DIMS = 8


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def upstream() -> Iterator[ProviderSimulator]:
    """``fast`` answers, ``tools`` calls a tool, ``limited`` is rate limited, ``broken`` is down and
    ``huge`` rejects every prompt as too long."""
    with ProviderSimulator() as sim:
        sim.add_provider("fast").set_default(Reply(text="Paris is the capital of France.", chunk_size=6))
        sim.add_provider("tools").set_default(
            Reply(tool_calls=[ToolCallSpec(name="get_weather", arguments={"city": "Paris"}, id="call_p")])
        )
        sim.add_provider("limited").set_default(ErrorReply(429))
        sim.add_provider("broken").set_default(ErrorReply(503))
        sim.add_provider("huge").set_default(ErrorReply.context_length_exceeded())
        sim.add_provider("vectors", embedding_dimensions=EMBEDDING_DIMS).enqueue(ErrorReply(503))
        sim.add_provider("vectors-2", embedding_dimensions=EMBEDDING_DIMS)
        yield sim


def polyroute_config(sim: ProviderSimulator) -> dict[str, Any]:
    embed = {"model": "vec-001", "dimensions": EMBEDDING_DIMS, "pricing": {"prompt": 1e-6}}
    return {
        "providers": {name: {"base_url": sim.provider(name).base_url} for name in (*MODELS, "vectors", "vectors-2")},
        "models": {
            **{
                name: {
                    "endpoints": [
                        {"provider": name, "model": f"{name}-model", "pricing": {"prompt": 1e-6, "completion": 2e-6}}
                    ]
                }
                for name in MODELS
            },
            "embed": {
                "kind": "embedding",
                "endpoints": [{"provider": "vectors", **embed}, {"provider": "vectors-2", **embed}],
                "provider": {"sort": "ordered"},
            },
        },
        "router": {"retry": {"base_delay": 0, "max_retries": 0}},
    }


def litellm_config() -> dict[str, Any]:
    """One model group per polyroute model, plus ``flaky`` (down) falling back to ``fast``."""
    groups = [{"model_name": name, "litellm_params": {"model": f"polyroute/{name}"}} for name in MODELS]
    return {
        "model_list": [
            *groups,
            {"model_name": "flaky", "litellm_params": {"model": "polyroute/broken"}},
            # the openai SDK asks for base64 vectors, which LiteLLM refuses to pass to a custom
            # provider: dropped, polyroute answers floats, which the SDK reads as well
            {"model_name": "embed", "litellm_params": {"model": "polyroute/embed", "drop_params": True}},
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"flaky": ["fast"]}]},
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "polyroute", "custom_handler": "litellm_polyroute.polyroute_handler"},
            ],
            "disable_hf_tokenizer_download": True,
        },
    }


def wait_until_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    """Poll the liveness endpoint until it answers, the process dies, or the time is up."""
    deadline = time.monotonic() + READY_TIMEOUT
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the LiteLLM proxy exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if client.get(f"{base_url}/health/liveliness").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(READY_POLL)
    pytest.fail(f"the LiteLLM proxy was not ready within {READY_TIMEOUT:.0f}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def proxy_url(upstream: ProviderSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("litellm-proxy")
    polyroute_yaml = workdir / "polyroute.yaml"
    polyroute_yaml.write_text(yaml.safe_dump(polyroute_config(upstream)))
    config_yaml = workdir / "config.yaml"
    config_yaml.write_text(yaml.safe_dump(litellm_config()))
    log = workdir / "proxy.log"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "POLYROUTE_CONFIG")}
    env |= {
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "POLYROUTE_CONFIG": str(polyroute_yaml),
    }
    command = [str(Path(sys.executable).with_name("litellm")), "--config", str(config_yaml)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, base_url, log)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def client(proxy_url: str) -> Iterator[openai.OpenAI]:
    http = openai.DefaultHttpxClient(trust_env=False)  # loopback only, whatever proxy the environment names
    with openai.OpenAI(base_url=f"{proxy_url}/v1", api_key=MASTER_KEY, http_client=http, max_retries=0) as c:
        yield c


def test_a_proxy_model_group_is_served_by_polyroute_with_its_cost(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="fast", messages=MESSAGES)
    completion = raw.parse()

    assert completion.choices[0].message.content == "Paris is the capital of France."
    route = (completion.model_extra or {})["route"]
    assert route["provider"] == "fast"
    assert route["endpoint_model"] == "fast-model"
    assert [a["outcome"] for a in route["attempts"]] == ["success"]
    usage = completion.usage
    assert usage is not None
    cost = Decimal(route["cost"])
    assert cost == usage.prompt_tokens * Decimal("0.000001") + usage.completion_tokens * Decimal("0.000002")
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(float(cost))


def test_the_proxy_streams_with_usage_cost_and_route(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="fast", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital of France."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    routes = [(c.model_extra or {}).get("route") for c in chunks]
    (route,) = [r for r in routes if r]
    assert route["provider"] == "fast"
    assert (usage.model_extra or {})["cost"] == pytest.approx(float(Decimal(route["cost"])))


def test_the_proxy_streams_tool_calls(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="tools", messages=MESSAGES, tools=TOOLS, stream=True)

    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""

    assert finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_p", "get_weather", {"city": "Paris"})
    ]


def test_a_rate_limited_group_is_a_429_to_the_client(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="limited", messages=MESSAGES)

    assert info.value.status_code == 429


def test_a_prompt_too_long_is_a_400_to_the_client(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="huge", messages=MESSAGES)

    assert "maximum context length" in str(info.value)


def test_proxy_fallbacks_trigger_on_polyroute_errors(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="flaky", messages=MESSAGES)

    assert raw.parse().choices[0].message.content == "Paris is the capital of France."
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"


def test_proxy_fallbacks_trigger_before_the_first_streamed_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="flaky", messages=MESSAGES, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is the capital of France."


def test_proxy_embeddings_are_routed_failed_over_and_costed(client: openai.OpenAI) -> None:
    texts = ["first text", "second text"]
    raw = client.embeddings.with_raw_response.create(model="embed", input=texts)
    resp = raw.parse()

    assert [d.embedding for d in resp.data] == [embedding_vector(t, EMBEDDING_DIMS) for t in texts]
    route = (resp.model_extra or {})["route"]
    assert route["provider"] == "vectors-2"  # the first provider answered 503
    assert [a["outcome"] for a in route["attempts"]] == ["error", "success"]
    assert Decimal(raw.headers["x-litellm-response-cost"]) == Decimal(route["cost"])
