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
import multiprocessing
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polyroute._router import Router
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


def _router(config: Path | None) -> Router:
    """The router for ``config`` (else from the environment), with a ledger: the configuration's,
    else the default SQLite file (a gateway needs one for keys, credit and ``/generation``)."""
    from polyroute.accounting._settings import LedgerSettings
    from polyroute.errors import ConfigError
    from polyroute.ledger import open_ledger

    router = Router.from_config(config) if config is not None else Router.from_env()
    if not router.catalog.models and not router.catalog.resolves:
        raise ConfigError("no models: pass a configuration with models (or provider keys in the environment)")
    if router.ledger is not None:
        return router
    catalog = router.catalog
    router.close()
    return Router(catalog, ledger=open_ledger(LedgerSettings()))


def build_app(options: ServeOptions) -> tuple[object, Router, KeyStore, AdminAuth]:
    """The application one worker serves, with its router, keys and admin check."""
    router = _router(options.config)
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
                    import os

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
