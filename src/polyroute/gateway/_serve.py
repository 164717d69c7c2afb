"""``polyroute serve``: build the router, key store and app for a configuration, and run workers.

One worker runs in the calling process. ``workers > 1`` starts that many processes (spawned,
so each builds its own router, pools and ledger writer) listening on the same port with
``SO_REUSEPORT``: the kernel spreads connections across them. They share what lives in the
database (keys, budget counters, the ledger) and, when the configuration names a shared state
backend, breakers and statistics through it; otherwise each worker keeps its own breakers,
statistics, sticky sessions and key rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polyroute._router import Router
from polyroute.catalog._catalog import Catalog
from polyroute.execution._observers import CallObserver
from polyroute.gateway._admin import AdminAuth
from polyroute.gateway._app import create_app
from polyroute.gateway._keys import KeyStore
from polyroute.gateway._runner import start_site
from polyroute.gateway._settings import GatewaySettings

__all__ = ["ServeOptions", "build_app", "run"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where and how ``serve`` runs (``secret`` signs admin sessions across workers)."""

    config: Path | None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    settings: GatewaySettings = field(default_factory=GatewaySettings)
    secret: bytes = b""
    uvloop: bool = True
    #: Prometheus metrics for ``/metrics`` when the prometheus extra is installed
    metrics: bool = True


def _metrics_observers(catalog: Catalog) -> list[CallObserver]:
    """A :class:`~polyroute.observability.PrometheusObserver` for ``/metrics`` when the prometheus
    extra is installed (none when the configuration already turns one on, or without the extra)."""
    if catalog.settings.observability.prometheus:
        return []  # the router builds it
    try:
        from polyroute.observability.prometheus import PrometheusObserver
    except ImportError:
        return []
    return [PrometheusObserver()]


def _router(config: Path | None, *, metrics: bool = True) -> Router:
    """The router for ``config`` (else from the environment), with a ledger: the configuration's,
    else the default SQLite file (a gateway needs one for keys, credit and ``/generation``), and
    Prometheus metrics when the extra is installed."""
    from polyroute.accounting._settings import LedgerSettings
    from polyroute.catalog._config import load_catalog
    from polyroute.catalog._env_config import env_catalog
    from polyroute.errors import ConfigError
    from polyroute.ledger import open_ledger

    catalog = load_catalog(config) if config is not None else env_catalog(os.environ)
    if not catalog.models and not catalog.resolves:
        raise ConfigError("no models: pass a configuration with models (or provider keys in the environment)")
    ledger = open_ledger(LedgerSettings()) if catalog.settings.ledger is None else None
    try:
        return Router(catalog, ledger=ledger, observers=_metrics_observers(catalog) if metrics else ())
    except BaseException:
        if ledger is not None:
            ledger.close()
        raise


def build_app(options: ServeOptions) -> tuple[object, Router, KeyStore, AdminAuth]:
    """The application one worker serves, with its router, keys and admin check."""
    router = _router(options.config, metrics=options.metrics)
    settings = router.catalog.settings.ledger
    keys = KeyStore.open(settings)
    admin = AdminAuth(options.settings.admin_key, secret=options.secret or None)
    app = create_app(router, keys=keys, settings=options.settings, admin=admin, close_router=True)
    if router.catalog.settings.ledger is None and router.ledger is not None:  # the default ledger: ours to close
        ledger = router.ledger

        async def close_ledger(_: object) -> None:
            ledger.close()

        app.on_cleanup.append(close_ledger)
    return app, router, keys, admin


async def _serve(options: ServeOptions, ready: Callable[[int], None] | None, reuse_port: bool) -> None:
    app, *_ = build_app(options)
    runner, port = await start_site(app, options.host, options.port, reuse_port=reuse_port)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()  # stop accepting, drain open requests and streams, close the router


def _run_loop(options: ServeOptions, ready: Callable[[int], None] | None, reuse_port: bool) -> None:
    if options.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(_serve(options, ready, reuse_port))
            return
    asyncio.run(_serve(options, ready, reuse_port))


def _worker(options: ServeOptions) -> None:
    _run_loop(options, None, True)


def run(options: ServeOptions, ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; with several workers, supervise them (a signal is passed on,
    each drains its streams). ``ready(port)`` is called once listening (one worker only)."""
    if options.workers <= 1:
        _run_loop(options, ready, False)
        return
    metrics_dir = _multiprocess_metrics() if options.metrics else None
    try:
        _supervise(options)
    finally:
        if metrics_dir is not None:
            os.environ.pop(_MULTIPROC, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


#: prometheus-client's multiprocess directory
_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess_metrics() -> str | None:
    """With the prometheus extra and no ``PROMETHEUS_MULTIPROC_DIR``, a new empty one for the
    workers (they inherit it and import prometheus-client after it is set), so that each worker's
    ``/metrics`` reports every worker's counts. Returns it (to remove at the end), else ``None``."""
    if _MULTIPROC in os.environ or importlib.util.find_spec("prometheus_client") is None:
        return None
    path = tempfile.mkdtemp(prefix="polyroute-metrics-")
    os.environ[_MULTIPROC] = path
    return path


def _supervise(options: ServeOptions) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(options,), name=f"polyroute-worker-{i}") for i in range(options.workers)]
    for p in procs:
        p.start()
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        grace = options.settings.drain_seconds + 5
        for p in procs:
            p.join(grace)
            if p.is_alive():
                p.kill()
