"""``polyroute route MODEL [--explain]``: the plan a call would follow, and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from polyroute.cli._app import ConfigOption, app, console, err_console, load_router
from polyroute.errors import InvalidRequest
from polyroute.routing._planner import Plan
from polyroute.routing._strategies import usd

__all__ = ["explanation", "plan_table", "route"]


def plan_table(plan: Plan) -> Table:
    """The candidates in order, with their estimated cost."""
    table = Table(title="plan", title_justify="left")
    for col in ("#", "model", "provider", "endpoint model", "est. cost"):
        table.add_column(col, justify="right" if col in ("#", "est. cost") else "left")
    for i, c in enumerate(plan.candidates, 1):
        cost = usd(c.estimated_cost) if c.estimated_cost is not None else "-"
        table.add_row(str(i), c.model, c.endpoint.provider, c.endpoint.model, cost)
    return table


def explanation(plan: Plan) -> list[str]:
    """Each candidate with the reason for its place, then each exclusion with its reason (rich markup)."""
    lines = []
    for i, c in enumerate(plan.candidates, 1):
        cost = f" · est. {usd(c.estimated_cost)}" if c.estimated_cost is not None else ""
        lines.append(
            f"[bold]{i}. {escape(c.endpoint.provider)}[/] · {escape(c.endpoint.model)} ({escape(c.model)}){cost}"
        )
        lines.append(f"   {escape(c.reason)}")
    for e in plan.excluded:
        lines.append(f"[red]✗ {escape(e.endpoint.provider)}[/] · {escape(e.endpoint.model)} ({escape(e.model)})")
        lines.append(f"   [dim]excluded:[/] {escape(e.reason)}")
    if plan.prompt_tokens is not None:
        lines.append(f"[dim]prompt estimated at up to {plan.prompt_tokens:,} tokens[/]")
    return lines


def _provider(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--provider") from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--provider")
    return parsed


@app.command()
def route(  # noqa: PLR0917 - typer maps parameters to options
    model: Annotated[str, typer.Argument(help="Model name from the config (':floor' / ':nitro' allowed).")],
    config: ConfigOption = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show why each endpoint is where it is.")] = False,
    provider: Annotated[
        str | None, typer.Option(help='Provider preferences as JSON, e.g. \'{"sort": "price"}\'.')
    ] = None,
    prompt: Annotated[str, typer.Option(help="The prompt to plan for (its size matters).")] = "hello",
    prompt_file: Annotated[Path | None, typer.Option(help="Read the prompt from a file.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Maximum output tokens.")] = None,
    fallback: Annotated[list[str] | None, typer.Option("--fallback", help="Fallback model (repeatable).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Plan a streamed call.")] = False,
    session: Annotated[str | None, typer.Option(help="A session id (sticky routing).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show the endpoints a call would try, in order; with --explain, why, and what was left out.

    Planned in a fresh process: nothing has been measured yet, so statistics-based strategies
    see every endpoint as unmeasured and no breaker is open.
    """
    router = load_router(config)
    text = prompt_file.read_text(encoding="utf-8") if prompt_file is not None else prompt
    params: dict[str, Any] = {"models": fallback or []}
    if max_tokens:
        params["max_tokens"] = max_tokens
    if session:
        params["session_id"] = session
    prefs = _provider(provider)
    if prefs is not None:
        params["provider"] = prefs
    try:
        plan = router.plan(model, [{"role": "user", "content": text}], stream=stream, **params)
    except InvalidRequest as exc:
        err_console.print(f"[bold red]invalid request:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        console.print_json(json.dumps(plan.model_dump()))
        return
    if explain:
        for line in explanation(plan):
            console.print(line)
    else:
        console.print(plan_table(plan))
    if not plan.candidates:
        err_console.print("[bold red]no endpoint can serve this request[/]")
        raise typer.Exit(1)
