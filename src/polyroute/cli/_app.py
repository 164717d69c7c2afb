"""The typer application and its shared options."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from polyroute._router import Router
from polyroute.errors import ConfigError, PolyrouteError

__all__ = ["ConfigOption", "app", "config_path", "console", "err_console", "load_router", "main"]

app = typer.Typer(
    name="polyroute",
    help="An embeddable OpenRouter: route LLM calls across providers, fail over, account for every cent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped or captured output gets room for the tables instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=(
            "Config file (YAML). Default: $POLYROUTE_CONFIG, then ./polyroute.yaml, else the providers "
            "whose keys are in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY...)."
        ),
        show_default=False,
    ),
]


def config_path(config: Path | None) -> Path | None:
    """The config file to use, by precedence: the option, ``$POLYROUTE_CONFIG``, ``./polyroute.yaml``."""
    if config is not None:
        return config
    env = os.environ.get("POLYROUTE_CONFIG")
    if env:
        return Path(env)
    default = Path("polyroute.yaml")
    return default if default.exists() else None


def load_router(config: Path | None) -> Router:
    """The router for ``config`` (else zero-config from the environment); exits with a clear
    message on a configuration error."""
    path = config_path(config)
    try:
        if path is not None:
            return Router.from_config(path)
        router = Router.from_env()
        if not router.catalog.providers:
            raise ConfigError(
                "no configuration: pass --config FILE, set POLYROUTE_CONFIG, or set a provider key "
                "such as OPENAI_API_KEY or ANTHROPIC_API_KEY"
            )
        return router
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def fail(exc: PolyrouteError) -> typer.Exit:
    """Print a routed call's error with its attempts and return the exit to raise."""
    err_console.print(f"[bold red]{type(exc).__name__}:[/] {exc}")
    for a in exc.attempts:
        err_console.print(f"  {a.provider}/{a.endpoint_model}: {a.outcome} {a.error or ''} {a.message or ''}")
    return typer.Exit(1)


def main() -> None:
    """Entry point of the ``polyroute`` script."""
    from polyroute.cli import _chat, _demo, _keys, _models, _route, _serve, _stats, _usage  # noqa: F401  (registers the commands)

    app()
