"""``polyroute stats``: live per-endpoint statistics, measured by this command.

Statistics live in the process that routes (``router.stats()`` in your application); a fresh
CLI process has none. So the command measures first: ``--requests N`` sends N small requests
through the configured router (real calls, billed), ``--demo`` routes N requests through the
demo's three simulated providers (no keys). Then it prints what the router measured.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from polyroute._router import Router
from polyroute.cli._app import ConfigOption, app, console, err_console, load_router
from polyroute.cli._format import progress_bar, seconds
from polyroute.errors import PolyrouteError
from polyroute.health._stats import EndpointStats, Percentiles

__all__ = ["stats", "stats_table"]


def _pair(p: Percentiles | None, fmt: str = "time") -> str:
    if p is None:
        return "-"
    if fmt == "rate":
        return f"{p.p50:,.0f}"
    return f"{seconds(p.p50)}\n{seconds(p.p95)}"


def stats_table(stats: Mapping[str, EndpointStats], window: str) -> Table:
    """One row per endpoint for ``window`` (``"5m"`` or ``"30m"``)."""
    table = Table(
        title=f"endpoint statistics, last {window}",
        title_justify="left",
        caption="busy: in flight; ok: success ratio (429 and 4xx not counted); tok/s: p50 output tokens per second",
    )
    columns = ("endpoint", "breaker", "busy", "calls", "ok", "failed", "4xx", "cancelled", "TTFT p50/p95",
               "latency p50/p95", "tok/s")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col in ("endpoint", "breaker") else "right")
    for s in stats.values():
        w = s.windows[window]
        ratio = f"{w.success_ratio:.0%}" if w.success_ratio is not None else "-"
        table.add_row(
            f"{s.provider}\n[dim]{s.model}[/]",
            s.breaker,
            str(s.in_flight),
            str(w.attempts),
            ratio,
            str(w.failures),
            str(w.not_counted),
            str(w.cancelled),
            _pair(w.ttft),
            _pair(w.latency),
            _pair(w.throughput, "rate"),
        )
    return table


async def _probe(router: Router, model: str, prompt: str, *, n: int, concurrency: int, progress: Progress) -> int:
    task = progress.add_task("measuring", total=n)
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with sem:
            try:
                await router.acompletion(model=model, messages=[{"role": "user", "content": prompt}], max_tokens=16)
            except PolyrouteError:
                failures += 1
        progress.advance(task)

    await asyncio.gather(*(one() for _ in range(n)))
    await router.aclose()
    return failures


def _demo_stats(requests: int, concurrency: int, seed: int) -> dict[str, EndpointStats]:
    from polyroute.cli import _demo
    from polyroute.testing import ProviderSimulator

    with ProviderSimulator() as sim:
        behaviours = _demo._behaviours(random.Random(seed))
        urls = {}
        for name in _demo.PROVIDERS:
            provider = sim.add_provider(name)
            provider.set_default(behaviours[name])
            urls[name] = provider.base_url
        router = Router.from_config(_demo.demo_config(urls), rng=random.Random(seed))
        with progress_bar() as progress:
            asyncio.run(_demo._burst(router, requests, concurrency, progress))
    return router.stats()


@app.command()
def stats(  # noqa: PLR0917 - typer maps parameters to options
    config: ConfigOption = None,
    requests: Annotated[int, typer.Option("--requests", "-n", min=0, max=10_000, help="Requests to measure with.")] = 0,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model to measure (default: the first).")] = None,
    prompt: Annotated[str, typer.Option(help="The prompt of each measuring request.")] = "Say OK.",
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests in flight at once.")] = 4,
    demo: Annotated[bool, typer.Option("--demo", help="Measure the demo's simulated providers (no keys).")] = False,
    window: Annotated[str, typer.Option(help="Which window to show: 5m or 30m.")] = "5m",
    seed: Annotated[int, typer.Option(help="Seed for --demo.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print every window as JSON.")] = False,
) -> None:
    """Measure endpoints with --requests N (real calls) or --demo, then print their live statistics.

    Statistics belong to the process that routes: in your application, call router.stats().
    """
    if window not in ("5m", "30m"):
        raise typer.BadParameter("must be 5m or 30m", param_hint="--window")
    if demo:
        result = _demo_stats(requests or 48, concurrency, seed)
    else:
        router = load_router(config)
        if requests:
            name = model or next(iter(router.catalog.models), None)
            if name is None or router.catalog.model(name) is None:
                err_console.print(f"[bold red]unknown model:[/] {name}")
                raise typer.Exit(2)
            with progress_bar() as progress:
                failed = asyncio.run(
                    _probe(router, name, prompt, n=requests, concurrency=concurrency, progress=progress)
                )
            if failed:
                err_console.print(f"[yellow]{failed} of {requests} measuring requests failed[/]")
        elif router.catalog.settings.state.backend == "memory":
            err_console.print(
                "[dim]statistics live in the process that routes (router.stats() in your application); "
                "this process has measured nothing yet. Measure with --requests N (real calls) or --demo.[/]"
            )
        result = router.stats()
        status = result.state
        if status.backend != "memory":
            how = "connected" if status.connected else f"unreachable ({status.last_error})"
            err_console.print(
                f"[dim]the cluster's view: statistics shared through Redis by {status.processes or 0} "
                f"process(es) in the last minute; Redis {how}[/]"
            )
    if as_json:
        console.print_json(json.dumps({k: v.model_dump() for k, v in result.items()}))
        return
    console.print(stats_table(result, window))
