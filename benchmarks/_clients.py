"""The clients compared: raw aiohttp, polyroute, LiteLLM Router and the official openai client.

Each makes the same request (one user message, ``max_tokens=16``) to the same endpoint of the
loopback server, and reads the whole answer into Python objects: raw aiohttp parses the JSON with
orjson (the least any client must do), the others return their response objects.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

import aiohttp
import orjson

from benchmarks._control import ServerHandle

__all__ = ["KINDS", "MESSAGES", "Client", "StreamResult", "make_client"]

MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Say hello to the benchmark."}]
MAX_TOKENS = 16
#: the provider every single-endpoint benchmark talks to
TARGET = "alpha"
MODEL = "bench"

KINDS = ("raw", "polyroute", "openai", "litellm")

StreamResult = tuple[int, float]  # (content chunks, seconds to the first content chunk)


class Client(Protocol):
    """One way of making the benchmark call."""

    name: str

    async def complete(self) -> None:
        """One non-streamed call; raise if it failed."""
        ...

    async def stream(self) -> StreamResult:
        """One streamed call read to the end."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class _SSESplitter:
    """The minimal SSE handling a raw client needs: split frames, decode ``data:`` JSON."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[Any]:
        buf = self.buf + data if self.buf else data
        frames = buf.split(b"\n\n")
        self.buf = frames.pop()
        out = []
        for frame in frames:
            if frame.startswith(b"data: ") and frame != b"data: [DONE]":
                out.append(orjson.loads(frame[6:]))
        return out


class RawAiohttp:
    """The baseline: aiohttp posting bytes, orjson decoding the answer."""

    name = "raw aiohttp"

    def __init__(self, server: ServerHandle) -> None:
        self.url = server.base_url(TARGET) + "/chat/completions"
        self.body = orjson.dumps({"model": f"{TARGET}-model", "messages": MESSAGES, "max_tokens": MAX_TOKENS})
        self.stream_body = orjson.dumps(
            {"model": f"{TARGET}-model", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": True}
        )
        self.headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self._session

    async def complete(self) -> None:
        async with self.session.post(self.url, data=self.body, headers=self.headers) as resp:
            data = orjson.loads(await resp.read())
            if resp.status != 200 or not data["choices"]:
                raise RuntimeError(f"HTTP {resp.status}")

    async def stream(self) -> StreamResult:
        started = time.perf_counter()
        ttft = 0.0
        count = 0
        splitter = _SSESplitter()
        async with self.session.post(self.url, data=self.stream_body, headers=self.headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            while data := await resp.content.readany():
                for obj in splitter.feed(data):
                    choices = obj["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        if not count:
                            ttft = time.perf_counter() - started
                        count += 1
        return count, ttft

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def polyroute_config(server: ServerHandle) -> dict[str, Any]:
    """One model, one endpoint: the router with the least to decide."""
    return {
        "providers": {TARGET: {"base_url": server.base_url(TARGET), "api_key": "${BENCH_API_KEY}"}},
        "models": {
            MODEL: {
                "endpoints": [
                    {"provider": TARGET, "model": f"{TARGET}-model", "pricing": {"prompt": 5e-7, "completion": 1.5e-6}}
                ]
            }
        },
    }


class Polyroute:
    """``await router.acompletion(...)``."""

    name = "polyroute"

    def __init__(self, server: ServerHandle) -> None:
        import polyroute

        self.router = polyroute.Router.from_config(polyroute_config(server), env={"BENCH_API_KEY": "sk-bench"})

    async def complete(self) -> None:
        resp = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        if not resp.choices:
            raise RuntimeError("no choices")

    async def stream(self) -> StreamResult:
        started = time.perf_counter()
        ttft = 0.0
        count = 0
        stream = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True)
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if not count:
                        ttft = time.perf_counter() - started
                    count += 1
        return count, ttft

    async def aclose(self) -> None:
        await self.router.aclose()


def quiet_litellm() -> Any:
    """Import LiteLLM with its price map local and every callback, telemetry and log off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import importlib
    import logging

    litellm: Any = importlib.import_module("litellm")
    litellm.telemetry = False
    litellm.success_callback = []
    litellm.failure_callback = []
    litellm.callbacks = []
    litellm._async_success_callback = []
    litellm._async_failure_callback = []
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


def litellm_deployment(server: ServerHandle, provider: str, model_name: str) -> dict[str, Any]:
    """One LiteLLM deployment of an OpenAI-compatible provider on the loopback server."""
    return {
        "model_name": model_name,
        "litellm_params": {
            "model": f"openai/{provider}-model",
            "api_base": server.base_url(provider),
            "api_key": "sk-bench",
            "max_retries": 0,
        },
        "model_info": {"id": provider},
    }


class LiteLLMRouter:
    """``await litellm.Router(...).acompletion(...)``, one deployment."""

    name = "LiteLLM Router"

    def __init__(self, server: ServerHandle) -> None:
        litellm = quiet_litellm()
        self.router = litellm.Router(model_list=[litellm_deployment(server, TARGET, MODEL)], num_retries=0)

    async def complete(self) -> None:
        resp = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        if not resp.choices:
            raise RuntimeError("no choices")

    async def stream(self) -> StreamResult:
        started = time.perf_counter()
        ttft = 0.0
        count = 0
        stream = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not count:
                    ttft = time.perf_counter() - started
                count += 1
        return count, ttft

    async def aclose(self) -> None:
        return None


class OpenAIClient:
    """The official ``openai.AsyncOpenAI`` client (httpx), retries off."""

    name = "openai client"

    def __init__(self, server: ServerHandle) -> None:
        import openai

        self.client = openai.AsyncOpenAI(base_url=server.base_url(TARGET), api_key="sk-bench", max_retries=0)

    async def complete(self) -> None:
        resp = await self.client.chat.completions.create(
            model=f"{TARGET}-model",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
        )
        if not resp.choices:
            raise RuntimeError("no choices")

    async def stream(self) -> StreamResult:
        started = time.perf_counter()
        ttft = 0.0
        count = 0
        stream: Any = await self.client.chat.completions.create(
            model=f"{TARGET}-model",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
            stream=True,
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not count:
                    ttft = time.perf_counter() - started
                count += 1
        return count, ttft

    async def aclose(self) -> None:
        await self.client.close()


def make_client(kind: str, server: ServerHandle) -> Client:
    """The client of this kind (see :data:`KINDS`)."""
    if kind == "raw":
        return RawAiohttp(server)
    if kind == "polyroute":
        return Polyroute(server)
    if kind == "litellm":
        return LiteLLMRouter(server)
    if kind == "openai":
        return OpenAIClient(server)
    from benchmarks._shared_clients import SHARED_KINDS, make_shared_client

    if kind in SHARED_KINDS:
        client: Client = make_shared_client(kind, server)
        return client
    raise ValueError(f"unknown client kind {kind!r}")
