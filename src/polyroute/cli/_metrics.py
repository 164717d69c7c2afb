"""``polyroute metrics``: Prometheus metrics of processes that route, for a process with no web server.

The application's processes record metrics with :class:`~polyroute.observability.PrometheusObserver`
in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set to a directory they
share); ``polyroute metrics serve`` serves their sum on ``/metrics`` and ``polyroute metrics
show`` prints it. With ``--config``, the budgets of that configuration are reported too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from polyroute.cli._app import app, console, err_console, load_router

__all__ = ["metrics_app"]

metrics_app = typer.Typer(
    help="Prometheus metrics of the processes that route (prometheus-client's multiprocess mode).",
    no_args_is_help=True,
)
app.add_typer(metrics_app, name="metrics")

MultiprocDir = Annotated[
    Path | None,
    typer.Option(
        "--multiproc-dir",
        help="The directory the routing processes write metrics to (default: $PROMETHEUS_MULTIPROC_DIR).",
        show_default=False,
    ),
]
BudgetsConfig = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Also report the budget balances of this configuration.", show_default=False),
]


def _prepare(multiproc_dir: Path | None, config: Path | None) -> None:
    if multiproc_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory or not Path(directory).is_dir():
        err_console.print(
            "[bold red]no metrics directory:[/] set PROMETHEUS_MULTIPROC_DIR (or --multiproc-dir) to the directory "
            "your routing processes write to. In a single process, call "
            "polyroute.observability.prometheus.serve() instead."
        )
        raise typer.Exit(2)
    try:
        from polyroute.observability import prometheus
    except ImportError as exc:
        err_console.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2) from exc
    if config is not None:
        prometheus.PrometheusObserver().watch(load_router(config))


@metrics_app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9464,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    multiproc_dir: MultiprocDir = None,
    config: BudgetsConfig = None,
) -> None:
    """Serve /metrics until interrupted."""
    _prepare(multiproc_dir, config)
    from polyroute.observability.prometheus import serve as start

    server, thread = start(port, host)
    console.print(f"serving http://{host}:{server.server_port}/metrics", soft_wrap=True)
    try:
        while thread.is_alive():
            thread.join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


@metrics_app.command()
def show(multiproc_dir: MultiprocDir = None, config: BudgetsConfig = None) -> None:
    """Print the /metrics page once."""
    _prepare(multiproc_dir, config)
    from polyroute.observability.prometheus import exposition

    body, _ = exposition()
    typer.echo(body.decode(), nl=False)
