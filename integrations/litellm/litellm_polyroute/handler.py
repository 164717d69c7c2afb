"""The LiteLLM custom provider: :class:`PolyrouteLLM`, and the module-level handler.

LiteLLM calls a ``CustomLLM``'s ``completion``, ``acompletion``, ``streaming`` and ``astreaming``
with the model name after the provider prefix (``polyroute/llama-3.3-70b`` -> ``llama-3.3-70b``),
the messages, and the OpenAI parameters it accepted in ``optional_params``. Each method makes
one routed call through a :class:`polyroute.Router` (the async ones natively, over aiohttp)
and maps polyroute's errors onto LiteLLM's exception types.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import EmbeddingResponse, GenericStreamingChunk, ModelResponse
from typing_extensions import override

from litellm_polyroute._embedding import embedding_params, fill_embedding_response
from litellm_polyroute._params import _seconds, router_params
from litellm_polyroute._response import fill_model_response
from litellm_polyroute._stream import ChunkTranslator
from litellm_polyroute.errors import to_litellm_error
from polyroute import Router
from polyroute.errors import ConfigError, PolyrouteError

__all__ = ["CONFIG_ENV", "PROVIDER", "PolyrouteLLM", "polyroute_handler"]

#: the environment variable holding the path of the polyroute config the handler loads
CONFIG_ENV = "POLYROUTE_CONFIG"
#: the LiteLLM provider name polyroute is registered under by default (``polyroute/<model>``)
PROVIDER = "polyroute"

RouterConfig = str | os.PathLike[str] | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Call:
    """One LiteLLM call, resolved: the router, its keyword arguments, and how to name errors."""

    router: Router
    params: dict[str, Any]
    model: str
    provider: str

    @contextmanager
    def mapped_errors(self) -> Iterator[None]:
        """polyroute's errors raised in the block become LiteLLM's exception types."""
        try:
            yield
        except PolyrouteError as exc:
            raise to_litellm_error(exc, model=self.model, llm_provider=self.provider) from exc


class PolyrouteLLM(CustomLLM):
    """polyroute as a LiteLLM custom provider.

    ``router`` is used as given. Without one, a router is built on first use from ``config`` (a
    YAML path or a dict), else from the file named by the ``POLYROUTE_CONFIG`` environment
    variable; a router built here is closed by :meth:`close`/:meth:`aclose`.

    The response's ``route`` field (and, in a stream, a field of the final chunks) is
    polyroute's route as JSON: the provider that served, every attempt, and the cost. The cost
    is LiteLLM's ``response_cost``.
    """

    def __init__(self, router: Router | None = None, *, config: RouterConfig | None = None) -> None:
        super().__init__()
        self._router = router
        self._config = config
        self._owns_router = False
        self._lock = threading.Lock()

    # -- the router ----------------------------------------------------------------------------

    @property
    def router(self) -> Router:
        """The router calls go through, built on first use when none was given.

        Raises :class:`~polyroute.errors.ConfigError` when there is neither a router, nor a
        config, nor ``POLYROUTE_CONFIG``, or when the config is invalid.
        """
        router = self._router
        if router is not None:
            return router
        with self._lock:
            if self._router is None:
                config = self._config if self._config is not None else os.environ.get(CONFIG_ENV)
                if not config:
                    raise ConfigError(
                        f"no polyroute router: set {CONFIG_ENV} to the path of a polyroute config, "
                        "or pass a router or config to litellm_polyroute.register()"
                    )
                self._router = Router.from_config(config)
                self._owns_router = True
            return self._router

    def close(self) -> None:
        """Close the router's sync connection pools, if this handler built the router."""
        if self._owns_router and self._router is not None:
            self._router.close()

    async def aclose(self) -> None:
        """Close every connection pool of the router, if this handler built the router."""
        if self._owns_router and self._router is not None:
            await self._router.aclose()

    def _call(
        self,
        model: str,
        optional_params: Mapping[str, Any],
        timeout: float | httpx.Timeout | None,
        litellm_params: Mapping[str, Any] | None,
    ) -> _Call:
        provider = str((litellm_params or {}).get("custom_llm_provider") or PROVIDER)
        try:
            router = self.router
        except ConfigError as exc:
            raise to_litellm_error(exc, model=model, llm_provider=provider) from exc
        params = router_params(
            optional_params, timeout=timeout, configured_deadline=router.catalog.settings.timeouts.deadline
        )
        return _Call(router, params, model, provider)

    # -- CustomLLM -----------------------------------------------------------------------------

    @override
    def completion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: dict[str, Any] | None = None,
        logger_fn: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: HTTPHandler | None = None,
    ) -> ModelResponse:
        """One routed chat completion (sync)."""
        call = self._call(model, optional_params, timeout, litellm_params)
        with call.mapped_errors():
            completion = call.router.completion(model, messages, **call.params)
        return fill_model_response(model_response, completion)

    @override
    async def acompletion(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: dict[str, Any] | None = None,
        logger_fn: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: AsyncHTTPHandler | None = None,
    ) -> ModelResponse:
        """One routed chat completion (async, on the running event loop)."""
        call = self._call(model, optional_params, timeout, litellm_params)
        with call.mapped_errors():
            completion = await call.router.acompletion(model, messages, **call.params)
        return fill_model_response(model_response, completion)

    @override
    def embedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        print_verbose: Callable[..., Any],
        logging_obj: Any,
        optional_params: dict[str, Any],
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        litellm_params: Any = None,
    ) -> EmbeddingResponse:
        """One routed embeddings call (sync): ``model`` is a polyroute embedding model."""
        call = self._call(model, {}, None, litellm_params)
        with call.mapped_errors():
            resp = call.router.embedding(model, input, **embedding_params(optional_params, _seconds(timeout)))
        return fill_embedding_response(model_response, resp)

    @override
    async def aembedding(
        self,
        model: str,
        input: list[Any],
        model_response: EmbeddingResponse,
        print_verbose: Callable[..., Any],
        logging_obj: Any,
        optional_params: dict[str, Any],
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        litellm_params: Any = None,
    ) -> EmbeddingResponse:
        """One routed embeddings call (async, batches sent concurrently)."""
        call = self._call(model, {}, None, litellm_params)
        with call.mapped_errors():
            resp = await call.router.aembedding(model, input, **embedding_params(optional_params, _seconds(timeout)))
        return fill_embedding_response(model_response, resp)

    @override
    def streaming(
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: dict[str, Any] | None = None,
        logger_fn: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: HTTPHandler | None = None,
    ) -> Iterator[GenericStreamingChunk]:
        """One routed streamed chat completion (sync). The last chunk carries the usage and route.

        Failures before the first chunk and mid-stream are raised from the iteration, where
        LiteLLM's stream wrapper hands them to its router's (mid-stream) fallback handling.
        """
        call = self._call(model, optional_params, timeout, litellm_params)
        translator = ChunkTranslator()
        with call.mapped_errors(), call.router.completion(model, messages, stream=True, **call.params) as stream:
            for chunk in stream:
                yield from translator.feed(chunk)
            route = stream.route
        yield translator.finish(route)

    @override
    async def astreaming(  # type: ignore[override, misc]  # an async generator: LiteLLM iterates what it returns
        self,
        model: str,
        messages: list[Any],
        api_base: str,
        custom_prompt_dict: dict[str, Any],
        model_response: ModelResponse,
        print_verbose: Callable[..., Any],
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict[str, Any],
        acompletion: Any = None,
        litellm_params: dict[str, Any] | None = None,
        logger_fn: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        client: AsyncHTTPHandler | None = None,
    ) -> AsyncIterator[GenericStreamingChunk]:
        """The async twin of :meth:`streaming`, native on the running event loop."""
        call = self._call(model, optional_params, timeout, litellm_params)
        translator = ChunkTranslator()
        with call.mapped_errors():
            stream = await call.router.acompletion(model, messages, stream=True, **call.params)
            async with stream:
                async for chunk in stream:
                    for out in translator.feed(chunk):
                        yield out
                route = stream.route
        yield translator.finish(route)


#: The handler a LiteLLM proxy config names (``custom_handler: litellm_polyroute.polyroute_handler``).
#: It builds its router on first use from the config file named by ``POLYROUTE_CONFIG``.
polyroute_handler = PolyrouteLLM()
