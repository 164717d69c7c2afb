"""Running the gateway: in a background thread (tests, notebooks), or as ``polyroute serve`` workers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from aiohttp import web

from polyroute.gateway._context import CONTEXT

__all__ = ["GatewayThread", "start_site"]


async def start_site(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host:port`` (``port`` 0: any free port); return its runner and port.

    Client disconnects cancel their handler (so the upstream call is cancelled); shutdown waits
    up to the app's ``drain_seconds`` for open requests and streams."""
    drain = app[CONTEXT].settings.drain_seconds
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=drain, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound


class GatewayThread:
    """Serve ``app`` on ``127.0.0.1`` (a free port by default) from a background thread::

        with GatewayThread(create_app(router, close_router=True)) as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key)

    The app's event loop lives in that thread; leaving the block shuts the app down (draining
    open streams) and stops the thread.
    """

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="polyroute-gateway", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port`` of the running gateway."""
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            runner, self.port = await start_site(self.app, self.host, self.port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def start(self) -> GatewayThread:
        """Start serving; returns once the port is open."""
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Shut down (open streams drain) and wait for the thread."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
