"""``polyroute serve``: the OpenAI- and OpenRouter-compatible gateway."""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import typer

from polyroute.cli._app import ConfigOption, app, config_path, err_console

__all__ = ["serve"]

ADMIN_ENV = "POLYROUTE_ADMIN_KEY"


@app.command()
def serve(  # noqa: PLR0917 - typer maps parameters to options
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the port (SO_REUSEPORT).")] = 1,
    max_body: Annotated[int, typer.Option(min=1024, help="Largest request body in bytes (413 above).")] = 4
    * 1024
    * 1024,
    drain: Annotated[float, typer.Option(min=0, help="Seconds shutdown waits for open streams.")] = 30.0,
    open_access: Annotated[
        bool, typer.Option("--no-keys", help="Serve calls without a gateway key (loopback only).")
    ] = False,
    login: Annotated[bool, typer.Option(help="Print a one-time admin login link for the dashboard.")] = True,
    metrics: Annotated[
        bool, typer.Option(help="Count calls into Prometheus metrics for /metrics (with the prometheus extra).")
    ] = True,
) -> None:
    """Serve the router over HTTP: OpenAI's Chat Completions and OpenRouter's API (keys, credit, models).

    The admin key (for /api/v1/keys and the dashboard) is read from $POLYROUTE_ADMIN_KEY.
    """
    from polyroute.errors import ConfigError
    from polyroute.gateway._serve import ServeOptions, run
    from polyroute.gateway._settings import GatewaySettings

    if workers > 1 and port == 0:
        raise typer.BadParameter("several workers share one port: give it (--port 8000)", param_hint="--port")
    if open_access and host not in ("127.0.0.1", "localhost", "::1"):
        raise typer.BadParameter("--no-keys is only allowed on a loopback address", param_hint="--no-keys")
    settings = GatewaySettings(
        admin_key=os.environ.get(ADMIN_ENV) or None,
        require_key=not open_access,
        max_body_bytes=max_body,
        drain_seconds=drain,
    )
    options = ServeOptions(
        config=config_path(config), host=host, port=port, workers=workers, settings=settings,
        secret=secrets.token_bytes(32), metrics=metrics,
    )  # fmt: skip

    def ready(bound: int) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{bound}"
        err_console.print(f"polyroute gateway on {base}  (OpenAI base URL: {base}/v1)", soft_wrap=True)
        if login:
            from polyroute.gateway._admin import AdminAuth

            token = AdminAuth(secret=options.secret).login_token()
            err_console.print(f"dashboard login link (one use, 10 minutes): {base}/login?token={token}", soft_wrap=True)

    try:
        if workers > 1:
            ready(port)
        run(options, ready if workers == 1 else None)
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc
