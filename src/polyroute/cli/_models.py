"""``polyroute models``: the catalog as a table."""

from __future__ import annotations

from rich.table import Table

from polyroute.cli._app import ConfigOption, app, console, load_router
from polyroute.cli._format import per_million

__all__ = ["models"]


@app.command()
def models(config: ConfigOption = None) -> None:
    """List models, their endpoints in order, and prices (USD per million tokens)."""
    router = load_router(config)
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
