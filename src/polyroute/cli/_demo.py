"""``polyroute demo``: three simulated providers, a burst of requests, the routes and the costs.

Runs on embedded defaults with no API keys: a flaky cheap provider, a slow cheap one and a fast
expensive one, all served by :mod:`polyroute.testing` over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table

from polyroute._router import Router
from polyroute._types import Route
from polyroute.cli._app import app, console
from polyroute.cli._format import money, per_million, progress_bar, seconds
from polyroute.errors import PolyrouteError

__all__ = ["demo", "demo_config"]

MODEL = "llama-3.3-70b"
PROVIDERS: dict[str, dict[str, Any]] = {
    "flaky-cloud": {"prompt": "2e-7", "completion": "6e-7", "latency": 0.02, "blurb": "cheapest, fails often"},
    "budget-gpu": {"prompt": "3e-7", "completion": "9e-7", "latency": 0.12, "blurb": "cheap, slow"},
    "premium-ai": {"prompt": "2.5e-6", "completion": "1e-5", "latency": 0.015, "blurb": "fast, 10x the price"},
}


def demo_config(base_urls: dict[str, str]) -> dict[str, Any]:
    """The demo's router configuration for simulated providers at ``base_urls``."""
    return {
        "providers": {name: {"base_url": url} for name, url in base_urls.items()},
        "models": {
            MODEL: {
                "endpoints": [
                    {
                        "provider": name,
                        "model": f"{name}/llama-3.3-70b",
                        "pricing": {"prompt": p["prompt"], "completion": p["completion"]},
                        "context_length": 131072,
                    }
                    for name, p in PROVIDERS.items()
                ]
            }
        },
        "router": {
            "retry": {"max_retries": 1, "base_delay": 0.02, "max_delay": 0.1},
            "breaker": {"failure_threshold": 3, "cooldown": 0.5},
            "timeout": {"read": 0.6, "first_token": 0.6},
        },
    }


def _behaviours(rng: random.Random) -> dict[str, Any]:
    from polyroute.testing import Disconnect, ErrorReply, FunctionBehavior, Hang, RecordedRequest, Reply

    def reply(name: str, req: RecordedRequest) -> Reply:
        body = req.json or {}
        question = str(body["messages"][-1]["content"])
        text = f"[{name}] Answer to: {question}. " + "Routing keeps this reply alive. " * 2
        return Reply(text=text, latency=PROVIDERS[name]["latency"], chunk_size=24)

    def flaky(req: RecordedRequest) -> Any:
        roll = rng.random()
        if roll < 0.2:
            return ErrorReply(503)
        if roll < 0.3:
            return ErrorReply(429, retry_after=0.05)
        if roll < 0.35 and (req.json or {}).get("stream"):
            return Disconnect(after_chunks=0)
        return reply("flaky-cloud", req)

    def slow(req: RecordedRequest) -> Any:
        if rng.random() < 0.08:
            return Hang()  # a brownout: the read timeout sends these to the next provider
        return reply("budget-gpu", req)

    return {
        "flaky-cloud": FunctionBehavior(flaky),
        "budget-gpu": FunctionBehavior(slow),
        "premium-ai": FunctionBehavior(lambda req: reply("premium-ai", req)),
    }


async def _burst(router: Router, n: int, concurrency: int, progress: Progress) -> list[Route | PolyrouteError]:
    task = progress.add_task("routing", total=n)
    sem = asyncio.Semaphore(concurrency)
    results: list[Route | PolyrouteError] = [PolyrouteError("not run")] * n

    async def one(i: int) -> None:
        messages = [{"role": "user", "content": f"question #{i}"}]
        async with sem:
            try:
                if i % 4 == 3:
                    stream = await router.acompletion(model=MODEL, messages=messages, stream=True)
                    async for _ in stream:
                        pass
                    assert stream.route is not None
                    results[i] = stream.route
                else:
                    resp = await router.acompletion(model=MODEL, messages=messages)
                    assert resp.route is not None
                    results[i] = resp.route
            except PolyrouteError as exc:
                results[i] = exc
        progress.advance(task)

    await asyncio.gather(*(one(i) for i in range(n)))
    await router.aclose()
    return results


def _report(results: list[Route | PolyrouteError]) -> None:
    routes = [r for r in results if isinstance(r, Route)]
    served: Counter[str] = Counter(r.provider for r in routes)
    failed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for r in routes:
        for a in r.attempts:
            if a.outcome == "error":
                failed[a.provider] += 1
            elif a.outcome == "skipped":
                skipped[a.provider] += 1
            else:
                latency[a.provider].append(a.latency_s)
            cost[a.provider] += a.cost or 0
    table = Table(title="providers", caption="prices in USD per million tokens, input / output")
    for col in ("provider", "price", "served", "failed", "skipped", "p50", "cost"):
        table.add_column(col, justify="left" if col == "provider" else "right")
    for name, p in PROVIDERS.items():
        lat = latency.get(name)
        table.add_row(
            f"{name}\n[dim]{p['blurb']}[/]",
            f"{per_million(Decimal(p['prompt']))} / {per_million(Decimal(p['completion']))}",
            str(served[name]),
            str(failed[name]),
            str(skipped[name]),
            seconds(statistics.median(lat)) if lat else "-",
            money(cost[name]),
        )
    console.print(table)

    examples = [r for r in routes if r.fallbacks][:5]
    if examples:
        fb = Table(title="some fallbacks")
        fb.add_column("request")
        fb.add_column("attempts")
        fb.add_column("cost", justify="right")
        for r in examples:
            chain = " → ".join(
                f"[green]{a.provider} ✓[/]"
                if a.outcome == "success"
                else f"[{'yellow' if a.outcome == 'skipped' else 'red'}]{a.provider} ✗ {a.status or a.error}[/]"
                for a in r.attempts
            )
            fb.add_row(r.request_id[-8:], chain, money(r.cost))
        console.print(fb)

    total = sum((r.cost or Decimal(0) for r in routes), Decimal(0))
    tokens_p = sum(r.usage.prompt_tokens for r in routes if r.usage)
    tokens_c = sum(r.usage.completion_tokens for r in routes if r.usage)
    premium = PROVIDERS["premium-ai"]
    all_premium = tokens_p * Decimal(premium["prompt"]) + tokens_c * Decimal(premium["completion"])
    errors = [r for r in results if isinstance(r, PolyrouteError)]
    console.print(
        Panel.fit(
            f"{len(routes)}/{len(results)} requests succeeded, {sum(r.fallbacks for r in routes)} failed attempts "
            f"absorbed by failover, {len(errors)} errors reached the caller\n"
            f"total cost {money(total)} (all on premium-ai it would have been {money(all_premium)})",
            title="summary",
        )
    )


@app.command()
def demo(
    requests: Annotated[int, typer.Option("--requests", "-n", min=1, max=10_000, help="How many requests.")] = 48,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight at once.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed for the flaky provider and the router's jitter.")] = 7,
) -> None:
    """Route a burst of requests through three simulated providers and show what happened."""
    from polyroute.testing import ProviderSimulator

    rng = random.Random(seed)
    console.print(
        f"[bold]polyroute demo[/]: {requests} requests for [cyan]{MODEL}[/] across three simulated providers "
        "(no API keys, real HTTP on 127.0.0.1)"
    )
    with ProviderSimulator() as sim:
        behaviours = _behaviours(rng)
        urls = {}
        for name in PROVIDERS:
            provider = sim.add_provider(name)
            provider.set_default(behaviours[name])
            urls[name] = provider.base_url
        router = Router.from_config(demo_config(urls), rng=random.Random(seed))
        with progress_bar() as progress:
            results = asyncio.run(_burst(router, requests, concurrency, progress))
    _report(results)
