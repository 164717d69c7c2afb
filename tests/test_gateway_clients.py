"""The gateway behind LangChain's ChatOpenAI and LlamaIndex's OpenAILike; graceful shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from tests.gateway_support import Gateway, config, running_gateway

import polyroute
from polyroute.gateway import CONTEXT, GatewaySettings, GatewayThread, KeyStore, create_app
from polyroute.testing import FunctionBehavior, ProviderSimulator, RecordedRequest, Reply


@pytest.fixture
def gw(sim: ProviderSimulator, tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(sim, tmp_path) as g:
        yield g


def test_langchain_chat_openai(gw: Gateway) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=gw.url + "/v1", api_key=gw.key(), model="m", max_retries=0, stream_usage=True)  # type: ignore[arg-type]
    gw.sim.provider("a").enqueue(Reply(text="plain"), Reply(text="streamed reply"), Reply(text="async"))
    msg = llm.invoke("hello")
    assert msg.content == "plain"
    assert msg.usage_metadata is not None and msg.usage_metadata["total_tokens"] > 0
    assert msg.response_metadata["model_name"] == "m"
    chunks = list(llm.stream("hello"))
    assert "".join(str(c.content) for c in chunks) == "streamed reply"
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in chunks) > 0  # type: ignore[misc]
    assert asyncio.run(llm.ainvoke("hello")).content == "async"
    bad = ChatOpenAI(base_url=gw.url + "/v1", api_key="sk-pr-v1-nope", model="m", max_retries=0)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        bad.invoke("hello")


def test_llama_index_openai_like(gw: Gateway) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model="m", api_base=gw.url + "/v1", api_key=gw.key(), is_chat_model=True, context_window=8192,
                     max_retries=0)  # fmt: skip
    gw.sim.provider("a").enqueue(
        Reply(text="chat"), Reply(text="a stream"), Reply(text="async chat"), Reply(text="done")
    )
    messages = [ChatMessage(role="user", content="hello")]
    assert llm.chat(messages).message.content == "chat"
    assert "".join(r.delta or "" for r in llm.stream_chat(messages)) == "a stream"
    assert asyncio.run(llm.achat(messages)).message.content == "async chat"
    assert llm.complete("hello").text == "done"


def test_shutdown_drains_an_open_stream(sim: ProviderSimulator, tmp_path: Path) -> None:
    release, arrived = threading.Event(), threading.Event()

    def slow(_: RecordedRequest) -> Reply:
        arrived.set()
        release.wait(30)  # holds the upstream until the test lets it answer
        return Reply(text="finished after shutdown began")

    sim.add_provider("a").enqueue(FunctionBehavior(slow))
    sim.add_provider("b")
    router = polyroute.Router.from_config(config(sim, tmp_path / "usage.db"))
    keys = KeyStore.memory()
    secret, _ = keys.create("k")
    app = create_app(router, keys=keys, settings=GatewaySettings(drain_seconds=30), close_router=True)
    thread = GatewayThread(app).start()
    received: list[str] = []

    def call() -> None:
        client = openai.OpenAI(base_url=thread.url + "/v1", api_key=secret, max_retries=0)
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
        received.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    caller = threading.Thread(target=call)
    caller.start()
    assert arrived.wait(30)
    stopper = threading.Thread(target=thread.stop)
    stopper.start()
    for _ in range(3000):  # bounded: until the app has begun shutting down
        if app[CONTEXT].draining:
            break
        threading.Event().wait(0.001)
    assert app[CONTEXT].draining
    with pytest.raises(httpx.HTTPError):
        httpx.get(thread.url + "/healthz", timeout=2)  # no new connections while draining
    release.set()
    caller.join(30)
    stopper.join(30)
    assert received == ["finished after shutdown began"]
