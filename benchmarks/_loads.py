"""The timed loops: latency at concurrency 1, throughput at concurrency N, streams, memory.

Every loop is bounded by a request count and by ``max_s`` seconds, whichever ends first.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from benchmarks._clients import MAX_TOKENS, MESSAGES, Client
from benchmarks._control import ServerHandle
from benchmarks._stats import percentile

__all__ = ["latency", "memory_polyroute", "memory_raw", "rss_mb", "stream_rate", "throughput", "ttft"]


def rss_mb() -> float:
    """This process's resident set size (``VmRSS``), MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _us(seconds: float) -> float:
    return seconds * 1e6


async def latency(client: Client, *, n: int, warmup: int, max_s: float) -> dict[str, Any]:
    """Sequential calls (concurrency 1): latency percentiles in microseconds."""
    for _ in range(warmup):
        await client.complete()
    samples: list[float] = []
    deadline = time.perf_counter() + max_s
    perf = time.perf_counter
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = perf()
        await client.complete()
        t1 = perf()
        samples.append(t1 - t0)
        if t1 > deadline:
            break
    cpu = time.process_time() - cpu0
    samples.sort()
    return {
        "n": len(samples),
        "cpu_us": _us(cpu / len(samples)),
        "p50_us": _us(percentile(samples, 50)),
        "p90_us": _us(percentile(samples, 90)),
        "p99_us": _us(percentile(samples, 99)),
        "mean_us": _us(sum(samples) / len(samples)),
    }


async def _closed_loop(
    call: Callable[[], Awaitable[None]], *, n: int, concurrency: int, max_s: float
) -> tuple[int, int, float]:
    """``concurrency`` tasks each calling until ``n`` calls were started or time ran out."""
    issued = 0
    errors = 0
    deadline = time.perf_counter() + max_s

    async def worker() -> None:
        nonlocal issued, errors
        while issued < n and time.perf_counter() < deadline:
            issued += 1
            try:
                await call()
            except Exception:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return issued, errors, time.perf_counter() - t0


async def throughput(client: Client, *, n: int, concurrency: int, warmup: int, max_s: float) -> dict[str, Any]:
    """Requests per second with ``concurrency`` calls in flight."""
    await _closed_loop(client.complete, n=warmup, concurrency=concurrency, max_s=max_s)
    cpu0 = time.process_time()
    done, errors, seconds = await _closed_loop(client.complete, n=n, concurrency=concurrency, max_s=max_s)
    cpu = time.process_time() - cpu0
    return {
        "n": done,
        "errors": errors,
        "seconds": seconds,
        "rps": (done - errors) / seconds,
        "cpu_us": _us(cpu / done),
        "cpu_share": cpu / seconds,
    }


async def stream_rate(client: Client, *, streams: int, max_s: float) -> dict[str, Any]:
    """Sequential long streams: content chunks relayed per second."""
    await client.stream()
    chunks = 0
    done = 0
    deadline = time.perf_counter() + max_s
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for _ in range(streams):
        count, _ = await client.stream()
        chunks += count
        done += 1
        if time.perf_counter() > deadline:
            break
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "cpu_us_per_chunk": _us(cpu / chunks),
        "streams": done,
        "chunks": chunks,
        "seconds": seconds,
        "chunks_per_s": chunks / seconds,
        "us_per_chunk": _us(seconds / chunks),
    }


async def ttft(client: Client, *, n: int, warmup: int, max_s: float) -> dict[str, Any]:
    """Sequential short streams: time from the call to the first content chunk."""
    for _ in range(warmup):
        await client.stream()
    samples: list[float] = []
    deadline = time.perf_counter() + max_s
    for _ in range(n):
        _, first = await client.stream()
        samples.append(first)
        if time.perf_counter() > deadline:
            break
    samples.sort()
    return {"n": len(samples), "p50_us": _us(percentile(samples, 50)), "p99_us": _us(percentile(samples, 99))}


# -- memory ------------------------------------------------------------------------------------

FLAKY = "beta"
STEADY = "gamma"


def memory_config(server: ServerHandle) -> dict[str, Any]:
    """Two endpoints tried in configured order (the default strategy would move the flaky one behind
    the steady one after each failure), no same-endpoint retry and a breaker that never opens:
    every failure of the first fails over to the second."""
    return {
        "providers": {
            FLAKY: {"base_url": server.base_url(FLAKY)},
            STEADY: {"base_url": server.base_url(STEADY)},
        },
        "models": {
            "mem": {
                "endpoints": [
                    {"provider": FLAKY, "model": "beta-model", "pricing": {"prompt": 6e-7, "completion": 1.8e-6}},
                    {"provider": STEADY, "model": "gamma-model", "pricing": {"prompt": 1e-6, "completion": 3e-6}},
                ]
            }
        },
        "router": {
            "provider": {"sort": "ordered"},
            "retry": {"max_retries": 0, "base_delay": 0},
            "breaker": {"failure_threshold": 1_000_000},
        },
    }


async def _memory(
    call: Callable[[], Awaitable[None]], *, n: int, warmup: int, concurrency: int, max_s: float
) -> dict[str, Any]:
    await _closed_loop(call, n=warmup, concurrency=concurrency, max_s=max_s)
    gc.collect()
    before = rss_mb()
    done, errors, seconds = await _closed_loop(call, n=n, concurrency=concurrency, max_s=max_s)
    gc.collect()
    after = rss_mb()
    return {
        "n": done,
        "errors": errors,
        "seconds": seconds,
        "rps": done / seconds,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "growth_mb": after - before,
    }


async def memory_polyroute(
    server: ServerHandle, *, n: int, warmup: int, concurrency: int, max_s: float
) -> dict[str, Any]:
    """RSS before and after ``n`` polyroute calls of which the flaky provider fails about a third."""
    import polyroute

    router = polyroute.Router.from_config(memory_config(server))
    failovers = 0

    async def call() -> None:
        nonlocal failovers
        resp = await router.acompletion(model="mem", messages=MESSAGES, max_tokens=MAX_TOKENS)
        assert resp.route is not None
        if resp.route.fallbacks:
            failovers += 1

    try:
        out = await _memory(call, n=n, warmup=warmup, concurrency=concurrency, max_s=max_s)
    finally:
        await router.aclose()
    out["failovers"] = failovers
    return out


async def memory_raw(server: ServerHandle, *, n: int, warmup: int, concurrency: int, max_s: float) -> dict[str, Any]:
    """The same load with raw aiohttp (retrying on the steady provider by hand): the noise floor."""
    flaky = server.base_url(FLAKY) + "/chat/completions"
    steady = server.base_url(STEADY) + "/chat/completions"
    body = orjson.dumps({"model": "beta-model", "messages": MESSAGES, "max_tokens": MAX_TOKENS})
    headers = {"Content-Type": "application/json"}
    failovers = 0
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def call() -> None:
        nonlocal failovers
        async with session.post(flaky, data=body, headers=headers) as resp:
            data = orjson.loads(await resp.read())
        if resp.status != 200:
            failovers += 1
            async with session.post(steady, data=body, headers=headers) as resp:
                data = orjson.loads(await resp.read())
        if not data["choices"]:
            raise RuntimeError("no choices")

    try:
        out = await _memory(call, n=n, warmup=warmup, concurrency=concurrency, max_s=max_s)
    finally:
        await session.close()
    out["failovers"] = failovers
    return out
