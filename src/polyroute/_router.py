"""The public entry point: :class:`Router`."""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

from polyroute import _engine
from polyroute._accounts import Accounts
from polyroute._backend import HttpBackend
from polyroute._catalog import Catalog, ProviderSpec
from polyroute._clock import Clock, SystemClock
from polyroute._execution import CallObserver, Execution
from polyroute._health import HealthState
from polyroute._litellm_backend import LITELLM_API, LiteLLMBackend
from polyroute._params import ROUTING_KEYS, CompletionParams
from polyroute._planner import Plan, make_plan
from polyroute._request import Caller, ChatRequest, validate_params
from polyroute._routing_index import CatalogIndex
from polyroute._stats import EndpointStats, RoutingView, Stats
from polyroute._sticky import StickySessions
from polyroute._strategies import BUILTIN_STRATEGIES, Strategy
from polyroute._stream import AsyncStream, Stream
from polyroute._types import ChatCompletion
from polyroute.adapters import adapter_for
from polyroute.errors import ConfigError, InvalidRequest

if TYPE_CHECKING:
    from polyroute._model_ids import PriceLookup
    from polyroute.budgets import BudgetGuard
    from polyroute.ledger import Ledger
    from polyroute.transports import AsyncTransport, Transport

__all__ = ["Router"]


def _default_sync_transport(provider: ProviderSpec) -> Transport:
    from polyroute.transports._httpx import HttpxTransport

    return HttpxTransport(max_connections=provider.max_connections)


def _default_async_transport(provider: ProviderSpec) -> AsyncTransport:
    from polyroute.transports._aiohttp import AiohttpTransport

    return AiohttpTransport(max_connections=provider.max_connections)


