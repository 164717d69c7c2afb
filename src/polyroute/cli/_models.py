"""``polyroute models``: the catalog as a table (``--prices``: every price and where it came from)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from polyroute.catalog._catalog import Pricing
from polyroute.cli._app import ConfigOption, app, console, load_router
from polyroute.cli._format import money, per_million

__all__ = ["models"]


def _price_cells(p: Pricing) -> list[str]:
    return [
        per_million(p.prompt),
        per_million(p.completion),
        per_million(p.cache_read),
        per_million(p.cache_write),
        per_million(p.reasoning),
        money(p.request),
        money(p.image),
        p.source if p.known else "[dim]unknown[/]",
    ]


@app.command()
def models(
    config: ConfigOption = None,
    prices: Annotated[
        bool, typer.Option("--prices", help="Show every price (cache, reasoning, request, image) and its source.")
    ] = False,
) -> None:
    """List models, their endpoints in order, and prices (USD per million tokens)."""
    router = load_router(config)
    if prices:
        table = Table(title="prices (USD per million tokens; request and image: per unit)")
        cols = ["model", "provider", "endpoint model", "prompt", "completion", "cache read", "cache write"]
        for col in (*cols, "reasoning", "request", "image", "source"):
            table.add_column(col)
        for spec in router.catalog.models.values():
            for i, ep in enumerate(spec.endpoints):
                table.add_row(spec.name if i == 0 else "", ep.provider, ep.model, *_price_cells(ep.pricing))
        console.print(table)
        return
    table = Table(title="models")
    for col in ("model", "provider", "endpoint model", "prompt /M", "completion /M", "context"):
        table.add_column(col)
    for spec in router.catalog.models.values():
        for i, ep in enumerate(spec.endpoints):
            table.add_row(
                spec.name if i == 0 else "",
                ep.provider,
                ep.model,
                per_million(ep.pricing.prompt),
                per_million(ep.pricing.completion),
                f"{ep.context_length:,}" if ep.context_length else "-",
            )
        if spec.fallbacks:
            table.add_row("", "[dim]fallbacks[/]", ", ".join(spec.fallbacks), "", "", "")
    console.print(table)
    if router.catalog.resolves:
        names = ", ".join(router.catalog.providers) or "none"
        console.print(f"providers: {names}; any model they serve is routed as provider/model-id")
