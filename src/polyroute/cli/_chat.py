"""``polyroute chat``: one prompt, the reply, the route and the cost."""

from __future__ import annotations

from typing import Annotated

import typer

from polyroute._params import CompletionParams
from polyroute.cli._app import ConfigOption, app, console, fail, load_router
from polyroute.cli._format import money, route_table, seconds
from polyroute.errors import PolyrouteError

__all__ = ["chat"]


@app.command()
def chat(  # noqa: PLR0917 - typer maps parameters to options
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name from the config.")],
    config: ConfigOption = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    fallback: Annotated[list[str] | None, typer.Option("--fallback", help="Fallback model (repeatable).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Maximum output tokens.")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Stream the reply.")] = False,
) -> None:
    """Send one prompt; print the reply, who served it, every attempt and the cost."""
    router = load_router(config)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    params: CompletionParams = {"models": fallback or []}
    if max_tokens:
        params["max_tokens"] = max_tokens
    try:
        with router:
            if stream:
                s = router.completion(model=model, messages=messages, stream=True, **params)
                for chunk in s:
                    for c in chunk.choices:
                        if c.delta.content:
                            console.print(c.delta.content, end="", markup=False)
                console.print()
                route = s.route
            else:
                resp = router.completion(model=model, messages=messages, **params)
                console.print(resp.choices[0].message.content or "", markup=False)
                route = resp.route
    except PolyrouteError as exc:
        raise fail(exc) from exc
    if route is not None:
        console.print()
        console.print(route_table(route))
        console.print(
            f"served by [bold]{route.provider}[/] ({route.endpoint_model}) in {seconds(route.latency_s)}, "
            f"cost {money(route.cost)}"
        )