class Router:
    """Routes chat completions across providers: plans, fails over, accounts.

    Build one from configuration with :meth:`from_config` and share it: it holds the
    connection pools, the endpoints' health and live statistics, and sticky sessions.
    ``clock`` and ``rng`` are injectable so that tests are exact; ``observers`` are told about
    every attempt and call (tracing, your own accounting); ``strategies`` adds routing strategies
    that ``provider.sort`` can name (see :class:`polyroute.Strategy`).

    ``ledger`` records every attempt (default: the one the configuration's ``ledger:`` names, if
    any); ``budgets`` checks spending limits (default: the configuration's ``budgets:``). A
    ledger or guard given here is the caller's to close; :meth:`close` flushes it.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        observers: Sequence[CallObserver] = (),
        strategies: Mapping[str, Strategy] | None = None,
        sync_transport: Any = None,
        async_transport: Any = None,
        ledger: Ledger | None = None,
        budgets: BudgetGuard | None = None,
    ) -> None:
        self._catalog = catalog
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._strategies: Mapping[str, Strategy] = {**BUILTIN_STRATEGIES, **(strategies or {})}
        _check_sorts(catalog, self._strategies)
        self._accounts = Accounts(catalog.settings, self._clock, ledger=ledger, budgets=budgets)
        self._health = HealthState(catalog.settings.breaker)
        self._stats = Stats(self._clock)
        self._view = RoutingView(self._health, self._stats)
        cached = frozenset(
            ep.key
            for spec in catalog.models.values()
            for ep in spec.endpoints
            if ep.pricing.cache_read is not None and ep.pricing.prompt is not None
            and ep.pricing.cache_read < ep.pricing.prompt
        )  # fmt: skip
        self._sticky = StickySessions(
            window=catalog.settings.routing.sticky_window, now=self._clock.monotonic, cached=cached
        )
        ledger_observer = self._accounts.observer
        extra = (ledger_observer,) if ledger_observer is not None else ()
        self._observers: tuple[CallObserver, ...] = (self._stats, self._sticky, *observers, *extra)
        self._index = CatalogIndex(catalog)
        self._make_sync = sync_transport or _default_sync_transport
        self._make_async = async_transport or _default_async_transport
        self._backends: dict[str, HttpBackend | LiteLLMBackend] = {}
        for provider in catalog.providers.values():
            if provider.api == LITELLM_API:
                self._backends[provider.name] = LiteLLMBackend(provider)
                continue
            self._backends[provider.name] = HttpBackend(
                provider,
                adapter_for(provider.api),
                sync_transport=self._make_sync,
                async_transport=self._make_async,
            )

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
    ) -> Router:
        """A router from a YAML file path or a dict. ``${VAR}`` references are read from ``env``
        (default ``os.environ``); every problem raises :class:`~polyroute.errors.ConfigError`
        naming the key path."""
        from polyroute._config import load_catalog

        catalog = load_catalog(config if isinstance(config, Mapping) else Path(config), env=env)
        return cls(
            catalog, clock=clock, rng=rng, observers=observers, strategies=strategies, ledger=ledger, budgets=budgets
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
        from polyroute._env_config import env_catalog

        catalog = env_catalog(os.environ if env is None else env, config, prices=prices)
        return cls(catalog, clock=clock, rng=rng, observers=observers, strategies=strategies)

    # -- introspection -----------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The catalog this router routes over."""
        return self._catalog

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
        request = self._request(model, messages or [{"role": "user", "content": ""}], stream, params, validate=False)
        return self._plan(request)

    def _plan(self, request: ChatRequest) -> Plan:
        return make_plan(
            request,
            self._catalog,
            self._view,
            self._clock.monotonic(),
            self._rng,
            strategies=self._strategies,
            sticky=self._sticky,
            index=self._index,
        )

    def stats(self) -> dict[str, EndpointStats]:
        """Live statistics of every endpoint, by ``provider/model`` key: per rolling window (last 5
        and 30 minutes) the success ratio, time to first token, latency and throughput
        percentiles; requests in flight; the breaker's state."""
        endpoints = [ep for spec in self._catalog.models.values() for ep in spec.endpoints]
        return self._stats.report(endpoints, self._health, self._clock.monotonic())

    # -- calls -------------------------------------------------------------------------------

    def _request(
        self,
        model: str | None,
        messages: Any,
        stream: bool,
        params: Mapping[str, Any],
        *,
        validate: bool = True,
    ) -> ChatRequest:
        models = params.get("models")
        names: list[str] = []
        if model is not None:
            if not isinstance(model, str) or not model:
                raise InvalidRequest("must be a non-empty string", param="model")
            names.append(model)
        if models is not None:
            if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
                raise InvalidRequest("must be a list of model names", param="models")
            names.extend(m for m in models if m not in names)
        if not names:
            raise InvalidRequest("give a model (or a models list)", param="model")
        if validate:
            validate_params(messages, params)
        body: dict[str, Any]
        if params.keys() & ROUTING_KEYS:
            body = {k: v for k, v in params.items() if k not in ROUTING_KEYS}
            extra_body = params.get("extra_body")
            if extra_body:
                body.update(extra_body)
        else:
            body = dict(params)
        tags = params.get("tags") or ()
        caller = Caller(
            user=params.get("user"),
            key=params.get("caller_key"),
            project=params.get("project"),
            tags=tuple(tags),
            metadata=params.get("metadata") or {},
        )
        options = params.get("stream_options") or {}
        provider = params.get("provider")
        if provider is not None and not isinstance(provider, Mapping):
            raise InvalidRequest("must be an object of provider preferences", param="provider")
        hedge = params.get("hedge")
        if hedge is not None:
            from polyroute._hedge import parse_hedge

            parse_hedge(hedge, self._catalog.settings.routing.hedge)
        return ChatRequest(
            models=tuple(names),
            messages=messages,
            params=body,
            stream=stream,
            include_usage=bool(options.get("include_usage")),
            provider=provider,
            caller=caller,
            session_id=params.get("session_id"),
            timeout=params.get("timeout"),
            hedge=hedge,
        )

    def _execution(self, request: ChatRequest, *, asynchronous: bool = False) -> Execution:
        plan = self._plan(request)
        hedge = None
        if asynchronous and (request.hedge or (request.hedge is None and self._catalog.settings.routing.hedge.enabled)):
            from polyroute._hedge import delay_policy, parse_hedge

            settings = parse_hedge(request.hedge, self._catalog.settings.routing.hedge)
            if settings is not None:
                hedge = delay_policy(settings, self._stats, self._clock)
        elif request.hedge not in (None, False):
            raise InvalidRequest(
                "hedging races two attempts at once, which needs acompletion(); a sync call runs one at a time",
                param="hedge",
            )
        request_id = "pr-" + secrets.token_hex(12)
        return Execution(
            request,
            plan,
            catalog=self._catalog,
            health=self._health,
            clock=self._clock,
            rng=self._rng,
            request_id=request_id,
            observers=self._observers,
            budget=self._accounts.start(request),
            hedge_delay=hedge,
        )

    def _backend(self, name: str) -> HttpBackend | LiteLLMBackend:
        return self._backends[name]

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
        request = self._request(model, messages, stream, params)
        ex = self._execution(request)
        if stream:
            return Stream(_engine.stream(ex, self._backend, self._clock))
        return _engine.complete(ex, self._backend, self._clock)

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
        request = self._request(model, messages, stream, params)
        ex = self._execution(request, asynchronous=True)
        if stream:
            return AsyncStream(_engine.astream(ex, self._backend, self._clock))
        return await _engine.acomplete(ex, self._backend, self._clock)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync connection pools; flush the ledger (closing it if the router opened it)."""
        for backend in self._backends.values():
            backend.close()
        self._accounts.close()

    async def aclose(self) -> None:
        """Close every connection pool; flush the ledger (closing it if the router opened it)."""
        for backend in self._backends.values():
            backend.close()
            await backend.aclose()
        self._accounts.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Router(models={list(self._catalog.models)}, providers={list(self._catalog.providers)})"


def _check_sorts(catalog: Catalog, strategies: Mapping[str, Strategy]) -> None:
    """Every ``sort`` in the configuration names a known strategy."""
    layers = [("router.provider.sort", catalog.settings.provider)]
    layers += [(f"models.{m.name}.provider.sort", m.provider_preferences) for m in catalog.models.values()]
    for path, prefs in layers:
        name = prefs.get("sort")
        if name is not None and name not in strategies:
            raise ConfigError(f"unknown strategy {name!r}; known: {', '.join(sorted(strategies))}", path=path)
