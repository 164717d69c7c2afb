"""How the CLI shows money, durations, routes and progress."""

from __future__ import annotations

from decimal import Decimal

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from polyroute._types import Route
from polyroute.cli._app import console

__all__ = ["money", "per_million", "progress_bar", "route_table", "seconds"]


def money(value: Decimal | None) -> str:
    """USD with enough digits for sub-cent calls; ``-`` when unknown."""
    if value is None:
        return "-"
    return f"${value:.6f}" if value < 1 else f"${value:,.4f}"


def per_million(value: Decimal | None) -> str:
    """A per-token price shown per million tokens."""
    if value is None:
        return "-"
    return f"${(value * 1_000_000).normalize():f}"


def seconds(value: float | None) -> str:
    """A duration in ms or s."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def route_table(route: Route) -> Table:
    """Every attempt of a call, in order."""
    table = Table(title=f"route {route.request_id}", title_justify="left")
    for col in ("#", "provider", "endpoint model", "outcome", "status", "latency", "cost"):
        table.add_column(col)
    for i, a in enumerate(route.attempts, 1):
        outcome = a.outcome if a.outcome == "success" else f"{a.outcome}: {a.error}"
        style = "green" if a.outcome == "success" else ("yellow" if a.outcome == "skipped" else "red")
        table.add_row(
            str(i),
            a.provider,
            a.endpoint_model,
            f"[{style}]{outcome}[/]",
            str(a.status or "-"),
            seconds(a.latency_s) if a.outcome != "skipped" else "-",
            money(a.cost),
        )
    return table


def progress_bar() -> Progress:
    """A transient bar of requests done out of all, for commands that send many."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
