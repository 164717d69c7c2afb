"""The provider simulator: a real HTTP server on loopback, in a thread of its own.

The server runs an aiohttp application on its own event loop in a daemon thread, so it serves sync
tests and async tests (whatever their loop) alike, and any number of simulators can run at once,
each on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from polyroute._clock import Clock
from polyroute.testing._anthropic_wire import AnthropicWire
from polyroute.testing._gemini_wire import GeminiWire
from polyroute.testing._handler import RequestHandler
from polyroute.testing._openai_wire import OpenAIWire
from polyroute.testing._pacing import Pacer
from polyroute.testing._provider import SimulatedProvider
from polyroute.testing._wire import WireFormat

__all__ = ["ProviderSimulator"]

_WIRES: dict[str, WireFormat] = {wire.api: wire for wire in (OpenAIWire(), AnthropicWire(), GeminiWire())}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")
_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_SHUTDOWN_GRACE = 1.0
"""Seconds aiohttp waits for handlers after our own Closing signal before cancelling them."""
_MAX_BODY = 64 * 1024 * 1024


class ProviderSimulator:
    """Simulated LLM providers behind a real HTTP server on ``127.0.0.1``.

    ::

        with ProviderSimulator() as sim:
            groq = sim.add_provider("groq")
            groq.enqueue(ErrorReply(503), Reply(text="ok"))
            ...  # point the code under test at groq.base_url

    ``port=0`` picks a free port. ``clock`` paces the simulated delays (``latency``, ``ttft``,
    ``chunk_delay``): real sleeps by default; a :class:`~polyroute.testing.FakeClock` is advanced
    instead, instantly; any other :class:`~polyroute._clock.Clock` is slept on with ``asleep``.
    The clock's ``time()`` also stamps ``created`` fields and ``RecordedRequest.received_at``.

    Also an async context manager (``async with ProviderSimulator() as sim``).
    """

    __slots__ = (
        "_clock",
        "_lifecycle",
        "_loop",
        "_port",
        "_providers",
        "_providers_lock",
        "_requested_port",
        "_stop",
        "_thread",
    )

    def __init__(self, *, clock: Clock | None = None, port: int = 0) -> None:
        self._clock = clock
        self._requested_port = port
        self._providers: dict[str, SimulatedProvider] = {}
        self._providers_lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._port is not None

    @property
    def port(self) -> int:
        """The port the server listens on; :class:`RuntimeError` if it is not running."""
        if self._port is None:
            raise RuntimeError("the ProviderSimulator is not running; call start() or use `with`")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, the server root."""
        return f"http://{_HOST}:{self.port}"

    def start(self) -> ProviderSimulator:
        """Start serving in a background thread; returns once the port is bound."""
        with self._lifecycle:
            if self._thread is not None:
                raise RuntimeError("the ProviderSimulator is already running")
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._run,
                args=(ready, failure),
                name="polyroute-provider-simulator",
                daemon=True,
            )
            thread.start()
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the ProviderSimulator did not start in time")
            if failure:
                thread.join(_STOP_TIMEOUT)
                raise RuntimeError("the ProviderSimulator failed to start") from failure[0]
            self._thread = thread
        return self

    def stop(self) -> None:
        """Stop the server, dropping in-flight requests (hanging ones included); idempotent."""
        with self._lifecycle:
            thread, loop, stop = self._thread, self._loop, self._stop
            if thread is None:
                return
            if threading.current_thread() is thread:
                raise RuntimeError("stop() cannot be called from the simulator's own thread")
            if loop is not None and stop is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(stop.set)
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                raise RuntimeError("the ProviderSimulator did not stop in time")
            self._thread = None

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ProviderSimulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"ProviderSimulator({where}, providers={sorted(self._providers)!r})"

    # -- providers -----------------------------------------------------------------------------

    def add_provider(
        self,
        name: str,
        *,
        api: str = "openai",
        api_key: str | None = None,
        models: Sequence[str] = (),
        embedding_dimensions: int = 16,
    ) -> SimulatedProvider:
        """Add a provider served under ``/<name>``; its ``base_url`` is what clients point at.

        ``api`` selects the wire format: ``"openai"``, ``"anthropic"`` (``POST <base_url>/messages``)
        or ``"gemini"`` (``POST <base_url>/models/<model>:generateContent``). With ``api_key``,
        requests without the key where the API expects it (``Authorization: Bearer``,
        ``x-api-key``, ``x-goog-api-key``) get the API's real rejection. ``models`` are listed
        by ``GET <base_url>/models`` (along with every model requested so far).

        Embeddings: ``POST <base_url>/embeddings`` (OpenAI) or ``models/<model>:embedContent`` /
        ``:batchEmbedContents`` (Gemini) return :func:`~polyroute.testing.embedding_vector` of each
        input, ``embedding_dimensions`` long unless the request asks for another size.
        """
        if embedding_dimensions < 1:
            raise ValueError(f"embedding_dimensions must be >= 1, got {embedding_dimensions!r}")
        if not _NAME.fullmatch(name):
            raise ValueError(f"provider name {name!r} must be a URL path segment ([A-Za-z0-9._~-]+)")
        wire = _WIRES.get(api)
        if wire is None:
            raise ValueError(f"unknown api {api!r}; the simulator speaks: {', '.join(sorted(_WIRES))}")
        provider = SimulatedProvider(
            name,
            wire=wire,
            root_url=lambda: self.base_url,
            api_key=api_key,
            models=models,
            embedding_dimensions=embedding_dimensions,
        )
        with self._providers_lock:
            if name in self._providers:
                raise ValueError(f"the simulator already has a provider named {name!r}")
            self._providers[name] = provider
        return provider

    def ensure_provider(self, name: str, **options: Any) -> SimulatedProvider:
        """The provider called ``name``, added first (``options`` as for :meth:`add_provider`) if
        the simulator has none: for fixtures and helpers that share one simulator."""
        found = self._lookup(name)
        return found if found is not None else self.add_provider(name, **options)

    def provider(self, name: str) -> SimulatedProvider:
        """The provider called ``name``; :class:`KeyError` naming the known ones if absent."""
        with self._providers_lock:
            found = self._providers.get(name)
            known = sorted(self._providers)
        if found is None:
            raise KeyError(f"no simulated provider named {name!r} (known: {', '.join(known) or 'none'})")
        return found

    @property
    def providers(self) -> list[SimulatedProvider]:
        """Every provider, in the order they were added."""
        with self._providers_lock:
            return list(self._providers.values())

    def reset(self) -> None:
        """:meth:`SimulatedProvider.reset` every provider."""
        for provider in self.providers:
            provider.reset()

    def _lookup(self, name: str) -> SimulatedProvider | None:
        with self._providers_lock:
            return self._providers.get(name)

    # -- server thread -------------------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            with asyncio.Runner() as runner:
                runner.run(self._serve(ready))
        except BaseException as exc:  # reported to start() if it happens before ready
            if not ready.is_set():
                failure.append(exc)
                ready.set()
            else:
                raise
        finally:
            self._loop = self._stop = None
            self._port = None

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        pacer = Pacer(self._clock)
        handler = RequestHandler(providers=self._lookup, pacer=pacer, fallback=_WIRES["openai"])
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", handler.handle)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_GRACE,
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, _HOST, self._requested_port)
            await site.start()
            self._port = int(runner.addresses[0][1])
            ready.set()
            await self._stop.wait()
        finally:
            self._port = None
            pacer.close()
            await runner.cleanup()
