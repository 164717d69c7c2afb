"""The public entry point: :class:`Router`."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from polyroute._clock import Clock, SystemClock
from polyroute._closing import AsyncClosing, Closing
from polyroute._generation import Generation, ServedBackend
from polyroute._params import CompletionParams, EmbeddingParams
from polyroute._request import Caller, ChatRequest, build_request
from polyroute._types import ChatCompletion
from polyroute.accounting._wiring import Accounts
from polyroute.adapters import adapter_for
from polyroute.backends._http import CUSTOM_API, HttpBackend, ProviderBackend
from polyroute.backends.litellm._backend import LITELLM_API, LiteLLMBackend
from polyroute.catalog._catalog import Catalog, Endpoint, ProviderSpec, RouterSettings
from polyroute.errors import ConfigError, InvalidRequest
from polyroute.execution import _engine
from polyroute.execution._admission import Gate
from polyroute.execution._execution import Execution
from polyroute.execution._observers import CallObserver, Observers
from polyroute.execution._stream import AsyncStream, Stream
from polyroute.health._breakers import HealthState
from polyroute.health._stats import RoutingView
from polyroute.observability._logs import LogObserver
from polyroute.routing._planner import Plan, make_plan
from polyroute.routing._strategies import BUILTIN_STRATEGIES, Strategy
from polyroute.state._backend import LocalState, StateBackend, StatsReport

if TYPE_CHECKING:
    from polyroute.budgets import BudgetGuard, BudgetStore
    from polyroute.catalog._model_ids import PriceLookup
    from polyroute.embeddings import EmbeddingResponse
    from polyroute.ledger import Ledger
    from polyroute.transports import AsyncTransport, Transport

__all__ = ["Router"]

#: the caller of a call that says nothing about who calls (shared: callers are immutable)
_ANONYMOUS = Caller()
#: every router logs its attempts and fail-overs (a level check while the loggers are quiet)
_LOGS = LogObserver()


def _default_sync_transport(provider: ProviderSpec) -> Transport:
    from polyroute.transports._httpx import HttpxTransport

    return HttpxTransport(max_connections=provider.max_connections, max_body_bytes=provider.limits.max_body_bytes)


def _default_async_transport(provider: ProviderSpec) -> AsyncTransport:
    from polyroute.transports._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=provider.max_connections, max_body_bytes=provider.limits.max_body_bytes)


class Router(Closing, AsyncClosing):
    """Routes chat completions across providers: plans, fails over, accounts.

    Build one from configuration with :meth:`from_config` and share it: it holds the
    connection pools, the endpoints' health and live statistics, and sticky sessions.
    ``clock`` and ``rng`` are injectable so that tests are exact; ``observers`` are told about
    every attempt and call (OpenTelemetry spans and Prometheus metrics: :mod:`polyroute.observability`;
    your own accounting); ``strategies`` adds routing strategies
    that ``provider.sort`` can name (see :class:`polyroute.Strategy`).

    ``ledger`` records every attempt (default: the one the configuration's ``ledger:`` names, if
    any); ``budgets`` checks spending limits (default: the configuration's ``budgets:``). A
    ledger or guard given here is the caller's to close; :meth:`close` flushes it.

    ``backends`` answers named providers in process instead of over HTTP (for example
    :class:`polyroute.testing.FunctionBackend`); a provider configured with ``api: custom``
    must have one. ``sync_transport`` / ``async_transport`` build the HTTP transport of each
    other provider (default: httpx and aiohttp).

    ``state`` holds breakers, statistics, sticky sessions, rate limits and budget counters
    (default: what the configuration's ``router.state`` says: this process's memory, or Redis
    shared with other processes; see :mod:`polyroute.state`).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        observers: Sequence[CallObserver] = (),
        strategies: Mapping[str, Strategy] | None = None,
        sync_transport: Callable[[ProviderSpec], Transport] | None = None,
        async_transport: Callable[[ProviderSpec], AsyncTransport] | None = None,
        ledger: Ledger | None = None,
        budgets: BudgetGuard | None = None,
        backends: Mapping[str, ProviderBackend] | None = None,
        state: StateBackend | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._strategies: Mapping[str, Strategy] = {**BUILTIN_STRATEGIES, **(strategies or {})}
        _check_sorts(catalog, self._strategies)
        self._given: dict[str, ProviderBackend] = dict(backends or {})
        _check_given(catalog, self._given)
        self._owns_state = state is None
        self._state: StateBackend = state if state is not None else _open_state(catalog, self._clock)
        #: whether planning may need shared state fetched first (sticky sessions from Redis)
        self._shared = not isinstance(self._state, LocalState)
        try:
            self._accounts = Accounts(
                catalog.settings, self._clock, ledger=ledger, budgets=budgets, store=self._state.budget_store
            )
        except BaseException:
            if self._owns_state:
                self._state.close()
            raise
        self._health = self._state.health
        self._stats = self._state.stats
        self._sticky = self._state.sticky
        self._limits = self._state.limits
        self._view = RoutingView(self._health, self._stats, self._limits)
        ledger_observer = self._accounts.observer
        extra = (ledger_observer,) if ledger_observer is not None else ()
        configured = _configured_observers(catalog.settings, self)
        self._observers = Observers((self._stats, self._sticky, self._limits, *observers, *configured, *extra, _LOGS))
        self._make_sync = sync_transport or _default_sync_transport
        self._make_async = async_transport or _default_async_transport
        #: the catalog in service, its index and backends (replaced whole by :meth:`reload`)
        self._generation = Generation(catalog, {p.name: self._new_backend(p) for p in catalog.providers.values()})
        self._reload_lock = threading.Lock()
        #: retired generations with calls still running on them
        self._draining: list[Generation] = []
        #: released backends whose async pools still need closing (by :meth:`aclose`)
        self._unclosed: list[ServedBackend] = []
        self._closing: set[asyncio.Task[None]] = set()

    def _new_backend(self, provider: ProviderSpec) -> ServedBackend:
        given = self._given.get(provider.name)
        if given is not None:
            return given
        if provider.api == LITELLM_API:
            return LiteLLMBackend(provider)
        backend = HttpBackend(
            provider,
            adapter_for(provider.api, clock=self._clock),
            sync_transport=self._make_sync,
            async_transport=self._make_async,
        )
        backend.on_headers = self._learn_limits
        return backend

    def _learn_limits(self, endpoint: Endpoint, headers: Mapping[str, str]) -> None:
        """A provider said how much of its rate limit is left: when nothing is, hold its account
        (every endpoint of the provider, in every process sharing the state) until the reset."""
        if "x-ratelimit-remaining-requests" not in headers and "x-ratelimit-remaining-tokens" not in headers:
            return
        now = self._clock.monotonic()
        seconds = self._limits.learn(endpoint, headers, now)
        if seconds:
            why = "RateLimited: the provider reports no requests or tokens left"
            for spec in self._generation.catalog.models.values():
                for ep in spec.endpoints:
                    if ep.provider == endpoint.provider:
                        self._health.breaker(ep.key).hold(now, seconds, why)

    @classmethod
    def from_config(
        cls,
        config: str | os.PathLike[str] | Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        observers: Sequence[CallObserver] = (),
        strategies: Mapping[str, Strategy] | None = None,
        ledger: Ledger | None = None,
        budgets: BudgetGuard | None = None,
        backends: Mapping[str, ProviderBackend] | None = None,
    ) -> Router:
        """A router from a YAML file path or a dict. ``${VAR}`` references are read from ``env``
        (default ``os.environ``); every problem raises :class:`~polyroute.errors.ConfigError`
        naming the key path. ``backends`` as for :class:`Router`."""
        from polyroute.catalog._config import load_catalog

        catalog = load_catalog(config if isinstance(config, Mapping) else Path(config), env=env)
        return cls(
            catalog,
            clock=clock,
            rng=rng,
            observers=observers,
            strategies=strategies,
            ledger=ledger,
            budgets=budgets,
            backends=backends,
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        observers: Sequence[CallObserver] = (),
        prices: PriceLookup | None = None,
        strategies: Mapping[str, Strategy] | None = None,
    ) -> Router:
        """A router for the providers the environment has keys for (``OPENAI_API_KEY``,
        ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``, ``GROQ_API_KEY``... ``OLLAMA_HOST``,
        ``VLLM_BASE_URL``), with ``config`` (a YAML path or a dict) merged over them.

        Models need no configuration: ``anthropic/claude-sonnet-4`` or ``openai/gpt-4o-mini``
        route to the providers that serve them (see ``docs/providers.md``). ``env`` defaults to
        ``os.environ``; ``prices`` looks up per-token prices for such models (cost is unknown
        without one).
        """
        from polyroute.catalog._env_config import env_catalog

        catalog = env_catalog(os.environ if env is None else env, config, prices=prices)
        return cls(catalog, clock=clock, rng=rng, observers=observers, strategies=strategies)

    # -- introspection -----------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The catalog this router routes over."""
        return self._generation.catalog

    @property
    def health(self) -> HealthState:
        """Per-endpoint circuit breakers, shared by every call."""
        return self._health

    @property
    def ledger(self) -> Ledger | None:
        """The ledger every attempt is recorded in, if any."""
        return self._accounts.ledger

    @property
    def budgets(self) -> BudgetGuard | None:
        """The budget guard checked before every attempt, if budgets are configured."""
        return self._accounts.guard

    def set_budgets(self, guard: BudgetGuard | None) -> BudgetGuard | None:
        """Check ``guard`` before every attempt from now on instead of :attr:`budgets`, which is
        returned (``None``: no budgets at all). Calls already running keep the guard they started
        with.

        A guard set here is the caller's to close. The guard the router opened from its
        configuration stays the router's: :meth:`close` closes it (and its counter store) even
        after it was replaced, so a guard built on top of it, sharing its store (say, a subclass
        adding limits of its own: ``MyGuard(router.budgets.rules, router.budgets.store, ...)``),
        is used only while the router is open. See ``docs/budgets.md``."""
        previous = self._accounts.guard
        self._accounts.guard = guard
        return previous

    def budget_store(self) -> BudgetStore:
        """A new budget counter store where this router keeps counters: the state backend's (Redis)
        when it has one, else the database of the router's ledger (SQLite or PostgreSQL), else this
        process's memory. For a guard of your own (:meth:`set_budgets`); the caller closes it."""
        from polyroute.accounting._wiring import _store_for

        ledger = self._accounts.ledger
        return self._state.budget_store(lambda: _store_for(ledger))

    @property
    def clock(self) -> Clock:
        """The clock used for backoff, deadlines and timings."""
        return self._clock

    @property
    def strategies(self) -> Mapping[str, Strategy]:
        """The routing strategies ``provider.sort`` may name, built-in and added."""
        return self._strategies

    def plan(
        self,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: bool = False,
        **params: Any,
    ) -> Plan:
        """The ordered candidates a call with these arguments would try now, each with the reason
        for its place, and the endpoints it would leave out, with theirs. Nothing is sent; a
        strategy that draws lots draws them, so two plans may differ."""
        generation = self._generation
        request = self._request(
            model, messages or [{"role": "user", "content": ""}], stream, params, generation.catalog, validate=False
        )
        return self._plan(request, generation)

    def _plan(self, request: ChatRequest, generation: Generation) -> Plan:
        return make_plan(
            request,
            generation.catalog,
            self._view,
            self._clock.monotonic(),
            self._rng,
            strategies=self._strategies,
            sticky=self._sticky,
            index=generation.index,
        )

    def stats(self) -> StatsReport:
        """Live statistics of every endpoint, by ``provider/model`` key: per rolling window (last 5
        and 30 minutes) the success ratio, time to first token, latency and throughput
        percentiles; requests in flight; the breaker's state. With a shared state backend these
        are the cluster's (every process's attempts). ``.state`` says how the state backend is
        doing (:class:`~polyroute.state.StateStatus`: Redis errors and fallbacks)."""
        endpoints = [ep for spec in self._generation.catalog.models.values() for ep in spec.endpoints]
        return StatsReport(self._state.report(endpoints, self._clock.monotonic()), self._state.status())

    @property
    def state(self) -> StateBackend:
        """Where breakers, statistics, sticky sessions, rate limits and budget counters live."""
        return self._state

    # -- calls -------------------------------------------------------------------------------

    def _request(
        self,
        model: str | None,
        messages: Any,
        stream: Any,
        params: Mapping[str, Any],
        catalog: Catalog,
        *,
        validate: bool = True,
    ) -> ChatRequest:
        return build_request(
            model,
            messages,
            stream,
            params,
            hedge_settings=catalog.settings.routing.hedge,
            validate=validate,
            anonymous=_ANONYMOUS,
        )

    def _execution(
        self, request: ChatRequest, generation: Generation, *, asynchronous: bool = False, request_id: str | None = None
    ) -> Execution:
        plan = self._plan(request, generation)
        catalog = generation.catalog
        hedge = None
        if asynchronous and (request.hedge or (request.hedge is None and generation.hedging)):
            from polyroute.execution._hedge import delay_policy

            settings = request.hedging if request.hedge is not None else catalog.settings.routing.hedge
            if settings is not None:
                hedge = delay_policy(settings, self._stats, self._clock)
        elif request.hedge not in (None, False):
            raise InvalidRequest(
                "hedging races two attempts at once, which needs acompletion(); a sync call runs one at a time",
                param="hedge",
            )
        if request_id is None:
            request_id = "pr-" + secrets.token_hex(12)
        budget = self._accounts.start(request)
        limits = self._limits if self._limits.limited else None
        return Execution(
            request,
            plan,
            catalog=catalog,
            health=self._health,
            clock=self._clock,
            rng=self._rng,
            request_id=request_id,
            observers=self._observers.for_call(self, request, request_id, plan),
            gate=Gate(budget, limits, self._clock) if budget is not None or limits is not None else None,
            hedge_delay=hedge,
        )

    @overload
    def completion(
        self,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]] | None = ...,
        *,
        stream: Literal[False] = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    @overload
    def completion(
        self,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]] | None = ...,
        *,
        stream: Literal[True],
        **params: Unpack[CompletionParams],
    ) -> Stream: ...

    def completion(
        self,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: bool = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | Stream:
        """A chat completion, routed. With ``stream=True``, a :class:`Stream` of chunks.

        Takes the OpenAI Chat Completions parameters, plus ``models`` (fallback models),
        ``provider`` (preferences), ``timeout`` (overall deadline, seconds), and the caller's
        ``user``, ``caller_key``, ``project``, ``tags`` and ``metadata``.
        """
        generation = self._enter()
        try:
            request = self._request(model, messages, stream, params, generation.catalog)
            if self._shared:
                self._state.prepare(request)
            execution = self._execution(request, generation)
        except BaseException:
            generation.leave()
            raise
        if stream:
            return Stream(
                _engine.stream(execution, generation.backend, self._clock, finished=generation.leave),
                execution.request_id,
            )
        try:
            return _engine.complete(execution, generation.backend, self._clock)
        finally:
            generation.leave()

    @overload
    async def acompletion(
        self,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]] | None = ...,
        *,
        stream: Literal[False] = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    @overload
    async def acompletion(
        self,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]] | None = ...,
        *,
        stream: Literal[True],
        **params: Unpack[CompletionParams],
    ) -> AsyncStream: ...

    async def acompletion(
        self,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: bool = False,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | AsyncStream:
        """The async twin of :meth:`completion`. Only async calls are hedged (``hedge=``)."""
        generation = self._enter()
        try:
            request = self._request(model, messages, stream, params, generation.catalog)
            if self._shared:
                await self._state.aprepare(request)
            execution = self._execution(request, generation, asynchronous=True)
        except BaseException:
            generation.leave()
            raise
        if stream:
            return AsyncStream(
                _engine.astream(execution, generation.backend, self._clock, finished=generation.leave),
                execution.request_id,
            )
        try:
            return await _engine.acomplete(execution, generation.backend, self._clock)
        finally:
            generation.leave()

    # -- embeddings --------------------------------------------------------------------------

    def embedding(
        self,
        model: str | None = None,
        input: str | Sequence[str] | None = None,
        **params: Unpack[EmbeddingParams],
    ) -> EmbeddingResponse:
        """Embeddings of ``input`` (a string or a list of strings) from an embedding model
        (``kind: embedding`` in the configuration), routed and failed over between the endpoints
        that serve that model, in OpenAI's response shape plus ``route``.

        A large input is split into batches within the endpoints' limits (``max_batch_items``,
        ``max_batch_tokens``), sent one after the other here (see :meth:`aembedding` for
        concurrent batches); each batch fails over on its own and the vectors come back in input
        order. ``dimensions`` asks for shorter vectors where the model supports it;
        ``encoding_format="base64"`` returns each vector as base64 float32, as OpenAI does.

        ``models`` adds fallback models, refused unless ``compatible_vectors=True`` says their
        vectors are interchangeable with the first model's (vectors of different models are
        not). ``provider``, ``timeout`` and the caller fields (``user``, ``caller_key``,
        ``project``, ``tags``, ``metadata``) work as for :meth:`completion`; ``extra_body`` is
        merged into each request body.
        """
        from polyroute.embeddings import _call

        generation = self._enter()
        try:
            call = _call.prepare(generation.catalog, model, input, params)
            return _call.embed(self, generation, call)
        finally:
            generation.leave()

    async def aembedding(
        self,
        model: str | None = None,
        input: str | Sequence[str] | None = None,
        *,
        max_concurrency: int = 4,
        **params: Unpack[EmbeddingParams],
    ) -> EmbeddingResponse:
        """The async twin of :meth:`embedding`: the batches of a large input are sent up to
        ``max_concurrency`` at once. If a batch fails on every endpoint, the others are
        cancelled and its error is raised."""
        from polyroute.embeddings import _call

        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise InvalidRequest(f"must be a positive integer, got {max_concurrency!r}", param="max_concurrency")
        generation = self._enter()
        try:
            call = _call.prepare(generation.catalog, model, input, params)
            return await _call.aembed(self, generation, call, max_concurrency)
        finally:
            generation.leave()

    # -- reloading ---------------------------------------------------------------------------

    def reload(
        self,
        config: Catalog | str | os.PathLike[str] | Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Route over a new configuration from now on, keeping what the router has learnt.

        ``config`` is what :meth:`from_config` takes (a YAML path or a dict; ``env`` answers its
        ``${VAR}`` references) or a :class:`~polyroute.Catalog`. Calls already running finish on
        the catalog they started with; calls made after ``reload`` returns plan over the new one.
        Endpoint health (circuit breakers), live statistics and sticky sessions are kept, by
        endpoint key, and so are the connection pools of providers whose settings did not change;
        those of providers that changed or left are closed once no call uses them.

        An invalid configuration raises :class:`~polyroute.errors.ConfigError` and changes
        nothing. The ledger and budgets are fixed for a router's life: a configuration that changes
        them (or, with budgets, the ``costs`` settings that size their reservations) is refused
        the same way. Safe to call while other threads or tasks are making calls.
        """
        if isinstance(config, Catalog):
            catalog = config
        else:
            from polyroute.catalog._config import load_catalog

            catalog = load_catalog(config if isinstance(config, Mapping) else Path(config), env=env)
        with self._reload_lock:
            old = self._generation
            _check_sorts(catalog, self._strategies)
            _check_accounts(old.catalog.settings, catalog.settings)
            _check_given(catalog, self._given)
            backends: dict[str, ServedBackend] = {}
            for provider in catalog.providers.values():
                current = old.backends.get(provider.name)
                if current is not None and getattr(current, "provider", None) == provider:
                    backends[provider.name] = current  # same settings: keep its connection pools
                else:
                    backends[provider.name] = self._new_backend(provider)
            kept = {id(b) for b in backends.values()}
            doomed = [b for b in old.backends.values() if id(b) not in kept]
            self._state.configure(catalog)
            self._generation = Generation(catalog, backends)
            self._draining.append(old)
        old.retire(doomed, self._release)

    def _enter(self) -> Generation:
        """The generation a call starts on, counted in (a retired one is never entered)."""
        while True:
            generation = self._generation
            if generation.enter():
                return generation

    def _release(self, backends: Sequence[ServedBackend]) -> None:
        """Close backends no call uses any more: sync pools now, async pools on the running event
        loop (or at :meth:`aclose` when there is none)."""
        with self._reload_lock:
            self._draining = [g for g in self._draining if g.in_flight]
        for backend in backends:
            backend.close()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with self._reload_lock:
                self._unclosed.extend(backends)
            return
        task = loop.create_task(_aclose_all(backends))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _leftovers(self) -> list[ServedBackend]:
        """Every backend still to close: the current ones, retired ones (even if a call that was
        never read to its end still holds them) and those released without an event loop."""
        with self._reload_lock:
            out: list[ServedBackend] = list(self._generation.backends.values())
            for generation in self._draining:
                out.extend(generation.abandon())
            self._draining = []
            out.extend(self._unclosed)
            self._unclosed = []
        return out

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync connection pools; flush the ledger (closing it if the router opened it)."""
        for backend in self._generation.backends.values():
            backend.close()
        with self._reload_lock:
            for generation in self._draining:
                self._unclosed.extend(generation.abandon())
            self._draining = []
            retired = list(self._unclosed)  # their async pools: for aclose()
        for backend in retired:
            backend.close()
        self._accounts.close()
        if self._owns_state:
            self._state.close()

    async def aclose(self) -> None:
        """Close every connection pool; flush the ledger (closing it if the router opened it)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await _aclose_all(self._leftovers())
        self._accounts.close()
        if self._owns_state:
            await self._state.aclose()

    def __repr__(self) -> str:
        catalog = self._generation.catalog
        return f"Router(models={list(catalog.models)}, providers={list(catalog.providers)})"


async def _aclose_all(backends: Sequence[ServedBackend]) -> None:
    for backend in backends:
        backend.close()
        await backend.aclose()


def _configured_observers(settings: RouterSettings, router: Router) -> list[CallObserver]:
    """The observers ``router.observability`` asks for (their libraries imported only then)."""
    wanted = settings.observability
    out: list[CallObserver] = []
    if wanted.otel:
        try:
            from polyroute.observability.otel import OpenTelemetryObserver
        except ImportError as exc:
            raise ConfigError(str(exc), path="router.observability.otel") from exc
        out.append(OpenTelemetryObserver(capture_content=wanted.capture_content))
    if wanted.prometheus:
        try:
            from polyroute.observability.prometheus import PrometheusObserver
        except ImportError as exc:
            raise ConfigError(str(exc), path="router.observability.prometheus") from exc
        metrics = PrometheusObserver()
        metrics.watch(router)
        out.append(metrics)
    return out


def _open_state(catalog: Catalog, clock: Clock) -> StateBackend:
    """The state backend the configuration names (Redis imported only when asked for)."""
    if catalog.settings.state.backend == "redis":
        from polyroute.state._redis import RedisState

        return RedisState(catalog, clock)
    return LocalState(catalog, clock)


def _check_accounts(old: RouterSettings, new: RouterSettings) -> None:
    """A reload may not change the ledger or the budgets (nor, with budgets, the cost settings),
    nor router.state, nor the observers the configuration turned on."""
    if new.state != old.state:
        raise ConfigError("a reload cannot change router.state; build a new router", path="router.state")
    if new.observability != old.observability:
        raise ConfigError("a reload cannot change observability; build a new router", path="router.observability")
    if new.ledger != old.ledger:
        raise ConfigError("a reload cannot change the ledger; build a new router", path="ledger")
    if new.budgets != old.budgets:
        raise ConfigError("a reload cannot change the budgets; build a new router", path="budgets")
    if new.budgets and new.costs != old.costs:
        raise ConfigError("with budgets, a reload cannot change the cost settings; build a new router", path="costs")


def _check_given(catalog: Catalog, given: Mapping[str, ProviderBackend]) -> None:
    """Backends given to the router name configured providers, and every ``api: custom`` provider has one."""
    for name in given:
        if name not in catalog.providers:
            known = ", ".join(sorted(catalog.providers)) or "none"
            raise ConfigError(f"a backend was given for {name!r}, which is not a configured provider ({known})")
    for provider in catalog.providers.values():
        if provider.api == CUSTOM_API and provider.name not in given:
            raise ConfigError(
                f"provider {provider.name!r} has api: custom: pass its backend, "
                f"Router(..., backends={{{provider.name!r}: ...}})",
                path=f"providers.{provider.name}.api",
            )


def _check_sorts(catalog: Catalog, strategies: Mapping[str, Strategy]) -> None:
    """Every ``sort`` in the configuration names a known strategy."""
    layers = [("router.provider.sort", catalog.settings.provider)]
    layers += [(f"models.{m.name}.provider.sort", m.provider_preferences) for m in catalog.models.values()]
    for path, prefs in layers:
        name = prefs.get("sort")
        if name is not None and name not in strategies:
            raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(sorted(strategies))}", path=path)
